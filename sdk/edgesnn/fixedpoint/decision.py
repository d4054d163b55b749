"""The decision rule: output spikes of a continuously running network -> detections (time, class).

Integer, and run the same way on the device (``runtime/esnn_decide.h``; docs/fixed-point.md,
"Decision rule"). Per output k, with ``z_k[t]`` its spike at timestep t (0/1):

    a_k[t] = a_k[t-1] - (a_k[t-1] >> decay_shift) + (z_k[t] << GAIN_SHIFT)      a_k[-1] = 0

(an arithmetic shift of a non-negative value: a leaky spike count; ``a_k <= 2^(GAIN_SHIFT +
decay_shift)``, so int32 holds it). Then, with ``lead`` the output with the largest ``a`` (the
lowest index among equals) and ``second`` the largest ``a`` of the others:

    if cool > 0:                       cool -= 1
    elif lead != background and a_lead >= threshold and a_lead - second >= margin:
                                       detect (t, lead); cool = refractory

``cool`` starts at 0. A detection at step t is reported at the end of that step, time
``(t + 1) * dt_us``. ``background`` is the model's background output (-1: none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

GAIN_SHIFT = 8
DECAY_SHIFTS = range(1, 9)


@dataclass(frozen=True)
class DecisionRule:
    """Parameters of the decision rule (module docstring)."""

    decay_shift: int = 3
    threshold: int = 1024
    margin: int = 256
    refractory: int = 30
    background: int = -1

    def __post_init__(self):
        for name in ("decay_shift", "threshold", "margin", "refractory", "background"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"decision rule {name} must be an integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.decay_shift not in DECAY_SHIFTS:
            raise ValueError(f"decision rule decay_shift must be in 1..8, got {self.decay_shift}")
        top = 1 << (GAIN_SHIFT + self.decay_shift)
        if not 1 <= self.threshold <= top:
            raise ValueError(f"decision rule threshold must be in 1..{top}, got {self.threshold}")
        if not 0 <= self.margin <= top:
            raise ValueError(f"decision rule margin must be in 0..{top}, got {self.margin}")
        if not 0 <= self.refractory <= 65535:
            raise ValueError(f"decision rule refractory must be in 0..65535 timesteps, got {self.refractory}")
        if self.background < -1:
            raise ValueError(f"decision rule background must be an output index or -1, got {self.background}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DecisionState:
    """The rule's state between chunks of a stream."""

    a: np.ndarray  # int64 (n_outputs,)
    cool: int = 0

    @classmethod
    def zeros(cls, n_outputs: int) -> DecisionState:
        return cls(np.zeros(n_outputs, np.int64), 0)


def _scores(z: np.ndarray, d: int, a0: np.ndarray) -> np.ndarray:
    """a[t] for every step (T, n) of spikes z, from a[-1] = a0 (exact integer recurrence)."""
    T, n = z.shape
    out = np.empty((T, n), np.int64)
    a = a0.astype(np.int64).copy()
    inc = z.astype(np.int64) << GAIN_SHIFT
    for t in range(T):
        a -= a >> d
        a += inc[t]
        out[t] = a
    return out


def _lead(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leader (lowest index among equals), its score and the runner-up's score, per step."""
    lead = np.argmax(a, axis=1)
    top = np.take_along_axis(a, lead[:, None], axis=1)[:, 0]
    if a.shape[1] == 1:
        return lead, top, np.zeros_like(top)
    masked = a.copy()
    np.put_along_axis(masked, lead[:, None], np.iinfo(np.int64).min, axis=1)
    return lead, top, masked.max(axis=1)


def _select(cand: np.ndarray, refractory: int, cool: int) -> tuple[np.ndarray, int, int]:
    """Steps of ``cand`` (sorted) that fire given the cool-down; the cool-down left at the end
    is returned relative to the chunk end by the caller."""
    out = []
    nxt = cool  # first step allowed to fire
    k = int(np.searchsorted(cand, nxt))
    while k < len(cand):
        t = int(cand[k])
        out.append(t)
        nxt = t + refractory + 1
        k = int(np.searchsorted(cand, nxt, side="left"))
    return np.array(out, np.int64), nxt, len(out)


def run(
    rule: DecisionRule, z: np.ndarray, state: DecisionState | None = None
) -> tuple[np.ndarray, np.ndarray, DecisionState]:
    """Detections of output spikes ``z`` (T, n_outputs): (steps, classes) and the state after.

    Steps are relative to the chunk; pass the returned state with the next chunk to continue.
    """
    z = np.asarray(z, bool)
    T, n = z.shape
    state = state or DecisionState.zeros(n)
    a = _scores(z, rule.decay_shift, state.a)
    lead, top, second = _lead(a)
    ok = (top >= rule.threshold) & (top - second >= rule.margin)
    if rule.background >= 0:
        ok &= lead != rule.background
    steps, nxt, _ = _select(np.flatnonzero(ok), rule.refractory, state.cool)
    new = DecisionState(
        a[-1].copy() if T else state.a.copy(), max(0, nxt - T) if len(steps) else max(0, state.cool - T)
    )
    return steps, lead[steps], new


def fit(
    z: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float],
    background: int = -1,
    refractories: Iterable[int] = (10, 20, 30, 45),
    decay_shifts: Iterable[int] = (2, 3, 4, 5),
) -> tuple[DecisionRule, float]:
    """The rule that maximises ``score(steps, classes)`` on output spikes ``z`` (T, n) of a
    recording (the train split's), over a grid: decay shifts, thresholds and margins at
    fractions of each shift's full scale, refractory times. Ties keep the first found."""
    z = np.asarray(z, bool)
    best: tuple[float, DecisionRule] | None = None
    zero = np.zeros(z.shape[1], np.int64)
    for d in decay_shifts:
        a = _scores(z, d, zero)
        lead, top, second = _lead(a)
        full = 1 << (GAIN_SHIFT + d)
        notbg = lead != background if background >= 0 else np.ones(len(lead), bool)
        for tf in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65):
            thr = max(1, int(tf * full))
            base = notbg & (top >= thr)
            for mf in (0.0, 0.05, 0.1, 0.2, 0.3):
                m = int(mf * full)
                cand = np.flatnonzero(base & (top - second >= m))
                for r in refractories:
                    steps, _, _ = _select(cand, r, 0)
                    s = score(steps, lead[steps])
                    if best is None or s > best[0]:
                        best = (s, DecisionRule(d, thr, m, r, background))
    assert best is not None
    return best[1], best[0]
