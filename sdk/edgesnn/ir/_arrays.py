"""Validation helpers shared by the IR dataclasses: copy, freeze, check finiteness."""

from __future__ import annotations

import numpy as np


def frozen_vector(name: str, value, size: int | None = None) -> np.ndarray:
    """A read-only float64 copy of a 1-d per-neuron parameter; scalars broadcast to ``size``."""
    arr = np.array(value, dtype=np.float64)
    if arr.ndim == 0 and size is not None:
        arr = np.full(size, float(arr))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d per-neuron vector, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} has {arr.shape[0]} entries, expected {size}")
    check_finite(name, arr)
    arr.flags.writeable = False
    return arr


def frozen_matrix(name: str, value) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d matrix, got shape {arr.shape}")
    check_finite(name, arr)
    arr.flags.writeable = False
    return arr


def check_finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} has a non-finite value {float(arr[idx])} at index {idx}")


def check_range(name: str, arr: np.ndarray, lo: float, hi: float, *, lo_open: bool = False) -> None:
    """Raise naming the first entry outside [lo, hi] (or (lo, hi] with ``lo_open``)."""
    bad = (arr <= lo if lo_open else arr < lo) | (arr > hi)
    if bad.any():
        i = int(np.argmax(bad))
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name}[{i}] = {float(arr[i])} is outside {bracket}{lo}, {hi}]")
