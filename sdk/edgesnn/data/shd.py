"""The Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) HDF5 files, read with h5py,
binned into a spikes data set.

Layout (Cramer et al. 2020, as published at zenkelab.org): one file per split, ``shd_train.h5`` and
``shd_test.h5`` (SSC: ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``), each holding

* ``spikes/times``: one variable-length float array per sample, spike times in seconds;
* ``spikes/units``: one variable-length integer array per sample, the channel of each spike
  (0..699, the cochlea model's fibres);
* ``labels``: one integer class per sample;
* ``extra/keys`` (optional): the class names, one per class.

Binning: timestep ``k`` covers ``[k·dt, (k+1)·dt)`` and channel ``u`` is 1 in it when the sample
has at least one spike of unit ``u`` there. Every sample gets ``floor(t_max / dt) + 1`` timesteps,
``t_max`` the latest spike of either split.
Channels: ``channels`` if given (a unit outside it is refused), else the largest unit seen plus one,
reported as inferred. SSC's ``valid`` split is not used (train and test are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn.data.npzfile import write_spikes
from edgesnn.errors import DatasetError, first_line

#: default timestep of binned SHD/SSC spikes, ms (100 steps span SHD's ~1 s samples)
DEFAULT_DT_MS = 10.0
#: the largest binned data set made in memory (samples x timesteps x channels, bytes)
MAX_BINNED_BYTES = 8 << 30
SUFFIXES = (".h5", ".hdf5")


def is_shd_path(path: str | Path) -> bool:
    """Whether ``path`` names an SHD/SSC file or a folder holding a ``*_train.h5`` file."""
    p = Path(path)
    if p.suffix.lower() in SUFFIXES:
        return True
    return p.is_dir() and any(q.suffix.lower() in SUFFIXES and q.stem.lower().endswith("_train") for q in p.iterdir())


def split_files(path: str | Path) -> tuple[Path, Path]:
    """The (train, test) files of a ``X_train.h5`` / ``X_test.h5`` path or of a folder with one pair."""
    p = Path(path)
    if p.is_dir():
        trains = sorted(q for q in p.iterdir() if q.suffix.lower() in SUFFIXES and q.stem.lower().endswith("_train"))
        if not trains:
            raise DatasetError(f"{p}: no '*_train.h5' file (SHD: shd_train.h5 and shd_test.h5)")
        if len(trains) > 1:
            raise DatasetError(f"{p}: several training files ({', '.join(q.name for q in trains)}); name one")
        p = trains[0]
    if not p.is_file():
        raise DatasetError(f"SHD file not found: {p}")
    stem = p.stem
    base, _, split = stem.rpartition("_")
    if split.lower() not in ("train", "test") or not base:
        raise DatasetError(f"{p}: an SHD/SSC split file is named NAME_train.h5 or NAME_test.h5")
    pair = {s: p.with_name(f"{base}_{s}{p.suffix}") for s in ("train", "test")}
    if not pair["test"].is_file() or not pair["train"].is_file():
        missing = pair["test"] if not pair["test"].is_file() else pair["train"]
        raise DatasetError(f"{p}: its other split {missing.name} is not beside it")
    return pair["train"], pair["test"]


@dataclass(frozen=True)
class ShdSplit:
    """One split as read: per-sample spike times (s, float64) and units, labels, class names."""

    times: tuple[np.ndarray, ...]
    units: tuple[np.ndarray, ...]
    labels: np.ndarray
    class_names: tuple[str, ...] | None


def _dataset(f, key: str, path: Path):
    import h5py

    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{path}: no {key!r} data set (has: {', '.join(sorted(f.keys())) or 'nothing'})")
    return obj


def read_split(path: str | Path) -> ShdSplit:
    """Read and check one SHD/SSC split file."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a readable HDF5 file ({first_line(e)})") from None
    with f:
        try:
            t_ds, u_ds, y_ds = (_dataset(f, k, path) for k in ("spikes/times", "spikes/units", "labels"))
            n = len(y_ds)
            if y_ds.ndim != 1 or y_ds.dtype.kind not in "iu":
                raise DatasetError(f"{path}: 'labels' must be 1-D integers, got {y_ds.dtype} {y_ds.shape}")
            for ds in (t_ds, u_ds):
                if ds.ndim != 1 or len(ds) != n:
                    raise DatasetError(f"{path}: {ds.name!r} holds {len(ds)} samples where 'labels' has {n}")
            labels = np.asarray(y_ds[()], np.int64)
            times = tuple(np.atleast_1d(np.asarray(a, np.float64)) for a in t_ds[()])
            units = tuple(np.atleast_1d(np.asarray(a)) for a in u_ds[()])
            names = None
            if "extra" in f and "keys" in f["extra"]:
                raw = np.atleast_1d(f["extra"]["keys"][()])
                names = tuple(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in raw)
        except DatasetError:
            raise
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:  # damaged chunks or types
            raise DatasetError(f"{path}: damaged SHD data ({first_line(e)})") from None
    if n == 0:
        raise DatasetError(f"{path}: no samples")
    if labels.min() < 0:
        raise DatasetError(f"{path}: 'labels' holds a negative label ({int(labels.min())})")
    for k, (t, u) in enumerate(zip(times, units)):
        if t.shape != u.shape:
            raise DatasetError(f"{path}: sample {k} has {t.size} spike times but {u.size} units")
        if u.dtype.kind not in "iu":
            raise DatasetError(f"{path}: sample {k}'s units must be integers, got dtype {u.dtype}")
        if t.size and (not np.isfinite(t).all() or t.min() < 0):
            bad = t[~np.isfinite(t) | (t < 0)][0]
            raise DatasetError(f"{path}: sample {k} has a spike time of {bad} s (times are seconds, >= 0)")
        if u.size and u.min() < 0:
            raise DatasetError(f"{path}: sample {k} has a negative unit ({int(u.min())})")
    return ShdSplit(times, units, labels, names)


def bin_spikes(split: ShdSplit, dt_ms: float, timesteps: int, channels: int) -> np.ndarray:
    """(samples, timesteps, channels) bool: 1 where a unit spiked at least once in a timestep."""
    x = np.zeros((len(split.labels), timesteps, channels), bool)
    for k, (t, u) in enumerate(zip(split.times, split.units)):
        # times in seconds, dt in ms: the step is floor(t·1000 / dt) in float64 (a spike exactly on
        # a boundary belongs to the later step)
        step = np.floor(t * 1e3 / dt_ms).astype(np.int64)
        x[k, step, u.astype(np.int64)] = True
    return x


def load(path: str | Path, dt_ms: float = DEFAULT_DT_MS, channels: int | None = None) -> dict:
    """Both splits binned: ``x_train``, ``y_train``, ``x_test``, ``y_test``, ``classes``,
    ``class_names`` (or None), ``dt_ms``, ``channels``, ``channels_inferred``, ``files``."""
    if not (isinstance(dt_ms, (int, float)) and math.isfinite(dt_ms) and dt_ms > 0):
        raise DatasetError(f"--dt-ms must be a positive number of milliseconds, got {dt_ms}")
    if channels is not None and channels < 1:
        raise DatasetError(f"--channels must be positive, got {channels}")
    files = split_files(path)
    splits = {s: read_split(f) for s, f in zip(("train", "test"), files)}
    t_max = max((float(t.max()) for s in splits.values() for t in s.times if t.size), default=0.0)
    u_max = max((int(u.max()) for s in splits.values() for u in s.units if u.size), default=-1)
    if u_max < 0:
        raise DatasetError(f"{files[0]}: no spikes in either split")
    n_ch = channels if channels is not None else u_max + 1
    if u_max >= n_ch:
        raise DatasetError(f"{files[0].parent}: spikes of unit {u_max}, outside --channels {n_ch}")
    steps = int(math.floor(t_max * 1e3 / dt_ms)) + 1
    size = sum(len(s.labels) for s in splits.values()) * steps * n_ch
    if size > MAX_BINNED_BYTES:
        raise DatasetError(
            f"{files[0].parent}: binned at {dt_ms:g} ms the spikes would take {size / 2**30:.1f} GiB "
            f"({steps} timesteps up to the latest spike at {t_max:.3f} s, {n_ch} channels); raise --dt-ms"
        )
    names = splits["train"].class_names or splits["test"].class_names
    classes = int(max(s.labels.max() for s in splits.values())) + 1
    if names is not None and len(names) < classes:
        names = None  # keys that do not cover the labels name nothing reliably
    return {
        "x_train": bin_spikes(splits["train"], dt_ms, steps, n_ch),
        "y_train": splits["train"].labels,
        "x_test": bin_spikes(splits["test"], dt_ms, steps, n_ch),
        "y_test": splits["test"].labels,
        "classes": max(classes, len(names) if names else 0),
        "class_names": list(names) if names else None,
        "dt_ms": float(dt_ms),
        "channels": n_ch,
        "channels_inferred": channels is None,
        "files": [str(f) for f in files],
    }


def import_shd(path: str | Path, out: str | Path, dt_ms: float = DEFAULT_DT_MS, channels: int | None = None) -> dict:
    """Bin an SHD/SSC pair (:func:`load`) and write it as a spikes ``.npz``; returns what was
    written (``kind``, samples, classes, ``input_shape``, ``timesteps``, ``dt_ms``, ...)."""
    d = load(path, dt_ms=dt_ms, channels=channels)
    x, xt = d["x_train"], d["x_test"]
    write_spikes(out, (x, d["y_train"]), (xt, d["y_test"]), class_names=d["class_names"], classes=d["classes"])
    return {
        "kind": "spikes",
        "out": str(out),
        "samples_train": len(x),
        "samples_test": len(xt),
        "classes": d["classes"],
        "class_names": d["class_names"],
        "input_shape": [int(x.shape[2])],
        "timesteps": int(x.shape[1]),
        "dt_ms": d["dt_ms"],
        "channels_inferred": d["channels_inferred"],
        "spikes_per_sample": round(float((x.sum() + xt.sum()) / (len(x) + len(xt))), 1),
    }
