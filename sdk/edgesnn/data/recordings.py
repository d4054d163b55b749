"""Folders of per-sample event recordings, as data sets are published, to the events ``.npz``.

A folder holds ``train`` (or ``Train``) and ``test`` (or ``Test``), each with one sub-folder
per class: the class is the sub-folder's name, classes are sorted by name, and samples are
ordered by class, then by file name. Formats, by file extension:

* ``.bin``: N-MNIST / N-Caltech101 ATIS recordings, 40 bits per event (x, y, polarity, 23-bit
  µs time; y = 240 marks a time overflow), read by Tonic's reader (``tonic.io.read_mnist_file``);
  no header, so no sensor size;
* ``.raw``: Prophesee RAW, EVT 2.0 or EVT 3.0 as its ``%`` header says (``expelliarmus``); the
  sensor from ``% geometry WxH`` or ``% format ...;width=W;height=H`` when the header has one;
* ``.dat``: Prophesee DAT (``expelliarmus``), the sensor from ``% Width``/``% Height`` if there;
* ``.aedat4``: AEDAT 4 (iniVation DV), by the ``aedat`` decoder in a reader process of its own
  (:mod:`edgesnn.data.aedat4`: on damaged files it aborts or hangs), the sensor from its stream;
* ``.aedat``: AEDAT 3.1 polarity events (:mod:`edgesnn.data.aedat3`), the sensor from the
  camera its ``#Source`` line names.

The sensor size is ``sensor_size`` if given (a file whose header says otherwise is refused),
else the files' headers' (which must agree), else inferred from the events and reported so.
Every file is checked before anything is written; a bad one stops the import with one line
naming it. Times are kept as recorded (µs); within a sample, events are sorted by time.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn.data import aedat4
from edgesnn.data.aedat3 import read_aedat31
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
    return _time_sorted(ev)


def _time_sorted(ev: np.ndarray) -> np.ndarray:
    """Events sorted by t (stable), untouched when they already are."""
    return ev[np.argsort(ev["t"], kind="stable")] if len(ev) and np.any(np.diff(ev["t"]) < 0) else ev


def _header_lines(path: Path, limit: int = 1 << 16) -> list[str]:
    """The ``%`` lines at the start of a Prophesee file (text; at most ``limit`` bytes read).
    A file that ends inside its header is refused here: expelliarmus's reader never returns on
    one (measured)."""
    try:
        with open(path, "rb") as f:
            head = f.read(limit)
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror})") from None
    lines, at = [], 0
    while at < len(head) and head[at : at + 1] == b"%":
        end = head.find(b"\n", at)
        if end < 0:
            raise DatasetError(f"{path}: ends inside its '%' header (truncated?)")
        lines.append(head[at + 1 : end].decode("ascii", "replace").strip())
        at = end + 1
    if lines and at >= len(head) and len(head) < limit:
        raise DatasetError(f"{path}: a '%' header and no events after it (truncated?)")
    return lines


def _prophesee_sensor(lines: list[str]) -> tuple[int, int] | None:
    """The sensor (W, H) a Prophesee header names, if it does."""
    fields: dict[str, str] = {}
    for ln in lines:
        key, _, rest = ln.partition(" ")
        fields[key.lower()] = rest.strip()
        if key.lower() == "format":  # "% format EVT3;height=720;width=1280"
            kv = dict(part.split("=", 1) for part in rest.split(";") if "=" in part)
            if "width" in kv and "height" in kv:
                fields["width"], fields["height"] = kv["width"], kv["height"]
    if "x" in fields.get("geometry", ""):  # "% geometry 1280x720"
        fields["width"], fields["height"] = fields["geometry"].split("x", 1)
    try:
        return (int(fields["width"]), int(fields["height"])) if "width" in fields and "height" in fields else None
    except ValueError:
        return None


def _from_fields(t, x, y, p) -> np.ndarray:
    ev = np.empty(len(t), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, np.asarray(p) != 0
    return _time_sorted(ev)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


@contextmanager
def _c_stderr():
    """What C code writes to file descriptor 2 meanwhile, caught (a list filled on exit) instead
    of reaching the terminal beside our one-line error."""
    said = [""]
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            said[0] = tmp.read(4096).decode("utf-8", "replace")


def read_prophesee(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """A Prophesee ``.raw`` (EVT 2.0 / 3.0, by its header) or ``.dat`` file, with its sensor."""
    from expelliarmus import Wizard

    lines = _header_lines(path)
    if path.suffix.lower() == ".dat":
        encoding = "dat"
    else:
        spec = " ".join(ln.lower() for ln in lines if ln.lower().startswith(("evt", "format")))
        if "evt 3" in spec or "evt3" in spec:
            encoding = "evt3"
        elif "evt 2" in spec or "evt2" in spec:
            encoding = "evt2"
        else:
            raise DatasetError(
                f"{path}: no '% evt 2.0' or '% evt 3.0' line in its header: not a RAW file edgesnn reads"
            )
    what = f"{path}: not a readable Prophesee {encoding.upper()} file"
    try:
        with _c_stderr() as said:  # its C reader prints "ERROR: ..." and returns None
            arr = Wizard(encoding=encoding).read(str(path))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # the C reader's errors come as several types
        raise DatasetError(f"{what} ({_first_line(e)})") from None
    if arr is None:
        cause = said[0].strip().splitlines()[0].removeprefix("ERROR: ").rstrip(".") if said[0].strip() else "no events"
        raise DatasetError(f"{what} ({cause})")
    return _from_fields(arr["t"], arr["x"], arr["y"], arr["p"]), _prophesee_sensor(lines)


READERS: dict[str, Callable[[Path], tuple[np.ndarray, tuple[int, int] | None]]] = {
    ".bin": lambda p: (read_atis_bin(p), None),
    ".raw": read_prophesee,
    ".dat": read_prophesee,
    ".aedat": read_aedat31,
}
#: formats read by a reader process, many files at a time (``aedat4.read_many``)
BATCH_READERS = {".aedat4": aedat4.read_many}
FORMATS = (*READERS, *BATCH_READERS)


def read_files(paths: Sequence[Path]) -> Iterator[tuple[np.ndarray, tuple[int, int] | None]]:
    """(events, sensor) of each file in order, batch formats through their reader process."""
    batches = {ext: iter(read([p for p in paths if p.suffix.lower() == ext])) for ext, read in BATCH_READERS.items()}
    try:
        for p in paths:
            ext = p.suffix.lower()
            yield next(batches[ext]) if ext in batches else READERS[ext](p)
    finally:
        for it in batches.values():
            getattr(it, "close", lambda: None)()


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
    if sensor_size is not None and (sensor_size[0] < 1 or sensor_size[1] < 1):
        raise DatasetError(f"sensor size must be positive, got {sensor_size[0]} x {sensor_size[1]}")
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
    if not every:
        raise DatasetError(f"{folder.root}: no events in any recording")
    lo = {k: min(int(e[k].min()) for e in every) for k in ("x", "y")}
    if min(lo.values()) < 0:
        raise DatasetError(f"{folder.root}: negative pixel coordinates in the recordings")
    seen = (max(int(e["x"].max()) for e in every) + 1, max(int(e["y"].max()) for e in every) + 1)
    sensor = (*(sensor_size or (header[0] if header else None) or seen), 2)
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
