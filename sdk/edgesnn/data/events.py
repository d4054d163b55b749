"""Event streams -> spike frames (numpy; Tonic for denoising).

Binning follows Tonic's ``ToFrame(sensor_size, n_time_bins=T)`` exactly (``tonic/slicers.py``,
``SliceByTimeBins``): for one sample with first and last timestamps t0 and t1, the bin width is
``w = (t1 - t0) // T`` microseconds and bin k holds the events with
``t0 + k*w <= t < t0 + (k+1)*w``. Events at or after ``t0 + T*w`` (always including the last
event) fall in no bin, as in Tonic. Where Tonic's frame holds a *count* of events per
(polarity, y, x), edgesnn's spike frame holds **1 if that count is at least one, else 0**.
A sample with no events gives all-zero frames (Tonic raises on it).

Channel order: a frame of shape (P, H, W) is flattened in C order, so the spike of polarity p
at pixel (x, y) is input channel ``p*H*W + y*W + x`` (Tonic's (T, P, H, W) frame layout).

Downsampling by an integer factor f maps x -> x // f, y -> y // f and the sensor to
(ceil(W/f), ceil(H/f), P) (Tonic's ``Downsample(spatial_factor=1/f)`` truncates the same way).
Denoising drops events with no event at a 4-neighbour pixel within ``filter_time`` µs before
them, using Tonic's ``denoise_numpy`` itself (extra ``events``).
"""

from __future__ import annotations

import numpy as np

from edgesnn.data.npzfile import EventSplit
from edgesnn.errors import DatasetError


def frame_shape(sensor_size: tuple[int, int, int], downsample: int = 1) -> tuple[int, int, int]:
    """(P, H, W) of the frames of a sensor (W, H, P) after downsampling by ``downsample``."""
    W, H, P = sensor_size
    f = int(downsample)
    return (P, -(-H // f), -(-W // f))


def _denoise(events: np.ndarray, filter_time: int) -> np.ndarray:
    try:
        from tonic.functional import denoise_numpy
    except ImportError:
        raise DatasetError("denoising uses tonic: pip install 'edgesnn[events]'") from None
    if len(events) == 0:
        return events
    return denoise_numpy(events.copy(), filter_time=filter_time)


def bin_split(
    split: EventSplit,
    sensor_size: tuple[int, int, int],
    timesteps: int,
    *,
    downsample: int = 1,
    denoise_us: int | None = None,
) -> np.ndarray:
    """All samples of a split as spike frames (N, timesteps, P*H*W), bool. Pure: inputs untouched."""
    if timesteps < 1:
        raise DatasetError(f"timesteps must be >= 1, got {timesteps}")
    if downsample < 1:
        raise DatasetError(f"downsample must be an integer >= 1, got {downsample}")
    P, H, W = frame_shape(sensor_size, downsample)
    ev, off = split.events, split.offsets
    n = len(split)
    if denoise_us:
        parts = [_denoise(split.sample(k), int(denoise_us)) for k in range(n)]
        lens = np.array([len(p) for p in parts], np.int64)
        off = np.concatenate([[0], np.cumsum(lens)])
        ev = np.concatenate(parts) if len(parts) else ev[:0]
    sample = np.repeat(np.arange(n), np.diff(off))
    t = ev["t"].astype(np.int64)
    counts = np.diff(off)
    nonempty = counts > 0
    t0 = np.zeros(n, np.int64)
    t1 = np.zeros(n, np.int64)
    t0[nonempty] = t[off[:-1][nonempty]]
    t1[nonempty] = t[off[1:][nonempty] - 1]
    width = (t1 - t0) // timesteps
    rel = t - t0[sample]
    w = width[sample]
    # bin = rel // w where w > 0; a zero width (span < T µs) gives empty bins, as in Tonic
    b = np.where(w > 0, rel // np.maximum(w, 1), timesteps)
    keep = b < timesteps
    x = ev["x"].astype(np.int64)[keep] // downsample
    y = ev["y"].astype(np.int64)[keep] // downsample
    p = ev["p"].astype(np.int64)[keep]
    ch = (p * H + y) * W + x
    out = np.zeros((n, timesteps, P * H * W), bool)
    out[sample[keep], b[keep], ch] = True
    return out


def events_per_sample(split: EventSplit) -> np.ndarray:
    return np.diff(split.offsets)


def time_sorted(ev: np.ndarray) -> np.ndarray:
    """Events sorted by t (stable), untouched when they already are."""
    return ev[np.argsort(ev["t"], kind="stable")] if len(ev) and np.any(np.diff(ev["t"]) < 0) else ev
