"""AEDAT 4 recordings (iniVation DV), read by the ``aedat`` decoder in a process of its own.

Why a separate process: fuzzing showed that on damaged files the ``aedat`` decoder aborts the
whole Python process (a Rust panic inside a destructor, exit 134) and dv-processing's
``MonoCameraRecording`` can block forever. A child process reads the files one by one and hands
each one's events back through a ``.npy`` file; the parent names the file being read when the
child crashes, reports an error, exceeds its memory limit or stays silent past ``timeout_s``,
and kills it. Nothing a damaged file does can take the import (or the user's process) down.

The events are the first ``events`` stream of the file (the one with the smallest id, as
Tonic's ``read_aedat4`` picks it); the sensor is that stream's ``width`` x ``height``.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from edgesnn.data.npzfile import EVENT_DTYPE
from edgesnn.errors import DatasetError

#: seconds a file may take before its reader is killed
TIMEOUT_S = 120.0
#: address space of the reader process (a damaged size field must not eat the machine)
MEMORY_LIMIT = 16 << 30


def _limit_memory() -> None:  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def read_many(
    paths: Sequence[Path], timeout_s: float = TIMEOUT_S, progress: Callable[[], None] | None = None
) -> Iterator[tuple[np.ndarray, tuple[int, int] | None]]:
    """Events (EVENT_DTYPE, sorted by t) and sensor of each AEDAT 4 file, in order."""
    if not paths:
        return
    with tempfile.TemporaryDirectory(prefix="edgesnn-aedat4-") as tmp:
        child = subprocess.Popen(
            [sys.executable, "-m", "edgesnn.data.aedat4", tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the decoder's panic text; the exit status says enough
            preexec_fn=_limit_memory if os.name == "posix" else None,
        )
        if child.stdin is None or child.stdout is None:  # never with PIPE; narrows the types
            raise RuntimeError("the AEDAT 4 reader process has no pipes")
        sel = selectors.DefaultSelector()
        sel.register(child.stdout, selectors.EVENT_READ)
        try:
            child.stdin.write("".join(json.dumps(str(p)) + "\n" for p in paths).encode())
            child.stdin.close()
            buf = b""
            for path in paths:
                while b"\n" not in buf:
                    if not sel.select(timeout_s):
                        raise DatasetError(f"{path}: the AEDAT 4 decoder did not finish within {timeout_s:g} s")
                    chunk = os.read(child.stdout.fileno(), 65536)
                    if not chunk:
                        code = child.wait()
                        how = f"signal {-code}" if code < 0 else f"exit status {code}"
                        raise DatasetError(f"{path}: the AEDAT 4 decoder crashed on it ({how}): damaged file?")
                    buf += chunk
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "error" in msg:
                    raise DatasetError(f"{path}: not a readable AEDAT 4 file ({msg['error']})")
                ev = np.load(msg["npy"], allow_pickle=False)
                os.unlink(msg["npy"])
                if progress is not None:
                    progress()
                yield ev, (tuple(msg["sensor"]) if msg.get("sensor") else None)  # type: ignore[misc]
        finally:
            sel.close()
            if child.poll() is None:
                child.kill()
            child.wait()


def _read_one(path: str) -> tuple[np.ndarray, list[int] | None]:
    """In the reader process: decode one file with ``aedat``."""
    import aedat

    decoder = aedat.Decoder(path)
    streams = {i: s for i, s in decoder.id_to_stream().items() if s.get("type") == "events"}
    if not streams:
        raise ValueError("no events stream")
    sid = min(streams)
    parts = [p["events"] for p in decoder if p["stream_id"] == sid and "events" in p]
    raw = np.concatenate(parts) if parts else np.empty(0, [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    ev = np.empty(len(raw), EVENT_DTYPE)
    if len(raw) and int(raw["t"].max()) >= 1 << 63:
        raise ValueError("timestamps beyond int64")
    ev["t"], ev["x"], ev["y"], ev["p"] = raw["t"].astype(np.int64), raw["x"], raw["y"], raw[raw.dtype.names[3]]
    if len(ev) and np.any(np.diff(ev["t"]) < 0):
        ev = ev[np.argsort(ev["t"], kind="stable")]
    if len(ev) and ev["t"][0] < 0:
        raise ValueError("negative timestamps")
    s = streams[sid]
    sensor = [int(s["width"]), int(s["height"])] if s.get("width") and s.get("height") else None
    return ev, sensor


def _worker(tmp: str) -> None:
    for k, line in enumerate(sys.stdin):
        path = json.loads(line)
        try:
            ev, sensor = _read_one(path)
            npy = os.path.join(tmp, f"{k}.npy")
            np.save(npy, ev)
            msg: dict = {"npy": npy, "sensor": sensor}
        except Exception as e:  # the decoder's errors come as several types; the parent names the file
            msg = {"error": (str(e).strip().splitlines() or [type(e).__name__])[0]}
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _worker(sys.argv[1])
