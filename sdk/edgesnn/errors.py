"""Typed errors. Nothing below ``cli/`` prints or exits: it raises one of these.

Every message is one line that names the cause (the file, the value, the rule).
"""

from collections.abc import Callable, Sequence


class EdgesnnError(Exception):
    """Base class of every error edgesnn raises on bad input.

    A message that names arguments writes them as ``{name}`` and lists them in ``names``: the
    Python API's message spells them as the function's arguments (``hidden``), the command line
    as its options (``--hidden``, :meth:`cli_message`)."""

    def __init__(self, message: str = "", *, names: Sequence[str] = ()):
        self.template, self.names = message, tuple(names)
        super().__init__(self._spelled(lambda n: n))

    def _spelled(self, spell: Callable[[str], str]) -> str:
        return self.template.format(**{n: spell(n) for n in self.names}) if self.names else self.template

    def cli_message(self) -> str:
        """The message with each named argument as its command-line option."""
        return self._spelled(lambda n: "--" + n.replace("_", "-"))


def first_line(e: BaseException) -> str:
    """An exception's message as one line for ours: its first line, or its type if it has none."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to a mistyped one, or nothing."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ArgumentError(EdgesnnError, ValueError):
    """Arguments that are missing, that conflict, or that do not apply (the message names them)."""


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
    """A model breaks one of a board's rules (the message names the rule, board, limit and layer);
    ``rule`` is the rule's name where the raiser knows it."""

    def __init__(self, message: str, rule: str | None = None, *, names: Sequence[str] = ()):
        super().__init__(message, names=names)
        self.rule = rule


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
