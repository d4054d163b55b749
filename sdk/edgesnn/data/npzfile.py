"""Reading and validating a user's ``.npz`` data file (features, spikes or events).

The format is documented in ``docs/data.md``. Files are read with ``allow_pickle=False``: a file
that needs pickle (object arrays) is refused, never unpickled. Every check names the key and
the value it found, in one line, and raises :class:`DatasetError`.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesnn.errors import DatasetError

KINDS = ("features", "spikes", "events")
EVENT_FIELDS = ("x", "y", "t", "p")
# Tonic's event dtype, the ecosystem convention; other integer widths are accepted on load.
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])


@dataclass(frozen=True)
class EventSplit:
    """One split of an events file: sample k is ``events[offsets[k]:offsets[k+1]]``."""

    events: np.ndarray  # structured, EVENT_DTYPE, each sample's events sorted by t
    offsets: np.ndarray  # int64 (N+1,)
    y: np.ndarray  # int64 (N,)

    def __len__(self) -> int:
        return len(self.y)

    def sample(self, k: int) -> np.ndarray:
        return self.events[self.offsets[k] : self.offsets[k + 1]]


@dataclass(frozen=True)
class ArraySplit:
    """One split of a features (x: (N, F) float64) or spikes (x: (N, T, C) bool) file."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class AudioSplit(ArraySplit):
    """One split of an audio file: x (N, S) int16 or float32 in [-1, 1], zero after each
    sample's ``lengths`` (N,) samples."""

    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass(frozen=True)
class DataFile:
    """A validated data file. ``sensor_size`` is (W, H, P) for events, else None."""

    path: str
    kind: str
    train: ArraySplit | EventSplit
    test: ArraySplit | EventSplit
    classes: int
    sensor_size: tuple[int, int, int] | None = None
    class_names: tuple[str, ...] | None = None
    sample_rate: int | None = None


def _open(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise DatasetError(f"{path}: a single .npy array, not an .npz archive of named arrays")
            out = {k: z[k] for k in z.files}
        for k, v in out.items():  # a member that is not a .npy array comes back as raw bytes
            if not isinstance(v, np.ndarray):
                raise DatasetError(f"{path}: member {k!r} is not a .npy array")
        return out
    except DatasetError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DatasetError(f"{path}: holds object arrays that need pickle, which edgesnn never loads") from None
        raise DatasetError(f"{path}: not a readable .npz archive ({str(e).splitlines()[0]})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path}: not a readable .npz archive ({e})") from None


def _show(a: np.ndarray) -> str:
    """A value for a one-line message: small arrays in full, others by shape and dtype."""
    a = np.asarray(a)
    return str(a.tolist()) if a.size <= 6 and a.dtype.names is None else f"an array of shape {a.shape}, dtype {a.dtype}"


def _need(z: dict, key: str, path: Path) -> np.ndarray:
    if key not in z:
        raise DatasetError(f"{path}: key {key!r} missing (has: {', '.join(sorted(z)) or 'nothing'})")
    return z[key]


def _labels(z: dict, key: str, n: int, path: Path) -> np.ndarray:
    y = _need(z, key, path)
    if y.dtype.kind not in "iu":
        raise DatasetError(f"{path}: {key!r} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise DatasetError(f"{path}: {key!r} has shape {y.shape}, expected ({n},) to match the samples")
    if n and y.min() < 0:
        raise DatasetError(f"{path}: {key!r} holds a negative label ({int(y.min())}); labels are 0..classes-1")
    return y.astype(np.int64)


def _features(z: dict, key: str, path: Path) -> np.ndarray:
    x = _need(z, key, path)
    if x.dtype.kind not in "iuf":
        raise DatasetError(f"{path}: {key!r} must be real numbers, got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DatasetError(f"{path}: {key!r} must have shape (samples, features), got {x.shape}")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(
            f"{path}: {key!r} holds {int(bad.sum())} NaN/infinite values (first at sample {r}, feature {c})"
        )
    return x


def _spikes(z: dict, key: str, path: Path) -> np.ndarray:
    x = _need(z, key, path)
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: {key!r} must be 0/1 spikes, got dtype {x.dtype}")
    if x.ndim != 3 or 0 in x.shape:
        raise DatasetError(f"{path}: {key!r} must have shape (samples, timesteps, channels), got {x.shape}")
    if x.dtype != np.bool_:
        ok = (x == 0) | (x == 1)  # O(n), no sort (np.isin would sort)
        if not ok.all():
            idx = tuple(int(i) for i in np.argwhere(~ok)[0])
            raise DatasetError(f"{path}: {key!r} must hold only 0 and 1, found {x[idx]!r} at {idx}")
        x = x.astype(bool)
    return x


def _events(z: dict, split: str, sensor: tuple[int, int, int], path: Path) -> tuple[np.ndarray, np.ndarray]:
    key, okey = f"events_{split}", f"offsets_{split}"
    ev, off = _need(z, key, path), _need(z, okey, path)
    names = ev.dtype.names or ()
    missing = [f for f in EVENT_FIELDS if f not in names]
    if ev.ndim != 1 or missing:
        raise DatasetError(
            f"{path}: {key!r} must be a 1-D structured array with fields x, y, t, p "
            f"(missing {', '.join(missing) or 'none'}, shape {ev.shape})"
        )
    for f in ("x", "y", "t"):
        if ev.dtype[f].kind not in "iu":
            raise DatasetError(f"{path}: {key!r} field {f!r} must be an integer, got dtype {ev.dtype[f]}")
    if ev.dtype["p"].kind not in "biu":
        raise DatasetError(f"{path}: {key!r} field 'p' must be bool or integer, got dtype {ev.dtype['p']}")
    if off.dtype.kind not in "iu" or off.ndim != 1 or len(off) < 1:
        raise DatasetError(f"{path}: {okey!r} must be a 1-D integer array (samples + 1,), got {off.dtype} {off.shape}")
    off = off.astype(np.int64)
    if off[0] != 0 or off[-1] != len(ev) or (np.diff(off) < 0).any():
        raise DatasetError(
            f"{path}: {okey!r} does not match {key!r}: it must start at 0, never decrease and end at "
            f"{len(ev)} (the number of events); got start {int(off[0])}, end {int(off[-1])}"
        )
    out = np.empty(len(ev), EVENT_DTYPE)
    W, H, P = sensor
    for f, lim in (("x", W), ("y", H), ("p", P)):
        v = ev[f].astype(np.int64)
        if len(v) and (v.min() < 0 or v.max() >= lim):
            raise DatasetError(
                f"{path}: {key!r} field {f!r} outside 0..{lim - 1} of sensor_size {sensor} "
                f"(found {int(v.min())}..{int(v.max())})"
            )
        out[f] = v
    out["t"] = ev["t"]
    # each sample's events sorted by t: a decrease is allowed only where a new sample starts
    dec = np.flatnonzero(np.diff(out["t"]) < 0) + 1
    if len(dec):
        starts = np.zeros(len(ev) + 1, bool)
        starts[off] = True
        bad = dec[~starts[dec]]
        if len(bad):
            k = int(np.searchsorted(off, bad[0], side="right") - 1)
            raise DatasetError(f"{path}: {key!r} sample {k} is not sorted by t (event {int(bad[0] - off[k])})")
    return out, off


def read_data_file(path: str | Path) -> DataFile:
    """Read and validate a features, spikes, events or audio ``.npz`` file (kind told by its keys)."""
    path = Path(path)
    z = _open(path)
    if "events_train" in z or "events_test" in z:
        kind = "events"
        s = _need(z, "sensor_size", path)
        if s.dtype.kind not in "iu" or s.shape != (3,) or (s < 1).any():
            raise DatasetError(f"{path}: 'sensor_size' must be 3 positive integers (W, H, P), got {_show(s)}")
        sensor: tuple[int, int, int] | None = (int(s[0]), int(s[1]), int(s[2]))
        splits: dict[str, ArraySplit | EventSplit] = {}
        for split in ("train", "test"):
            ev, off = _events(z, split, (int(s[0]), int(s[1]), int(s[2])), path)
            splits[split] = EventSplit(ev, off, _labels(z, f"y_{split}", len(off) - 1, path))
    elif "audio_train" in z or "audio_test" in z:
        kind, sensor = "audio", None
        rate = _need(z, "sample_rate", path)
        if rate.dtype.kind not in "iu" or rate.shape != () or int(rate) < 1:
            raise DatasetError(f"{path}: 'sample_rate' must be one positive integer (Hz), got {_show(rate)}")
        splits = {split: _audio_split(z, split, path) for split in ("train", "test")}
    elif "x_train" in z or "x_test" in z:
        sensor = None
        ndim = _need(z, "x_train", path).ndim
        kind = "features" if ndim == 2 else "spikes"
        read = _features if kind == "features" else _spikes
        arrays = {}
        for split in ("train", "test"):
            x = read(z, f"x_{split}", path)
            arrays[split] = ArraySplit(x, _labels(z, f"y_{split}", len(x), path))
        splits = dict(arrays)
        a, b = arrays["train"].x.shape[1:], arrays["test"].x.shape[1:]
        if a != b:
            raise DatasetError(f"{path}: 'x_train' samples have shape {a} but 'x_test' samples {b}")
    else:
        raise DatasetError(
            f"{path}: neither 'x_train' (features or spikes), 'events_train' (events) nor 'audio_train' (audio) found; "
            f"keys: {', '.join(sorted(z)) or 'none'}"
        )
    tr, te = splits["train"], splits["test"]
    if len(tr) == 0 or len(te) == 0:
        raise DatasetError(f"{path}: both splits need samples (train {len(tr)}, test {len(te)})")
    classes = int(max(tr.y.max(), te.y.max())) + 1
    if "classes" in z:
        c = z["classes"]
        if c.dtype.kind not in "iu" or c.shape != () or int(c) < 1:
            raise DatasetError(f"{path}: 'classes' must be one positive integer, got {_show(c)}")
        if int(c) < classes:
            key = "y_train" if tr.y.max() >= int(c) else "y_test"
            raise DatasetError(f"{path}: {key!r} holds label {classes - 1}, out of range for classes = {int(c)}")
        classes = int(c)
    elif te.y.max() > tr.y.max():
        raise DatasetError(
            f"{path}: 'y_test' holds label {int(te.y.max())}, out of range of the training labels "
            f"0..{int(tr.y.max())} (add a 'classes' key if some classes have no training samples)"
        )
    names = None
    if "class_names" in z:
        cn = z["class_names"]
        if cn.dtype.kind != "U" or cn.ndim != 1 or len(cn) != classes:
            raise DatasetError(
                f"{path}: 'class_names' must be a 1-D unicode array of {classes} names (one per class), "
                f"got {cn.dtype} {cn.shape}"
            )
        names = tuple(str(c) for c in cn)
    rate_hz = int(z["sample_rate"]) if kind == "audio" else None
    return DataFile(str(path), kind, tr, te, classes, sensor, names, rate_hz)


def _audio_split(z: dict, split: str, path: Path) -> AudioSplit:
    key = f"audio_{split}"
    a = _need(z, key, path)
    if a.dtype not in (np.int16, np.float32) or a.ndim != 2 or a.shape[1] == 0:
        raise DatasetError(
            f"{path}: {key!r} must be int16 or float32 (samples, audio samples), got {a.dtype} {a.shape}"
        )
    if a.dtype == np.float32 and not np.isfinite(a).all():
        raise DatasetError(f"{path}: {key!r} holds NaN or infinite samples")
    if a.dtype == np.float32 and len(a) and np.abs(a).max() > 1.0:
        raise DatasetError(f"{path}: {key!r} float samples must lie in [-1, 1] (largest {np.abs(a).max():.3g})")
    n, S = a.shape
    lk = f"lengths_{split}"
    lengths = z[lk] if lk in z else np.full(n, S, np.int64)
    if lengths.dtype.kind not in "iu" or lengths.shape != (n,) or (n and (lengths.min() < 1 or lengths.max() > S)):
        raise DatasetError(f"{path}: {lk!r} must be ({n},) integers in 1..{S}, got {lengths.dtype} {lengths.shape}")
    a = a.copy()
    a[np.arange(S)[None, :] >= lengths[:, None]] = 0  # past a sample's end is silence
    return AudioSplit(a, _labels(z, f"y_{split}", n, path), lengths.astype(np.int64))


def write_events(
    path: str | Path,
    train: tuple[list[np.ndarray], np.ndarray],
    test: tuple[list[np.ndarray], np.ndarray],
    sensor_size: tuple[int, int, int],
    compress: bool = True,
    class_names: list[str] | None = None,
) -> None:
    """Write an events file from per-sample event arrays and labels of each split;
    ``class_names`` also stores ``classes`` (their count, which a class without samples needs)."""
    out = {"sensor_size": np.asarray(sensor_size, np.int64)}
    if class_names is not None:
        out["classes"] = np.asarray(len(class_names), np.int64)
        out["class_names"] = np.asarray(class_names, str)
    for split, (samples, y) in (("train", train), ("test", test)):
        lens = np.array([len(s) for s in samples], np.int64)
        out[f"events_{split}"] = (
            np.concatenate([np.asarray(s).astype(EVENT_DTYPE) for s in samples])
            if samples
            else np.empty(0, EVENT_DTYPE)
        )
        out[f"offsets_{split}"] = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        out[f"y_{split}"] = np.asarray(y, np.int64)
    save_npz(path, out, compress)


def write_spikes(
    path: str | Path,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    class_names: list[str] | None = None,
    classes: int | None = None,
) -> None:
    """Write a spikes file: (x (N, T, C) 0/1, y) of each split; ``classes`` defaults to the
    names' count."""
    out: dict[str, np.ndarray] = {}
    for s, (x, y) in (("train", train), ("test", test)):
        out[f"x_{s}"], out[f"y_{s}"] = np.asarray(x).astype(bool), np.asarray(y, np.int64)
    if class_names is not None:
        out["class_names"] = np.asarray(class_names, str)
    if classes is not None or class_names is not None:
        out["classes"] = np.asarray(classes if classes is not None else len(class_names or ()), np.int64)
    save_npz(path, out)


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], compress: bool = True) -> None:
    """``np.savez`` to a temporary file beside ``path``, then renamed: an interrupted write never
    leaves half a data file under the name (and ``path`` is used as given, no ``.npz`` added)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays)  # type: ignore[arg-type]  # numpy stub
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
