"""``saccade-digits``: the digits data set recorded by the pixel model, the way N-MNIST was made.

N-MNIST (Orchard et al., 2015) put a DVS in front of a still MNIST digit on a monitor and moved
the sensor along three saccades (an isosceles triangle, ~100 ms each). Here, offline and
deterministic:

1. each of the 1797 scikit-learn 8x8 digits (the ``digits`` train/test split, same labels) is
   enlarged 3x by bilinear interpolation to 24x24 and placed in the middle of a 32x32 scene:
   intensity = 0.2 + 0.8 * (pixel / 16) (a bright digit on a grey screen);
2. the scene moves along three straight saccades through the offsets (x, y) in pixels
   (0, 0) -> (3, 2) -> (0, 4) -> (0, 0), 100 ms each, rendered every 5 ms (61 frames,
   sub-pixel shifts by bilinear interpolation, border grey);
3. the frames go through :class:`~edgesnn.data.dvs.PixelModel` with thresholds 0.25, mismatch
   0.02, refractory 1 ms, no noise, seed 0 (one pixel array for all samples).

Sensor size (32, 32, 2). The file is written once to the cache folder (``$EDGESNN_CACHE``, else
``$XDG_CACHE_HOME/edgesnn``, else ``~/.cache/edgesnn``) as ``saccade-digits-v1.npz`` and read
from there afterwards. ``VERSION`` changes whenever the recipe does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgesnn.data.dvs import PixelModel, simulate_pixels
from edgesnn.data.npzfile import EVENT_DTYPE, write_events

VERSION = 1
SENSOR = (32, 32, 2)
SCALE, BACKGROUND = 3, 0.2
PATH_XY = ((0.0, 0.0), (3.0, 2.0), (0.0, 4.0), (0.0, 0.0))
SACCADE_US, FRAME_US = 100_000, 5_000
PIXEL = PixelModel(threshold_on=0.25, threshold_off=0.25, mismatch=0.02, refractory_us=1000.0, seed=0)


def cache_dir() -> Path:
    if os.environ.get("EDGESNN_CACHE"):
        return Path(os.environ["EDGESNN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgesnn"


def cache_path() -> Path:
    return cache_dir() / f"saccade-digits-v{VERSION}.npz"


def _enlarge(img8: np.ndarray) -> np.ndarray:
    """(N, 8, 8) -> (N, 24, 24), bilinear with pixel centres aligned (edge values held)."""
    n = img8.shape[-1] * SCALE
    pos = (np.arange(n) + 0.5) / SCALE - 0.5
    i0 = np.clip(np.floor(pos).astype(int), 0, img8.shape[-1] - 1)
    i1 = np.clip(i0 + 1, 0, img8.shape[-1] - 1)
    f = np.clip(pos - np.floor(pos), 0, 1)
    f = np.where(pos < 0, 0.0, f)
    rows = img8[:, i0, :] * (1 - f)[None, :, None] + img8[:, i1, :] * f[None, :, None]
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]


def _shift(scene: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Scene content moved by (dx, dy) pixels, bilinear, border filled with the background."""
    N, H, W = scene.shape
    pad = 8
    big = np.full((N, H + 2 * pad, W + 2 * pad), BACKGROUND)
    big[:, pad : pad + H, pad : pad + W] = scene
    ix, fx = int(np.floor(dx)), dx - np.floor(dx)
    iy, fy = int(np.floor(dy)), dy - np.floor(dy)

    def win(oy, ox):
        return big[:, pad - oy : pad - oy + H, pad - ox : pad - ox + W]

    return (1 - fy) * ((1 - fx) * win(iy, ix) + fx * win(iy, ix + 1)) + fy * (
        (1 - fx) * win(iy + 1, ix) + fx * win(iy + 1, ix + 1)
    )


def offsets() -> tuple[np.ndarray, np.ndarray]:
    """Frame times (µs) and scene offsets (x, y) along the three saccades."""
    per = SACCADE_US // FRAME_US
    times, xy = [0.0], [PATH_XY[0]]
    for a, b in zip(PATH_XY[:-1], PATH_XY[1:]):
        for k in range(1, per + 1):
            times.append(times[-1] + FRAME_US)
            xy.append((a[0] + (b[0] - a[0]) * k / per, a[1] + (b[1] - a[1]) * k / per))
    return np.array(times), np.array(xy)


def record(images8: np.ndarray, batch: int = 256) -> list[np.ndarray]:
    """Events of each 8x8 image (values 0..1), one sorted Tonic array per image."""
    W, H, _ = SENSOR
    times, xy = offsets()
    out: list[np.ndarray] = []
    for s in range(0, len(images8), batch):
        big = _enlarge(images8[s : s + batch])
        n = len(big)
        scene = np.full((n, H, W), BACKGROUND)
        o = (H - big.shape[1]) // 2
        scene[:, o : o + big.shape[1], o : o + big.shape[2]] = BACKGROUND + (1 - BACKGROUND) * big
        frames = np.stack([_shift(scene, dx, dy) for dx, dy in xy])  # (T, n, H, W)
        idx, t, p = simulate_pixels(frames, times, PIXEL)
        sample, pix = idx // (H * W), idx % (H * W)
        order = np.lexsort((t, sample))
        sample, pix, t, p = sample[order], pix[order], t[order], p[order]
        bounds = np.searchsorted(sample, np.arange(n + 1))
        for k in range(n):
            sl = slice(bounds[k], bounds[k + 1])
            ev = np.empty(bounds[k + 1] - bounds[k], EVENT_DTYPE)
            ev["x"], ev["y"], ev["t"], ev["p"] = pix[sl] % W, pix[sl] // W, t[sl], p[sl]
            out.append(ev)
    return out


def ensure() -> Path:
    """The cached file, made on first use (about a minute on one core)."""
    from edgesnn.data.datasets import digits_splits

    path = cache_path()
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    train, test = digits_splits()
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    write_events(tmp, (record(train.x.reshape(-1, 8, 8)), train.y), (record(test.x.reshape(-1, 8, 8)), test.y), SENSOR)
    os.replace(tmp, path)  # atomic: a concurrent or interrupted run never leaves a half file
    return path
