"""The golden simulator (integer contract) and its float twin, numpy only.

Both run layer-major: a layer's feed-forward synaptic input for *all* timesteps is one exact
GEMM (the previous layer's spikes are known by then), then a short loop over time does the
neuron updates and the recurrent input. This gives the same result as step-major order,
because within a timestep a layer depends only on the spikes of the layer before it.

Exactness of the GEMM: spikes are 0/1 and weights integers, so every sum is an integer of
magnitude <= fan_in * max|w|. float32 represents all such sums exactly while that bound is
below 2**24, float64 below 2**53; ``exact_matmul`` picks the narrowest exact type. The result
is therefore independent of the BLAS used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgesnn.errors import DatasetError
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
from edgesnn.ir import Dense, Network, membrane_decay, synaptic_decay


def exact_matmul(spikes: np.ndarray, weight_t: np.ndarray, bound: int) -> np.ndarray:
    """``spikes @ weight_t`` for 0/1 spikes and integer weights, exact, as int64."""
    dtype = np.float32 if bound < 2**24 else np.float64
    out = spikes.astype(dtype, copy=False) @ weight_t.astype(dtype, copy=False)
    return out.astype(np.int64)


@dataclass
class SimResult:
    """What a simulation returns. Arrays are indexed (sample, timestep, neuron)."""

    spikes: np.ndarray  # output-layer spikes, bool (N, T, n_out)
    counts: np.ndarray  # output spike counts (N, n_out)
    v_last: np.ndarray  # output-layer membrane after the last step (N, n_out)
    prediction: np.ndarray  # (N,)
    synops: np.ndarray  # synaptic events per sample (N,)
    neuron_updates: int  # neuron updates per sample
    saturations: list[int] = field(default_factory=list)  # saturated state writes per layer
    record: list[dict[str, np.ndarray]] | None = None  # per layer: "spikes", "v", and "i" if CUBA

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.prediction == np.asarray(labels)))


class _IntKernel:
    def __init__(self, layer: QuantLayer, state_bits: int, weight_bits: int):
        self.L, self.bits = layer, state_bits
        q = C.weight_limit(weight_bits)
        self.ff_bound = layer.n_in * q
        self.w_t = np.ascontiguousarray(layer.weight.T)
        self.r_t = None if layer.recurrent is None else np.ascontiguousarray(layer.recurrent.T)
        self.rec_bound = layer.n_out * q

    def feedforward(self, s: np.ndarray) -> np.ndarray:
        return exact_matmul(s, self.w_t, self.ff_bound)

    def recurrent(self, z: np.ndarray) -> np.ndarray:
        return exact_matmul(z, self.r_t, self.rec_bound)

    def init(self, n: int):
        zeros = np.zeros((n, self.L.n_out), np.int64)
        return [zeros.copy() if self.L.current_based else None, zeros]

    def step(self, acc: np.ndarray, state: list, count_sat: bool) -> tuple[np.ndarray, int]:
        L = self.L
        i_old, v_old = state
        i, v, z = C.step_layer(
            acc, i_old, v_old, shift=L.shift, bias=L.bias, alpha_syn=L.alpha_syn, alpha_mem=L.alpha_mem,
            threshold=L.threshold, reset_subtract=L.reset == "subtract", v_reset=L.v_reset,
            state_bits=self.bits,
        )
        sat = 0
        if count_sat:
            lo, hi = C.state_limits(self.bits)
            sat = int(np.count_nonzero((v == lo) | (v == hi)))
            if i is not None:
                sat += int(np.count_nonzero((i == lo) | (i == hi)))
        state[0], state[1] = i, v
        return z, sat


class _FloatKernel:
    def __init__(self, layer: Dense):
        self.L = layer
        self.beta_mem = membrane_decay(layer.neurons)
        self.beta_syn = synaptic_decay(layer.neurons)
        self.thr = np.asarray(layer.neurons.threshold)
        self.subtract = layer.neurons.reset == "subtract"
        self.w_t = np.ascontiguousarray(layer.weight.T)
        self.r_t = None if layer.recurrent is None else np.ascontiguousarray(layer.recurrent.T)

    def feedforward(self, s: np.ndarray) -> np.ndarray:
        return s.astype(np.float64) @ self.w_t

    def recurrent(self, z: np.ndarray) -> np.ndarray:
        return z.astype(np.float64) @ self.r_t

    def init(self, n: int):
        zeros = np.zeros((n, self.L.n_out))
        return [zeros.copy() if self.beta_syn is not None else None, zeros]

    def step(self, acc: np.ndarray, state: list, count_sat: bool) -> tuple[np.ndarray, int]:
        i, v = state
        x = acc + self.L.bias
        if i is not None:
            i = self.beta_syn * i + x
            x = i
        v = self.beta_mem * v + x
        z = v > self.thr
        v = np.where(z, v - self.thr if self.subtract else self.L.neurons.v_reset, v)
        state[0], state[1] = i, v
        return z, 0


def check_inputs(inputs, n_inputs: int) -> np.ndarray:
    """Validate an input spike array (samples, timesteps, inputs) of 0/1 values."""
    arr = np.asarray(inputs)
    if arr.ndim != 3 or arr.shape[2] != n_inputs:
        raise DatasetError(
            f"input spikes must have shape (samples, timesteps, {n_inputs}), got {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DatasetError(f"input spikes are empty: shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
            raise DatasetError("input spikes must be 0 or 1 (binary events per timestep)")
        arr = arr.astype(bool)
    return arr


def _run(kernels, inputs: np.ndarray, record: bool, count_sat: bool) -> SimResult:
    n, steps = inputs.shape[:2]
    s = inputs
    synops = np.zeros(n, np.int64)
    neuron_updates = 0
    saturations, rec = [], [] if record else None
    for k in kernels:
        n_out = k.L.n_out
        ff = k.feedforward(s.reshape(n * steps, -1)).reshape(n, steps, n_out)
        state = k.init(n)
        out = np.zeros((n, steps, n_out), bool)
        if record:
            vs = np.zeros((n, steps, n_out), state[1].dtype)
            is_ = np.zeros_like(vs) if state[0] is not None else None
        sat_total = 0
        z = np.zeros((n, n_out), bool)
        for t in range(steps):
            acc = ff[:, t]
            if k.r_t is not None:
                acc = acc + k.recurrent(z)
            z, sat = k.step(acc, state, count_sat)
            out[:, t] = z
            sat_total += sat
            if record:
                vs[:, t] = state[1]
                if is_ is not None:
                    is_[:, t] = state[0]
        synops += s.sum(axis=(1, 2), dtype=np.int64) * n_out
        if k.r_t is not None:
            synops += out[:, :-1].sum(axis=(1, 2), dtype=np.int64) * n_out
        neuron_updates += steps * n_out
        saturations.append(sat_total)
        if record:
            entry = {"spikes": out, "v": vs}
            if is_ is not None:
                entry["i"] = is_
            rec.append(entry)
        s = out
        v_last = state[1]
    counts = s.sum(axis=1, dtype=np.int64)
    return SimResult(
        spikes=s, counts=counts, v_last=v_last, prediction=C.predict_from_counts(counts, v_last),
        synops=synops, neuron_updates=neuron_updates, saturations=saturations, record=rec,
    )


def simulate_int(qnet: QuantNetwork, inputs, *, record: bool = False, count_saturation: bool = False) -> SimResult:
    """Run the integer contract on input spikes (samples, timesteps, inputs). The golden model."""
    x = check_inputs(inputs, qnet.n_inputs)
    kernels = [_IntKernel(L, qnet.state_bits, qnet.weight_bits) for L in qnet.layers]
    return _run(kernels, x, record, count_saturation)


def simulate_float(net: Network, inputs, *, record: bool = False) -> SimResult:
    """Run the float network (float64) on input spikes (samples, timesteps, inputs)."""
    x = check_inputs(inputs, net.n_inputs)
    return _run([_FloatKernel(L) for L in net.layers], x, record, False)


def simulate(model: Network | QuantNetwork, inputs, *, record: bool = False) -> SimResult:
    """A float model runs in float, a quantized one in the integer contract."""
    if isinstance(model, QuantNetwork):
        return simulate_int(model, inputs, record=record)
    return simulate_float(model, inputs, record=record)
