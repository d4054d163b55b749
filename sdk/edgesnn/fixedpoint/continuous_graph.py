"""Continuous inference of a graph (``ir.graph``): ``StreamRunner``'s chunk for a model that is
not a chain, timestep by timestep in the order of docs/fixed-point.md, "Graphs".

Every layer's state (current, membrane, last emitted spikes) and its idle-skipping count carry
from one chunk to the next as in a chain, so chunking changes nothing. Within a timestep the
layers run in index order: an edge from an earlier node reads this step's spikes, one that
closes a cycle (from the target itself or a later layer) the previous step's, which at a
chunk's first step are the last chunk's. Slower than a chain's one GEMM per layer and chunk
(each step's sums are small numpy products), and exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesnn.fixedpoint.kernels import pooled_events, synaptic_events
from edgesnn.fixedpoint.simulate_graph import edges_into, integer_arith
from edgesnn.ir import apply_gate, gate_of


def graph_chunk(qnet: Any, state: Any, x: np.ndarray, record: bool) -> dict[str, Any]:
    """Run ``x`` (T, n_inputs) bool through a graph from ``state`` (a ``StreamState``, updated in
    place); the fields of a ``ChunkResult`` but the decision rule's."""
    ar = integer_arith(qnet)
    T, n_layers = x.shape[0], len(qnet.layers)
    edges = [edges_into(qnet, li) for li in range(n_layers)]
    gates = [gate_of(qnet, li) for li in range(n_layers)]
    out = [np.zeros((T, L.n_out), bool) for L in qnet.layers]
    vs = [np.zeros((T, L.n_out), np.int64) for L in qnet.layers] if record else []
    cur = [np.zeros((T, L.n_out), np.int64) if L.current_based else None for L in qnet.layers] if record else []
    step_syn = np.zeros(T, np.int64)
    step_upd = np.zeros(T, np.int64)
    for t in range(T):
        for li, L in enumerate(qnet.layers):
            st = state.layers[li]
            acc: Any = np.zeros((1, L.n_out), np.int64)
            has_input = False
            for s, edge, back in edges[li]:
                if s < 0:
                    sp = x[t : t + 1]
                elif back:
                    sp = out[s][t - 1 : t] if t > 0 else state.layers[s][2]
                else:
                    sp = out[s][t : t + 1]
                p = np.asarray(pooled_events(edge, sp)).reshape(1, -1)
                if not p.any():
                    continue  # no events: no sum, no synaptic events (exact either way)
                has_input = True
                acc = acc + ar.acc(edge, p)
                step_syn[t] += int(synaptic_events(edge, p.reshape(1, 1, -1))[0])
            i0 = None if st[0] is None else st[0].copy()
            v0 = st[1].copy()
            z = np.asarray(ar.step(L, ar.drive(L, acc), st, None), bool)
            changed = (st[1] != v0) | z  # idle skipping follows the neurons' own spikes
            if i0 is not None:
                changed |= st[0] != i0
            step_upd[t] += state.awake[li].step(has_input, changed)
            g = gates[li]
            out[li][t] = apply_gate(g.op, z[0], out[g.source][t]) if g is not None else z[0]
            if record:
                vs[li][t] = st[1][0]
                c = cur[li]
                if c is not None:
                    c[t] = st[0][0]
    for li in range(n_layers):
        if T:
            state.layers[li][2] = out[li][T - 1 : T].copy()
    rec = None
    if record:
        rec = [{"spikes": o, "v": v, **({"i": c} if c is not None else {})} for o, v, c in zip(out, vs, cur)]
    return {
        "spikes": out[-1],
        "synops": int(step_syn.sum()),
        "neuron_updates": int(step_upd.sum()),
        "record": rec,
        "per_step_synops": step_syn if record else None,
        "per_step_updates": step_upd if record else None,
        "layer_spikes": [int(o.sum()) for o in out],
    }
