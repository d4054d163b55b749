"""The golden simulator's layer loops for the chip dialects (``fixedpoint.dialects``).

Each runner has the signature of the edgesnn dialect's (``simulate._loop_layer``): it takes the
layer's input events (N, T, n_in) and returns (spikes, v record, i record, final v, saturated
writes). Synaptic sums are exact GEMMs as there (``exact_matmul``); the neuron updates are the
dialect's integer rules. Spikes are counts where the chip sends several per step (Xylo's hidden
neurons), else 0/1.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from edgesnn.fixedpoint import dialects as D
from edgesnn.fixedpoint.kernels import exact_matmul
from edgesnn.fixedpoint.qnetwork import QuantLayer


def _delay(x: np.ndarray) -> np.ndarray:
    """The previous step's value at every step (zeros at the first)."""
    out = np.zeros_like(x)
    out[:, 1:] = x[:, :-1]
    return out


def _sums(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``s @ w.T`` exactly for integer event counts ``s`` (N, T, k) and integer ``w`` (m, k)."""
    n, t, k = s.shape
    bound = int(np.abs(w).sum(axis=1).max(initial=0)) * int(max(1, s.max(initial=0)))
    return exact_matmul(s.reshape(n * t, k), np.ascontiguousarray(w.T), bound).reshape(n, t, -1)


def run_xylo_layer(L: QuantLayer, index: int, last: bool, s: np.ndarray, record: bool):
    """A Xylo layer (xylosim ``XyloLayer::evolve``): per step, deliver the input (this step's for
    the first layer, the previous step's hidden counts after it) and the recurrent counts as
    ``w << shift`` saturating adds into ``i``, then ``XyloIAFNeuron::evolve``.

    The adds saturate one by one, so where a sum could leave int16 part-way their order matters:
    those entries are replayed in the chip's order (input channels ascending, then recurrent
    neurons ascending, each spike of a count in turn); elsewhere the sum is exact."""
    n, steps, _ = s.shape
    m = L.n_out
    cap = D.XYLO_MAX_INPUT_SPIKES if index == 0 else D.XYLO_MAX_SPIKES
    p = np.minimum(s.astype(np.int64), cap)
    if index > 0:
        p = _delay(p)
    w = L.weight << L.shift
    pos, neg = _sums(p, np.maximum(w, 0)), _sums(p, np.minimum(w, 0))
    r = None if L.recurrent is None else L.recurrent << L.shift
    max_spikes = D.XYLO_MAX_OUT_SPIKES if last else D.XYLO_MAX_SPIKES
    ds, dm = L.alpha_syn, L.alpha_mem
    i = np.zeros((n, m), np.int64)
    v = np.zeros((n, m), np.int64)
    z = np.zeros((n, m), np.int64)
    out = np.zeros((n, steps, m), np.uint8 if max_spikes > 1 else bool)
    vs = np.zeros((n, steps, m), np.int64) if record else None
    is_ = np.zeros((n, steps, m), np.int64) if record else None
    replays = 0
    for t in range(steps):
        a_pos, a_neg = pos[:, t], neg[:, t]
        if r is not None and z.any():
            a_pos = a_pos + z @ np.maximum(r, 0).T
            a_neg = a_neg + z @ np.minimum(r, 0).T
        ok = D.xylo_deliver(i, a_pos, a_neg)
        for b, j in np.argwhere(~ok):
            rec = (None, None) if r is None else (r[j], z[b])
            i[b, j] = D.xylo_replay(int(i[b, j]), w[j], p[b, t], *rec)
            replays += 1
        z = D.xylo_neuron(i, v, ds, dm, L.bias, L.threshold, max_spikes)
        out[:, t] = z
        if record:
            vs[:, t], is_[:, t] = v, i  # type: ignore[index]
    return out, vs, is_, v, replays


def run_loihi2_layer(L: QuantLayer, index: int, last: bool, s: np.ndarray, record: bool):
    """A Lava ``Dense`` + ``LIF`` pair (fixed_pt models): Dense delivers ``(w @ s) << weight_exp``
    one step late (its buffer), the recurrent Dense likewise, then ``PyLifModelBitAcc``."""
    n, steps, _ = s.shape
    m = L.n_out
    a_ff = _delay(_sums(s.astype(np.int64), L.weight)) << L.shift
    du, dv = int(L.alpha_syn[0]), int(L.alpha_mem[0])  # type: ignore[index]  # uniform: checked
    u = np.zeros((n, m), np.int64)
    v = np.zeros((n, m), np.int64)
    z = np.zeros((n, m), bool)
    out = np.zeros((n, steps, m), bool)
    vs = np.zeros((n, steps, m), np.int64) if record else None
    us = np.zeros((n, steps, m), np.int64) if record else None
    for t in range(steps):
        a = a_ff[:, t]
        if L.recurrent is not None and z.any():
            a = a + ((z.astype(np.int64) @ L.recurrent.T) << L.shift)
        z = D.loihi_neuron(a, u, v, du, dv, L.bias, L.threshold)
        out[:, t] = z
        if record:
            vs[:, t], us[:, t] = v, u  # type: ignore[index]
    return out, vs, us, v, 0


def run_speck_layer(L: QuantLayer, index: int, last: bool, p: np.ndarray, record: bool):
    """A Speck / DynapCNN layer as Sinabs models it (``dialects``, "speck"): ``p`` are the pooled
    input spike counts; the sums are exact in float64 (every value is far below 2**53)."""
    n, steps, _ = p.shape
    m = L.n_out
    flat = p.reshape(n * steps, -1).astype(np.float64)
    acc = L.conv.apply(flat, L.weight) if L.conv is not None else flat @ L.weight.T.astype(np.float64)
    x = acc.astype(np.int64).reshape(n, steps, m) + L.bias
    thr, low = L.threshold, cast(np.ndarray, L.v_reset)  # threshold_low (dialects: speck)
    v = np.zeros((n, m), np.int64)
    out = np.zeros((n, steps, m), np.int64)
    vs = np.zeros((n, steps, m), np.int64) if record else None
    for t in range(steps):
        v += x[:, t]
        z = np.where(v > 0, v // thr, 0)
        v -= z * thr
        np.maximum(v, low, out=v)
        out[:, t] = z
        if record:
            vs[:, t] = v  # type: ignore[index]
    return out, vs, None, v, 0


RUNNERS = {"xylo": run_xylo_layer, "loihi2": run_loihi2_layer, "speck": run_speck_layer}


def layer_runs(qnet) -> list:
    """(layer, runner) pairs for ``simulate._run``."""
    run = RUNNERS[qnet.dialect]
    last = len(qnet.layers) - 1
    return [
        (L, lambda s, rec, L=L, k=k: run(L, k, k == last, s, rec))  # noqa: B008
        for k, L in enumerate(qnet.layers)
    ]
