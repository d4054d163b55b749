"""``saccade-digits-stream``: an event camera watching a still scene where now and then a digit
appears, makes its three saccades and leaves (a stream file, docs/data.md "Streams").

Recipe (deterministic, seeded; ``VERSION`` changes whenever it does):

1. the sensor (32x32x2, the ``saccade-digits`` pixel model: thresholds 0.25, mismatch 0.02,
   refractory 1 ms, one pixel array for the whole recording) looks at a uniform grey scene
   (intensity 0.2);
2. an *episode* shows one digit of the ``digits`` split (train digits in the train recording,
   test digits in the test one, each in a seeded order, each once before any repeats): at its
   onset the digit appears (grey -> digit scene within one 5 ms frame), the scene makes the
   three 100 ms saccades of ``saccade-digits``, and 5 ms later the digit is gone (grey again).
   Its segment is ``[onset, onset + 310 ms]``, class = the digit's label;
3. gaps between episodes: the mean gap ``g = 310 ms * (1 - duty) / duty`` makes the requested
   duty cycle; each gap is ``g * U(0.5, 1.5)`` (never under 100 ms), and the recording starts
   with a gap;
4. background activity: per-pixel shot noise as v2e models it (``shot_noise_rate_hz``: each
   pixel fires Poisson events at a fixed rate, ON and OFF equally likely, not moving the
   pixel's reference level), here ``NOISE_HZ`` = 0.5 Hz per pixel over the whole recording, so
   ~1,000 noise events per second on the 1,024 pixels. v2e's scaling of that rate with
   intensity is left out: the scene is uniform. Between episodes the pixels see no change, so
   noise is all they emit; each episode starts from pixel references at the grey level.

Defaults: 10 % duty, 70 minutes of train and 25 of test recording (at 10 % every train digit
appears once, and every test digit). The file is cached
(``$EDGESNN_CACHE``, as ``saccade-digits``) as ``saccade-digits-stream-v{VERSION}-d{duty}.npz``.
The name takes options: ``saccade-digits-stream:duty=3`` (percent) makes the 3 % recording.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgesnn.data import saccade
from edgesnn.data.dvs import simulate_pixels
from edgesnn.data.npzfile import EVENT_DTYPE
from edgesnn.data.streams import write_stream
from edgesnn.errors import DatasetError

NAME = "saccade-digits-stream"
VERSION = 2
NOISE_HZ = 0.5
TRAIN_S, TEST_S = 4200, 1500
DEFAULT_DUTY = 10.0
FRAME_US = saccade.FRAME_US
EPISODE_US = FRAME_US + 3 * saccade.SACCADE_US + FRAME_US  # appear, three saccades, leave
MIN_GAP_US = 100_000


def parse(name: str) -> dict | None:
    """Options of a ``saccade-digits-stream[:duty=P]`` name, or None for another name."""
    if name != NAME and not name.startswith(NAME + ":"):
        return None
    opts = {"duty": DEFAULT_DUTY}
    for part in filter(None, name[len(NAME) + 1 :].split(",")):
        key, _, value = part.partition("=")
        if key != "duty":
            raise DatasetError(f"{name!r}: unknown option {key!r}; {NAME} takes duty=PERCENT")
        try:
            duty = float(value)
        except ValueError:
            raise DatasetError(f"{name!r}: duty must be a number of percent, got {value!r}") from None
        if not 0.5 <= duty <= 100:
            raise DatasetError(f"{name!r}: duty must be between 0.5 and 100 percent, got {value}")
        opts["duty"] = duty
    return opts


def cache_path(duty: float) -> Path:
    tag = f"{duty:g}".replace(".", "p")
    return saccade.cache_dir() / f"{NAME}-v{VERSION}-d{tag}.npz"


def _episode_frames(images8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, n, H, W) of n episodes and their times (µs, from the episode's onset)."""
    W, H, _ = saccade.SENSOR
    times, xy = saccade.offsets()
    big = saccade._enlarge(images8)
    n = len(big)
    scene = np.full((n, H, W), saccade.BACKGROUND)
    o = (H - big.shape[1]) // 2
    scene[:, o : o + big.shape[1], o : o + big.shape[2]] = saccade.BACKGROUND + (1 - saccade.BACKGROUND) * big
    grey = np.full((n, H, W), saccade.BACKGROUND)
    frames = [grey] + [saccade._shift(scene, dx, dy) for dx, dy in xy] + [grey]
    t = np.concatenate([[0.0], times + FRAME_US, [times[-1] + 2 * FRAME_US]])
    return np.stack(frames), t


def _schedule(n_max: int, duration_us: int, duty: float, rng) -> np.ndarray:
    """Episode onsets (µs) filling the recording at the duty cycle."""
    mean_gap = EPISODE_US * (100.0 - duty) / duty
    onsets: list[int] = []
    t = 0.0
    while True:
        t += max(MIN_GAP_US, mean_gap * rng.uniform(0.5, 1.5)) if duty < 100 else MIN_GAP_US
        if t + EPISODE_US > duration_us or len(onsets) == n_max:
            break
        onsets.append(int(t))
        t += EPISODE_US
    return np.array(onsets, np.int64)


def record(images8: np.ndarray, labels: np.ndarray, duration_us: int, duty: float, seed: int) -> tuple:
    """(events, segments, duration_us) of one recording."""
    W, H, _ = saccade.SENSOR
    rng = np.random.default_rng(seed)
    onsets = _schedule(100_000, duration_us, duty, rng)
    order = np.concatenate([rng.permutation(len(labels)) for _ in range(len(onsets) // len(labels) + 1)])
    pick = order[: len(onsets)]
    parts = []
    for s in range(0, len(onsets), 128):
        idx = pick[s : s + 128]
        frames, t = _episode_frames(images8[idx])
        pix_idx, te, p = simulate_pixels(frames, t, saccade.PIXEL)
        ep, pix = pix_idx // (H * W), pix_idx % (H * W)
        ev = np.empty(len(te), EVENT_DTYPE)
        ev["x"], ev["y"], ev["p"] = pix % W, pix // W, p
        ev["t"] = te + onsets[s : s + 128][ep]
        parts.append(ev)
    n_noise = rng.poisson(NOISE_HZ * W * H * duration_us * 1e-6)
    noise = np.empty(n_noise, EVENT_DTYPE)
    pix = rng.integers(0, W * H, n_noise)
    noise["x"], noise["y"] = pix % W, pix // W
    noise["t"] = rng.integers(0, duration_us, n_noise)
    noise["p"] = rng.random(n_noise) < 0.5
    events = np.concatenate(parts + [noise])
    events = events[np.argsort(events["t"], kind="stable")]
    segments = np.stack([onsets, onsets + EPISODE_US, labels[pick]], axis=1).astype(np.int64)
    return events, segments, duration_us


def ensure(duty: float = DEFAULT_DUTY) -> Path:
    """The cached file, made on first use (about half a minute)."""
    from edgesnn.data.datasets import digits_splits

    path = cache_path(duty)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    train, test = digits_splits()
    tr = record(train.x.reshape(-1, 8, 8), train.y, TRAIN_S * 1_000_000, duty, seed=1)
    te = record(test.x.reshape(-1, 8, 8), test.y, TEST_S * 1_000_000, duty, seed=2)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    write_stream(tmp, tr, te, sensor_size=saccade.SENSOR, class_names=[str(d) for d in range(10)])
    os.replace(tmp, path)  # atomic, as saccade-digits
    return path
