"""The neuron updates the C runtime performs under idle skipping (docs/fixed-point.md, "Idle
skipping"), counted from a golden run's record.

The rule, per layer and timestep t:

* the layer has *input* at t when its (pooled) input holds an event or, for a recurrent layer,
  it spiked at t - 1;
* with input, and at the first two steps after a reset or after a step with input, every
  neuron is updated (``n_out``): the first with the plain update, the second with the one that
  also lists the neurons still changing;
* otherwise only the neurons that were *awake* after t - 1 are: those whose state (v, and i
  for a current-based layer) changed at t - 1, or that spiked. A neuron whose update without
  input left it unchanged is a fixed point of that update, so skipping it changes nothing.

Skipping never changes a state or a spike: only this count, which the device reports per
sample and which ``verify`` compares with it. ``simulate_int(..., record=True)`` fills
``SimResult.membrane_updates`` with it; ``continuous.StreamRunner`` carries it across chunks.
"""

from __future__ import annotations

import numpy as np


def changed_of(rec: dict[str, np.ndarray]) -> np.ndarray:
    """(N, T, n) bool: the neuron's state changed at t, or it spiked at t."""
    ch = rec["spikes"].copy()
    for key in ("v", "i"):
        if key in rec:
            x = rec[key]
            prev = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)  # states start at 0
            ch |= x != prev
    return ch


def layer_updates(inputs_any: np.ndarray, changed: np.ndarray, n_out: int) -> np.ndarray:
    """Per (sample, step) updates of one layer from its input flags (N, T) and ``changed``
    (``changed_of`` its record)."""
    n, steps = inputs_any.shape
    full = inputs_any.copy()
    full[:, :2] = True  # after a reset every neuron counts as awake for two steps
    full[:, 1:] |= inputs_any[:, :-1]
    full[:, 2:] |= inputs_any[:, :-2]
    awake_before = np.zeros((n, steps), np.int64)
    awake_before[:, 1:] = changed[:, :-1].sum(axis=2)
    return np.where(full, n_out, awake_before)


class AwakeCounter:
    """The same count carried across a stream's chunks, one step at a time (StreamRunner)."""

    def __init__(self, n_out: int):
        self.n_out = n_out
        self.full_steps = 2  # steps left that update every neuron: two after the reset
        self.awake = 0

    def step(self, has_input: bool, changed: np.ndarray) -> int:
        """Updates at this step, given whether it has input and which neurons it changed."""
        if has_input:
            self.full_steps = 2
            return self.n_out
        done = self.n_out if self.full_steps else self.awake
        self.full_steps = max(0, self.full_steps - 1)
        self.awake = int(np.count_nonzero(changed))
        return done


def spontaneous(layers, state_bits: int, steps: int = 5000) -> list[int]:
    """Per layer, how many neurons spike without any input from the zero state (their bias alone
    drives them over threshold): such neurons never come to rest, so a network holding any costs
    more than a small constant per idle step. ``layers``: a QuantNetwork's (edgesnn dialect)."""
    out = []
    for L in layers:
        v = np.zeros(L.n_out, np.int64)
        i = np.zeros(L.n_out, np.int64) if L.current_based else None
        fired = np.zeros(L.n_out, bool)
        drive = np.broadcast_to(np.asarray(L.bias, np.int64), (L.n_out,))
        for _ in range(steps):  # the zero-input map is monotone: states settle or neurons fire
            v0 = v.copy()
            i0 = None if i is None else i.copy()
            fired |= L.neuron_step(drive, i, v, state_bits)
            if (v == v0).all() and (i is None or (i == i0).all()):
                break
        out.append(int(fired.sum()))
    return out
