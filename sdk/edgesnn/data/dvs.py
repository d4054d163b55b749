"""A DVS pixel model: frames -> ON/OFF events, in the manner of ESIM and v2e (numpy).

Per pixel, with intensity I in [0, 1] (uint8 frames are divided by 255, colour is reduced to
luma 0.299 R + 0.587 G + 0.114 B):

* brightness ``L = lin_log(I)``: ``log(I)`` above ``linear_below`` and the straight line
  through the origin that meets it there below (v2e's lin-log, so dark pixels are not noise
  amplifiers);
* each pixel keeps a reference level ``ref`` (initially L of the first frame). Between frames
  k-1 and k, L moves linearly in time from ``L0`` to ``L1``; every time it crosses
  ``ref + C_on`` an ON event is emitted and ``ref += C_on``, every time it crosses
  ``ref - C_off`` an OFF event and ``ref -= C_off`` (ESIM's interpolated crossing times);
* contrast thresholds differ per pixel (mismatch): ``C = max(threshold + mismatch * N(0, 1),
  0.01)``, drawn once from the seeded generator;
* an event within ``refractory_us`` of the pixel's previous *emitted* event is not emitted,
  but its crossing still moves ``ref`` (the pixel's comparator resets; the event is lost);
* optional background noise: each pixel emits Poisson events at ``noise_hz`` (random polarity,
  uniform times) that do not move ``ref``.

Timestamps are microseconds (int64, rounded from the interpolated time); the output is the
Tonic event dtype, sorted by t. The same seed gives the same events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.data.npzfile import EVENT_DTYPE


@dataclass(frozen=True)
class PixelModel:
    """DVS pixel parameters (see the module docstring for the equations)."""

    threshold_on: float = 0.2
    threshold_off: float = 0.2
    mismatch: float = 0.03
    refractory_us: float = 0.0
    noise_hz: float = 0.0
    linear_below: float = 20 / 255
    seed: int = 0

    def __post_init__(self):
        for name in ("threshold_on", "threshold_off", "linear_below"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be > 0, got {v!r}")
        for name in ("mismatch", "refractory_us", "noise_hz"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be >= 0, got {v!r}")


def to_intensity(frames: np.ndarray) -> np.ndarray:
    """Frames (T, H, W) or (T, H, W, 3|4) of any numeric type -> float64 intensities in [0, 1]."""
    a = np.asarray(frames)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"frames must be numeric, got dtype {a.dtype}")
    if a.ndim == 4 and a.shape[-1] in (3, 4):
        a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        scale = 255.0 if np.asarray(frames).dtype == np.uint8 else 1.0
    else:
        scale = 255.0 if a.dtype == np.uint8 else (65535.0 if a.dtype == np.uint16 else 1.0)
    if a.ndim != 3 or min(a.shape) < 1:
        raise ValueError(f"frames must have shape (T, H, W) or (T, H, W, 3), got {np.shape(frames)}")
    if a.shape[0] < 2:
        raise ValueError(f"need at least 2 frames to see a change, got {a.shape[0]}")
    x = a.astype(np.float64) / scale
    if not np.isfinite(x).all():
        raise ValueError("frames hold NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"float frames must be intensities in [0, 1], got {x.min():.3g}..{x.max():.3g}")
    return x


def lin_log(i: np.ndarray, linear_below: float) -> np.ndarray:
    lin = i * (np.log(linear_below) / linear_below)
    return np.where(i < linear_below, lin, np.log(np.maximum(i, linear_below)))


def simulate_pixels(intensity: np.ndarray, times_us: np.ndarray, model: PixelModel) -> tuple[np.ndarray, ...]:
    """Events of a batch of pixel arrays. ``intensity``: (T, ..., H, W) in [0, 1]; ``times_us``: (T,).

    One sensor: the per-pixel thresholds are drawn for (H, W) and shared by every array of the
    batch (the same camera records every sample). Returns (pixel_index, t_us, polarity) with pixel_index into the flattened pixel shape,
    in emission order (each pixel's events in time order).
    """
    T = intensity.shape[0]
    times = np.asarray(times_us, np.float64)
    if times.shape != (T,) or (np.diff(times) <= 0).any():
        raise ValueError("frame times must increase strictly, one per frame")
    L = lin_log(intensity.reshape(T, -1), model.linear_below)
    M = L.shape[1]
    rng = np.random.default_rng(model.seed)
    sensor = int(np.prod(intensity.shape[-2:]))
    c_on = np.tile(np.maximum(model.threshold_on + model.mismatch * rng.standard_normal(sensor), 0.01), M // sensor)
    c_off = np.tile(np.maximum(model.threshold_off + model.mismatch * rng.standard_normal(sensor), 0.01), M // sensor)
    ref = L[0].copy()
    last = np.full(M, -np.inf)
    out_i, out_t, out_p = [], [], []
    for k in range(1, T):
        L0, L1, ta, tb = L[k - 1], L[k], times[k - 1], times[k]
        d = L1 - ref
        up = d > 0
        step = np.where(up, c_on, -c_off)
        n = np.floor(np.abs(d) / np.where(up, c_on, c_off)).astype(np.int64)
        for j in range(1, int(n.max(initial=0)) + 1):
            idx = np.flatnonzero(n >= j)
            level = ref[idx] + j * step[idx]
            dl = L1[idx] - L0[idx]
            safe = np.where(dl != 0, dl, 1.0)
            frac = np.clip(np.where(dl != 0, (level - L0[idx]) / safe, 1.0), 0.0, 1.0)
            t = ta + frac * (tb - ta)
            ok = t - last[idx] >= model.refractory_us
            out_i.append(idx[ok])
            out_t.append(t[ok])
            out_p.append(up[idx[ok]])
            last[idx[ok]] = t[ok]
        ref += n * step
        if model.noise_hz > 0:
            cnt = rng.poisson(model.noise_hz * (tb - ta) * 1e-6, M)
            idx = np.repeat(np.arange(M), cnt)
            out_i.append(idx)
            out_t.append(ta + rng.random(len(idx)) * (tb - ta))
            out_p.append(rng.random(len(idx)) < 0.5)
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    return (np.concatenate(out_i), np.floor(np.concatenate(out_t) + 0.5).astype(np.int64), np.concatenate(out_p))


def frames_to_events(frames: np.ndarray, fps: float, model: PixelModel = PixelModel()) -> np.ndarray:
    """Events (Tonic dtype, sorted by t) of one clip of frames shown at ``fps`` frames per second."""
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be > 0, got {fps!r}")
    x = to_intensity(frames)
    T, H, W = x.shape
    times = np.arange(T) * (1e6 / fps)
    idx, t, p = simulate_pixels(x, times, model)
    order = np.argsort(t, kind="stable")
    ev = np.empty(len(t), EVENT_DTYPE)
    ev["x"], ev["y"] = (idx % W)[order], (idx // W)[order]
    ev["t"], ev["p"] = t[order], p[order]
    return ev
