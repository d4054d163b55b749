"""`deploy`: build the device firmware for a board, start or flash it, connect and handshake."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgesnn.device.client import Device, DeviceError
from edgesnn.device.codec import Hello
from edgesnn.device.launch import Launched, connect_launched, launch_host_process, launch_qemu
from edgesnn.firmware.boards import Board
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


def deploy(
    qnet: QuantNetwork,
    board: Board,
    out: Path,
    *,
    port: str | None = None,
    timeout: float = 2.0,
    learn_layer: int | None = None,
    env: dict | None = None,
) -> Deployment:
    """Build the device app for ``board`` and bring it up: emulated boards and the host board are
    started here (and stopped when the Deployment closes); real boards are flashed on ``port``."""
    from edgesnn.firmware.build import build

    if board.kind == "platformio":
        if not port:
            raise DeviceError(f"board {board.name} is real hardware: give --port (see `edgesnn ports`)")
        from edgesnn.firmware.platformio import generate_project

        proj = generate_project(qnet, board, out, learn_layer=learn_layer)
        pio = shutil.which("pio") or shutil.which("platformio")
        if pio is None:
            raise DeviceError("flashing real boards needs PlatformIO: pip install 'edgesnn[pio]'")
        upload = subprocess.run(
            [pio, "run", "-d", str(proj), "-t", "upload", "--upload-port", port], capture_output=True, text=True
        )
        if upload.returncode != 0:
            tail = (upload.stderr or upload.stdout).strip().splitlines()
            raise DeviceError(f"upload to {port} failed: {tail[-1] if tail else upload.returncode}")
        d = connect_port(qnet, port, timeout=timeout)
        d.build = {"project": str(proj)}
        return d
    res = build(qnet, board, out, app="device", learn_layer=learn_layer)
    if board.kind == "host":
        launched = launch_host_process(res.elf, env=env)
    else:
        launched = launch_qemu(board, res.elf, icount=board.get("timer", {}).get("driver") == "cmsdk")
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
