"""Shared by the benchmarks: pinned threads and a best-of-N timer."""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def best_of(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls, in seconds (the least disturbed run)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def process_env(threads: int, tmp: Path) -> dict:
    """The environment of a timed CLI process: pinned threads, and its modules' bytecode cached as
    an installed package runs (pip writes it at install; a machine that sets
    PYTHONDONTWRITEBYTECODE would otherwise compile edgesnn every run)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
    return env


def best_process_s(cmd: list[str], env: dict, repeats: int = 2) -> float:
    """Best wall time of ``repeats`` runs of the process ``cmd``, after one warm run (the kernel's
    cache, the OS page cache, bytecode)."""
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - t0)
    return best
