"""Spike encoders: intensities in [0, 1] -> binary spikes (samples, timesteps, channels).

* ``rate``: each step, a channel spikes with probability equal to its intensity (Bernoulli).
  The generator is seeded, so the same call gives the same spikes.
* ``latency``: one spike per channel, earlier for brighter inputs:
  ``t = round_half_up((1 - x) * (T - 1))``; channels with x <= ``latency_floor`` never spike.
"""

from __future__ import annotations

import numpy as np

from edgesnn.errors import DatasetError

ENCODINGS = ("rate", "latency")


def rate_encode(x: np.ndarray, timesteps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((x.shape[0], timesteps, x.shape[1])) < x[:, None, :]


def latency_encode(x: np.ndarray, timesteps: int, latency_floor: float = 0.0) -> np.ndarray:
    t = np.floor((1.0 - x) * (timesteps - 1) + 0.5).astype(np.int64)
    out = np.zeros((x.shape[0], timesteps, x.shape[1]), bool)
    n, c = np.nonzero(x > latency_floor)
    out[n, t[n, c], c] = True
    return out


def encode(x: np.ndarray, encoding: str, timesteps: int, seed: int = 0) -> np.ndarray:
    """Encode intensities in [0, 1] with a named encoding."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DatasetError(f"intensities must be (samples, channels), got shape {x.shape}")
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise DatasetError("intensities must be finite and within [0, 1]")
    if timesteps < 1:
        raise DatasetError(f"timesteps must be >= 1, got {timesteps}")
    if encoding == "rate":
        return rate_encode(x, timesteps, seed)
    if encoding == "latency":
        return latency_encode(x, timesteps)
    raise DatasetError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
