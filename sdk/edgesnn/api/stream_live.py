"""A live event camera streamed to a device: dv-processing's network or camera reader
(``data.live``), one timestep per frame as it happens, the device's detections reported live.

No recording exists beforehand, so the golden model runs after the session on the timesteps
that were sent, and every frame is compared then (outputs, digest of every state, synaptic
events, detections): the same exactness as a replayed recording, reported at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edgesnn.api.model import PathLike, quantized
from edgesnn.api.stream_device import GoldenCursor, frame_matches, frame_row, latency_ms
from edgesnn.errors import ArgumentError, DatasetError


def _live_spec(qnet: Any) -> dict:
    spec = qnet.input_spec or {}
    if spec.get("encoding") != "stream" or spec.get("modality") != "events":
        raise ArgumentError(
            "{live} feeds camera events: the model must be trained on an events stream (its input spec says "
            f"encoding {spec.get('encoding')!r}, modality {spec.get('modality')!r})",
            names=["live"],
        )
    return spec


def _class_names(spec: dict) -> list[str]:
    """The class names of the model's data set, where its file is here (read without its events:
    ``np.load`` is lazy); else none, and detections name class numbers."""
    from edgesnn.data.datasets import data_path

    try:
        with np.load(data_path(str(spec.get("dataset", ""))), allow_pickle=False) as z:
            return [str(n) for n in z["class_names"]] if "class_names" in z.files else []
    except (DatasetError, OSError, ValueError):
        return []


def _name(names: list[str], c: int) -> str:
    return names[c] if c < len(names) else f"class {c}"


def stream_live(
    model: Any,
    source: str,
    *,
    board: str | None = None,
    port: str | None = None,
    seconds: float | None = None,
    out: PathLike = "build/stream",
    timeout: float = 2.0,
    slack: int = 1,
    on_frame: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Stream a live source (``dv://HOST:PORT`` or ``camera[:NAME]``) to a device for ``seconds``
    (default: until the source ends or Ctrl-C). The model's ``dt_us``, ``downsample`` and
    ``denoise_us`` apply; the camera's sensor must give the model's inputs. Summary: ``seconds``,
    ``frames``, ``events``, ``late_events`` (arrived after their timestep was sent), ``late_frames``,
    ``decision_latency_ms_median``/``_max``, ``detections`` ([time s, class name]),
    ``mismatches`` against the golden model, ``error`` if the source or device went away."""
    from edgesnn.api.deploying import device_session, open_device
    from edgesnn.data.events import frame_shape
    from edgesnn.data.live import LiveEvents, parse_source
    from edgesnn.device.continuous import stream_frames

    qnet = quantized(model)
    spec = _live_spec(qnet)
    parse_source(source)  # a malformed source fails before the deploy
    dt, ds, dn = int(spec["dt_us"]), int(spec.get("downsample", 1)), int(spec.get("denoise_us", 0))
    names = _class_names(spec)
    live = LiveEvents(source)  # connect and check the sensor before the deploy's long work
    want = frame_shape((*live.sensor, 2), ds)  # type: ignore[misc]
    if int(np.prod(want)) != qnet.n_inputs:
        live.close()
        raise DatasetError(
            f"live source {source}: its {live.sensor[0]} x {live.sensor[1]} sensor at downsample {ds} "  # type: ignore[index]
            f"gives {int(np.prod(want))} inputs; the model takes {qnet.n_inputs}"
        )
    try:
        d = open_device(qnet, board, port, out, timeout)
    except BaseException:
        live.close()
        raise
    sent: list[np.ndarray] = []
    replies: list[Any] = []
    late, decision_lat = 0, []
    t_wall = time.perf_counter()
    with device_session(d) as session:
        with live:

            def steps() -> Iterator[np.ndarray]:
                for x in live.timesteps(dt, ds, dn, slack, seconds):
                    sent.append(x)
                    yield x

            for fr in stream_frames(d.device, steps(), 1):
                late += fr.seconds > dt / 1e6  # not answered before the next timestep was due
                dets = [(fr.start + s, c) for s, c in fr.tail.detections]
                decision_lat += [fr.seconds] * len(dets)
                replies.append(fr)
                if on_frame is not None:  # match: known after the session
                    row = frame_row(fr, dt, dets, None)
                    # the detections named by the data set's class names, where its file is here
                    row["detected"] = [[t, _name(names, c)] for t, c in row["detections"]]
                    on_frame(row)
            session.error = live.error
    error = session.error
    wall = time.perf_counter() - t_wall
    total = len(replies)
    x = np.concatenate(sent[:total]) if total else np.zeros((0, qnet.n_inputs), bool)
    golden = GoldenCursor(qnet, lambda a, b: x[a:b], total)
    mismatches, detections = 0, []
    for fr in replies:
        ok, dets, _ = frame_matches(golden, fr)
        mismatches += not ok
        detections += [[round((s + 1) * dt / 1e6, 6), _name(names, c)] for s, c in dets]
    res: dict[str, Any] = {
        "summary": True,
        "board": d.hello.board,
        "kind": "live",
        "source": source,
        "sensor_size": list(live.sensor or ()),
        "seconds": total * dt / 1e6,
        "wall_seconds": wall,
        "frames": total,
        "events": live.events_received,
        "late_events": live.late_events,
        "events_before_start": live.events_before_start,
        "late_frames": int(late),
        **latency_ms(decision_lat),
        "detections": detections,
        "mismatches": mismatches,
        "retransmissions": d.device.retransmissions,
    }
    if error:
        res["error"] = error
    return res
