"""AEDAT 3.1 polarity events (cAER / DV's 2017 format, DVS128 Gesture's recordings).

Hand-written from iniVation's specification, because the one Python reader on PyPI that handles
AEDAT 3 (``tonic.io``) is broken for it: ``read_dvs_ibm`` unpacks three values from a function
returning two, and ``get_aer_events_from_file`` reads every packet as polarity events (special
and IMU packets too), ignores the valid bit and the timestamp overflow. ``aedat`` and
dv-processing read AEDAT 4 only.

Layout (little-endian): ASCII header lines starting with ``#``, the first ``#!AER-DAT3.1``, the
last ``#!END-HEADER``; then packets, each a 28-byte header (int16 eventType, int16 eventSource,
int32 eventSize, int32 eventTSOffset, int32 eventTSOverflow, int32 eventCapacity, int32
eventNumber, int32 eventValid) followed by ``eventCapacity * eventSize`` bytes of events.
A polarity packet (type 1) holds 8-byte events: uint32 data (bit 0 valid, bit 1 polarity, bits
2..16 y, bits 17..31 x) and int32 timestamp (µs); the full time is ``eventTSOverflow << 31 |
timestamp``. Packets of other types are skipped; invalid events are dropped. The sensor comes
from ``#Source N: NAME`` for the cameras listed in :data:`SENSORS`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesnn.data.npzfile import EVENT_DTYPE
from edgesnn.errors import DatasetError

HEADER_LIMIT = 1 << 20
PACKET_HEADER = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
POLARITY_EVENT = np.dtype([("data", "<u4"), ("t", "<i4")])
POLARITY_TYPE = 1
#: sensor (W, H) of the cameras a ``#Source`` line names (iniVation's data sheets)
SENSORS = {"DVS128": (128, 128), "DAVIS240": (240, 180), "DAVIS346": (346, 260), "DAVIS640": (640, 480)}


def _header(data: bytes, path: Path) -> tuple[int, tuple[int, int] | None]:
    """Where the packets start, and the sensor the header names."""
    if not data.startswith(b"#!AER-DAT3"):
        raise DatasetError(f"{path}: no '#!AER-DAT3.1' first line: not an AEDAT 3 file")
    end = data.find(b"#!END-HEADER", 0, HEADER_LIMIT)
    if end < 0 and len(data) < HEADER_LIMIT:
        raise DatasetError(f"{path}: no '#!END-HEADER' line: the file ends inside its header (truncated?)")
    if end < 0:
        raise DatasetError(f"{path}: no '#!END-HEADER' line in its first {HEADER_LIMIT} bytes")
    nl = data.find(b"\n", end)
    if nl < 0:
        raise DatasetError(f"{path}: ends inside its header (truncated?)")
    sensor = None
    for line in data[:end].decode("ascii", "replace").splitlines():
        key, _, value = line.lstrip("#-").partition(":")
        if key.startswith("Source") and value.strip():
            name = value.strip().upper()
            for cam, size in SENSORS.items():
                if name.startswith(cam):
                    sensor = size
    return nl + 1, sensor


def read_aedat31(path: str | Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The valid polarity events of an AEDAT 3.x file (fields t, x, y, p, sorted by t), and the
    sensor its header names (or None)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror})") from None
    at, sensor = _header(data, path)
    chunks, k = [], 0
    while at < len(data):
        if len(data) - at < PACKET_HEADER.itemsize:
            raise DatasetError(f"{path}: ends inside the header of packet {k} (truncated?)")
        h = np.frombuffer(data, PACKET_HEADER, 1, at)[0]
        size, cap, num = int(h["size"]), int(h["capacity"]), int(h["number"])
        if size < 1 or cap < 0 or not 0 <= num <= cap:
            raise DatasetError(
                f"{path}: packet {k} at byte {at} has event size {size}, capacity {cap}, number {num}: damaged"
            )
        body = at + PACKET_HEADER.itemsize
        if cap * size > len(data) - body:
            raise DatasetError(
                f"{path}: packet {k} needs {cap * size} bytes of events, {len(data) - body} are left (truncated?)"
            )
        if int(h["type"]) == POLARITY_TYPE:
            if size != POLARITY_EVENT.itemsize:
                raise DatasetError(f"{path}: polarity packet {k} has {size}-byte events, not 8")
            ev = np.frombuffer(data, POLARITY_EVENT, num, body)
            ev = ev[(ev["data"] & 1) == 1]
            if len(ev) and ev["t"].min() < 0:
                raise DatasetError(f"{path}: packet {k} holds a negative timestamp")
            if h["ts_overflow"] < 0:
                raise DatasetError(f"{path}: packet {k} has a negative timestamp overflow")
            out = np.empty(len(ev), EVENT_DTYPE)
            out["t"] = (np.int64(h["ts_overflow"]) << 31) | ev["t"].astype(np.int64)
            out["x"] = (ev["data"] >> 17) & 0x7FFF
            out["y"] = (ev["data"] >> 2) & 0x7FFF
            out["p"] = (ev["data"] >> 1) & 1
            chunks.append(out)
        at = body + cap * size
        k += 1
    ev = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    if len(ev) and np.any(np.diff(ev["t"]) < 0):
        ev = ev[np.argsort(ev["t"], kind="stable")]
    return ev, sensor


def write_aedat31(path: str | Path, events: np.ndarray, source: str = "DVS128", packet: int = 4096) -> None:
    """Write polarity events (fields t, x, y, p) as AEDAT 3.1, by the specification above; used
    by the tests, since no AEDAT 3 writer (cAER, jAER) runs here."""
    lines = ["#!AER-DAT3.1", "#Format: RAW", f"#Source 1: {source}", "#Start-Time: 2017-01-01 00:00:00", "#!END-HEADER"]
    parts = ["".join(ln + "\r\n" for ln in lines).encode("ascii")]
    for a in range(0, len(events), packet):
        ev = events[a : a + packet]
        t = np.asarray(ev["t"], np.int64)
        over = int(t[0] >> 31)
        if np.any((t >> 31) != over):  # one packet, one overflow count: split where it changes
            raise ValueError("write_aedat31: a packet spans a timestamp overflow; use a smaller packet")
        h = np.zeros(1, PACKET_HEADER)
        h[0] = (POLARITY_TYPE, 1, 8, 4, over, len(ev), len(ev), len(ev))
        body = np.empty(len(ev), POLARITY_EVENT)
        body["data"] = (
            (np.asarray(ev["x"], np.uint32) << 17)
            | (np.asarray(ev["y"], np.uint32) << 2)
            | (np.asarray(ev["p"], np.uint32) << 1)
            | 1
        )
        body["t"] = (t & 0x7FFFFFFF).astype(np.int32)
        parts += [h.tobytes(), body.tobytes()]
    Path(path).write_bytes(b"".join(parts))
