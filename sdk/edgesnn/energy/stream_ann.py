"""The int8 ANN a user would deploy on a stream instead of the SNN (docs/energy.md, "Streams").

Frames: the ANN sees the last ``window`` timesteps of the recording binned into frames, the
same timesteps the SNN's training windows hold (per time bin and channel, the fraction of its
timesteps with an event: a value in [0, 1]), quantized to int8 as ``energy.ann`` does. Events
take one bin (a saccade's digit is the same image throughout); audio takes ``AUDIO_BINS``, as a
keyword spotter is fed a spectrogram of frames in time, not one average. It runs every
``period`` timesteps (``1 / rate``); each run votes for its int8 logits' leader (argmax, the
background class included), and the SNN's decision rule (``fixedpoint.decision``: leaky vote
counts, threshold, margin, refractory time, fitted on the train recording over the same grid,
refractory times in runs) turns the votes into detections, scored as the SNN's are.

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

REFRACTORY_STEPS = (10, 20, 30, 45)  # the SNN rule's grid, in timesteps
#: time bins of an audio window for the ANN (a 1 s window: ten frames of 100 ms)
AUDIO_BINS = 10
GATE_PERCENTILES = (0, 50, 70, 80, 85, 90, 92.5, 95, 97.5, 99)
#: a gate as good as the best within this much of the fitting score is preferred when larger
GATE_SLACK = 0.005


@dataclass(frozen=True)
class AnnRule:
    decision: D.DecisionRule  # over the ANN's runs (refractory counted in runs)
    period: int  # timesteps between runs
    gate: int = 0  # input events in the window needed to run (0: always runs)

    def as_dict(self) -> dict:
        return {**self.decision.as_dict(), "period_steps": self.period, "gate": self.gate}


@dataclass
class AnnRun:
    """The ANN over a recording: evaluation steps, int8 logits, window event counts."""

    steps: np.ndarray  # (E,) timestep at the end of each window
    logits: np.ndarray  # (E, classes) int8
    events: np.ndarray  # (E,) input events in each window


def bin_edges(window: int, bins: int) -> np.ndarray:
    """Where each of ``bins`` time bins of a window starts (and the window's end), in timesteps."""
    if not 1 <= bins <= window:
        raise ValueError(f"time bins must be 1..{window} (the window), got {bins}")
    return np.round(np.arange(bins + 1) * window / bins).astype(np.int64)


def window_frames(x: np.ndarray, bins: int = 1) -> np.ndarray:
    """Training windows (N, window, channels) bool -> frames (N, bins x channels) in [0, 1]: per
    time bin and channel, the fraction of its timesteps with an event (bin-major)."""
    x = np.asarray(x, np.float32)
    e = bin_edges(x.shape[1], bins)
    return np.concatenate([x[:, a:b].mean(axis=1) for a, b in zip(e[:-1], e[1:])], axis=1)


def run_over(
    ann: A.Int8ANN, frames: Callable[[int, int], np.ndarray], T: int, window: int, period: int, bins: int = 1
) -> AnnRun:
    """The ANN every ``period`` steps over ``T`` steps of ``frames(a, b)`` ((b - a, C) bool), each
    run on the last ``window`` steps in ``bins`` time bins (``window_frames``; before the
    recording's start: no events)."""
    edges = bin_edges(window, bins)
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
        start = sel - window + 1  # the window's first timestep (negative: before the recording)
        parts = []
        for j in range(bins):
            a_i = np.clip(start + edges[j], lo, None) - lo
            b_i = np.clip(start + edges[j + 1], lo, None) - lo
            parts.append((c[b_i] - c[a_i]).astype(np.float32) / (edges[j + 1] - edges[j]))
        x = np.concatenate(parts, axis=1)  # (E, bins x C), as window_frames
        out_l.append(A.run_int8(ann, A.ann_inputs(ann, x)))
        out_e.append((c[sel - lo + 1] - c[np.maximum(start, lo) - lo]).sum(axis=1))
    k = ann.layers[-1].weight.shape[0]
    logits = np.concatenate(out_l) if out_l else np.zeros((0, k), np.int8)
    return AnnRun(ends, logits, np.concatenate(out_e) if out_e else np.zeros(0, np.int64))


def votes(run: AnnRun, gate: int) -> tuple[np.ndarray, np.ndarray]:
    """(E, classes) one-hot leader of each run that ran (the gate open), and which ran."""
    ran = run.events >= gate
    z = np.zeros(run.logits.shape, bool)
    idx = np.flatnonzero(ran)
    z[idx, np.argmax(run.logits[idx], axis=1)] = True
    return z, ran


def detections(run: AnnRun, rule: AnnRule) -> tuple[np.ndarray, np.ndarray, int]:
    """(detection steps, classes, inferences run) of ``run`` under ``rule``."""
    z, ran = votes(run, rule.gate)
    idx, classes, _ = D.run(rule.decision, z)
    return run.steps[idx], classes, int(ran.sum())


def fit_rule(
    run: AnnRun,
    objective: Callable[[np.ndarray, np.ndarray], float],
    background: int,
    period: int,
    gate: int = 0,
    refractory_steps: tuple[int, ...] = REFRACTORY_STEPS,
) -> tuple[AnnRule, float]:
    """The decision rule over the runs' votes with the best ``objective(steps, classes)``
    (refractory times ``refractory_steps``, the SNN rule's grid, in runs)."""
    z, _ = votes(run, gate)
    refr = tuple(sorted({max(1, r // period) for r in refractory_steps}))
    rule, score = D.fit(z, lambda i, c: objective(run.steps[i], c), background=background, refractories=refr)
    return AnnRule(rule, period, gate), score


def fit_gate(
    run: AnnRun,
    objective: Callable[[np.ndarray, np.ndarray], float],
    background: int,
    period: int,
    refractory_steps: tuple[int, ...] = REFRACTORY_STEPS,
):
    """The gated rule: for each candidate gate (percentiles of the window counts) the best rule;
    then the largest gate scoring within GATE_SLACK of the best score. Returns (rule, tried)."""
    gates = sorted({int(g) for g in np.percentile(run.events, GATE_PERCENTILES)})
    tried = [fit_rule(run, objective, background, period, g, refractory_steps)[::-1] for g in gates]
    best = max(s for s, _ in tried)
    rule = max((r for s, r in tried if s >= best - GATE_SLACK), key=lambda r: r.gate)
    return rule, [{"gate": r.gate, "score": round(s, 4)} for s, r in tried]
