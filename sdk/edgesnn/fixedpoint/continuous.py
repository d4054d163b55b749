"""Continuous inference: the golden model over a whole recording, with no resets.

A stream runs as chunks of timesteps; every state (each layer's current, membrane and last
spikes, and the decision rule's scores and cool-down) carries from one chunk to the next, so
the chunking never changes a result: running a recording in one chunk or in many gives the
same spikes and detections bit for bit (tested). Each chunk's synaptic input is one exact GEMM
per layer (as ``simulate``), then the neuron updates run step by step.

Counters: timesteps are counted in int64 here; the device counts them in uint32 (2^32 steps
of 10 ms: 497 days) and synaptic events per reply in uint32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from edgesnn.fixedpoint import decision as D
from edgesnn.fixedpoint.activity import AwakeCounter
from edgesnn.fixedpoint.continuous_graph import graph_chunk
from edgesnn.fixedpoint.kernels import fan_out, pooled_events
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.fixedpoint.simulate import _IntKernel


@dataclass
class StreamState:
    """Everything a stream carries between chunks."""

    layers: list[list]  # per layer: [i or None, v, last spikes (1, n_out) bool]
    decision: D.DecisionState | None
    step: int = 0  # timesteps run so far
    awake: list[AwakeCounter] = field(default_factory=list)  # idle skipping's count, per layer

    @classmethod
    def zeros(cls, qnet: QuantNetwork, rule: D.DecisionRule | None) -> StreamState:
        layers = []
        for L in qnet.layers:
            z = np.zeros((1, L.n_out), np.int64)
            layers.append([z.copy() if L.current_based else None, z.copy(), np.zeros((1, L.n_out), bool)])
        decision = D.DecisionState.zeros(qnet.n_outputs) if rule else None
        return cls(layers, decision, 0, [AwakeCounter(L.n_out) for L in qnet.layers])


@dataclass
class ChunkResult:
    spikes: np.ndarray  # output spikes (T, n_out) bool
    synops: int
    neuron_updates: int  # performed, as the C runtime's idle skipping does (fixedpoint/activity.py)
    detect_steps: np.ndarray  # absolute timesteps of detections
    detect_classes: np.ndarray
    record: list[dict[str, np.ndarray]] | None = None  # per layer "v", "i", "spikes" (T, n)
    per_step_synops: np.ndarray | None = None  # (T,) when record
    per_step_updates: np.ndarray | None = None  # (T,) neuron updates performed, when record
    layer_spikes: list[int] = field(default_factory=list)  # spikes per layer in the chunk


class StreamRunner:
    """The golden model run chunk by chunk over one recording (module docstring)."""

    def __init__(self, qnet: QuantNetwork, rule: D.DecisionRule | None = None):
        if qnet.dialect not in ("edgesnn",):
            raise ValueError(f"continuous inference runs the edgesnn dialect; this model is {qnet.dialect}")
        self.qnet, self.rule = qnet, rule
        # a chain's kernels; a graph runs step by step in continuous_graph and needs none
        chain = qnet.is_chain
        self.kernels = [_IntKernel(L, qnet.state_bits, qnet.weight_bits, "numpy") for L in qnet.layers] if chain else []
        self.state = StreamState.zeros(qnet, rule)

    def run(self, x: np.ndarray, record: bool = False) -> ChunkResult:
        """The next ``len(x)`` timesteps (x: (T, n_inputs) 0/1)."""
        x = np.asarray(x, bool)
        if x.ndim != 2 or x.shape[1] != self.qnet.n_inputs:
            raise ValueError(f"a stream chunk must have shape (timesteps, {self.qnet.n_inputs}), got {x.shape}")
        if not self.qnet.is_chain:  # a graph: step by step (continuous_graph)
            return self._finish(graph_chunk(self.qnet, self.state, x, record), x.shape[0])
        T = x.shape[0]
        s = x
        synops = 0
        step_upd = np.zeros(T, np.int64)
        step_syn = np.zeros(T, np.int64) if record else None
        rec: list[dict[str, np.ndarray]] | None = [] if record else None
        layer_spikes = []
        for k, st, awake in zip(self.kernels, self.state.layers, self.state.awake):
            L = k.L
            p = pooled_events(L, s)
            has_ev: np.ndarray = np.asarray(np.asarray(p).reshape(T, -1).any(axis=1))
            ff = k.feedforward(p.reshape(T, -1))
            ev = p.reshape(T, -1).astype(np.int64) @ fan_out(L)
            out = np.zeros((T, L.n_out), bool)
            vs = np.zeros((T, L.n_out), np.int64) if record else None
            is_ = np.zeros((T, L.n_out), np.int64) if record and L.current_based else None
            z = st[2]
            rec_ev = np.zeros(T, np.int64)
            for t in range(T):
                drive = ff[t : t + 1]
                if k.r_t is not None:
                    drive = drive + k.recurrent(z)
                    rec_ev[t] = int(z.sum()) * L.n_out
                has_input = bool(has_ev[t]) or (k.r_t is not None and bool(z.any()))
                i0 = None if st[0] is None else st[0].copy()
                v0 = st[1].copy()
                z, _ = k.step(drive, st[:2], False)  # i and v are updated in place
                changed = (st[1] != v0) | z
                if i0 is not None:
                    changed |= st[0] != i0
                step_upd[t] += awake.step(has_input, changed)
                out[t] = z[0]
                if vs is not None:
                    vs[t] = st[1][0]
                    if is_ is not None:
                        is_[t] = st[0][0]
            st[2] = z
            layer_spikes.append(int(out.sum()))
            synops += int(ev.sum() + rec_ev.sum())
            if step_syn is not None:
                step_syn += ev + rec_ev
            if rec is not None:
                entry: dict[str, np.ndarray] = {"spikes": out, "v": cast(np.ndarray, vs)}
                if is_ is not None:
                    entry["i"] = is_
                rec.append(entry)
            s = out
        return self._finish(
            {
                "spikes": s,
                "synops": synops,
                "neuron_updates": int(step_upd.sum()),
                "record": rec,
                "per_step_synops": step_syn,
                "per_step_updates": step_upd if record else None,
                "layer_spikes": layer_spikes,
            },
            T,
        )

    def _finish(self, fields: dict, T: int) -> ChunkResult:
        """The decision rule on the chunk's output spikes, and the step count."""
        steps = classes = np.zeros(0, np.int64)
        if self.rule is not None:
            assert self.state.decision is not None
            steps, classes, self.state.decision = D.run(self.rule, fields["spikes"], self.state.decision)
            steps = steps + self.state.step
        self.state.step += T
        return ChunkResult(detect_steps=steps, detect_classes=classes, **fields)
