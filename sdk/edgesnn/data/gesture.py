"""Labelled recordings (DVS128 Gesture's layout) to a stream with segments.

DVS128 Gesture (Amir et al. 2017) is published as a folder of AEDAT 3.1 recordings, one per
user and lighting (``user01_fluorescent.aedat``), each with ``<name>_labels.csv`` (header
``class,startTime_usec,endTime_usec``, one row per gesture, times on the recording's clock),
``trials_to_train.txt`` and ``trials_to_test.txt`` (one recording file name per line) and
``gesture_mapping.csv`` (``action,label``). Also taken: ``train/`` and ``test/`` folders that
hold the recordings and their label files directly. Recordings may be ``.aedat`` or ``.aedat4``.

Each split becomes one stream (docs/data.md, "Streams"): its recordings, in file-name order,
laid end to end. A recording spans from its first event or onset (whichever is earlier) to its
last event or offset, plus 1 µs; it starts where the one before ended. Segments are the label
rows, moved with their recording. Classes: the labels of ``gesture_mapping.csv`` in rising order
(named by their actions), else every label seen, in rising order, named by the number.
"""

from __future__ import annotations

import csv
from contextlib import closing
from pathlib import Path

import numpy as np

from edgesnn.data.recordings import check_sensor, check_sensor_size, final_sensor, read_files
from edgesnn.data.streams import write_stream
from edgesnn.errors import DatasetError

RECORDING_SUFFIXES = (".aedat", ".aedat4")
LABELS_SUFFIX = "_labels.csv"


def is_labelled_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder of recordings with label files (either layout)."""
    p = Path(path)
    if not p.is_dir():
        return False
    if (p / "trials_to_train.txt").is_file():
        return True
    return all(
        (p / s).is_dir() and any(q.name.endswith(LABELS_SUFFIX) for q in (p / s).iterdir()) for s in ("train", "test")
    )


def _list(root: Path) -> dict[str, list[Path]]:
    """The recordings of each split."""
    if (root / "trials_to_train.txt").is_file():
        out = {}
        for split in ("train", "test"):
            lst = root / f"trials_to_{split}.txt"
            if not lst.is_file():
                raise DatasetError(f"{root}: has trials_to_train.txt but no {lst.name}")
            names = [ln.strip() for ln in lst.read_text(errors="replace").splitlines() if ln.strip()]
            out[split] = [root / n for n in sorted(names)]
    else:
        out = {
            s: sorted(q for q in (root / s).iterdir() if q.suffix.lower() in RECORDING_SUFFIXES)
            for s in ("train", "test")
        }
    for split, files in out.items():
        if not files:
            raise DatasetError(f"{root}: no {split} recordings")
        for f in files:
            if f.suffix.lower() not in RECORDING_SUFFIXES:
                raise DatasetError(f"{f}: not an AEDAT recording ({', '.join(RECORDING_SUFFIXES)})")
            if not f.is_file():
                raise DatasetError(f"{f}: listed for {split} but not found")
            if not _labels_of(f).is_file():
                raise DatasetError(f"{f}: no label file {_labels_of(f).name} beside it")
    return out


def _labels_of(f: Path) -> Path:
    return f.with_name(f.stem + LABELS_SUFFIX)


def read_labels(path: Path) -> np.ndarray:
    """(K, 3) int64 rows [label, start_us, end_us] of a ``_labels.csv``, sorted by start."""
    try:
        with open(path, newline="", errors="replace") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror})") from None
    if rows and not rows[0][0].strip().lstrip("-").isdigit():
        rows = rows[1:]  # the header line
    out = []
    for i, r in enumerate(rows, 1):
        try:
            label, start, end = (int(c) for c in r[:3])
        except ValueError:
            raise DatasetError(f"{path}: row {i} {','.join(r)!r} is not 'class,startTime_usec,endTime_usec'") from None
        if start < 0 or end <= start:
            raise DatasetError(f"{path}: row {i} runs from {start} to {end} µs (needs 0 <= start < end)")
        out.append((label, start, end))
    if not out:
        raise DatasetError(f"{path}: no labelled segments")
    seg = np.array(sorted(out, key=lambda r: r[1]), np.int64)
    over = np.flatnonzero(seg[1:, 1] < seg[:-1, 2])
    if len(over):
        raise DatasetError(f"{path}: segments starting at {seg[over[0], 1]} and {seg[over[0] + 1, 1]} µs overlap")
    return seg


def _class_map(root: Path, labels: np.ndarray) -> tuple[dict[int, int], list[str]]:
    mapping = root / "gesture_mapping.csv"
    if mapping.is_file():
        pairs = []
        with open(mapping, newline="", errors="replace") as fh:
            for r in csv.reader(fh):
                if len(r) >= 2 and r[1].strip().lstrip("-").isdigit():
                    pairs.append((int(r[1]), r[0].strip()))
        if pairs:
            pairs.sort()
            index = {lab: k for k, (lab, _) in enumerate(pairs)}
            unknown = sorted(set(labels.tolist()) - set(index))
            if unknown:
                raise DatasetError(f"{mapping}: has no action for label {unknown[0]}")
            return index, [name for _, name in pairs]
    seen = sorted(set(labels.tolist()))
    return {lab: k for k, lab in enumerate(seen)}, [str(lab) for lab in seen]


def import_labelled(root: str | Path, out: str | Path, *, sensor_size=None, progress=None) -> dict:
    """Write the stream file of a labelled-recordings folder; returns what ``data info`` shows."""
    root = Path(root)
    check_sensor_size(sensor_size)
    files = _list(root)
    labels = {s: [read_labels(_labels_of(f)) for f in fs] for s, fs in files.items()}
    index, names = _class_map(root, np.concatenate([seg[:, 0] for segs in labels.values() for seg in segs]))
    total, done, header = sum(len(f) for f in files.values()), 0, None
    splits = {}
    for split, fs in files.items():
        events, segs, cursor = [], [], 0
        with closing(read_files(fs)) as read:
            for f, seg, (ev, own) in zip(fs, labels[split], read):
                header = check_sensor(f, ev, own, sensor_size, header)
                t0 = min(int(ev["t"][0]) if len(ev) else seg[0, 1], int(seg[0, 1]))
                t1 = max(int(ev["t"][-1]) if len(ev) else 0, int(seg[:, 2].max())) + 1
                ev = ev.copy()
                ev["t"] += cursor - t0
                events.append(ev)
                segs.append(np.column_stack([seg[:, 1:] + cursor - t0, [index[int(c)] for c in seg[:, 0]]]))
                cursor += t1 - t0
                done += 1
                if progress is not None:
                    progress(done, total)
        splits[split] = (np.concatenate(events), np.concatenate(segs).astype(np.int64), cursor)
    sensor = final_sensor(root, [s[0] for s in splits.values() if len(s[0])], sensor_size, header)
    write_stream(out, splits["train"], splits["test"], sensor_size=sensor, class_names=names)
    return {
        "kind": "stream",
        "out": str(out),
        "recordings_train": len(files["train"]),
        "recordings_test": len(files["test"]),
        "segments_train": len(splits["train"][1]),
        "segments_test": len(splits["test"][1]),
        "duration_s_train": round(splits["train"][2] / 1e6, 3),
        "duration_s_test": round(splits["test"][2] / 1e6, 3),
        "classes": len(names),
        "class_names": names,
        "sensor_size": list(sensor),
        "sensor_size_inferred": sensor_size is None and header is None,
    }
