"""Start a device and hand back its port: QEMU with the UART on loopback TCP, or a host process on a pty."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import tty
from pathlib import Path

from edgesnn.device.client import Device, DeviceError
from edgesnn.firmware.boards import Board
from edgesnn.firmware.qemu import qemu_command


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Launched:
    """A running device: ``port`` for pyserial, ``stop()`` to end it."""

    def __init__(self, proc: subprocess.Popen, port: str, what: str, keep_fds: tuple[int, ...] = ()):
        self.proc, self.port, self.what, self._fds = proc, port, what, keep_fds

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = ()

    def __enter__(self) -> Launched:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_qemu(board: Board, elf: Path, *, icount: bool = True) -> Launched:
    """QEMU serving the UART on 127.0.0.1 (nodelay); returns once it listens."""
    if shutil.which(board.qemu["binary"]) is None:
        raise DeviceError(
            f"board {board.name} needs {board.qemu['binary']} "
            f"(install {' '.join(board.qemu.get('debian_packages', []))})"
        )
    port = _free_port()
    serial_spec = f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"
    cmd = qemu_command(board, elf, icount=icount, serial=serial_spec)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Launched(proc, f"socket://127.0.0.1:{port}", f"QEMU {board.qemu['machine']}")


def connect_launched(launched: Launched, *, timeout: float = 10.0, reply_timeout: float = 2.0) -> Device:
    """Open the launched device's port (retrying while it starts), then sync with pings."""
    deadline = time.monotonic() + timeout
    while True:
        if not launched.alive():
            err = (
                launched.proc.stderr.read().decode(errors="replace").strip().splitlines()
                if launched.proc.stderr
                else []
            )
            raise DeviceError(
                f"{launched.what} exited before it answered: {err[-1] if err else launched.proc.returncode}"
            )
        try:
            dev = Device.open(launched.port, timeout=reply_timeout)
            break
        except DeviceError:
            if time.monotonic() > deadline:
                raise DeviceError(f"{launched.what} did not open its serial port within {timeout:.0f} s") from None
            time.sleep(0.05)
    try:
        dev.sync(timeout=max(1.0, deadline - time.monotonic()))
    except DeviceError:
        dev.close()
        raise
    return dev


def launch_host_process(exe: Path, env: dict | None = None) -> Launched:
    """Run the host device app on a raw pty; the pty's slave path is the port.

    ``env`` adds environment variables (ESNN_STORE: the file holding the weight slots)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(
        [str(exe)],
        stdin=master,
        stdout=master,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env={**os.environ, **(env or {})},
    )
    os.close(master)
    return Launched(proc, os.ttyname(slave), "host process", keep_fds=(slave,))
