"""Shared by the benchmarks: pinned threads and a best-of-N timer."""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import time  # noqa: E402


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
