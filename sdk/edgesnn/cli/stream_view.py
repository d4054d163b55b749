"""The live view of a continuous stream: a timeline of input activity, segments and detections."""

from __future__ import annotations

from typing import Any

import numpy as np
import typer

from edgesnn import api
from edgesnn.cli.common import echo_instructions, err_console, pct

BARS = " ▁▂▃▄▅▆▇█"
WIDTH = 60  # columns of the timeline
COLUMN_S = 0.1  # seconds per column


class LiveBase:
    """A rich Live display on stderr, used as a context manager."""

    def __init__(self, board: str, refresh: int):
        from rich.live import Live

        self.board = board
        self.live = Live(console=err_console, refresh_per_second=refresh, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *a):
        return self.live.__exit__(*a)


class TimelineView(LiveBase):
    """rich live view: the last WIDTH x 0.1 s of input activity, ground-truth segments and the
    device's detections (a digit where it detected that class), with running figures."""

    def __init__(self, board: str, model: Any, dataset: str | None, seconds: float | None):
        super().__init__(board, 4)
        self.ctx = api.stream_context(model, dataset)
        self.seconds = seconds
        self.events: dict[int, float] = {}
        self.dets: list[tuple[float, int]] = []
        self.t = 0.0
        self.frames = self.bad = 0

    def update(self, rows: list[dict]) -> None:
        r = rows[-1]
        dt = self.ctx["dt_us"] / 1e6
        # the frame's input events spread over the columns its timesteps fall in
        first, last = int(r["start"] * dt // COLUMN_S), int(((r["start"] + r["steps"]) * dt - dt / 2) // COLUMN_S)
        for col in range(first, last + 1):
            self.events[col] = self.events.get(col, 0) + r["input_events"] / (last - first + 1)
        self.dets += [(t, c) for t, c in r["detections"]]
        self.t, self.frames, self.bad = r["t_s"], self.frames + 1, self.bad + (not r["match"])
        self.live.update(self.render())

    def render(self) -> str:
        names = self.ctx["class_names"]
        end = int(self.t // COLUMN_S) + 1
        cols = range(max(0, end - WIDTH), end)
        ev = np.array([self.events.get(c, 0) for c in cols], float)
        top = max(ev.max(initial=0), 1.0)
        activity = "".join(BARS[int(round(v / top * (len(BARS) - 1)))] for v in ev)
        seg, cls = self.ctx["segments_s"], self.ctx["classes"]
        truth, found = [], []
        for c in cols:
            mid = (c + 0.5) * COLUMN_S
            k = int(np.searchsorted(seg[:, 0], mid, side="right")) - 1
            truth.append(names[cls[k]][:1] if k >= 0 and mid < seg[k, 1] else "·")
            hit = [n for t, n in self.dets if c * COLUMN_S <= t < (c + 1) * COLUMN_S]
            found.append(names[hit[-1]][:1] if hit else " ")
        total = f" of {self.seconds:.0f}" if self.seconds else ""
        return (
            f"{self.board}: {self.t:7.1f} s{total} streamed   detections {len(self.dets)}   "
            f"frames {self.frames}, mismatches {self.bad}\n"
            f"  input    {activity}\n  segments {''.join(truth)}\n  detected {''.join(found)}\n"
            f"           (last {WIDTH * COLUMN_S:.0f} s, {COLUMN_S * 1000:.0f} ms a column)"
        )


def print_stream_summary(s: dict) -> None:
    if not s.get("timesteps"):
        typer.echo("no timesteps streamed")
        return
    acc = s.get("detection_accuracy")
    typer.echo(
        f"device {s['board']}: {s['seconds']:.1f} s of recording in {s['wall_seconds']:.1f} s, "
        f"{s['segments']} segments, detection accuracy {acc:.2%}, "
        f"false alarms {s['false_alarms_per_hour']:.1f} per hour"
    )
    if s.get("latency_ms_median") is not None:
        typer.echo(f"detection latency median {s['latency_ms_median']:.0f} ms, p90 {s['latency_ms_p90']:.0f} ms")
    typer.echo(f"mismatches {s['mismatches']} (frames of {s['frames']}), retransmissions {s['retransmissions']}")
    if s.get("realtime"):
        typer.echo(
            f"real time: {s['seconds']:.2f} s of recording replayed in {s['replay_wall_seconds']:.2f} s, "
            f"{s['late_frames']} late frames of {s['frames']}, most behind {s['lag_ms_max']:.1f} ms, "
            f"decision latency median {_ms(s['decision_latency_ms_median'])}, max {_ms(s['decision_latency_ms_max'])}"
        )
    if "instructions_per_second" in s:
        typer.echo(
            f"instructions per second of recording {s['instructions_per_second']:,.0f} (model and decision rule)"
            + (
                f", {s['end_to_end_instructions_per_second']:,.0f} with the link"
                if "end_to_end_instructions_per_second" in s
                else ""
            )
        )
    echo_instructions(s)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def print_simulated_stream(r: dict) -> None:
    """`simulate` on a stream, for people: detections, then per class, then NeuroBench's figures."""
    typer.echo(
        f"{r['model']}: {r['seconds']:.1f} s of the {r['split']} recording ({r['timesteps']} timesteps of "
        f"{r['dt_us'] / 1000:g} ms), {r['segments']} segments"
    )
    typer.echo(
        f"detection accuracy {pct(r['detection_accuracy'])} ({r['hits']} hits), "
        f"false alarms {r['false_alarms']} ({r['false_alarms_per_hour']:.1f} per hour), "
        f"latency median {_ms(r['latency_ms_median'])}, p90 {_ms(r['latency_ms_p90'])}"
    )
    typer.echo(f"{'class':>12}  segments  accuracy  false alarms  latency median")
    for name, c in r["per_class"].items():
        typer.echo(
            f"{name:>12}  {c['segments']:8d}  {pct(c['detection_accuracy']):>8}  {c['false_alarms']:12d}  "
            f"{_ms(c['latency_ms_median']):>14}"
        )
    so = r["synaptic_operations"]
    typer.echo(
        f"activation sparsity {r['activation_sparsity']:.3f}, effective ACs {so['effective_acs_per_s']:,.0f} per s, "
        f"membrane updates {r['membrane_updates']['per_s']:,.0f} per s, footprint {r['footprint_bytes']:,} B, "
        f"connection sparsity {r['connection_sparsity']:.3f}"
    )
