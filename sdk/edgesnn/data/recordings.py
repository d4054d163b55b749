"""Folders of per-sample event recordings, as data sets are published, to the events ``.npz``.

A folder holds ``train`` (or ``Train``) and ``test`` (or ``Test``), each with one sub-folder
per class: the class is the sub-folder's name, classes are sorted by name, and samples are
ordered by class, then by file name. Formats, by file extension:

* ``.bin``: N-MNIST / N-Caltech101 ATIS recordings, 40 bits per event (x, y, polarity, 23-bit
  µs time; y = 240 marks a time overflow), read by Tonic's reader (``tonic.io.read_mnist_file``);
  no header, so no sensor size;
* ``.raw``: Prophesee RAW, EVT 2.0 or EVT 3.0 as its ``%`` header says (``expelliarmus``, in the
  reader process :mod:`edgesnn.data.sandbox`: it hangs on some files); the
  sensor from ``% geometry WxH`` or ``% format ...;width=W;height=H`` when the header has one;
* ``.dat``: Prophesee DAT (``expelliarmus``), the sensor from ``% Width``/``% Height`` if there;
* ``.aedat4``: AEDAT 4 (iniVation DV), by the ``aedat`` decoder in the reader process (on damaged
  files it aborts), the sensor from its stream;
* ``.aedat``: AEDAT 3.1 polarity events (:mod:`edgesnn.data.aedat3`), the sensor from the
  camera its ``#Source`` line names.

The sensor size is ``sensor_size`` if given (a file whose header says otherwise is refused),
else the files' headers' (which must agree), else inferred from the events and reported so.
Every file is checked before anything is written; a bad one stops the import with one line
naming it. Times are kept as recorded (µs); within a sample, events are sorted by time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn.data import sandbox
from edgesnn.data.aedat3 import read_aedat31
from edgesnn.data.events import time_sorted
from edgesnn.data.npzfile import EVENT_DTYPE, write_events
from edgesnn.errors import DatasetError

#: bytes per ATIS event in the N-MNIST / N-Caltech101 .bin format
ATIS_EVENT_BYTES = 5
SPLITS = {"train": ("train", "Train"), "test": ("test", "Test")}


def read_atis_bin(path: Path) -> np.ndarray:
    """The events of one N-MNIST / N-Caltech101 ``.bin`` file (EVENT_DTYPE, sorted by t)."""
    from tonic.io import read_mnist_file

    try:
        size = path.stat().st_size
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror})") from None
    if size % ATIS_EVENT_BYTES:
        # Tonic's reader would fail on mismatched field lengths with a numpy traceback
        raise DatasetError(
            f"{path}: {size} bytes is not a whole number of {ATIS_EVENT_BYTES}-byte ATIS events (truncated?)"
        )
    try:
        ev = read_mnist_file(str(path), dtype=EVENT_DTYPE)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a readable ATIS .bin recording ({e})") from None
    return time_sorted(ev)


READERS: dict[str, Callable[[Path], tuple[np.ndarray, tuple[int, int] | None]]] = {
    ".bin": lambda p: (read_atis_bin(p), None),
    ".aedat": read_aedat31,
}
#: formats whose decoders run in the reader process (``sandbox``): extension -> reader name
SANDBOXED = {".aedat4": "aedat4", ".raw": "prophesee", ".dat": "prophesee"}
FORMATS = (*READERS, *SANDBOXED)


def read_files(paths: Sequence[Path]) -> Generator[tuple[np.ndarray, tuple[int, int] | None], None, None]:
    """(events, sensor) of each file in order; sandboxed formats through one reader process."""
    boxed = sandbox.read_many([(SANDBOXED[p.suffix.lower()], p) for p in paths if p.suffix.lower() in SANDBOXED])
    try:
        for p in paths:
            ext = p.suffix.lower()
            yield next(boxed) if ext in SANDBOXED else READERS[ext](p)
    finally:
        boxed.close()  # the reader process ends with the import, read through or not


@dataclass(frozen=True)
class RecordingFolder:
    """The files of a recordings folder: per split, (file, class index) in import order."""

    root: Path
    classes: tuple[str, ...]
    files: dict[str, tuple[tuple[Path, int], ...]]

    @property
    def n_files(self) -> int:
        return sum(len(f) for f in self.files.values())


def _split_dir(root: Path, split: str) -> Path:
    found = [root / n for n in SPLITS[split] if (root / n).is_dir()]
    if not found:
        raise DatasetError(f"{root}: no '{SPLITS[split][0]}' (or '{SPLITS[split][1]}') folder of class folders")
    if len(found) > 1 and found[0].resolve() != found[1].resolve():
        raise DatasetError(f"{root}: both '{SPLITS[split][0]}' and '{SPLITS[split][1]}' exist; keep one")
    return found[0]


def scan_folder(root: str | Path) -> RecordingFolder:
    """Find the splits, classes and recordings of a folder (nothing is read yet)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"recordings folder not found: {root}")
    dirs = {split: _split_dir(root, split) for split in SPLITS}
    per_split = {
        s: sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")) for s, d in dirs.items()
    }
    classes = tuple(per_split["train"])
    if not classes:
        raise DatasetError(f"{dirs['train']}: no class folders")
    unknown = [c for c in per_split["test"] if c not in classes]
    if unknown:
        raise DatasetError(f"{dirs['test']}: class folder {unknown[0]!r} has no training folder in {dirs['train']}")
    files: dict[str, tuple[tuple[Path, int], ...]] = {}
    for split, d in dirs.items():
        rows = []
        for name in per_split[split]:
            for f in sorted(p for p in (d / name).iterdir() if not p.name.startswith(".")):
                if f.is_dir():
                    raise DatasetError(f"{f}: a folder inside class folder {name!r}; recordings only")
                if f.suffix.lower() not in FORMATS:
                    raise DatasetError(
                        f"{f}: unknown recording format {f.suffix or '(no extension)'!r}; known: {', '.join(FORMATS)}"
                    )
                rows.append((f, classes.index(name)))
        if not rows:
            raise DatasetError(f"{d}: no recordings")
        files[split] = tuple(rows)
    return RecordingFolder(root, classes, files)


def check_sensor(
    f: Path,
    ev: np.ndarray,
    own: tuple[int, int] | None,
    sensor_size: tuple[int, int] | None,
    header: tuple[tuple[int, int], Path] | None,
) -> tuple[tuple[int, int], Path] | None:
    """Check one file's header sensor against ``sensor_size`` and the first header seen (returned,
    with its file), and its events against the sensor that applies."""
    if own is not None:
        if sensor_size is not None and own != tuple(sensor_size):
            raise DatasetError(
                f"{f}: its header says a {own[0]} x {own[1]} sensor, not {sensor_size[0]} x {sensor_size[1]}"
            )
        if header is not None and own != header[0]:
            raise DatasetError(
                f"{f}: a {own[0]} x {own[1]} sensor, where {header[1]} has {header[0][0]} x {header[0][1]}"
            )
        header = header or (own, f)
    limit = sensor_size or own
    if limit is not None and len(ev) and (ev["x"].max() >= limit[0] or ev["y"].max() >= limit[1]):
        raise DatasetError(
            f"{f}: events reach x = {int(ev['x'].max())}, y = {int(ev['y'].max())}, outside the "
            f"{limit[0]} x {limit[1]} sensor"
        )
    return header


def check_sensor_size(sensor_size: tuple[int, int] | None) -> None:
    if sensor_size is not None and (sensor_size[0] < 1 or sensor_size[1] < 1):
        raise DatasetError(f"sensor size must be positive, got {sensor_size[0]} x {sensor_size[1]}")


def final_sensor(
    root: Path,
    every: list[np.ndarray],
    sensor_size: tuple[int, int] | None,
    header: tuple[tuple[int, int], Path] | None,
) -> tuple[int, int, int]:
    """(W, H, 2) of an import: ``sensor_size``, else the first header's, else the largest x and y
    of ``every`` recording (those with events) plus one."""
    if not every:
        raise DatasetError(f"{root}: no events in any recording")
    if min(min(int(e[k].min()) for e in every) for k in ("x", "y")) < 0:
        raise DatasetError(f"{root}: negative pixel coordinates in the recordings")
    seen = (max(int(e["x"].max()) for e in every) + 1, max(int(e["y"].max()) for e in every) + 1)
    return (*(sensor_size or (header[0] if header else None) or seen), 2)


def import_folder(
    root: str | Path,
    out: str | Path,
    *,
    sensor_size: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Read every recording of ``root`` and write the events ``.npz`` (docs/data.md) to ``out``.

    ``sensor_size`` (W, H): the sensor of header-less formats; left out, it is inferred as the
    largest x and y seen plus one (``sensor_size_inferred`` in the result). Returns the file's
    ``kind``, ``samples_train``, ``samples_test``, ``classes``, ``class_names``, ``sensor_size``,
    ``events_per_sample`` (mean) and ``out``.
    """
    folder = scan_folder(root)
    check_sensor_size(sensor_size)
    total, done = folder.n_files, 0
    samples: dict[str, list[np.ndarray]] = {}
    header: tuple[tuple[int, int], Path] | None = None  # the first header's sensor, and its file
    labels: dict[str, np.ndarray] = {}
    for split, rows in folder.files.items():
        evs = []
        paths = [f for f, _ in rows]
        with closing(read_files(paths)) as read:
            for f, (ev, own) in zip(paths, read):
                header = check_sensor(f, ev, own, sensor_size, header)
                evs.append(ev)
                done += 1
                if progress is not None:
                    progress(done, total)
        samples[split] = evs
        labels[split] = np.array([c for _, c in rows], np.int64)
    every = [e for s in samples.values() for e in s if len(e)]
    sensor = final_sensor(folder.root, every, sensor_size, header)
    write_events(
        out,
        (samples["train"], labels["train"]),
        (samples["test"], labels["test"]),
        sensor,
        class_names=list(folder.classes),
    )
    n = sum(len(s) for s in samples.values())
    return {
        "kind": "events",
        "out": str(out),
        "samples_train": len(samples["train"]),
        "samples_test": len(samples["test"]),
        "classes": len(folder.classes),
        "class_names": list(folder.classes),
        "sensor_size": list(sensor),
        "sensor_size_inferred": sensor_size is None and header is None,
        "events_per_sample": round(sum(len(e) for e in every) / n, 1),
    }
