"""Native recordings as data sets: which importer a path needs, and the cache behind ``--dataset PATH``.

Three layouts (docs/data.md, "Recordings as you have them"):

* ``shd``: an SHD/SSC ``NAME_train.h5`` (or ``_test``) or a folder holding the pair
  (:mod:`edgesnn.data.shd`) -> a spikes data set;
* ``labelled``: recordings with ``_labels.csv`` files, DVS128 Gesture's layout
  (:mod:`edgesnn.data.gesture`) -> a stream with segments;
* ``folder``: ``train``/``test`` folders of class folders of per-sample recordings
  (:mod:`edgesnn.data.recordings`) -> an events data set.

``--dataset PATH`` on any of them imports once into the cache folder (``imports/`` under
``$EDGESNN_CACHE``, else ``$XDG_CACHE_HOME/edgesnn``, else ``~/.cache/edgesnn``) under a key made
of the resolved path, every file's relative name, size and modification time, and the import
options: a changed, added or removed file makes a new import, an unchanged folder is read
from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from edgesnn.data import gesture, recordings, shd
from edgesnn.data.saccade import cache_dir
from edgesnn.errors import DatasetError

#: bump when an importer's output changes, so old cached imports are not reused
VERSION = 1


def layout(path: str | Path) -> str | None:
    """``shd``, ``labelled`` or ``folder`` for a path an importer takes, else None."""
    p = Path(path)
    if shd.is_shd_path(p) and (p.is_dir() or p.is_file()):
        return "shd"
    if gesture.is_labelled_folder(p):
        return "labelled"
    if p.is_dir():
        return "folder"
    return None


def import_path(
    path: str | Path,
    out: str | Path,
    *,
    sensor_size: tuple[int, int] | None = None,
    dt_ms: float = shd.DEFAULT_DT_MS,
    channels: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Import ``path`` (any layout) to ``out``; returns what was written (``kind`` first)."""
    kind = layout(path)
    if kind is None:
        raise DatasetError(f"recordings folder not found: {path} (a folder, or an SHD NAME_train.h5 file)")
    if kind == "shd":
        return shd.import_shd(path, out, dt_ms=dt_ms, channels=channels)
    if kind == "labelled":
        return gesture.import_labelled(path, out, sensor_size=sensor_size, progress=progress)
    return recordings.import_folder(path, out, sensor_size=sensor_size, progress=progress)


def _fingerprint(root: Path, options: dict) -> str:
    h = hashlib.sha256(json.dumps({"v": VERSION, "path": str(root.resolve()), **options}, sort_keys=True).encode())
    if root.is_file():  # an SHD file: it and its pair
        files = list(shd.split_files(root))
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file())
    for f in files:
        st = f.stat()
        h.update(
            f"{f.relative_to(root) if f.is_relative_to(root) else f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
        )
    return h.hexdigest()[:16]


def cached(path: str | Path, **options) -> Path:
    """The cached import of ``path`` (made now when missing or stale)."""
    root = Path(path)
    if layout(root) is None:
        raise DatasetError(f"recordings folder not found: {path}")
    key = _fingerprint(root, options)
    out = cache_dir() / "imports" / f"{root.resolve().name}-{key}.npz"
    if not out.is_file():
        import_path(root, out, **options)
        clear_stale(out)
    return out


def clear_stale(keep: Path) -> None:
    """Remove older imports of the same path (same name before the key) beside ``keep``."""
    prefix = keep.name.rsplit("-", 1)[0] + "-"
    for p in keep.parent.glob(prefix + "*.npz"):
        if p != keep and len(p.name) == len(keep.name):
            os.unlink(p)
