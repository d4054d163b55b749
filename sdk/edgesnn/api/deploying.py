"""Deploying: build and start or flash a board, connect to a device already running."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesnn.api.model import PathLike, quantized
from edgesnn.errors import ArgumentError, DeviceError
from edgesnn.fixedpoint.qnetwork import QuantNetwork

if TYPE_CHECKING:  # the device stack (pyserial, board files) loads only when a device is used
    from edgesnn.device.deploy import Deployment


def deploy(
    model: QuantNetwork | PathLike,
    board: str,
    out: PathLike = "build/deploy",
    *,
    port: str | None = None,
    timeout: float = 2.0,
    learn_layer: int | None = None,
    env: dict[str, str] | None = None,
    drive: str | None = None,
    method: str | None = None,
    port_timeout: float = 10.0,
) -> Deployment:
    """Build the device firmware for ``board`` and start it (host process, QEMU) or flash it
    (real boards), then handshake: the device must report this model's hash.

    Real boards: the image goes to the board's USB drive (``drive``, or one found mounted by
    label / INFO_UF2.TXT), else through openocd, pyocd, picotool or PlatformIO (``method``
    forces one); then the serial port (``port``, or the first with the board's USB VID:PID)
    must appear within ``port_timeout`` seconds. See ``flash_plan`` for a dry run.

    ```python
    with edgesnn.api.deploy("digits.qsnn", "qemu-mps2-an385") as d:
        print(d.port, d.device.info().board)
    ```
    """
    from edgesnn.device.deploy import deploy as run
    from edgesnn.firmware.boards import get_board

    return run(
        quantized(model),
        get_board(board),
        Path(out),
        port=port,
        timeout=timeout,
        learn_layer=learn_layer,
        env=env,
        drive=drive,
        method=method,
        port_timeout=port_timeout,
    )


def flash_plan(
    model: QuantNetwork | PathLike,
    board: str,
    out: PathLike = "build/deploy",
    *,
    port: str | None = None,
    drive: str | None = None,
    method: str | None = None,
) -> dict[str, Any]:
    """What ``deploy`` would do, without doing it (``deploy --dry-run``): builds the image, then
    returns ``method``, ``file``, ``command``, ``drive``, ``port``, ``usb_ids``, ``reset``,
    ``available`` (every method usable here) and ``images``.

    ```python
    edgesnn.api.flash_plan("digits.qsnn", "rpi-pico")["method"]   # 'drive', 'openocd', ...
    ```
    """
    from edgesnn.device.deploy import prepare_flash
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.build import build as build_image
    from edgesnn.firmware.qemu import qemu_command

    qnet, b = quantized(model), get_board(board)
    if b.kind in ("hardware", "platformio"):
        p, info = prepare_flash(qnet, b, Path(out), drive=drive, port=port, method=method)
        return {**p.as_dict(), "images": info.get("images", {}), "flash_bytes": info.get("flash_bytes")}
    res = build_image(qnet, b, Path(out), app="device")
    if b.kind == "host":
        cmd, how = [str(res.elf)], "process"
    else:
        cmd, how = qemu_command(b, res.elf, serial="tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on"), "qemu"
    return {
        "board": b.name,
        "method": how,
        "file": str(res.elf),
        "command": cmd,
        "drive": None,
        "port": "started here (a pty or a loopback socket)",
        "usb_ids": [],
        "reset": "none",
        "available": [how],
        "notes": [],
        "images": res.images,
        "flash_bytes": res.flash_bytes,
    }


def connect(model: QuantNetwork | PathLike, port: str, *, timeout: float = 2.0) -> Deployment:
    """A device already running ``model`` on ``port`` (``/dev/ttyACM0``, ``socket://…``)."""
    from edgesnn.device.deploy import connect_port

    return connect_port(quantized(model), port, timeout=timeout)


def open_device(
    model: QuantNetwork | PathLike,
    board: str | None,
    port: str | None,
    out: PathLike,
    timeout: float = 2.0,
    learn_layer: int | None = None,
) -> Deployment:
    """``deploy`` when a board is named, else ``connect`` to the port."""
    if board is None and port is None:
        raise ArgumentError(
            "give {board} (deploy first) or {port} (a device already deployed)", names=["board", "port"]
        )
    if board is not None:
        return deploy(model, board, out, port=port, timeout=timeout, learn_layer=learn_layer)
    return connect(model, port, timeout=timeout)  # type: ignore[arg-type]


def identity(d: Deployment) -> dict[str, Any]:
    """Who a deployed device is, from its HELLO: ``board``, ``port``, ``model_hash``,
    ``firmware``, ``abi``, ``contract``, ``protocol``, ``counts_instructions``, and
    ``energy_uj_per_instruction`` where the board file has [energy] figures (datasheet µA/MHz x V
    at one cycle per instruction: a lower bound, since no core here averages under one)."""
    from edgesnn.device import codec
    from edgesnn.errors import BoardError
    from edgesnn.firmware.boards import get_board

    h = d.hello
    e = None
    # the name is the device's word: looked up among the shipped boards only, never as a path
    if h.board.replace("-", "").replace("_", "").isalnum():
        try:
            e = get_board(h.board).get("energy")
        except BoardError:  # a board this install has no file for still streams
            pass
    return {
        "board": h.board,
        "port": d.port,
        "model_hash": f"{h.hash32:08x}",
        "firmware": h.fw_version,
        "abi": h.abi_version,
        "contract": h.contract_version,
        "protocol": codec.PROTOCOL_VERSION,
        "counts_instructions": bool(h.capabilities & codec.CAP_ICOUNT),
        "energy_uj_per_instruction": e["ua_per_mhz"] * e["volts"] * 1e-6 if e else None,
    }


class Session:
    """What ended a stream's time with a device: ``error`` (None when it ran to its end)."""

    error: str | None = None


@contextmanager
def device_session(d: Deployment) -> Iterator[Session]:
    """A stream's exchanges with a deployed device: a device error or Ctrl-C ends them and is
    kept in ``Session.error`` (what arrived before stays with the caller); the device is closed
    either way."""
    session = Session()
    try:
        yield session
    except DeviceError as e:
        session.error = str(e)
    except KeyboardInterrupt:
        session.error = "interrupted"
    finally:
        d.close()
