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

from functools import partial
from typing import cast

import numpy as np

from edgesnn.errors import DatasetError
from edgesnn.fixedpoint import activity, fast_kernel, host_kernel, simulate_graph
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.kernels import (
    event_totals,
    exact_matmul,
    float_neuron_step,
    int8_matmul,
    pooled_events,
    synaptic_events,
)
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
from edgesnn.fixedpoint.result import SimResult
from edgesnn.ir import Conv2d, Dense, Network, is_chain, synaptic_decay

BACKENDS = ("numpy", "c", "numba", "torch")


class _IntKernel:
    """One layer of the integer contract; ``feedforward`` returns the drive x (step 2)."""

    def __init__(self, layer: QuantLayer, state_bits: int, weight_bits: int, backend: str):
        self.L, self.bits = layer, state_bits
        q = C.weight_limit(weight_bits)
        self.ff_bound = (layer.fan_in - (layer.n_out if layer.recurrent is not None else 0)) * q
        self.rec_bound = layer.n_out * q
        self.matmul = int8_matmul if backend == "torch" and layer.pool is None else exact_matmul
        wdt = np.int8 if backend == "torch" else np.int64
        self.w_t = None if layer.conv is not None else np.ascontiguousarray(layer.weight.T, dtype=wdt)
        self.r_t = None if layer.recurrent is None else np.ascontiguousarray(layer.recurrent.T)

    def feedforward(self, p: np.ndarray) -> np.ndarray:
        """The drive of the layer's pooled input events ``p`` (``pooled_events``)."""
        if self.L.conv is not None:
            dtype = np.float32 if self.ff_bound < 2**24 else np.float64  # exact: see exact_matmul
            acc = self.L.conv.apply(p, self.L.weight, dtype).astype(np.int64)
        else:
            acc = self.matmul(p, cast(np.ndarray, self.w_t), self.ff_bound)
        return C.synaptic_drive(acc, self.L.shift, self.L.bias)

    def recurrent(self, z: np.ndarray) -> np.ndarray:
        return C.synaptic_drive(exact_matmul(z, cast(np.ndarray, self.r_t), self.rec_bound), self.L.shift, 0)

    def init(self, n: int):
        zeros = np.zeros((n, self.L.n_out), np.int64)
        return [zeros.copy() if self.L.current_based else None, zeros]

    def step(self, x: np.ndarray, state: list, count_sat: bool) -> tuple[np.ndarray, int]:
        L = self.L
        i, v = state
        counted: list[int] | None = [] if count_sat else None
        z = L.neuron_step(x, i, v, self.bits, counted)
        return z, sum(counted or ())


class _FloatKernel:
    def __init__(self, layer: Dense | Conv2d):
        self.L = layer
        self.beta_syn = synaptic_decay(layer.neurons)
        self.w_t = np.ascontiguousarray(layer.weight.T) if isinstance(layer, Dense) else None
        self.r_t = None if layer.recurrent is None else np.ascontiguousarray(layer.recurrent.T)

    def feedforward(self, p: np.ndarray) -> np.ndarray:
        """The drive of the layer's pooled input events ``p``; average pooling divides here."""
        L = self.L
        if L.pool is not None and L.pool.kind == "avg":
            p = p / L.pool.window
        if isinstance(L, Conv2d):
            return L.conv.apply(p, L.weight) + L.neuron_bias
        return p.astype(np.float64) @ cast(np.ndarray, self.w_t) + L.bias

    def recurrent(self, z: np.ndarray) -> np.ndarray:
        return z.astype(np.float64) @ cast(np.ndarray, self.r_t)

    def init(self, n: int):
        zeros = np.zeros((n, self.L.n_out))
        return [zeros.copy() if self.beta_syn is not None else None, zeros]

    def step(self, acc: np.ndarray, state: list, count_sat: bool) -> tuple[np.ndarray, int]:
        return float_neuron_step(self.L.neurons, acc, state), 0


def check_inputs(inputs, n_inputs: int) -> np.ndarray:
    """Validate an input spike array (samples, timesteps, inputs) of 0/1 values."""
    arr = np.asarray(inputs)
    if arr.ndim != 3 or arr.shape[2] != n_inputs:
        raise DatasetError(f"input spikes must have shape (samples, timesteps, {n_inputs}), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DatasetError(f"input spikes are empty: shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind == "f":
        return _float_spikes(arr)
    if arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 1:  # two reductions, no temporaries
        raise DatasetError("input spikes must be 0 or 1 (binary events per timestep)")
    if arr.dtype.itemsize == 1 and arr.flags.c_contiguous:
        return arr.view(np.bool_)  # bytes of 0/1 are bools already: no copy
    return arr.astype(bool)


def _float_spikes(arr: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """Floats that are exactly 0.0 or 1.0 (NaN and 0.5 are not) as bools, a cache-sized chunk at a
    time: whole-array comparisons made three temporaries of the input's element count."""
    flat = arr.reshape(-1)
    out = np.empty(flat.shape, np.bool_)
    for i in range(0, flat.size, chunk):
        a, nz = flat[i : i + chunk], out[i : i + chunk]
        np.not_equal(a, 0, out=nz)
        if not np.array_equal(a == 1, nz):  # 1 exactly where not 0
            raise DatasetError("input spikes must be 0 or 1 (binary events per timestep)")
    return out.reshape(arr.shape)


def _loop_layer(k, s: np.ndarray, record: bool, count_sat: bool):
    """Layer-major numpy loop: one GEMM for all timesteps, then the neuron updates over time."""
    n, steps = s.shape[:2]
    n_out = k.L.n_out
    ff = k.feedforward(s.reshape(n * steps, -1)).reshape(n, steps, n_out)
    state = k.init(n)
    out = np.zeros((n, steps, n_out), bool)
    vs = np.zeros((n, steps, n_out), state[1].dtype) if record else None
    is_ = np.zeros_like(vs) if record and state[0] is not None else None
    sat_total = 0
    z = np.zeros((n, n_out), bool)
    for t in range(steps):
        x = ff[:, t]
        if k.r_t is not None:
            x = x + k.recurrent(z)
        z, sat = k.step(x, state, count_sat)
        out[:, t] = z
        sat_total += sat
        if vs is not None:
            vs[:, t] = state[1]
            if is_ is not None:
                is_[:, t] = state[0]
    return out, vs, is_, state[1], sat_total


def _run(layer_runs, inputs: np.ndarray, record: bool) -> SimResult:
    """Chain per-layer runners ``f(pooled_events, record) -> (spikes, v, i, v_last, saturations)``
    (the compiled runners take dense layers only, whose pooled events are their input spikes); a
    runner that counts the layer's synaptic events per sample itself (the C kernel) returns them
    as a sixth item."""
    n, steps = inputs.shape[:2]
    s = inputs
    synops = np.zeros(n, np.int64)
    neuron_updates = 0
    performed = np.zeros(n, np.int64)
    saturations: list[int] = []
    rec: list[dict[str, np.ndarray]] | None = [] if record else None
    for layer, run in layer_runs:
        p = pooled_events(layer, s)  # once: the runner and the event count both take it
        out, vs, is_, v_last, sat, *counted = run(p, record)
        if counted:  # the runner counted them
            synops += counted[0]
        else:
            synops += synaptic_events(layer, p)
            if layer.recurrent is not None:
                synops += event_totals(out[:, :-1]) * layer.n_out
        neuron_updates += steps * layer.n_out
        saturations.append(sat)
        if rec is not None:
            entry = {"spikes": out, "v": vs}
            if is_ is not None:
                entry["i"] = is_
            rec.append(entry)
            has: np.ndarray = np.asarray(np.asarray(p).reshape(n, steps, -1).any(axis=2))
            if layer.recurrent is not None:
                has[:, 1:] |= out[:, :-1].any(axis=2)
            performed += activity.layer_updates(has, activity.changed_of(entry), layer.n_out).sum(axis=1)
        s = out
    counts = s.sum(axis=1, dtype=np.int64)
    return SimResult(
        spikes=s,
        counts=counts,
        v_last=v_last,
        prediction=C.predict_from_counts(counts, v_last),
        synops=synops,
        neuron_updates=neuron_updates,
        saturations=saturations,
        record=rec,
        membrane_updates=performed if rec is not None else None,
    )


#: Above this many (sample x timestep x synapse) slots the compiled kernel repays numba's start-up.
NUMBA_WORK_THRESHOLD = 50_000_000
#: Above this many the C kernel (loaded in milliseconds once compiled and cached) beats numpy.
C_WORK_THRESHOLD = 2_000_000


def default_backend(qnet: QuantNetwork, samples: int, steps: int) -> str:
    """The C event-driven kernel when the host has a compiler, else numba's for large runs when
    installed, else numpy; numpy for small runs."""
    if not is_chain(qnet) or any(L.conv is not None or L.pool is not None for L in qnet.layers):
        return "numpy"  # the compiled kernels are dense chains only
    work = samples * steps * sum(L.n_in * L.n_out for L in qnet.layers)
    if work > C_WORK_THRESHOLD and host_kernel.available():
        return "c"
    return "numba" if fast_kernel.HAVE_NUMBA and work > NUMBA_WORK_THRESHOLD else "numpy"


def simulate_int(
    qnet: QuantNetwork, inputs, *, record: bool = False, count_saturation: bool = False, backend: str | None = None
) -> SimResult:
    """Run the integer contract on input spikes (samples, timesteps, inputs). The golden model.

    Backends compute identical results (tests hold them to each other and to a scalar
    reference): ``numpy`` (layer-major, exact GEMMs), ``c`` (the event-driven kernel compiled by
    the host's C compiler and cached; chosen for all but small runs), ``numba`` (the same kernel
    compiled by numba), ``torch`` (numpy with torch's int8 GEMM for the
    synaptic sums). A model in a chip dialect runs that chip's rules (``simulate_kits``, numpy);
    there ``saturations`` counts Xylo's order-dependent saturating adds (replayed in chip order).
    """
    x = check_inputs(inputs, qnet.n_inputs)
    if qnet.dialect not in ("edgesnn", "akida"):  # a chip's arithmetic: numpy loops of its own rules
        if backend not in (None, "numpy"):
            raise ValueError(f"backend {backend!r} runs the edgesnn dialect only; this model is {qnet.dialect}")
        from edgesnn.fixedpoint import simulate_kits

        return _run(simulate_kits.layer_runs(qnet), x, record)
    if not is_chain(qnet):  # a graph (ir.graph): numpy, in blocks (simulate_graph)
        if backend not in (None, "numpy"):
            raise ValueError(f"backend {backend!r} runs chains only; this model is a graph: use numpy")
        return simulate_graph.run_graph(qnet, x, integer=True, record=record, count_saturation=count_saturation)
    backend = backend or default_backend(qnet, x.shape[0], x.shape[1])
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "numba" and not fast_kernel.HAVE_NUMBA:
        raise ValueError("backend 'numba' needs numba: pip install 'edgesnn[fast]'")
    if backend == "c" and not host_kernel.available():
        raise ValueError("backend 'c' needs a C compiler (cc) on this machine")
    if backend in ("c", "numba") and any(L.conv is not None or L.pool is not None for L in qnet.layers):
        raise ValueError(
            f"backend {backend!r} runs dense layers only; this model has convolutions or pooling: use numpy"
        )
    runs = []
    for L in qnet.layers:
        if backend == "numba":
            runs.append((L, lambda s, rec, L=L: fast_kernel.run_layer(L, s, qnet.state_bits, rec)))
        elif backend == "c":
            runs.append((L, partial(_run_c, L, host_kernel.Prepared(L, qnet.state_bits), qnet.state_bits)))
        else:
            k = _IntKernel(L, qnet.state_bits, qnet.weight_bits, backend)
            runs.append((L, lambda s, rec, k=k: _loop_layer(k, s, rec, count_saturation)))
    if backend in ("c", "numba") and not record and x.shape[0] > STREAM_SAMPLES:
        return _streamed(runs, x)
    return _run(runs, x, record)


def _run_c(layer, prep, state_bits: int, s: np.ndarray, record: bool):
    """The C kernel on one batch, with the layer's tables prepared once for every batch."""
    return host_kernel.run_layer(layer, s, state_bits, record, prep=prep)


#: Compiled backends run long inputs this many samples at a time through every layer, so that a
#: hidden layer's spikes never exist for the whole input (memory, and cache-warm buffers).
STREAM_SAMPLES = 1024


def _streamed(runs, x: np.ndarray) -> SimResult:
    """``_run`` over batches of samples, joined: samples are independent (every state starts at
    zero), so the result is the one-batch result exactly."""
    parts = [_run(runs, x[i : i + STREAM_SAMPLES], False) for i in range(0, x.shape[0], STREAM_SAMPLES)]
    return SimResult(
        spikes=np.concatenate([p.spikes for p in parts]),
        counts=np.concatenate([p.counts for p in parts]),
        v_last=np.concatenate([p.v_last for p in parts]),
        prediction=np.concatenate([p.prediction for p in parts]),
        synops=np.concatenate([p.synops for p in parts]),
        neuron_updates=parts[0].neuron_updates,
        saturations=[int(sum(col)) for col in zip(*(p.saturations for p in parts))],
    )


def simulate_float(net: Network, inputs, *, record: bool = False) -> SimResult:
    """Run the float network (float64) on input spikes (samples, timesteps, inputs)."""
    x = check_inputs(inputs, net.n_inputs)
    if not is_chain(net):
        return simulate_graph.run_graph(net, x, integer=False, record=record)
    # each lambda binds its own kernel through the default argument (made once per layer, on purpose)
    runs = [(L, lambda s, rec, k=_FloatKernel(L): _loop_layer(k, s, rec, False)) for L in net.layers]  # noqa: B008
    return _run(runs, x, record)


def simulate(model: Network | QuantNetwork, inputs, *, record: bool = False) -> SimResult:
    """A float model runs in float, a quantized one in the integer contract."""
    if isinstance(model, QuantNetwork):
        return simulate_int(model, inputs, record=record)
    return simulate_float(model, inputs, record=record)


def cut_at_exit(model: Network | QuantNetwork, inputs, sim: SimResult, margin: int) -> tuple[SimResult, np.ndarray]:
    """``sim`` as it comes out when each inference stops once settled (``contract.settled``,
    margin 0: exact), and the steps each sample ran. A sample that stops early is simulated again
    over the steps it ran, so its spikes (cleared after the exit), counts, final membrane and
    synaptic events are those of that shorter run; its prediction is the leader at exit. The
    per-layer record and saturation counts, which belong to the full run, are dropped."""
    if margin < 0:
        raise ValueError(f"early exit margin must be 0 (exact) or positive, got {margin}")
    x = np.asarray(inputs)
    steps, pred = C.exit_steps(sim.spikes, margin)
    spikes, counts, v_last, synops = sim.spikes.copy(), sim.counts.copy(), sim.v_last.copy(), sim.synops.copy()
    for i, k in enumerate(steps):
        if k < x.shape[1]:
            short = simulate(model, x[i : i + 1, :k])
            spikes[i, k:] = False
            counts[i], v_last[i], synops[i] = short.counts[0], short.v_last[0], short.synops[0]
    prediction = np.where(pred < 0, sim.prediction, pred)
    cut = SimResult(
        spikes=spikes,
        counts=counts,
        v_last=v_last,
        prediction=prediction,
        synops=synops,
        neuron_updates=sim.neuron_updates,
    )
    return cut, steps
