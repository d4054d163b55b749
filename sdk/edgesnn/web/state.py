"""What the dashboard shows, per device: running figures and bounded recent history.

Rows arrive from the devices' threads (``stream_fleet``'s callbacks); the server reads views
from its own thread. Everything kept is bounded (recent rows in fixed-length deques, latencies
in a fixed histogram), so a stream of any length holds the same memory. The state has no way to
reach a device: it only receives what the streams report, so nothing on the page can command one.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from typing import Any

#: recent rows kept per device (timeline, input activity)
HISTORY = 300
#: recent output spikes kept per device ([timestep, neuron] pairs) and the timesteps they span
RASTER_SPIKES = 4000
RASTER_STEPS = 400
#: latency histogram: bin edges spaced by 10^(1/8) from 0.01 ms to 100 s
LAT_EDGES = [10 ** (k / 8) for k in range(-16, 41)]


class DeviceView:
    """One device: identity, status, running figures, recent history. Use through FleetState."""

    def __init__(self, name: str):
        self.name = name
        self.identity: dict[str, Any] = {}
        self.status = "starting"  # starting, streaming, done, gone
        self.error: str | None = None
        self.rows = self.correct = self.mismatches = 0
        self.retransmissions = self.damaged_frames = 0
        self.instructions = 0.0
        self.counted = 0
        self.timesteps = 0
        self.last: dict[str, Any] | None = None
        self.history: deque[list] = deque(maxlen=HISTORY)
        self.detections: deque[list] = deque(maxlen=HISTORY)
        self.raster: deque[list[int]] = deque(maxlen=RASTER_SPIKES)
        self.raster_end = 0  # the raster spans timesteps raster_end - RASTER_STEPS .. raster_end
        self.latency = [0] * (len(LAT_EDGES) + 1)
        self.recent_ms: deque[float] = deque(maxlen=HISTORY)
        self.summary: dict[str, Any] = {}
        self.updated = time.time()
        self.version = 0

    @property
    def kind(self) -> str:
        return str(self.identity.get("kind", "samples"))

    def add(self, row: dict[str, Any]) -> None:
        self.status = "streaming"
        self.rows += 1
        self.mismatches += row.get("match") is False
        self.retransmissions = int(row.get("retransmissions", self.retransmissions))
        self.damaged_frames = int(row.get("damaged_frames", self.damaged_frames))
        lat = float(row.get("latency_ms", 0.0))
        self.latency[_bin(lat)] += 1
        self.recent_ms.append(lat)
        if "instructions" in row:
            self.instructions += float(row["instructions"])
            self.counted += 1
        if self.kind == "stream":
            self.timesteps = int(row["start"]) + int(row["steps"])
            self.history.append([row["t_s"], int(row["input_events"]), bool(row["match"])])
            for t, c in row.get("detections", []):
                self.detections.append([float(t), int(c)])
            offset = 0
            self.last = {"t_s": row["t_s"], "detections": row.get("detections", [])}
        else:
            self.correct += bool(row.get("correct"))
            self.history.append(
                [
                    int(row["sample"]),
                    int(row["label"]),
                    int(row["prediction"]),
                    bool(row["match"]),
                    int(row.get("input_events", 0)),
                ]
            )
            offset = self.timesteps  # a sample's spikes follow the previous sample's on the raster
            self.timesteps += int(row.get("steps", 0))
            self.last = {"sample": row["sample"], "prediction": row["prediction"], "label": row["label"]}
        for t, n in row.get("output_spikes", ()):
            self.raster.append([int(t) + offset, int(n)])
        self.raster_end = self.timesteps
        self.touch()

    def touch(self) -> None:
        self.updated = time.time()
        self.version += 1

    def brief(self) -> dict[str, Any]:
        """The figures ``/api/devices`` gives for scripts."""
        acc = self.summary.get("accuracy", self.summary.get("detection_accuracy"))
        if acc is None and self.kind == "samples" and self.rows:
            acc = self.correct / self.rows
        last = None
        if self.last is not None and self.kind == "samples":
            last = self.last["prediction"]
        elif self.last is not None and self.detections:
            last = self.detections[-1][1]
        return {
            "device": self.name,
            "board": self.identity.get("board"),
            "port": self.identity.get("port"),
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "samples": self.rows,
            "total": self.identity.get("total"),
            "accuracy": acc,
            "mismatches": self.mismatches,
            "retransmissions": self.retransmissions,
            "damaged_frames": self.damaged_frames,
            "last_prediction": last,
            "last_prediction_name": _name(self.identity, last),
            "timesteps": self.timesteps,
            "detections": len(self.detections) if self.kind == "stream" else None,
            "model_hash": self.identity.get("model_hash"),
            "firmware": self.identity.get("firmware"),
            "protocol": self.identity.get("protocol"),
        }

    def full(self) -> dict[str, Any]:
        """Everything the page draws for this device."""
        per = self.instructions / self.counted if self.counted else None
        e = self.identity.get("energy_uj_per_instruction")
        out = self.brief()
        out.update(
            identity=self.identity,
            history=list(self.history),
            detections=list(self.detections),
            raster=list(self.raster),
            raster_end=self.raster_end,
            latency_edges_ms=LAT_EDGES,
            latency_counts=self.latency,
            latency_ms_median=statistics.median(self.recent_ms) if self.recent_ms else None,
            instructions_per_inference=per,
            energy_uj_per_inference=per * e if per is not None and e else None,
            summary=self.summary,
            updated=self.updated,
            version=self.version,
        )
        return out


def _bin(ms: float) -> int:
    lo, hi = 0, len(LAT_EDGES)
    while lo < hi:
        mid = (lo + hi) // 2
        if ms < LAT_EDGES[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _name(identity: dict[str, Any], c: int | None) -> str | None:
    names = identity.get("class_names") or []
    return str(names[c]) if c is not None and 0 <= c < len(names) else (None if c is None else str(c))


class FleetState:
    """The devices of one dashboard, fed by the streams' callbacks from any thread."""

    def __init__(self, title: str = "edgesnn"):
        self.title = title
        self._lock = threading.Lock()
        self._devices: dict[str, DeviceView] = {}
        self.finished = False

    def _view(self, name: str) -> DeviceView:
        v = self._devices.get(name)
        if v is None:
            v = self._devices[name] = DeviceView(name)
        return v

    def add_device(self, name: str) -> None:
        """A device known before it answers (shown as starting)."""
        with self._lock:
            self._view(name).touch()

    def add_all(self, names: list[str]) -> None:
        """The fleet's devices, in its order, before any answers."""
        for n in names:
            self.add_device(n)

    def start(self, name: str, identity: dict[str, Any]) -> None:
        with self._lock:
            v = self._view(name)
            v.identity = dict(identity)
            v.status = "streaming"
            v.touch()

    def row(self, name: str, row: dict[str, Any]) -> None:
        with self._lock:
            self._view(name).add(row)

    def end(self, name: str, summary: dict[str, Any]) -> None:
        """A device's stream ended: done, or gone (kept, with the error) if it failed."""
        with self._lock:
            v = self._view(name)
            v.summary = {k: summary[k] for k in summary if not isinstance(summary[k], (list, dict))}
            v.error = summary.get("error")
            v.status = "gone" if v.error else "done"
            v.retransmissions = int(summary.get("retransmissions", v.retransmissions) or 0)
            v.touch()

    def devices(self) -> list[dict[str, Any]]:
        with self._lock:
            return [v.brief() for v in self._devices.values()]

    def views(self, since: dict[str, int] | None = None) -> list[dict[str, Any]]:
        """Full views of the devices changed since the versions in ``since`` (all without it)."""
        with self._lock:
            return [v.full() for n, v in self._devices.items() if since is None or since.get(n) != v.version]
