"""Run a firmware image under QEMU and read what its self-check app reports over the UART."""

from __future__ import annotations

import io
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from edgesnn.errors import EmulatorError  # noqa: F401  (re-exported: raised here)
from edgesnn.firmware.boards import Board


def qemu_command(board: Board, elf: Path, *, icount: bool = False, serial: str = "stdio") -> list[str]:
    q = board.qemu
    cmd = [
        q["binary"],
        "-M",
        q["machine"],
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        serial,
        "-semihosting-config",
        "enable=on,target=native",
        *q.get("extra_args", []),
        "-kernel",
        str(elf),
    ]
    if icount:
        cmd += ["-icount", "shift=7"]
    return cmd


@dataclass
class SelfCheck:
    hello: str
    digests: np.ndarray  # uint64 per sample
    predictions: np.ndarray
    synops: np.ndarray
    ticks: np.ndarray  # counter ticks spent in esnn_step per sample (0 without a counter)
    idle_step_ticks: int
    updates: np.ndarray | None = None  # neuron updates performed per sample (idle skipping counted)
    rest_step_ticks: int = 0  # ticks of a step without input once every layer is at rest (timer reads taken off)
    rest_steps: int = 0  # idle steps the last sample's states took to come to rest (0: never)
    #: audio models: per sample, CRC-32 of the front end's spike bitmaps and its ticks (None: no front end)
    afe_digests: np.ndarray | None = None
    afe_ticks: np.ndarray | None = None
    lines: list[str] = field(default_factory=list)


def run_selfcheck(board: Board, elf: Path, *, timeout: float = 300.0, icount: bool = False) -> SelfCheck:
    """Boot the image, collect its report until END, stop QEMU. Never waits past ``timeout``."""
    if board.kind != "qemu":
        raise EmulatorError(f"board {board.name} is not emulated")
    if shutil.which(board.qemu["binary"]) is None:
        pkgs = " ".join(board.qemu.get("debian_packages", []))
        raise EmulatorError(f"board {board.name} needs {board.qemu['binary']} (install {pkgs})")
    proc = subprocess.Popen(
        qemu_command(board, elf, icount=icount),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    buf = b""
    deadline = time.monotonic() + timeout
    stdout, stderr = cast(io.BufferedReader, proc.stdout), cast(io.BufferedReader, proc.stderr)  # both PIPE
    sel = selectors.DefaultSelector()
    sel.register(stdout, selectors.EVENT_READ)
    try:
        done = False
        while not done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise EmulatorError(
                    f"{board.name}: no END from the firmware within {timeout:.0f} s ({len(lines)} lines received)"
                )
            if not sel.select(timeout=min(left, 1.0)):
                if proc.poll() is not None:
                    break
                continue
            chunk = stdout.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace").strip()
                lines.append(text)
                if text.startswith("END"):
                    done = True
        if not done:
            err = stderr.read().decode(errors="replace").strip().splitlines()
            raise EmulatorError(
                f"{board.name}: QEMU stopped before END (exit {proc.poll()}): {err[-1] if err else 'no message'}"
            )
    finally:
        sel.close()
        if proc.poll() is None:
            try:
                proc.wait(timeout=2)  # semihosting exit follows END
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stdout.close()
        stderr.close()
    return _parse(lines)


def hello_fields(line: str) -> dict[str, str | int]:
    """The self-check's ``HELLO <board> <hash32> <abi> <contract>`` line in words (hex fields
    decoded); an empty dict for a missing or malformed line."""
    parts = line.split()
    if len(parts) != 5 or parts[0] != "HELLO":
        return {}
    try:
        return {"board": parts[1], "model_hash32": parts[2], "abi_version": int(parts[3], 16),
                "contract_version": int(parts[4], 16)}  # fmt: skip
    except ValueError:
        return {}


def _parse(lines: list[str]) -> SelfCheck:
    hello = next((ln for ln in lines if ln.startswith("HELLO")), "")
    d = [ln.split() for ln in lines if ln.startswith("D ")]
    try:
        rows = sorted(tuple(int(p[k], 16) for k in range(1, 7)) for p in d)
        idle = next((int(ln.split()[1], 16) for ln in lines if ln.startswith("Z ")), 0)
        rest = next(([int(x, 16) for x in ln.split()[1:4]] for ln in lines if ln.startswith("R ")), [0, 0, 0])
    except (IndexError, ValueError) as e:
        raise EmulatorError(f"malformed self-check line ({e})") from None
    arr = np.array(rows, dtype=object).reshape(-1, 6)
    try:
        a = sorted(tuple(int(x, 16) for x in ln.split()[1:4]) for ln in lines if ln.startswith("A "))
    except ValueError as e:
        raise EmulatorError(f"malformed self-check line ({e})") from None
    if a and any(len(r) != 3 for r in a):
        raise EmulatorError("malformed self-check line (an A line without its three fields)")
    afe = np.array(a, np.int64).reshape(-1, 3) if a else None
    return SelfCheck(
        afe_digests=None if afe is None else afe[:, 1].astype(np.uint64),
        afe_ticks=None if afe is None else afe[:, 2],
        hello=hello,
        digests=np.array([int(v) for v in arr[:, 1]], np.uint64),
        predictions=arr[:, 2].astype(np.int64),
        synops=arr[:, 3].astype(np.int64),
        ticks=arr[:, 4].astype(np.int64),
        idle_step_ticks=idle,
        updates=arr[:, 5].astype(np.int64),
        rest_step_ticks=max(rest[0] - rest[2], 0),  # less the two timer reads
        rest_steps=rest[1],
        lines=lines,
    )
