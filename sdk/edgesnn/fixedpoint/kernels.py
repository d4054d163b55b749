"""Kernels shared by the golden simulators (``simulate`` for chains, ``simulate_graph`` for
graphs): exact integer products, pooling of input events, synaptic event counts, the float twin's
neuron update. A module below both, so neither imports the other for them."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesnn.ir import membrane_decay, synaptic_decay


def exact_matmul(spikes: np.ndarray, weight_t: np.ndarray, bound: int) -> np.ndarray:
    """``spikes @ weight_t`` for 0/1 spikes and integer weights, exact, as int64."""
    dtype = np.float32 if bound < 2**24 else np.float64
    out = spikes.astype(dtype, copy=False) @ weight_t.astype(dtype, copy=False)
    return out.astype(np.int64)


def int8_matmul(spikes: np.ndarray, weight_t_i8: np.ndarray, bound: int) -> np.ndarray:
    """The same product with torch's int8 x int8 -> int32 GEMM (VNNI on x86); also exact.

    Optional speed-up for users who have torch; the golden model does not need it.
    """
    if spikes.shape[0] <= 16:  # torch._int_mm wants more than 16 rows
        return exact_matmul(spikes, weight_t_i8, bound)
    import torch

    a = torch.from_numpy(np.ascontiguousarray(spikes).view(np.int8))
    return torch._int_mm(a, torch.from_numpy(weight_t_i8)).numpy().astype(np.int64)


def pooled_events(layer, s: np.ndarray) -> np.ndarray:
    """What a layer's weights receive from input spikes ``s`` (..., n_in): the spikes, or their
    pooling (sum: counts; max: OR). Average pooling counts here too: the 1 / window is part of
    the weights (float IR) or folded into them (integer contract)."""
    pool = layer.pool
    if pool is None:
        return s
    if pool.kind == "max":
        return pool.apply(s)
    return np.asarray(s)[..., pool.windows].sum(axis=-1, dtype=np.int64)


def fan_out(layer) -> np.ndarray:
    """Synaptic events of one event on each of a layer's weight inputs (n_syn,)."""
    if layer.conv is not None:
        return layer.conv.fan_out
    return np.full(layer.weight.shape[1], layer.n_out, np.int64)


def event_totals(p: np.ndarray) -> np.ndarray:
    """Events per sample of spikes (N, T, k): 0/1 spikes summed as bytes into uint32 (exact: a
    sample holds fewer than 2**32 of them), which is twice as fast as a bool sum; counts as int64."""
    flat = p.reshape(p.shape[0], -1)
    if flat.dtype == np.bool_ and flat.flags.c_contiguous:
        return np.add.reduce(flat.view(np.uint8), axis=1, dtype=np.uint32).astype(np.int64)
    return flat.sum(axis=1, dtype=np.int64)


def synaptic_events(edge: Any, p: np.ndarray) -> np.ndarray:
    """Synaptic events per sample of pooled input events ``p`` (N, T, k) on a layer's or a
    connection's weights (a dense edge: every event reaches every target neuron)."""
    if edge.conv is None and edge.pool is None:
        return event_totals(p) * int(edge.weight.shape[0])
    return np.einsum("ntk,k->n", np.asarray(p, np.int64), fan_out(edge))


def float_neuron_step(neurons: Any, x: np.ndarray, state: list) -> np.ndarray:
    """The float twin of the contract's neuron update (``ir.neurons``), replacing ``state``
    ([i or None, v]) by the new state; returns the spikes."""
    i, v = state
    if i is not None:
        i = synaptic_decay(neurons) * i + x
        x = i
    v = membrane_decay(neurons) * v + x
    thr = np.asarray(neurons.threshold)
    z = v > thr
    state[0] = i
    state[1] = np.where(z, v - thr if neurons.reset == "subtract" else neurons.v_reset, v)
    return z
