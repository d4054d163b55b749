"""Typed errors. Nothing below ``cli/`` prints or exits: it raises one of these.

Every message is one line that names the cause (the file, the value, the rule).
"""


class EdgesnnError(Exception):
    """Base class of every error edgesnn raises on bad input."""


class ModelFileError(EdgesnnError):
    """A model file is missing, corrupt, of an unknown version or of the wrong kind."""


class DatasetError(EdgesnnError, ValueError):
    """An unknown data set or input array of the wrong shape or values."""


class ArchitectureError(EdgesnnError, ValueError):
    """A training architecture (built-in name or file) that cannot be built; names the layer."""


class QuantizationError(EdgesnnError, ValueError):
    """A network cannot be represented in the integer contract."""


class BoardError(EdgesnnError):
    """An unknown board or an invalid board file."""


class FitError(EdgesnnError):
    """A model breaks one of a board's rules (the message names the rule, board, limit and layer)."""


class BuildError(EdgesnnError):
    """A compiler or linker failed, or a toolchain is missing."""


class EmulatorError(EdgesnnError):
    """QEMU is missing, crashed, or the firmware did not report in time."""


class VerifyError(EdgesnnError):
    """The firmware ran but did not report what the comparison needs."""


class DeviceError(EdgesnnError):
    """The device did not answer in time, disappeared, or answered with an error."""


class ProtocolError(EdgesnnError):
    """A frame or message that does not follow the serial protocol."""
