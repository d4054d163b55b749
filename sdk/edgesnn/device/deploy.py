"""`deploy`: build the device firmware for a board, start or flash it, connect and handshake."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgesnn.device.client import Device, DeviceError
from edgesnn.device.codec import Hello
from edgesnn.device.flash import FlashPlan, apply_reset, flash, plan, wait_for_port
from edgesnn.device.launch import Launched, connect_launched, launch_host_process, launch_qemu
from edgesnn.firmware.boards import Board, counts_instructions
from edgesnn.fixedpoint.qnetwork import QuantNetwork


@dataclass
class Deployment:
    """A connected device running ``qnet``. Close it to stop an emulator or host process."""

    device: Device
    hello: Hello
    port: str
    board: str
    launched: Launched | None = None
    build: dict = field(default_factory=dict)

    def close(self) -> None:
        self.device.close()
        if self.launched is not None:
            self.launched.stop()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def handshake(dev: Device, qnet: QuantNetwork) -> Hello:
    """HELLO, and refuse a device that runs another model or another contract."""
    hello = dev.info()
    if hello.hash32 != qnet.hash32:
        raise DeviceError(
            f"model hash mismatch: the device runs {hello.hash32:08x}, the model file is "
            f"{qnet.hash32:08x}; deploy this model first"
        )
    if hello.contract_version != qnet.contract_version:
        raise DeviceError(
            f"the device implements contract {hello.contract_version}, the model needs {qnet.contract_version}"
        )
    if hello.n_inputs != qnet.n_inputs or hello.n_outputs != qnet.n_outputs:
        raise DeviceError("the device's model shape differs from the model file")
    return hello


def connect_port(qnet: QuantNetwork, port: str, *, timeout: float = 2.0) -> Deployment:
    """A device already deployed on ``port``."""
    dev = Device.open(port, timeout=timeout)
    try:
        dev.sync(timeout=max(3.0, timeout))
        hello = handshake(dev, qnet)
    except DeviceError:
        dev.close()
        raise
    return Deployment(device=dev, hello=hello, port=port, board=hello.board)


def prepare_flash(
    qnet: QuantNetwork,
    board: Board,
    out: Path,
    *,
    learn_layer: int | None = None,
    drive: str | None = None,
    port: str | None = None,
    method: str | None = None,
) -> tuple[FlashPlan, dict]:
    """Build what a real board needs (the bare-metal image; the PlatformIO project where the board
    has one) and plan how to flash it. Returns the plan and the build summary."""
    from edgesnn.firmware.build import build
    from edgesnn.firmware.platformio import generate_project

    info: dict = {}
    elf, images = "", {}
    if board.kind == "hardware":
        res = build(qnet, board, out, app="device", learn_layer=learn_layer)
        info = res.as_dict()
        elf, images = str(res.elf), res.images
    project = None
    if board.get("platformio") is not None and (board.kind == "platformio" or method == "platformio"):
        project = generate_project(qnet, board, out / "platformio", learn_layer=learn_layer)
        info["project"] = str(project)
    return plan(board, elf=elf, images=images, project=project, drive=drive, port=port, method=method), info


def deploy(
    qnet: QuantNetwork,
    board: Board,
    out: Path,
    *,
    port: str | None = None,
    timeout: float = 2.0,
    learn_layer: int | None = None,
    env: dict | None = None,
    drive: str | None = None,
    method: str | None = None,
    port_timeout: float = 10.0,
) -> Deployment:
    """Build the device app for ``board`` and bring it up: emulated boards and the host board are
    started here (and stopped when the Deployment closes); real boards are flashed (drive, openocd,
    pyocd, picotool or PlatformIO: see device/flash.py), then their serial port is awaited
    (``port`` or the board's USB ids, ``port_timeout`` seconds), reset by the board's convention,
    synced and handshaken."""
    from edgesnn.firmware.build import build

    if board.kind in ("hardware", "platformio"):
        p, info = prepare_flash(qnet, board, out, learn_layer=learn_layer, drive=drive, port=port, method=method)
        flash(p)
        found = wait_for_port(board, port, port_timeout)
        apply_reset(found, p.reset)
        d = connect_port(qnet, found, timeout=timeout)
        d.build = {**info, "flash": p.as_dict()}
        return d
    res = build(qnet, board, out, app="device", learn_layer=learn_layer)
    return start_built(qnet, board, res, timeout=timeout, env=env)


def start_built(qnet: QuantNetwork, board: Board, res, *, timeout: float = 2.0, env: dict | None = None) -> Deployment:
    """Start one more instance of a device image already built (``build``'s result) for an
    emulated or host board, and handshake; a fleet builds once and starts it N times."""
    if board.kind == "host":
        launched = launch_host_process(res.elf, env=env)
    else:
        launched = launch_qemu(board, res.elf, icount=counts_instructions(board))
    try:
        dev = connect_launched(launched, reply_timeout=timeout)
        try:
            hello = handshake(dev, qnet)
        except DeviceError:
            dev.close()
            raise
    except BaseException:
        launched.stop()
        raise
    return Deployment(
        device=dev, hello=hello, port=launched.port, board=board.name, launched=launched, build=res.as_dict()
    )
