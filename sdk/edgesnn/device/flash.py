"""Flash a real board without a vendor cloud, then find its serial port.

`plan()` picks the first method that works on this machine, in this order:

1. the board's USB mass-storage drive (``--drive DIR``, or one mounted under ``/media``,
   ``/run/media``, ``/Volumes`` or ``/mnt`` whose volume label or ``INFO_UF2.TXT`` Board-ID is
   in the board file's ``deploy.drive_labels``): UF2 boot loaders take ``.uf2``, ST-LINK and
   J-Link OB drives take ``.bin`` / ``.hex``;
2. ``openocd`` (Debian) with the board file's ``deploy.openocd`` arguments, then ``pyocd`` and
   ``picotool`` (PyPI / source builds) when installed;
3. PlatformIO (``pio run -t upload``), which downloads its platforms on first use.

ESP32 boards (``deploy.esptool_chip``) are flashed by esptool's Python API over their serial
port instead: its own reset into the ROM download mode, ``write_flash`` at
``deploy.esptool_offset``, then a hard reset.

`flash()` carries a plan out; `wait_for_port()` waits for the board's serial port (by USB
VID:PID from ``deploy.usb_ids``) and `apply_reset()` applies its DTR/RTS convention.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgesnn.errors import DeviceError
from edgesnn.firmware.boards import Board

#: Where desktops mount USB drives (Linux udisks, older Linux, macOS, manual mounts).
DRIVE_ROOTS = ("/media", "/run/media", "/Volumes", "/mnt")
METHODS = ("drive", "esptool", "openocd", "pyocd", "picotool", "platformio")


@dataclass
class FlashPlan:
    """What `deploy` will do for a real board: printed by ``deploy --dry-run --json``."""

    board: str
    method: str
    file: str  # the file written or programmed
    command: list[str] | None  # the tool's command line (None when copying to a drive)
    drive: str | None
    port: str | None  # the port given by the user, or None: found by USB id after flashing
    usb_ids: list[str]
    reset: str
    available: list[str] = field(default_factory=list)  # every method usable here, best first
    notes: list[str] = field(default_factory=list)
    address: int | None = None  # where in flash the file goes (esptool)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def which(tool: str) -> str | None:
    """Where a flashing tool is installed (one place, so tests can pretend)."""
    return shutil.which(tool)


def info_uf2(drive: Path) -> dict[str, str] | None:
    """The ``key: value`` lines of a UF2 boot loader's INFO_UF2.TXT, or None when it has none."""
    f = drive / "INFO_UF2.TXT"
    if not f.is_file():
        return None
    out = {}
    for line in f.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _drive_labels(board: Board) -> list[str]:
    return list(board.deploy.get("drive_labels", []))


def drive_matches(board: Board, drive: Path) -> bool:
    """A mounted folder is this board's drive: its name is a label, or INFO_UF2.TXT's Board-ID is."""
    labels = _drive_labels(board)
    info = info_uf2(drive) or {}
    return drive.name in labels or info.get("Board-ID") in labels


def find_drives(board: Board, roots: list[str] | None = None) -> list[Path]:
    """Mounted drives of ``board`` (EDGESNN_DRIVE_ROOTS, ``os.pathsep``-separated, overrides
    where to look)."""
    if not _drive_labels(board):
        return []
    env = os.environ.get("EDGESNN_DRIVE_ROOTS")
    roots = roots if roots is not None else (env.split(os.pathsep) if env else list(DRIVE_ROOTS))
    found = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        candidates = [p for p in root.iterdir() if p.is_dir()]
        candidates += [q for p in candidates if os.access(p, os.R_OK) for q in p.iterdir() if q.is_dir()]
        found += [c for c in candidates if drive_matches(board, c)]
    return sorted(set(found))


def check_drive(board: Board, drive: Path) -> None:
    """Refuse a folder that is not a drive this board's image can go to, naming why."""
    if not drive.is_dir():
        raise DeviceError(f"drive {drive} is not a mounted folder")
    fmt = board.deploy.get("drive_format")
    if fmt is None:
        raise DeviceError(f"board {board.name} has no USB drive to copy an image to (no deploy.drive_format)")
    info = info_uf2(drive)
    if fmt == "uf2" and info is None:
        raise DeviceError(f"{drive} has no INFO_UF2.TXT: it is not a UF2 boot loader's drive")
    if info is not None and fmt != "uf2":
        raise DeviceError(
            f"{drive} is a UF2 boot loader's drive (Board-ID {info.get('Board-ID', '?')}); {board.name} takes .{fmt}"
        )
    board_id = (info or {}).get("Board-ID")
    if board_id is not None and _drive_labels(board) and board_id not in _drive_labels(board):
        raise DeviceError(
            f"{drive} belongs to Board-ID {board_id}, not {board.name} ({', '.join(_drive_labels(board))})"
        )
    if not os.access(drive, os.W_OK):
        raise DeviceError(f"drive {drive} is not writable")


def esptool_available() -> bool:
    """esptool's Python package is importable (the ``esp`` extra)."""
    import importlib.util

    return importlib.util.find_spec("esptool") is not None


def _usable(tool: str) -> bool:
    return esptool_available() if tool == "esptool" else which(tool) is not None


def _tool_commands(
    board: Board, images: dict[str, str], elf: str, project: Path | None, port: str | None = None
) -> dict[str, list[str]]:
    d = board.deploy
    cmds: dict[str, list[str]] = {}
    if d.get("esptool_chip") and "esp" in images:  # carried out through the Python API; the CLI equivalent
        cmds["esptool"] = [
            "esptool", "--chip", d["esptool_chip"], "--port", port or "PORT", "--before", "default-reset",
            "--after", "hard-reset", "write-flash", f"0x{int(d.get('esptool_offset', 0)):x}", images["esp"],
        ]  # fmt: skip
    if d.get("openocd"):
        cmds["openocd"] = ["openocd", *d["openocd"], "-c", f"program {elf} verify reset exit"]
    if d.get("pyocd_target"):
        cmds["pyocd"] = ["pyocd", "flash", "--target", d["pyocd_target"], elf]
    if d.get("picotool") and "uf2" in images:  # the Pico must be in BOOTSEL mode (or run picotool-aware firmware)
        cmds["picotool"] = ["picotool", "load", "-x", images["uf2"]]
    if board.get("platformio") is not None and project is not None:
        cmds["platformio"] = ["pio", "run", "-d", str(project), "-t", "upload"]
    return cmds


def plan(
    board: Board,
    *,
    elf: str,
    images: dict[str, str],
    project: Path | None = None,
    drive: str | None = None,
    port: str | None = None,
    method: str | None = None,
) -> FlashPlan:
    """The best way to flash ``board`` here (or ``method`` if given); DeviceError naming what to
    install or plug in when there is none."""
    if method is not None and method not in METHODS:
        raise DeviceError(f"unknown flashing method {method!r}; choose one of {', '.join(METHODS)}")
    usb_ids = list(board.deploy.get("usb_ids", []))
    if port is None and board.deploy.get("esptool_chip"):  # esptool needs the port itself: find it now
        found = ports_by_usb_id(usb_ids)
        port = found[0] if found else None
    cmds = _tool_commands(board, images, elf, project, port)
    fmt = board.deploy.get("drive_format")
    drives = [Path(drive)] if drive else find_drives(board)
    available = (["drive"] if drives and fmt in images else []) + [m for m in cmds if _usable(cmds[m][0])]
    notes = []
    if drive is None and fmt and not drives:
        notes.append(f"no {'/'.join(_drive_labels(board))} drive mounted")
    chosen = method or (available[0] if available else None)
    if chosen is None or (method is not None and method not in available):
        what = f"method {method} is not usable" if method else "no way to flash it"
        tools = ", ".join(sorted({c[0] for c in cmds.values()})) or "no tool"
        hint = f"mount its {'/'.join(_drive_labels(board))} drive or give --drive, or " if fmt else ""
        raise DeviceError(f"{board.name}: {what} on this machine: {hint}install one of: {tools}")
    reset = board.deploy.get("reset", "none")
    if chosen == "drive":  # only offered when the drive's format was built
        check_drive(board, drives[0])
        return FlashPlan(board.name, "drive", images[fmt], None, str(drives[0]), port, usb_ids, reset, available, notes)
    cmd = cmds[chosen]
    file = {"openocd": elf, "platformio": str(project)}.get(chosen, cmd[-1])
    if chosen == "esptool":
        if port is None:
            notes.append(
                f"no port with USB id {', '.join(usb_ids)} is connected now; connect "
                f"{board.deploy.get('port_note', 'the board')}, or give --port"
            )
        address = int(board.deploy.get("esptool_offset", 0))
        return FlashPlan(board.name, chosen, file, cmd, None, port, usb_ids, reset, available, notes, address)
    if chosen == "platformio" and port:
        cmd = [*cmd, "--upload-port", port]
    return FlashPlan(board.name, chosen, file, cmd, None, port, usb_ids, reset, available, notes)


def flash(p: FlashPlan, timeout: float = 300) -> None:
    """Carry out a plan: copy the image to the drive, or run the tool."""
    if p.method == "drive":
        if p.drive is None:
            raise DeviceError(f"plan for {p.board}: method drive without a drive")
        src = Path(p.file)
        dst = Path(p.drive) / src.name
        data = src.read_bytes()
        try:
            with open(dst, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            # a UF2 boot loader reboots once the last block lands and its drive vanishes mid-close
            if Path(p.drive).exists():
                raise DeviceError(f"copying {src.name} to {p.drive} failed: {e.strerror or e}") from None
        return
    if p.method == "esptool":
        _esptool_write(p)
        return
    if p.command is None:
        raise DeviceError(f"plan for {p.board}: method {p.method} without a command")
    try:
        res = subprocess.run(p.command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise DeviceError(f"{p.command[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{p.method} did not finish flashing {p.board} within {timeout:.0f} s") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()
        raise DeviceError(f"{p.method} could not flash {p.board}: {tail[-1] if tail else f'exit {res.returncode}'}")


def _esptool_write(p: FlashPlan) -> None:
    """write_flash through esptool's Python API: connect (its reset into the ROM's download mode
    for the port's kind, USB Serial/JTAG or a UART bridge), check the chip, load its flasher
    stub, write and verify the image, hard reset so the firmware starts."""
    import serial
    from esptool.cmds import attach_flash, detect_chip, reset_chip, run_stub, write_flash
    from esptool.logger import log
    from esptool.util import FatalError

    from edgesnn.firmware.boards import get_board

    chip = get_board(p.board).deploy["esptool_chip"]  # the board file, not a position in the shown command
    port = p.port
    if port is None:
        raise DeviceError(f"no serial port of {p.board} ({', '.join(p.usb_ids)}) is connected; give --port")
    log.set_verbosity("silent")
    try:
        esp = detect_chip(port, connect_mode="default-reset", connect_attempts=3)
        try:
            name = esp.CHIP_NAME.lower().replace("-", "")
            if name != chip:
                raise DeviceError(f"{port} has an {esp.CHIP_NAME}, not the {chip} of {p.board}")
            esp = run_stub(esp)
            attach_flash(esp)
            write_flash(esp, [(p.address or 0, p.file)], flash_mode="keep", flash_freq="keep", flash_size="keep")
            reset_chip(esp, "hard-reset")
        finally:
            esp._port.close()
    except FatalError as e:
        raise DeviceError(f"esptool could not flash {p.board} on {port}: {str(e).splitlines()[0]}") from None
    except (OSError, serial.SerialException) as e:
        raise DeviceError(f"esptool could not flash {p.board} on {port}: {e}") from None
    finally:
        log.set_verbosity("auto")


def ports_by_usb_id(usb_ids: list[str]) -> list[str]:
    from serial.tools import list_ports

    wanted = {u.lower() for u in usb_ids}
    return sorted(p.device for p in list_ports.comports() if p.vid is not None and f"{p.vid:04x}:{p.pid:04x}" in wanted)


def wait_for_port(board: Board, port: str | None, timeout: float, poll: float = 0.2) -> str:
    """The board's serial port once it is there: ``port`` itself, or the first port whose USB
    VID:PID is in the board file; DeviceError when none appears within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    usb_ids = list(board.deploy.get("usb_ids", []))
    while True:
        if port is not None:
            if "://" in port or Path(port).exists():
                return port
        else:
            found = ports_by_usb_id(usb_ids)
            if found:
                return found[0]
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    where = port or f"USB {', '.join(usb_ids) or 'id unknown'}"
    note = board.deploy.get("port_note", "its serial port")
    raise DeviceError(
        f"no serial port of {board.name} ({where}) appeared within {timeout:g} s after flashing; "
        f"connect {note}, or give --port"
    )


def apply_reset(port: str, kind: str) -> None:
    """The board's reset convention on opening its port: ``none``; ``dtr-pulse`` (DTR low for
    0.1 s, as Arduino boot loaders expect); ``esp32-rts`` (RTS holds EN low for 0.1 s while DTR
    keeps GPIO0 high: a normal boot, as esptool does it); ``usb-serial-jtag`` (esptool's hard
    reset for the ESP32 USB Serial/JTAG controller, which then re-enumerates)."""
    if kind == "none":
        return
    import serial

    if kind == "usb-serial-jtag":
        _usb_serial_jtag_reset(port)
        return

    try:
        with serial.serial_for_url(port, do_not_open=True) as s:
            s.dtr = kind == "dtr-pulse"
            s.rts = False
            s.open()
            if kind == "dtr-pulse":
                s.dtr = False
                time.sleep(0.1)
                s.dtr = True
            else:
                s.dtr = False
                s.rts = True
                time.sleep(0.1)
                s.rts = False
    except (OSError, serial.SerialException) as e:
        raise DeviceError(f"could not reset the board on {port}: {e}") from None


def _usb_serial_jtag_reset(port: str, reappear: float = 3.0) -> None:
    """esptool's own hard reset for chips on their USB Serial/JTAG controller (RTS pulse of
    0.2 s); the port leaves the bus during the reset, so wait up to ``reappear`` seconds for it."""
    import serial
    from esptool.reset import HardReset

    try:
        with serial.serial_for_url(port) as s:
            HardReset(s, uses_usb=True)()
    except (OSError, serial.SerialException) as e:
        raise DeviceError(f"could not reset the board on {port}: {e}") from None
    deadline = time.monotonic() + reappear
    while "://" not in port and not Path(port).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
