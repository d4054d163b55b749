"""Data sets that work offline.

``digits``: the 1797 handwritten 8x8 digits (UCI) shipped inside scikit-learn. Split:
stratified, 25 % test. For each class c = 0..9 in order, the indices of that class are permuted
by one ``numpy.random.default_rng(0)`` (shared across classes) and the first
``round(0.25 * count)`` go to the test split: 1347 train and 450 test samples, the same on every
machine. Pixels (0..16) become intensities x / 16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.data.encoding import encode
from edgesnn.errors import DatasetError

DATASETS = ("digits",)
DEFAULT_SPEC = {"dataset": "digits", "encoding": "rate", "timesteps": 25, "seed": 0}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # intensities in [0, 1], (samples, channels)
    y: np.ndarray  # labels (samples,)


def _digits() -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = d.data / 16.0, d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test_idx.extend(rng.permutation(idx)[: int(round(len(idx) * 0.25))].tolist())
    test_mask = np.zeros(len(y), bool)
    test_mask[test_idx] = True
    return Split(x[~test_mask], y[~test_mask]), Split(x[test_mask], y[test_mask])


def load(name: str) -> tuple[Split, Split]:
    """(train, test) splits of a named data set."""
    if name == "digits":
        return _digits()
    raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")


def encoded(name: str, split: str, spec: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Input spikes (samples, timesteps, channels) and labels of one split, encoded per ``spec``.

    The test split uses ``seed + 1`` so that its noise differs from the training epochs'.
    """
    spec = {**DEFAULT_SPEC, **(spec or {})}
    train, test = load(name)
    part = {"train": train, "test": test}.get(split)
    if part is None:
        raise DatasetError(f"unknown split {split!r}; use 'train' or 'test'")
    seed = int(spec["seed"]) + (1 if split == "test" else 0)
    return encode(part.x, spec["encoding"], int(spec["timesteps"]), seed), part.y
