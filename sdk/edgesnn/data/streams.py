"""Stream files: one long recording per split with labelled segments (docs/data.md, "Streams").

A stream ``.npz`` (read with ``allow_pickle=False``) holds, per split ``train`` and ``test``:

* events: ``events_{split}`` (Tonic's dtype, sorted by ``t`` in µs, no ``offsets_*``) and one
  ``sensor_size`` (W, H, P);
* audio: ``audio_{split}`` (int16, or float32 in [-1, 1]) and one ``sample_rate`` (Hz);
* spikes: ``x_{split}`` (T, C) of 0/1 and one ``dt_us`` (the timestep);
* every kind: ``segments_{split}``, int64 (K, 3) rows ``[onset_us, offset_us, class]``, sorted
  and non-overlapping (time outside every segment is background), optional ``class_names``
  (unicode) and optional ``duration_us_{split}`` (the recording's length; default: the last
  event + 1 µs, the samples' or timesteps' span).

Every check names the key in one line (:class:`DatasetError`). Events become timesteps of
``dt_us`` with bin ``k = t // dt_us`` (1 where a bin holds at least one event, channels as the
events kind: ``p*H*W + y*W + x`` after downsampling); a recording of duration D has
``ceil(D / dt_us)`` timesteps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn.data.npzfile import EVENT_DTYPE, EVENT_FIELDS, _need, _open, _show, save_npz
from edgesnn.errors import DatasetError

MODALITIES = ("events", "audio", "spikes")


@dataclass(frozen=True, eq=False)
class Recording:
    """One split of a stream: the recording, its duration and its segments."""

    modality: str
    duration_us: int
    segments: np.ndarray  # int64 (K, 3): onset_us, offset_us, class
    events: np.ndarray | None = None  # events: structured, sorted by t
    audio: np.ndarray | None = None  # audio: int16 or float32 (S,)
    x: np.ndarray | None = None  # spikes: bool (T, C)

    @property
    def duty_cycle(self) -> float:
        """Fraction of the recording inside segments."""
        return float((self.segments[:, 1] - self.segments[:, 0]).sum() / max(self.duration_us, 1))

    def inside(self, t_us: np.ndarray) -> np.ndarray:
        """Whether each time lies inside a segment (onset <= t < offset)."""
        seg = self.segments
        k = np.searchsorted(seg[:, 0], t_us, side="right") - 1
        ok = k >= 0
        out = np.zeros(len(t_us), bool)
        out[ok] = t_us[ok] < seg[k[ok], 1]
        return out


@dataclass(frozen=True, eq=False)
class StreamFile:
    """A validated stream file."""

    path: str
    modality: str
    train: Recording
    test: Recording
    classes: int
    class_names: tuple[str, ...] | None = None
    sensor_size: tuple[int, int, int] | None = None
    sample_rate: int | None = None
    dt_us: int | None = None  # spikes: the file's timestep

    def split(self, split: str) -> Recording:
        if split not in ("train", "test"):
            raise DatasetError(f"unknown split {split!r}; use 'train' or 'test'")
        return self.train if split == "train" else self.test


def is_stream_file(keys) -> bool:
    return "segments_train" in keys or "segments_test" in keys


def _positive_int(z: dict, key: str, path: Path) -> int:
    v = _need(z, key, path)
    if v.dtype.kind not in "iu" or v.shape != () or int(v) < 1:
        raise DatasetError(f"{path}: {key!r} must be one positive integer, got {_show(v)}")
    return int(v)


def _stream_events(z: dict, key: str, sensor: tuple[int, int, int], path: Path) -> np.ndarray:
    ev = _need(z, key, path)
    names = ev.dtype.names or ()
    missing = [f for f in EVENT_FIELDS if f not in names]
    if ev.ndim != 1 or missing:
        raise DatasetError(f"{path}: {key!r} must be a 1-D structured array with fields x, y, t, p")
    for f in ("x", "y", "t"):
        if ev.dtype[f].kind not in "iu":
            raise DatasetError(f"{path}: {key!r} field {f!r} must be an integer, got dtype {ev.dtype[f]}")
    out = np.empty(len(ev), EVENT_DTYPE)
    W, H, P = sensor
    for f, lim in (("x", W), ("y", H), ("p", P)):
        v = ev[f].astype(np.int64)
        if len(v) and (v.min() < 0 or v.max() >= lim):
            raise DatasetError(f"{path}: {key!r} field {f!r} outside 0..{lim - 1} of sensor_size {sensor}")
        out[f] = v
    out["t"] = ev["t"]
    if len(out) and out["t"][0] < 0:
        raise DatasetError(f"{path}: {key!r} has a negative timestamp ({int(out['t'][0])} µs)")
    dec = np.flatnonzero(np.diff(out["t"]) < 0)
    if len(dec):
        raise DatasetError(
            f"{path}: {key!r} is not sorted by t (event {int(dec[0]) + 1} is earlier than the one before)"
        )
    return out


def _audio(z: dict, key: str, path: Path) -> np.ndarray:
    a = _need(z, key, path)
    if a.ndim != 1 or len(a) == 0:
        raise DatasetError(f"{path}: {key!r} must be one channel of samples (S,), got shape {a.shape}")
    if a.dtype == np.int16:
        return a
    if a.dtype == np.float32:
        if not np.isfinite(a).all() or np.abs(a).max() > 1.0:
            raise DatasetError(f"{path}: {key!r} float samples must be finite and in [-1, 1]")
        return a
    raise DatasetError(f"{path}: {key!r} must be int16 or float32 in [-1, 1], got dtype {a.dtype}")


def _spike_matrix(z: dict, key: str, path: Path) -> np.ndarray:
    x = _need(z, key, path)
    if x.dtype.kind not in "biuf" or x.ndim != 2 or 0 in x.shape:
        raise DatasetError(
            f"{path}: {key!r} must be 0/1 spikes of shape (timesteps, channels), got {x.dtype} {x.shape}"
        )
    if x.dtype != np.bool_:
        if not ((x == 0) | (x == 1)).all():
            raise DatasetError(f"{path}: {key!r} must hold only 0 and 1")
        x = x.astype(bool)
    return x


def _segments(z: dict, key: str, duration: int, classes: int | None, path: Path) -> np.ndarray:
    s = _need(z, key, path)
    if s.dtype.kind not in "iu" or s.ndim != 2 or s.shape[1] != 3:
        raise DatasetError(
            f"{path}: {key!r} must be integers of shape (K, 3) [onset_us, offset_us, class], got {s.dtype} {s.shape}"
        )
    s = s.astype(np.int64)
    if len(s) == 0:
        return s
    bad = np.flatnonzero(s[:, 0] >= s[:, 1])
    if len(bad):
        k = int(bad[0])
        raise DatasetError(f"{path}: {key!r} row {k}: onset {int(s[k, 0])} µs is not before offset {int(s[k, 1])} µs")
    if s[0, 0] < 0:
        raise DatasetError(f"{path}: {key!r} row 0: negative onset {int(s[0, 0])} µs")
    bad = np.flatnonzero(s[1:, 0] < s[:-1, 0])
    if len(bad):
        raise DatasetError(f"{path}: {key!r} is not sorted by onset (row {int(bad[0]) + 1})")
    bad = np.flatnonzero(s[1:, 0] < s[:-1, 1])
    if len(bad):
        k = int(bad[0]) + 1
        raise DatasetError(
            f"{path}: {key!r} rows {k - 1} and {k} overlap (onset {int(s[k, 0])} µs < offset {int(s[k - 1, 1])} µs)"
        )
    if s[-1, 1] > duration:
        raise DatasetError(
            f"{path}: {key!r} row {len(s) - 1} ends at {int(s[-1, 1])} µs, past the recording's end ({duration} µs)"
        )
    if (s[:, 2] < 0).any() or (classes is not None and (s[:, 2] >= classes).any()):
        k = int(np.flatnonzero((s[:, 2] < 0) | (s[:, 2] >= (classes or 2**62)))[0])
        raise DatasetError(f"{path}: {key!r} row {k}: class {int(s[k, 2])} out of range 0..{(classes or 0) - 1}")
    return s


def read_stream_file(path: str | Path) -> StreamFile:
    """Read and validate a stream ``.npz`` (modality told by its keys)."""
    path = Path(path)
    z = _open(path)
    if not is_stream_file(z):
        raise DatasetError(f"{path}: not a stream file (no 'segments_train')")
    names = None
    if "class_names" in z:
        cn = z["class_names"]
        if cn.dtype.kind != "U" or cn.ndim != 1 or len(cn) == 0:
            raise DatasetError(f"{path}: 'class_names' must be a 1-D unicode array, got {cn.dtype} {cn.shape}")
        names = tuple(str(c) for c in cn)
    sensor = rate = dt = None
    if "events_train" in z or "events_test" in z:
        modality = "events"
        if any(k.startswith("offsets_") for k in z):
            raise DatasetError(f"{path}: a stream's events are one recording per split: remove the 'offsets_*' keys")
        s = _need(z, "sensor_size", path)
        if s.dtype.kind not in "iu" or s.shape != (3,) or (s < 1).any():
            raise DatasetError(f"{path}: 'sensor_size' must be 3 positive integers (W, H, P), got {_show(s)}")
        sensor = (int(s[0]), int(s[1]), int(s[2]))
    elif "audio_train" in z or "audio_test" in z:
        modality = "audio"
        rate = _positive_int(z, "sample_rate", path)
    elif "x_train" in z or "x_test" in z:
        modality = "spikes"
        dt = _positive_int(z, "dt_us", path)
    else:
        raise DatasetError(
            f"{path}: a stream needs 'events_train', 'audio_train' or 'x_train'; keys: {', '.join(sorted(z))}"
        )
    recs: dict[str, Recording] = {}
    for split in ("train", "test"):
        ev = au = x = None
        if modality == "events":
            assert sensor is not None
            ev = _stream_events(z, f"events_{split}", sensor, path)
            natural = int(ev["t"][-1]) + 1 if len(ev) else 0
        elif modality == "audio":
            assert rate is not None
            au = _audio(z, f"audio_{split}", path)
            natural = -(-len(au) * 1_000_000 // rate)
        else:
            assert dt is not None
            x = _spike_matrix(z, f"x_{split}", path)
            natural = x.shape[0] * dt
        duration = natural
        dkey = f"duration_us_{split}"
        if dkey in z:
            duration = _positive_int(z, dkey, path)
            if duration < natural:
                raise DatasetError(f"{path}: {dkey!r} = {duration} µs is shorter than the recording ({natural} µs)")
        if duration <= 0:
            raise DatasetError(f"{path}: the {split} recording is empty")
        seg = _segments(z, f"segments_{split}", duration, len(names) if names else None, path)
        recs[split] = Recording(modality, duration, seg, ev, au, x)
    if modality == "spikes":
        a, b = recs["train"].x, recs["test"].x
        assert a is not None and b is not None
        if a.shape[1] != b.shape[1]:
            raise DatasetError(f"{path}: 'x_train' has {a.shape[1]} channels but 'x_test' {b.shape[1]}")
    labels = np.concatenate([recs["train"].segments[:, 2], recs["test"].segments[:, 2]])
    if len(labels) == 0:
        raise DatasetError(f"{path}: 'segments_train' and 'segments_test' are both empty: nothing to detect")
    classes = len(names) if names else int(labels.max()) + 1
    return StreamFile(str(path), modality, recs["train"], recs["test"], classes, names, sensor, rate, dt)


def write_stream(
    path: str | Path,
    train: tuple[np.ndarray, np.ndarray, int],
    test: tuple[np.ndarray, np.ndarray, int],
    *,
    sensor_size: tuple[int, int, int],
    class_names: list[str] | None = None,
) -> None:
    """An events stream file from (events, segments, duration_us) of each split."""
    out: dict[str, np.ndarray] = {"sensor_size": np.asarray(sensor_size, np.int64)}
    for split, (ev, seg, dur) in (("train", train), ("test", test)):
        out[f"events_{split}"] = np.asarray(ev).astype(EVENT_DTYPE)
        out[f"segments_{split}"] = np.asarray(seg, np.int64).reshape(-1, 3)
        out[f"duration_us_{split}"] = np.asarray(int(dur), np.int64)
    if class_names:
        out["class_names"] = np.asarray(class_names, dtype=str)
    save_npz(path, out)


def event_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    dt_us: int,
    start: int,
    stop: int,
    downsample: int = 1,
) -> np.ndarray:
    """Timesteps ``start .. stop-1`` of an events recording (timestep k covers
    ``[k*dt_us, (k+1)*dt_us)``) as (stop - start, channels) bool. Pure."""
    from edgesnn.data.events import frame_shape

    P, H, W = frame_shape(sensor_size, downsample)
    t = events["t"]
    lo, hi = np.searchsorted(t, [start * dt_us, stop * dt_us])
    ev = events[lo:hi]
    out = np.zeros((stop - start, P * H * W), bool)
    b = ev["t"].astype(np.int64) // dt_us - start
    x = ev["x"].astype(np.int64) // downsample
    y = ev["y"].astype(np.int64) // downsample
    ch = (ev["p"].astype(np.int64) * H + y) * W + x
    out[b, ch] = True
    return out


def activity_filter(events: np.ndarray, sensor_size: tuple[int, int, int], filter_us: int) -> np.ndarray:
    """The background-activity filter of Tonic's ``denoise_numpy`` (an event passes when one of
    its four neighbour pixels had an event, earlier in the recording, less than ``filter_us``
    before it; every pixel starts as if it had one at time 0), vectorized: for each event and
    neighbour, the neighbour's last earlier event by binary search. Tonic loops in Python (about
    10 µs an event; an hour of stream holds millions); tests hold this to it event for event.
    Causal, so filtering a whole recording equals filtering it as it arrives."""
    n = len(events)
    if n == 0 or filter_us <= 0:
        return events
    W, H = int(sensor_size[0]), int(sensor_size[1])
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    t = events["t"].astype(np.int64)
    idx = np.arange(n, dtype=np.int64)
    keys = np.sort((y * W + x) * n + idx)
    keep = np.zeros(n, bool)
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nx, ny = x + dx, y + dy
        inside = (nx >= 0) & (nx < W) & (ny >= 0) & (ny < H)
        pix = ny * W + nx
        pos = np.searchsorted(keys, pix * n + idx) - 1  # the neighbour's last event before this one
        prev = keys[np.maximum(pos, 0)]
        has = (pos >= 0) & (prev // n == pix)
        t_prev = np.where(has, t[prev % n], 0)  # none yet: the memory's start value, time 0
        keep |= inside & (t_prev + filter_us > t)
    return events[keep]


def event_rates(rec: Recording) -> dict[str, float | None]:
    """Events (or spikes) per second inside and outside segments."""
    if rec.modality == "audio":
        return {"inside": None, "outside": None}
    seg = rec.segments
    inside_us = float((seg[:, 1] - seg[:, 0]).sum())
    outside_us = float(rec.duration_us) - inside_us
    if rec.modality == "events":
        assert rec.events is not None
        t = rec.events["t"].astype(np.int64)
        n_in = int(rec.inside(t).sum())
        n_all = len(t)
    else:
        assert rec.x is not None
        per_step = rec.x.sum(axis=1, dtype=np.int64)
        dt = rec.duration_us // rec.x.shape[0]
        t = np.arange(rec.x.shape[0], dtype=np.int64) * dt
        ins = rec.inside(t)
        n_in, n_all = int(per_step[ins].sum()), int(per_step.sum())
    return {
        "inside": n_in / (inside_us * 1e-6) if inside_us else None,
        "outside": (n_all - n_in) / (outside_us * 1e-6) if outside_us else None,
    }
