"""Live event cameras through dv-processing: a network stream (``dv://HOST:PORT``, what DV's
"Output to network" or ``dv.io.NetworkWriter`` serves) or a camera on this machine
(``camera`` or ``camera:NAME``, ``dv.io.camera.open``), binned into timesteps as they happen.

A reader thread polls the source and queues its event batches; :meth:`LiveEvents.timesteps`
yields one timestep at a time once it is over on the wall clock, events or none (a still scene
sends none). Timestep ``k`` covers wall time ``[k·dt, (k+1)·dt)`` from the call and is handed
over ``slack`` timesteps after it ends (the link's delay; default 1). Camera times are mapped
to that clock by the first event: ``origin_us`` is its camera time minus its arrival time since
the call, and timestep ``k`` holds the events of camera time ``[origin + k·dt, origin + (k+1)·dt)``.
An event that arrives after its timestep was handed over is dropped and counted (``late_events``). ``denoise_us`` applies the activity filter of
``streams.activity_filter`` to each timestep with the ``denoise_us`` of history before it, which
equals filtering the whole recording (the filter is causal and looks back no further).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import numpy as np

from edgesnn.data.npzfile import EVENT_DTYPE
from edgesnn.data.streams import activity_filter, event_frames
from edgesnn.errors import DatasetError, first_line

#: seconds to wait for a source to connect and for its first event
CONNECT_TIMEOUT_S = 5.0


def parse_source(source: str) -> tuple[str, str, int]:
    """``("network", host, port)`` or ``("camera", name, 0)``."""
    if source.startswith("dv://"):
        host, _, port = source[5:].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DatasetError(f"live source {source!r}: write dv://HOST:PORT (a dv-processing network stream)")
        return "network", host, int(port)
    if source == "camera" or source.startswith("camera:"):
        return "camera", source.partition(":")[2], 0
    raise DatasetError(f"live source {source!r}: dv://HOST:PORT or camera[:NAME]")


class LiveEvents:
    """An open live source: ``sensor`` (W, H), ``timesteps()``, ``late_events``, ``close()``."""

    def __init__(self, source: str, connect_timeout_s: float = CONNECT_TIMEOUT_S):
        self.source = source
        self.kind, self.host, self.port = parse_source(source)
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.sensor: tuple[int, int] | None = None
        self.error: str | None = None
        self.late_events = 0
        self.events_received = 0
        self.events_before_start = 0
        self.origin_us: int | None = None  # camera time of timestep 0's start
        self._thread = threading.Thread(target=self._run, name="edgesnn-live", daemon=True)
        self._thread.start()
        # dv-processing's constructors can block on an unreachable host: the thread owns them
        if not self._ready.wait(connect_timeout_s):
            self._stop.set()
            raise DatasetError(f"live source {source}: no connection within {connect_timeout_s:g} s")
        if self.error:
            raise DatasetError(f"live source {source}: {self.error}")

    def _open(self):
        import dv_processing as dv

        if self.kind == "network":
            return dv.io.NetworkReader(self.host, self.port)
        return dv.io.camera.open(self.host) if self.host else dv.io.camera.open()

    def _run(self) -> None:
        try:
            reader = self._open()
            if not reader.isEventStreamAvailable():
                raise RuntimeError("it sends no events")
            res = reader.getEventResolution()
            self.sensor = (int(res[0]), int(res[1]))
        except Exception as e:  # dv-processing raises RuntimeError and others; the cause is the line
            self.error = _cause(e)
            self._ready.set()
            return
        self._ready.set()
        while not self._stop.is_set():
            try:
                if not reader.isRunning():
                    break
                batch = reader.getNextEventBatch()
            except Exception as e:  # noqa: BLE001 - the source went away mid-stream: end it, say why
                self.error = _cause(e)
                break
            if batch is None or len(batch) == 0:
                time.sleep(0.0005)
                continue
            a = batch.numpy()
            ev = np.empty(len(a), EVENT_DTYPE)
            ev["t"], ev["x"], ev["y"], ev["p"] = a["timestamp"], a["x"], a["y"], a["polarity"] != 0
            self._q.put((time.perf_counter(), ev))
        self._q.put(None)  # the source ended

    def timesteps(
        self, dt_us: int, downsample: int = 1, denoise_us: int = 0, slack: int = 1, seconds: float | None = None
    ) -> Iterator[np.ndarray]:
        """(1, channels) bool per timestep, each yielded ``slack`` timesteps after it ends on the
        wall clock; ends after ``seconds`` or when the source does (``error`` says why, if so).
        Events queued before the call (``events_before_start``) are dropped: they are not live."""
        if self.sensor is None:
            raise DatasetError(f"live source {self.source}: not connected")
        sensor = (*self.sensor, 2)
        while True:  # what came before the stream starts (while the device was deployed) is not live
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return
            self.events_before_start += len(item[1])
        pending: list[np.ndarray] = []
        history = np.empty(0, EVENT_DTYPE)
        start = time.perf_counter()
        k, ended = 0, False
        limit = None if seconds is None else int(round(seconds * 1e6 / dt_us))
        while limit is None or k < limit:
            due = start + (k + 1 + slack) * dt_us / 1e6
            while not ended:
                wait = due - time.perf_counter()
                try:
                    item = self._q.get(timeout=wait) if wait > 0 else self._q.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    ended = True
                    break
                if self.origin_us is None:  # the camera's clock, read off its first event's arrival
                    self.origin_us = int(item[1]["t"][0]) - int((item[0] - start) * 1e6)
                pending.append(_shifted(item[1], self.origin_us))
            ev = np.concatenate(pending) if pending else np.empty(0, EVENT_DTYPE)
            lo, hi = k * dt_us, (k + 1) * dt_us
            late = ev["t"] < lo
            self.late_events += int(late.sum())
            ev = ev[~late]
            ev = ev[np.argsort(ev["t"], kind="stable")]
            now, later = ev[ev["t"] < hi], ev[ev["t"] >= hi]
            pending = [later] if len(later) else []
            self.events_received += len(now)
            if denoise_us:
                window = np.concatenate([history, now])
                kept = activity_filter(window, sensor, denoise_us)
                history = window[window["t"] >= hi - denoise_us]
                now = kept[kept["t"] >= lo]
            yield event_frames(now, sensor, dt_us, k, k + 1, downsample)
            k += 1
            if ended and not pending:
                return

    def __enter__(self) -> LiveEvents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def _shifted(ev: np.ndarray, t0: int) -> np.ndarray:
    ev = ev.copy()
    ev["t"] -= t0
    return ev


def _cause(e: BaseException) -> str:
    """dv-processing's error as one line, without boost's " [system:111 at /vcpkg/...hpp:588 in
    function ...]" tail, which says nothing to a user."""
    return first_line(e).split(" [system:")[0]
