"""The golden simulator for graphs (``ir.graph``), integer and float, numpy only.

Order of evaluation within a timestep (docs/fixed-point.md, "Graphs"): layers in index order; a
connection from an earlier layer or the input reads that source's spikes of the same timestep, a
connection that closes a cycle (from the target itself or a later layer) its spikes of the previous
timestep. A population's accumulator is the sum of every connection's terms, then one shift.
A gated layer (``ir.graph.SpikeGate``) emits OR / IAND of its neurons' spikes and its gate
source's spikes of the same step: every reader and the record see the gated spikes; idle
skipping follows the neurons' own.

Layers run in *blocks*: a block is the smallest run of consecutive layers that no back-edge leaves
(a back-edge from layer s to an earlier layer t joins t … s). A block's input from outside it is
known for all timesteps before it runs, so it is one exact GEMM per connection; inside a block the
loop goes timestep by timestep. A chain is one block per layer, the order ``simulate`` uses.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from edgesnn.fixedpoint import activity
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.kernels import exact_matmul, float_neuron_step, pooled_events, synaptic_events
from edgesnn.fixedpoint.result import SimResult
from edgesnn.ir import apply_gate, gate_of, incoming, synaptic_decay


def blocks(net: Any) -> list[tuple[int, int]]:
    """(first, last) layer of each block, in order."""
    reach = list(range(len(net.layers)))  # the furthest layer a back-edge into l comes from
    for c in net.connections:
        if c.source > c.target:
            reach[c.target] = max(reach[c.target], c.source)
    out, a = [], 0
    while a < len(net.layers):
        b, i = reach[a], a
        while i <= b:
            b, i = max(b, reach[i]), i + 1
        out.append((a, b))
        a = b + 1
    return out


class _Arith:
    """The arithmetic of one model: integer (the contract) or float (the float twin)."""

    def __init__(self, net: Any, integer: bool):
        self.net, self.integer = net, integer
        self.q = C.weight_limit(net.weight_bits) if integer else 0

    def acc(self, edge: Any, p: np.ndarray) -> np.ndarray:
        """An edge's synaptic sum of pooled events ``p`` (B, k): exact int64, or float64."""
        if self.integer:
            bound = edge.fan_in * self.q
            if edge.conv is not None:
                dtype = np.float32 if bound < 2**24 else np.float64  # exact: see exact_matmul
                return edge.conv.apply(p, edge.weight, dtype).astype(np.int64)
            return exact_matmul(p, edge.weight.T, bound)
        if edge.pool is not None and edge.pool.kind == "avg":
            p = p / edge.pool.window
        if edge.conv is not None:
            return edge.conv.apply(p, edge.weight)
        return p.astype(np.float64) @ np.asarray(edge.weight).T

    def drive(self, layer: Any, acc) -> np.ndarray:
        if self.integer:
            return C.synaptic_drive(np.asarray(acc, np.int64), layer.shift, layer.bias)
        return acc + layer.neuron_bias

    def init(self, layer: Any, n: int) -> list:
        z = np.zeros((n, layer.n_out), np.int64 if self.integer else np.float64)
        cuba = layer.current_based if self.integer else synaptic_decay(layer.neurons) is not None
        return [z.copy() if cuba else None, z]

    def step(self, layer: Any, x: np.ndarray, state: list, counted: list[int] | None) -> np.ndarray:
        if self.integer:
            return layer.neuron_step(x, state[0], state[1], self.net.state_bits, counted)
        return float_neuron_step(layer.neurons, x, state)


def edges_into(net: Any, li: int) -> list[tuple[int, Any, bool]]:
    """(source, edge, reads the previous step) of every edge into layer ``li``: ``incoming``'s,
    then its own recurrent weight as an edge from itself."""
    out = [(s, edge, s >= li) for s, edge in incoming(net, li)]
    if net.layers[li].recurrent is not None:
        out.append((li, Recurrent(net.layers[li].recurrent), True))
    return out


def run_graph(net: Any, x: np.ndarray, *, integer: bool, record: bool = False, count_saturation: bool = False):
    """Simulate a graph on checked input spikes ``x`` (N, T, n_inputs); a ``SimResult``."""
    ar = _Arith(net, integer)
    n, steps = x.shape[:2]
    n_layers = len(net.layers)
    spikes: list[np.ndarray | None] = [None] * n_layers
    synops = np.zeros(n, np.int64)
    performed = np.zeros(n, np.int64)
    saturations = [0] * n_layers
    rec: list[dict[str, np.ndarray]] | None = [{} for _ in range(n_layers)] if record else None
    has_input = [np.zeros((n, steps), bool) for _ in range(n_layers)]
    v_last = None

    def src(s: int) -> np.ndarray:
        return x if s < 0 else spikes[s]  # type: ignore[return-value]

    for a, b in blocks(net):
        inside = range(a, b + 1)
        # per layer: its drive from outside the block (all timesteps), and the edges run step by step
        pre: dict[int, np.ndarray | None] = {}
        late: dict[int, list[tuple[int, Any, bool]]] = {}
        for li in inside:
            total = None
            late[li] = []
            for s, edge, back in edges_into(net, li):
                if s < a:  # known for every timestep: one GEMM
                    p = pooled_events(edge, src(s))
                    whole = ar.acc(edge, p.reshape(n * steps, -1)).reshape(n, steps, -1)
                    total = whole if total is None else total + whole
                    synops += synaptic_events(edge, np.asarray(p).reshape(n, steps, -1))
                    has_input[li] |= np.asarray(p).reshape(n, steps, -1).any(axis=2)
                else:
                    late[li].append((s, edge, back))
            pre[li] = total
        state = {li: ar.init(net.layers[li], n) for li in inside}
        gate = {li: gate_of(net, li) for li in inside}
        own = {li: np.zeros((n, steps, net.layers[li].n_out), bool) for li in inside if gate[li] is not None}
        for li in inside:
            spikes[li] = np.zeros((n, steps, net.layers[li].n_out), bool)
            if rec is not None:
                rec[li]["v"] = np.zeros((n, steps, net.layers[li].n_out), state[li][1].dtype)
                if state[li][0] is not None:
                    rec[li]["i"] = np.zeros_like(rec[li]["v"])
        for t in range(steps):
            for li in inside:
                L = net.layers[li]
                p_li = pre[li]
                acc: Any = p_li[:, t] if p_li is not None else 0
                for s, edge, back in late[li]:
                    if back and t == 0:
                        continue  # the previous step's spikes are zero
                    sp = src(s)[:, t - 1 if back else t]
                    p = pooled_events(edge, sp)
                    acc = acc + ar.acc(edge, np.asarray(p).reshape(n, -1))
                    synops += synaptic_events(edge, np.asarray(p).reshape(n, 1, -1))
                    has_input[li][:, t] |= np.asarray(p).reshape(n, -1).any(axis=1)
                counted: list[int] | None = [] if count_saturation else None
                xx = ar.drive(L, np.broadcast_to(acc, (n, L.n_out)))
                z = ar.step(L, xx, state[li], counted)
                g = gate[li]
                if g is not None:  # its source is an earlier layer: this step's spikes are there
                    own[li][:, t] = z
                    z = apply_gate(g.op, np.asarray(z, bool), cast(np.ndarray, spikes[g.source])[:, t])
                cast(np.ndarray, spikes[li])[:, t] = z
                saturations[li] += sum(counted or ())
                if rec is not None:
                    rec[li]["v"][:, t] = state[li][1]
                    if state[li][0] is not None:
                        rec[li]["i"][:, t] = state[li][0]
        for li in inside:
            if rec is not None:
                rec[li]["spikes"] = spikes[li]  # type: ignore[assignment]
                neurons = {**rec[li], "spikes": own[li]} if li in own else rec[li]  # rest: the neurons' own
                performed += activity.layer_updates(
                    has_input[li], activity.changed_of(neurons), net.layers[li].n_out
                ).sum(axis=1)
            if li == n_layers - 1:
                v_last = state[li][1]
    out = cast(np.ndarray, spikes[-1])  # every layer runs in some block
    v_last = cast(np.ndarray, v_last)
    counts = out.sum(axis=1, dtype=np.int64)
    return SimResult(
        spikes=out,
        counts=counts,
        v_last=v_last,
        prediction=C.predict_from_counts(counts, v_last),
        synops=synops,
        neuron_updates=steps * sum(L.n_out for L in net.layers),
        saturations=saturations,
        record=rec,
        membrane_updates=performed if rec is not None else None,
    )


class Recurrent:
    """A layer's own recurrent weight as an edge from the layer to itself (previous step)."""

    conv = None
    pool = None

    def __init__(self, weight: np.ndarray):
        self.weight = weight
        self.fan_in = int(weight.shape[1])


def integer_arith(net: Any) -> _Arith:
    """The contract's arithmetic for ``net`` (continuous_graph runs it step by step)."""
    return _Arith(net, True)
