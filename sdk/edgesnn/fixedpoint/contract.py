"""The integer contract, in code. docs/fixed-point.md is its prose; the two change together.

Everything here is integer arithmetic on numpy int64 arrays; no float enters the timestep
path. The C runtime (firmware_templates/runtime) implements the same functions with the same
names, and tests hold it to this module bit for bit.
"""

from __future__ import annotations

import numpy as np

#: Bumped whenever a rule below changes meaning; the firmware refuses a model of another version.
CONTRACT_VERSION = 1
#: Decays are unsigned Q0.16 multipliers: alpha = round_half_up(beta * 2**16), in [0, 65536].
DECAY_FRAC_BITS = 16
DECAY_ONE = 1 << DECAY_FRAC_BITS
#: Bit-width ranges accepted by the quantizer.
WEIGHT_BITS_RANGE = (2, 8)
STATE_BITS_RANGE = (8, 32)
#: Largest input shift (acc * 2**shift); keeps every intermediate inside int64.
MAX_SHIFT = 24
#: Synaptic accumulators are int32: fan-in * 2**(weight_bits-1) must stay below this.
ACC_LIMIT = 2**31 - 1


def state_limits(state_bits: int) -> tuple[int, int]:
    """Inclusive [lo, hi] of a state variable of ``state_bits`` (two's complement)."""
    return -(1 << (state_bits - 1)), (1 << (state_bits - 1)) - 1


def weight_limit(weight_bits: int) -> int:
    """Largest magnitude of a weight: symmetric range [-q, q] with q = 2**(bits-1) - 1."""
    return (1 << (weight_bits - 1)) - 1


def saturate(x: np.ndarray, state_bits: int) -> np.ndarray:
    """Clamp to the state range. Values are never wrapped."""
    lo, hi = state_limits(state_bits)
    return np.clip(x, lo, hi)


def rshift_round_half_up(x: np.ndarray, shift: int) -> np.ndarray:
    """THE rounding rule: ``floor((x + 2**(shift-1)) / 2**shift)``, i.e. round half toward +inf.

    numpy's ``>>`` on signed integers is an arithmetic (flooring) shift, which is what the
    rule needs; the C runtime spells the floor out so it does not rely on
    implementation-defined shifts of negative numbers.
    """
    if shift == 0:
        return x
    return (x + (1 << (shift - 1))) >> shift


def to_int_round_half_up(x) -> np.ndarray:
    """The same rule for converting real-valued parameters to integers: ``floor(x + 1/2)``."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def decay_multiplier(beta) -> np.ndarray:
    """Q0.16 multiplier of a per-step decay in [0, 1]."""
    return to_int_round_half_up(np.asarray(beta, dtype=np.float64) * DECAY_ONE)


def decay(state: np.ndarray, alpha: np.ndarray | int) -> np.ndarray:
    """``rshift_round_half_up(state * alpha, 16)``; exact for alpha == 65536 (no leak)."""
    return rshift_round_half_up(state * alpha, DECAY_FRAC_BITS)


def choose_shift(peak_over_scale: float, state_bits: int, headroom: float) -> int:
    """Largest shift s <= MAX_SHIFT with ``peak * headroom * 2**s`` inside the state range.

    ``peak_over_scale`` is the largest magnitude the layer's state must hold, in units of one
    weight step (threshold / scale without data; observed peaks with calibration data).
    """
    hi = state_limits(state_bits)[1]
    need = max(float(peak_over_scale), 1.0) * headroom
    shift = 0
    while shift < MAX_SHIFT and need * (1 << (shift + 1)) <= hi:
        shift += 1
    return shift


def synaptic_drive(acc: np.ndarray, shift: int, bias: np.ndarray | int) -> np.ndarray:
    """Step 2: ``x = acc * 2**shift + bias`` (int64, exact). Vectorizes over any leading axes."""
    return (acc.astype(np.int64, copy=False) << shift) + bias


def neuron_step(
    x: np.ndarray,
    i_state: np.ndarray | None,
    v_state: np.ndarray,
    *,
    alpha_syn: np.ndarray | None,
    alpha_mem: np.ndarray,
    threshold: np.ndarray,
    reset_subtract: bool,
    v_reset: np.ndarray,
    state_bits: int,
    saturations: list[int] | None = None,
) -> np.ndarray:
    """Steps 3-6 for one timestep, updating ``i_state`` and ``v_state`` (int64) in place.

    Returns the spikes. ``saturations``, if given, gets the number of states at a limit of their
    range after the clamp (before the reset) appended: every backend counts these. Written with
    in-place numpy ops because it is the simulator's inner loop; ``tests/reference.py`` restates
    it with scalar Python integers.
    """
    lo, hi = state_limits(state_bits)
    half = 1 << (DECAY_FRAC_BITS - 1)
    if i_state is not None and alpha_syn is not None:  # current-based layers have both
        np.multiply(i_state, alpha_syn, out=i_state)
        i_state += half
        i_state >>= DECAY_FRAC_BITS
        i_state += x
        np.clip(i_state, lo, hi, out=i_state)
        if saturations is not None:
            saturations.append(int(np.count_nonzero((i_state == lo) | (i_state == hi))))
        x = i_state
    np.multiply(v_state, alpha_mem, out=v_state)
    v_state += half
    v_state >>= DECAY_FRAC_BITS
    v_state += x
    np.clip(v_state, lo, hi, out=v_state)
    if saturations is not None:
        saturations.append(int(np.count_nonzero((v_state == lo) | (v_state == hi))))
    spikes = v_state > threshold
    if reset_subtract:
        # v > threshold >= 1, so v - threshold lies in [0, hi): the saturation is a no-op
        np.subtract(v_state, threshold, out=v_state, where=spikes)
    else:
        np.copyto(v_state, v_reset, where=spikes)
    return spikes


def predict_from_counts(counts: np.ndarray, v_last: np.ndarray) -> np.ndarray:
    """Readout ``spike_count``: most spikes, then the larger final membrane, then the lower index.

    Works for integer and float states alike (the float simulator uses it too).
    """
    best = counts == counts.max(axis=-1, keepdims=True)
    v = v_last.astype(np.float64) if v_last.dtype.kind == "f" else v_last.astype(np.int64)
    floor = -np.inf if v.dtype.kind == "f" else np.iinfo(np.int64).min
    return np.argmax(np.where(best, v, floor), axis=-1)


def settled(counts: np.ndarray, steps_left: int, margin: int = 0) -> bool:
    """Early exit for the ``spike_count`` readout: stop once the leader leads the runner-up by
    more than the steps left (each output spikes at most once per step, so the prediction can no
    longer change: exact), or, with ``margin`` > 0, by at least ``margin`` spikes (faster, and
    its accuracy cost is measured, not assumed)."""
    c = np.sort(np.asarray(counts, np.int64))
    lead = int(c[-1] - c[-2]) if c.size > 1 else int(c[-1])
    return lead > steps_left or (margin > 0 and lead >= margin)


def exit_steps(out_spikes: np.ndarray, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(steps run, prediction) per sample of output spikes (N, T, C) under early exit; samples
    that never settle run all T steps and keep the full readout's prediction (returned as -1
    for the caller to fill in)."""
    x = np.asarray(out_spikes, bool)
    n, t = x.shape[:2]
    cum = np.cumsum(x, axis=1, dtype=np.int64)
    steps = np.full(n, t, np.int64)
    pred = np.full(n, -1, np.int64)
    for i in range(n):
        for k in range(t):
            if settled(cum[i, k], t - k - 1, margin):
                steps[i], pred[i] = k + 1, int(np.argmax(cum[i, k]))
                break
    return steps, pred
