"""AEDAT 4 recordings (iniVation DV), decoded by the ``aedat`` package.

Called only inside the reader process (:mod:`edgesnn.data.sandbox`): fuzzing showed that on
damaged files the ``aedat`` decoder aborts the whole Python process (a Rust panic inside a
destructor) and dv-processing's ``MonoCameraRecording`` can block forever.

The events are the first ``events`` stream of the file (the one with the smallest id, as
Tonic's ``read_aedat4`` picks it); the sensor is that stream's ``width`` x ``height``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesnn.data.events import time_sorted
from edgesnn.data.npzfile import EVENT_DTYPE


def read_file(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Decode one file with ``aedat`` (in the reader process only: it may abort or hang)."""
    import aedat

    decoder = aedat.Decoder(str(path))
    streams = {i: s for i, s in decoder.id_to_stream().items() if s.get("type") == "events"}
    if not streams:
        raise ValueError("no events stream")
    sid = min(streams)
    parts = [p["events"] for p in decoder if p["stream_id"] == sid and "events" in p]
    raw = np.concatenate(parts) if parts else np.empty(0, [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    ev = np.empty(len(raw), EVENT_DTYPE)
    if len(raw) and int(raw["t"].max()) >= 1 << 63:
        raise ValueError("timestamps beyond int64")
    ev["t"], ev["x"], ev["y"], ev["p"] = raw["t"].astype(np.int64), raw["x"], raw["y"], raw["on"]
    ev = time_sorted(ev)
    s = streams[sid]
    sensor = (int(s["width"]), int(s["height"])) if s.get("width") and s.get("height") else None
    return ev, sensor
