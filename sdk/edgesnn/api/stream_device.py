"""A recording streamed continuously to a device, every frame held to the golden model.

Per frame the device's output spikes, running digest of every state, synaptic events (modulo
2^32) and detections are compared with the golden model run to the same timestep; a frame that
differs in any of them is a mismatch. Detections are scored by the rule of ``data.scoring``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.api.model import PathLike, quantized
from edgesnn.api.streams import CHUNK, score_detections, static_metrics, stream_of
from edgesnn.errors import DeviceError
from edgesnn.fixedpoint.continuous import StreamRunner
from edgesnn.fixedpoint.qnetwork import QuantNetwork


class GoldenCursor:
    """The golden model advanced on demand to a timestep, with the device's digest there."""

    def __init__(self, qnet: QuantNetwork, frames: Callable[[int, int], np.ndarray], total: int):
        self.qnet, self.frames, self.total = qnet, frames, total
        self.runner = StreamRunner(qnet, qnet.decision)
        self.pos = 0  # first timestep still pending
        self.rows = np.zeros((0, 0), np.uint8)
        self.syn = np.zeros(0, np.int64)
        self.outs = np.zeros((0, qnet.n_outputs), bool)
        self.dets: list[tuple[int, int]] = []
        self.crc = 0
        self.synops = 0

    def _more(self) -> None:
        a = self.pos + len(self.syn)
        b = min(self.total, a + CHUNK)
        from edgesnn.firmware.golden import step_values

        r = self.runner.run(self.frames(a, b), record=True)
        rows = step_values(self.qnet, r.record or []).view(np.uint8)
        self.rows = rows if not len(self.syn) else np.concatenate([self.rows, rows])
        self.syn = np.concatenate([self.syn, r.per_step_synops])
        self.outs = np.concatenate([self.outs, r.spikes])
        self.dets += list(zip(r.detect_steps.tolist(), r.detect_classes.tolist()))

    def run_to(self, end: int) -> None:
        """Run the golden model ahead up to timestep ``end`` (kept until ``until`` takes it)."""
        while self.pos + len(self.syn) < end:
            self._more()

    def until(self, end: int) -> tuple[int, int, np.ndarray, list[tuple[int, int]]]:
        """Digest, synaptic events (mod 2^32), output spikes and detections of the timesteps from
        the last call's end up to ``end``."""
        self.run_to(end)
        n = end - self.pos
        self.crc = zlib.crc32(self.rows[:n].tobytes(), self.crc)
        self.synops += int(self.syn[:n].sum())
        outs = self.outs[:n]
        dets = [d for d in self.dets if d[0] < end]
        self.dets = [d for d in self.dets if d[0] >= end]
        self.rows, self.syn, self.outs = self.rows[n:], self.syn[n:], self.outs[n:]
        self.pos = end
        return self.crc, self.synops % 2**32, outs, dets


def frame_matches(golden: GoldenCursor, fr: Any) -> tuple[bool, list[tuple[int, int]], int]:
    """Whether a device frame (``continuous.FrameReply``) equals the golden model's timesteps in
    outputs, digest, synaptic events and detections; its detections (absolute steps, class); and
    how many of its timesteps differ in outputs (all of them where the shapes differ)."""
    digest, synops, g_outs, g_dets = golden.until(fr.end)
    dev_dets = [(fr.start + s, c) for s, c in fr.tail.detections]
    same_out = np.array_equal(g_outs, fr.outputs)
    ok = same_out and digest == fr.tail.digest and synops == fr.tail.synops and dev_dets == g_dets
    bad = 0
    if not ok:
        bad = int((g_outs != fr.outputs).any(axis=1).sum()) if g_outs.shape == fr.outputs.shape else fr.outputs.shape[0]
    return ok, dev_dets, bad


def frame_row(fr: Any, dt_us: int, dets: list[tuple[int, int]], match: bool | None) -> dict:
    """What ``on_frame`` gets for one device frame: its end time, timesteps, input events,
    detections ([time s, class]), whether it matched the golden model (None: not known yet) and
    the exchange's wall time."""
    return {
        "t_s": fr.end * dt_us / 1e6,
        "start": fr.start,
        "steps": fr.outputs.shape[0],
        "input_events": fr.input_events,
        "detections": [[(s + 1) * dt_us / 1e6, c] for s, c in dets],
        "match": match,
        "latency_ms": round(fr.seconds * 1e3, 3),
    }


def latency_ms(seconds: list[float], key: str = "decision_latency_ms") -> dict[str, float | None]:
    """``KEY_median`` and ``KEY_max`` of latencies given in seconds, in ms (None without any)."""
    return {
        f"{key}_median": float(np.median(seconds)) * 1e3 if seconds else None,
        f"{key}_max": float(np.max(seconds)) * 1e3 if seconds else None,
    }


def stream_recording(
    model: QuantNetwork | PathLike,
    *,
    board: str | None = None,
    port: str | None = None,
    dataset: str | None = None,
    seconds: float | None = None,
    steps_per_frame: int | None = None,
    out: PathLike = "build/stream",
    timeout: float = 2.0,
    tolerance_ms: float = 500.0,
    save_output: PathLike | None = None,
    on_frame: Callable[[dict], None] | None = None,
    realtime: bool = False,
    on_start: Callable[[dict], None] | None = None,
    row_spikes: bool = False,
) -> dict[str, Any]:
    """Stream a stream data set's test recording (its first ``seconds``) to a device with no
    resets; the device reports detections as they happen.

    ``realtime``: at the recording's own pace, as a live sensor feeds it: each frame (default
    one timestep) is sent when its last timestep has ended on the wall clock. The frames and the
    golden model's run are prepared before the clock starts, so only the link and the device set
    the pace. Adds ``late_frames`` (replies that came after the next frame was due: the device
    or link fell behind), ``lag_ms_max`` (the most a frame was sent after it was due) and
    ``decision_latency_ms_median``/``_max`` (from the end of a detection's timestep to its reply). Summary: the detection metrics of
    ``simulate_stream``, ``mismatches`` (frames whose outputs, digest, synaptic events or
    detections differ from the golden model), ``retransmissions``, ``seconds`` (of recording
    streamed), ``wall_seconds`` and, where the board counts instructions, ``instructions_per_second``
    of recording (model and decision rule) and ``end_to_end_instructions_per_second`` (everything
    the device ran for the link).

    ``on_start`` gets the device's ``identity`` with ``kind`` "stream", ``class_names``,
    ``total`` (timesteps), ``dt_us`` and the ground truth streamed (``segments``: [onset s,
    offset s, class]); each ``on_frame`` row carries the link's counters so far and, with
    ``row_spikes``, ``output_spikes`` ([timestep, neuron] pairs, timesteps of the recording)."""
    from edgesnn.api.deploying import device_session, identity, open_device
    from edgesnn.device import codec
    from edgesnn.device.continuous import stream_frames

    qnet = quantized(model)
    _, _, ds, spec = stream_of(qnet, dataset)
    total = ds.steps("test", spec, seconds)
    dt = spec["dt_us"]

    def frames(a: int, b: int) -> np.ndarray:
        return ds.frames("test", spec, a, b)

    golden = GoldenCursor(qnet, frames, total)
    pace = None
    if realtime:
        pace = dt / 1e6
        steps_per_frame = steps_per_frame or 1
        golden.run_to(total)  # the golden run before the clock starts
    d = open_device(qnet, board, port, out, timeout)
    hello = d.hello
    want_decision = qnet.decision is not None
    if bool(hello.capabilities & codec.CAP_DECISION) != want_decision:
        d.close()
        raise DeviceError("the firmware's decision rule does not match the model's: deploy this model's firmware")
    tpi = hello.ticks_per_instruction if hello.capabilities & codec.CAP_ICOUNT else 0.0
    if on_start is not None:
        seg = ds.recording("test").segments
        seg = seg[seg[:, 0] < total * dt]
        on_start(
            {
                **identity(d),
                "kind": "stream",
                "class_names": list(ds.class_names),
                "total": total,
                "dt_us": dt,
                "segments": [[int(a) / 1e6, int(b) / 1e6, int(c)] for a, b, c in seg],
            }
        )
    error, mismatches, mismatched_steps, first_bad = None, 0, 0, None
    det_steps: list[int] = []
    det_classes: list[int] = []
    outputs: list[np.ndarray] = []
    steps_done, ticks, last_ticks, frames_n = 0, 0, 0, 0
    late, lag_max, decision_lat, span = 0, 0.0, [], (0.0, 0.0)
    audio = qnet.front_end is not None  # the device's front end makes the spikes from PCM
    send = (lambda a, b: ds.pcm("test", spec, a, b)) if audio else frames
    chunks: Any = (send(a, min(total, a + CHUNK)) for a in range(0, total, CHUNK))
    if realtime:  # every frame ready before the clock starts
        chunks = list(chunks)
    t_wall = time.perf_counter()
    before, link = {}, None  # link: what the device ran for the link, once the stream ended whole
    with device_session(d) as session:
        before = d.device.stats() if tpi else {}
        for fr in stream_frames(d.device, chunks, steps_per_frame, pace):
            if audio:  # the input spikes the device's front end made, by the golden front end's count
                fr.input_events = int(frames(fr.start, fr.end).sum())
            ok, dev_dets, bad_steps = frame_matches(golden, fr)
            if not ok:
                mismatches += 1
                mismatched_steps += bad_steps
                first_bad = fr.start if first_bad is None else first_bad
            ticks += (fr.tail.ticks - last_ticks) % 2**32
            last_ticks = fr.tail.ticks
            for s, c in dev_dets:
                det_steps.append(s)
                det_classes.append(c)
            if fr.due is not None:
                replied, n_steps = fr.sent + fr.seconds, fr.outputs.shape[0]
                late += replied > fr.due + n_steps * dt / 1e6
                lag_max = max(lag_max, fr.sent - fr.due)
                clock0 = fr.due - fr.end * dt / 1e6
                span = (clock0, replied)
                decision_lat += [replied - (clock0 + (s + 1) * dt / 1e6) for s, _ in dev_dets]
            if save_output is not None:  # kept only when asked for: a long stream's memory stays flat
                outputs.append(fr.outputs)
            steps_done, frames_n = fr.end, frames_n + 1
            if on_frame is not None:
                row = frame_row(fr, dt, dev_dets, bool(ok))
                row.update(retransmissions=d.device.retransmissions, damaged_frames=d.device.damage_seen())
                if row_spikes:
                    row["output_spikes"] = (np.argwhere(fr.outputs) + [fr.start, 0]).tolist()
                on_frame(row)
        if before and "link_ticks" in before:
            link = (d.device.stats()["link_ticks"] - before["link_ticks"]) / tpi
    error = session.error
    wall = time.perf_counter() - t_wall
    secs = steps_done * dt / 1e6
    res: dict[str, Any] = {"summary": True, "board": hello.board, "kind": "stream"}
    if steps_done:
        res.update(
            score_detections(
                ds,
                "test",
                spec,
                np.array(det_steps, np.int64),
                np.array(det_classes, np.int64),
                steps_done,
                tolerance_ms,
            )
        )
    res.update(
        complete=error is None and steps_done == total,
        seconds=secs,
        timesteps=steps_done,
        frames=frames_n,
        mismatches=mismatches,
        mismatched_steps=mismatched_steps,
        first_mismatch_step=first_bad,
        retransmissions=d.device.retransmissions,
        damaged_frames=d.device.damage_seen(),
        wall_seconds=wall,
        **static_metrics(qnet),
    )
    if audio:
        res.update(input="pcm", instructions_include_front_end=True)
    if realtime:
        res.update(
            realtime=True,
            replay_wall_seconds=span[1] - span[0],
            late_frames=int(late),
            late_frame_fraction=late / max(frames_n, 1),
            lag_ms_max=lag_max * 1e3,
            **latency_ms(decision_lat),
        )
    if tpi and secs:
        res["instructions_per_second"] = ticks / tpi / secs
        res["instructions_per_timestep"] = ticks / tpi / max(steps_done, 1)
        if link is not None:
            res["end_to_end_instructions_per_second"] = link / secs
    if error:
        res["error"] = error
    if save_output is not None:
        path = Path(save_output)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            outputs=np.concatenate(outputs) if outputs else np.zeros((0, qnet.n_outputs), bool),
            detect_times_s=(np.array(det_steps, np.int64) + 1) * dt / 1e6,
            detect_classes=np.array(det_classes, np.int64),
            dt_us=np.array(dt),
            source=np.array("device"),
        )
        res["output"] = str(path)
    return res
