"""Typed errors. Nothing below ``cli/`` prints or exits: it raises one of these.

Every message is one line that names the cause (the file, the value, the rule).
"""


class EdgesnnError(Exception):
    """Base class of every error edgesnn raises on bad input."""


class ModelFileError(EdgesnnError):
    """A model file is missing, corrupt, of an unknown version or of the wrong kind."""


class DatasetError(EdgesnnError, ValueError):
    """An unknown data set or input array of the wrong shape or values."""


class QuantizationError(EdgesnnError, ValueError):
    """A network cannot be represented in the integer contract."""
