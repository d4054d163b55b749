"""The event-driven kernel compiled with the host's C compiler (host_kernel.c), loaded by ctypes.

Compiled once per source version into ``$EDGESNN_CACHE/kernels`` (default
``~/.cache/edgesnn/kernels``), atomically, and reused by every later process: loading takes
milliseconds, which is what makes short `edgesnn simulate` runs fast. Without a C compiler the
simulator falls back to numba or numpy (``available()`` says which).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgesnn.fixedpoint import contract as C

SOURCE = Path(__file__).with_name("host_kernel.c")
_lib = None
_failed: str | None = None


def _cache_dir() -> Path:
    root = os.environ.get("EDGESNN_CACHE") or str(Path.home() / ".cache" / "edgesnn")
    return Path(root) / "kernels"


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _cpu_flags() -> bytes:
    try:
        return next(ln for ln in Path("/proc/cpuinfo").read_bytes().splitlines() if ln.startswith(b"flags"))
    except (OSError, StopIteration):
        return b""


def library_path() -> Path:
    """One library per source version and CPU (it is built with -march=native)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + platform.machine().encode() + _cpu_flags()).hexdigest()[:16]
    return _cache_dir() / f"host_kernel-{digest}.so"


def compile_library(path: Path, march: str = "native") -> None:
    """Compile host_kernel.c into ``path`` (atomically) for ``-march=march``; raises OSError or
    SubprocessError."""
    cc = _compiler()
    if cc is None:
        raise OSError("no C compiler")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_so = Path(tmp) / path.name
        subprocess.run(
            [cc, "-O3", f"-march={march}", "-std=c99", "-shared", "-fPIC", str(SOURCE), "-o", str(tmp_so)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        os.replace(tmp_so, path)


def load_library(path: Path):
    """The compiled kernel at ``path`` with its return type declared."""
    lib = ctypes.CDLL(str(path))
    lib.esnn_host_layer.restype = ctypes.c_int64
    return lib


def _load():
    global _lib, _failed
    if _lib is not None or _failed is not None:
        return _lib
    path = library_path()
    try:
        if not path.is_file():
            # for this CPU: the file name holds its instruction-set flags
            compile_library(path)
        _lib = load_library(path)
    except (OSError, subprocess.SubprocessError) as e:
        _failed = str(e)
        return None
    return _lib


def available() -> bool:
    """Whether the compiled kernel can be used here (compiling it on first call)."""
    return _load() is not None


#: int16 lanes per SIMD vector in host_kernel.c (its LANES): weight rows are padded to a multiple
LANES = 32


#: recurrent weights go as compressed rows when at most 1 in SPARSE_BELOW is nonzero: a row then
#: costs fewer (indexed) adds than the dense loop's n_out
SPARSE_BELOW = 4


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


class Prepared:
    """A layer's tables in the kernel's layout (int8 weights padded to whole vectors, int64
    parameters, int32 copies when the 32-bit update is exact) and its scratch buffers, made once
    and reused by every batch of a run."""

    def __init__(self, layer, state_bits: int):
        self.lo_hi = C.state_limits(state_bits)
        n_out, n_in = layer.n_out, layer.n_in
        self.n_pad = -(-n_out // LANES) * LANES  # whole SIMD vectors (host_kernel.c: LANES)
        self.w_t = np.zeros((max(n_in, 1), self.n_pad), np.int8)
        self.w_t[:n_in, :n_out] = layer.weight.T
        self.r_t = self.r_ptr = self.r_idx = self.r_val = self.r_diag = None
        if layer.recurrent is not None:
            r_t = np.ascontiguousarray(np.asarray(layer.recurrent).T, np.int32)
            diag, nonzero = np.ascontiguousarray(np.diagonal(r_t)), np.count_nonzero(r_t)
            if nonzero == np.count_nonzero(diag):  # only self-connections
                self.r_diag = diag
            elif nonzero * SPARSE_BELOW <= r_t.size:  # compressed rows: skip the zeros
                k, j = np.nonzero(r_t)  # row-major order: row k's entries are contiguous
                self.r_ptr = np.concatenate([[0], np.cumsum(np.bincount(k, minlength=n_out))]).astype(np.int64)
                self.r_idx, self.r_val = j.astype(np.int32), np.ascontiguousarray(r_t[k, j])
            else:
                self.r_t = r_t

        def i64(a):
            return np.ascontiguousarray(a, np.int64)

        self.bias, self.a_mem = i64(layer.bias), i64(layer.alpha_mem)
        self.thr, self.v_reset = i64(layer.threshold), i64(layer.v_reset)
        self.a_syn = i64(layer.alpha_syn) if layer.current_based else np.zeros(n_out, np.int64)
        self.p32 = (
            np.concatenate([self.a_mem, self.bias, self.thr]).astype(np.int32)
            if fits_int32(layer, state_bits)
            else None
        )
        self.scratch = [
            np.zeros(self.n_pad, np.int32),
            np.zeros(max(n_in, n_out) + 1, np.int64),  # active inputs or recurrent spikes (the tail
            # scan writes one slot ahead)
            np.zeros(n_out, np.int64),
            np.zeros(n_out, np.int64),
            np.zeros(n_out, np.int32),
        ]


def fits_int32(layer, state_bits: int) -> bool:
    """Whether host_kernel.c's 32-bit update is exact for ``layer``: a voltage-based layer reset by
    subtraction whose every sum before the clamp (decayed state + synaptic drive + bias) stays
    inside int32 for any input, from the largest |sum of weights| into one neuron."""
    if layer.current_based or layer.reset != "subtract" or state_bits > 31:
        return False
    w = np.abs(np.asarray(layer.weight, np.int64)).sum(axis=1)
    if layer.recurrent is not None:
        w = w + np.abs(np.asarray(layer.recurrent, np.int64)).sum(axis=1)
    drive = int(w.max(initial=0)) << int(layer.shift)
    bias = int(np.abs(np.asarray(layer.bias, np.int64)).max(initial=0))
    return (1 << (state_bits - 1)) + drive + bias < (1 << 31)


def run_layer(layer, s_in: np.ndarray, state_bits: int, record: bool, lib=None, prep: Prepared | None = None):
    """Same contract and return value as fast_kernel.run_layer, plus the layer's synaptic events
    per sample (int64) as a sixth item; ``lib``: another build of the kernel (``load_library``),
    e.g. for an older instruction set, instead of the cached one; ``prep``: the layer's
    ``Prepared`` tables when it runs batch after batch."""
    lib = lib or _load()
    if lib is None:
        raise RuntimeError(f"the C host kernel is unavailable: {_failed}")
    p = prep or Prepared(layer, state_bits)
    n, steps = s_in.shape[:2]
    n_out, n_in = layer.n_out, layer.n_in
    lo, hi = p.lo_hi
    if s_in.dtype == np.bool_ and s_in.flags.c_contiguous:
        s = s_in.view(np.uint8)  # 0/1 bytes already: no copy
    else:
        s = np.ascontiguousarray(s_in, np.uint8)
    out = np.empty((n, steps, n_out), np.uint8)  # the kernel writes every entry
    shape = (n, steps, n_out) if record else (1,)
    rec_v = np.zeros(shape, np.int64)
    rec_i = np.zeros(shape if layer.current_based else (1,), np.int64)
    v_last = np.empty((n, n_out), np.int64)
    synops = np.empty(n, np.int64)
    c64 = ctypes.c_int64
    sat = lib.esnn_host_layer(
        _ptr(s), c64(n), c64(steps), c64(n_in), _ptr(p.w_t), c64(p.n_pad),
        *(_ptr(a) if a is not None else None for a in (p.r_t, p.r_ptr, p.r_idx, p.r_val, p.r_diag)), c64(n_out), c64(layer.shift), _ptr(p.bias),
        c64(int(layer.current_based)), _ptr(p.a_syn), _ptr(p.a_mem), _ptr(p.thr),
        c64(int(layer.reset == "subtract")), _ptr(p.v_reset), c64(lo), c64(hi), c64(int(record)),
        _ptr(p.p32) if p.p32 is not None else None,
        _ptr(out), _ptr(rec_v), _ptr(rec_i), _ptr(v_last), _ptr(synops), *(_ptr(a) for a in p.scratch),
    )  # fmt: skip
    return (
        out.view(np.bool_),
        rec_v if record else None,
        rec_i if record and layer.current_based else None,
        v_last,
        int(sat),
        synops,
    )
