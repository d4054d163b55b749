"""The reader process: third-party decoders that can crash or hang run here, never in the user's.

Measured by fuzzing: the ``aedat`` decoder aborts the whole process on damaged AEDAT 4 files (a
Rust panic in a destructor), and ``expelliarmus`` never returns on small RAW files. A child
process reads the files one by one and hands each one's events back through a ``.npy`` file;
the parent names the file being read when the child crashes, fails, runs past its memory
limit or stays silent past ``timeout_s`` (then it is killed). Nothing a damaged file does can
take the import, or the user's process, down. One process serves a whole import.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Generator, Sequence
from pathlib import Path

import numpy as np

from edgesnn.errors import DatasetError, first_line

#: seconds a file may take before its reader is killed
TIMEOUT_S = 120.0
#: address space of the reader process (a damaged size field must not eat the machine)
MEMORY_LIMIT = 16 << 30
#: reader name -> (format named in errors, "module:function" run in the reader process)
READERS = {
    "aedat4": ("AEDAT 4", "edgesnn.data.aedat4:read_file"),
    "prophesee": ("Prophesee", "edgesnn.data.prophesee:read_prophesee"),
}


def _limit_memory() -> None:  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def read_many(
    files: Sequence[tuple[str, Path]], timeout_s: float = TIMEOUT_S
) -> Generator[tuple[np.ndarray, tuple[int, int] | None], None, None]:
    """Events (EVENT_DTYPE, sorted by t) and sensor of each (reader name, file), in order."""
    if not files:
        return
    with tempfile.TemporaryDirectory(prefix="edgesnn-reader-") as tmp:
        child = subprocess.Popen(
            [sys.executable, "-m", "edgesnn.data.sandbox", tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # decoders' own prints and panic text; the exit status says enough
            preexec_fn=_limit_memory if os.name == "posix" else None,
        )
        if child.stdin is None or child.stdout is None:  # never with PIPE; narrows the types
            raise RuntimeError("the reader process has no pipes")
        sel = selectors.DefaultSelector()
        sel.register(child.stdout, selectors.EVENT_READ)
        try:
            child.stdin.write("".join(json.dumps([r, str(p)]) + "\n" for r, p in files).encode())
            child.stdin.close()
            buf = b""
            for reader, path in files:
                what = READERS[reader][0]
                while b"\n" not in buf:
                    if not sel.select(timeout_s):
                        raise DatasetError(f"{path}: the {what} decoder did not finish within {timeout_s:g} s")
                    chunk = os.read(child.stdout.fileno(), 65536)
                    if not chunk:
                        code = child.wait()
                        how = f"signal {-code}" if code < 0 else f"exit status {code}"
                        raise DatasetError(f"{path}: the {what} decoder crashed on it ({how}): damaged file?")
                    buf += chunk
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "message" in msg:
                    raise DatasetError(msg["message"])
                if "error" in msg:
                    raise DatasetError(f"{path}: not a readable {what} file ({msg['error']})")
                ev = np.load(msg["npy"], allow_pickle=False)
                os.unlink(msg["npy"])
                yield ev, (tuple(msg["sensor"]) if msg.get("sensor") else None)
        finally:
            sel.close()
            if child.poll() is None:
                child.kill()
            child.wait()


def _worker(tmp: str) -> None:
    import importlib

    for k, line in enumerate(sys.stdin):
        reader, path = json.loads(line)
        module, _, func = READERS[reader][1].partition(":")
        try:
            ev, sensor = getattr(importlib.import_module(module), func)(Path(path))
            npy = os.path.join(tmp, f"{k}.npy")
            np.save(npy, ev)
            msg: dict = {"npy": npy, "sensor": list(sensor) if sensor else None}
        except DatasetError as e:  # already one line naming the file
            msg = {"message": str(e)}
        except Exception as e:  # the decoders' errors come as several types; the parent names the file
            msg = {"error": first_line(e)}
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _worker(sys.argv[1])
