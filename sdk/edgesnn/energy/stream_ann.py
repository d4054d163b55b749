"""The int8 ANN a user would deploy on a stream instead of the SNN (docs/energy.md, "Streams").

Frames: the ANN sees the last ``window`` timesteps of the recording binned into one frame, the
same timesteps the SNN's training windows hold (per channel, the timesteps with an event, over
``window``: a value in [0, 1]), quantized to int8 as ``energy.ann`` does. It runs every
``period`` timesteps (``1 / rate``); each run's int8 logits become a detection when the leader
is not the background class and leads the runner-up by ``margin`` (refractory steps after
each, as the SNN's rule), scored by the same rule as the SNN.

The gated ANN runs only when its window holds at least ``gate`` input events (the count its
binning keeps anyway), the gate fitted on the train recording: the largest gate whose score
is within half a point of the best.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgesnn.energy import ann as A
from edgesnn.fixedpoint import decision as D

MARGINS = (0, 4, 8, 16, 32, 64)
REFRACTORIES = (10, 20, 30, 45)
GATE_PERCENTILES = (0, 50, 70, 80, 85, 90, 92.5, 95, 97.5, 99)
#: a gate as good as the best within this much of the fitting score is preferred when larger
GATE_SLACK = 0.005


@dataclass(frozen=True)
class AnnRule:
    margin: int
    refractory: int
    background: int
    gate: int = 0  # input events in the window needed to run (0: always runs)

    def as_dict(self) -> dict:
        return {"margin": self.margin, "refractory": self.refractory, "gate": self.gate}


@dataclass
class AnnRun:
    """The ANN over a recording: evaluation steps, int8 logits, window event counts."""

    steps: np.ndarray  # (E,) timestep at the end of each window
    logits: np.ndarray  # (E, classes) int8
    events: np.ndarray  # (E,) input events in each window


def window_frames(x: np.ndarray) -> np.ndarray:
    """Training windows (N, window, channels) bool -> frames (N, channels) in [0, 1]."""
    return np.asarray(x, np.float32).mean(axis=1)


def run_over(ann: A.Int8ANN, frames: Callable[[int, int], np.ndarray], T: int, window: int, period: int) -> AnnRun:
    """The ANN every ``period`` steps over ``T`` steps of ``frames(a, b)`` ((b - a, C) bool)."""
    ends = np.arange(period - 1, T, period, dtype=np.int64)
    out_l, out_e = [], []
    chunk = 4096
    for a in range(0, T, chunk):
        b = min(T, a + chunk)
        sel = ends[(ends >= a) & (ends < b)]
        if len(sel) == 0:
            continue
        lo = max(0, a - window + 1)
        fr = frames(lo, b).astype(np.int32)
        c = np.concatenate([np.zeros((1, fr.shape[1]), np.int32), np.cumsum(fr, axis=0)])
        hi_i = sel - lo + 1
        lo_i = np.maximum(sel - window + 1, 0) - lo
        counts = c[hi_i] - c[lo_i]  # (E, C) timesteps with an event per channel in the window
        x = counts.astype(np.float32) / window
        out_l.append(A.run_int8(ann, A.ann_inputs(ann, x)))
        out_e.append(counts.sum(axis=1))
    k = ann.layers[-1].weight.shape[0]
    logits = np.concatenate(out_l) if out_l else np.zeros((0, k), np.int8)
    return AnnRun(ends, logits, np.concatenate(out_e) if out_e else np.zeros(0, np.int64))


def detections(run: AnnRun, rule: AnnRule) -> tuple[np.ndarray, np.ndarray, int]:
    """(detection steps, classes, inferences run) of ``run`` under ``rule``."""
    z = run.logits.astype(np.int64)
    lead = np.argmax(z, axis=1)
    masked = z.copy()
    np.put_along_axis(masked, lead[:, None], np.iinfo(np.int64).min, axis=1)
    top = np.take_along_axis(z, lead[:, None], axis=1)[:, 0]
    ran = run.events >= rule.gate
    ok = ran & (lead != rule.background) & (top - masked.max(axis=1) >= rule.margin)
    cand = run.steps[ok]
    steps, _, _ = D._select(cand, rule.refractory, 0)
    classes = lead[ok][np.searchsorted(cand, steps)]
    return steps, classes, int(ran.sum())


def fit_rule(run: AnnRun, objective: Callable[[np.ndarray, np.ndarray], float], background: int, gate: int = 0):
    """The margin and refractory time with the best ``objective(steps, classes)``."""
    best = None
    for m in MARGINS:
        for r in REFRACTORIES:
            rule = AnnRule(m, r, background, gate)
            s = objective(*detections(run, rule)[:2])
            if best is None or s > best[0]:
                best = (s, rule)
    assert best is not None
    return best[1], best[0]


def fit_gate(run: AnnRun, objective: Callable[[np.ndarray, np.ndarray], float], background: int):
    """The gated rule: for each candidate gate (percentiles of the window counts) the best rule;
    then the largest gate scoring within GATE_SLACK of the best score. Returns (rule, tried)."""
    gates = sorted({int(g) for g in np.percentile(run.events, GATE_PERCENTILES)})
    tried = []
    for g in gates:
        rule, s = fit_rule(run, objective, background, g)
        tried.append((s, rule))
    best = max(s for s, _ in tried)
    rule = max((r for s, r in tried if s >= best - GATE_SLACK), key=lambda r: r.gate)
    return rule, [{"gate": r.gate, "score": round(s, 4)} for s, r in tried]
