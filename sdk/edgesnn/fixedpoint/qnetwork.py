"""The quantized network: integer tables and parameters of the contract, plus its content hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np

from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint import dialects
from edgesnn.ir.geometry import ConvGeometry, Pool2d
from edgesnn.ir.graph import EdgeShape, SpikeGate, check_graph, connection_shapes, is_chain


def _frozen_int(name: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=True)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
    arr.flags.writeable = False
    return arr


def _check_within(name: str, arr: np.ndarray, lo: int, hi: int) -> None:
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(idx)} = {int(arr[idx])} is outside [{lo}, {hi}]")


@dataclass(frozen=True, eq=False)
class QuantLayer:
    """One spiking layer in the integer contract (docs/fixed-point.md, "Timestep")::

        p    = pool(s_in)                      (sum: counts per window; max: OR; none: s_in)
        acc  = sum(weight[j, k] * p[k]) + sum(recurrent[j, k] for k spiked at t-1)      dense
        acc  = conv(p; weight)[j]                                                       conv
        x    = acc * 2**shift + bias
        i    = sat(rshift_round_half_up(i * alpha_syn, 16) + x)     (current-based only)
        v    = sat(rshift_round_half_up(v * alpha_mem, 16) + (i or x))
        z    = v > threshold
        v    = sat(v - threshold) | v_reset   where z

    ``scale`` (float, per neuron) is informational: ``v * scale / 2**shift`` is the float-model
    membrane. It is not part of the hash. A convolutional layer (``conv`` set) has a 4-d
    ``weight`` (C_out, C_in/groups, kh, kw) and per-neuron parameters in (channel, row, column)
    order; the quantizer makes them equal within a channel.
    """

    weight: np.ndarray
    bias: np.ndarray
    shift: int
    alpha_mem: np.ndarray
    threshold: np.ndarray
    reset: str = "subtract"
    v_reset: np.ndarray | None = None
    alpha_syn: np.ndarray | None = None
    recurrent: np.ndarray | None = None
    scale: np.ndarray | None = None
    conv: ConvGeometry | None = None
    pool: Pool2d | None = None

    def __post_init__(self):
        w = _frozen_int("weight", self.weight)
        if self.conv is None and w.ndim != 2:
            raise ValueError(f"weight must be 2-d, got shape {w.shape}")
        if self.conv is not None:
            if w.shape != self.conv.weight_shape:
                raise ValueError(f"conv weight has shape {w.shape}, expected {self.conv.weight_shape}")
            if self.recurrent is not None:
                raise ValueError("convolutional layers have no recurrent weights")
        n = w.shape[0] if self.conv is None else self.conv.n_out
        n_syn = w.shape[1] if self.conv is None else self.conv.n_in
        if self.pool is not None:
            if self.pool.kind not in ("sum", "max"):
                raise ValueError(
                    f"pooling {self.pool.kind!r} is not in the integer contract (sum or max; avg is folded)"
                )
            if self.pool.n_out != n_syn:
                raise ValueError(f"pooling gives {self.pool.n_out} values but the weights take {n_syn}")
        object.__setattr__(self, "weight", w)
        for name in ("bias", "alpha_mem", "threshold"):
            object.__setattr__(self, name, _frozen_int(name, getattr(self, name), (n,)))
        vr = np.zeros(n, np.int64) if self.v_reset is None else self.v_reset
        object.__setattr__(self, "v_reset", _frozen_int("v_reset", vr, (n,)))
        if self.alpha_syn is not None:
            object.__setattr__(self, "alpha_syn", _frozen_int("alpha_syn", self.alpha_syn, (n,)))
        if self.recurrent is not None:
            object.__setattr__(self, "recurrent", _frozen_int("recurrent", self.recurrent, (n, n)))
        if self.scale is not None:
            s = np.array(self.scale, dtype=np.float64)
            s.flags.writeable = False
            object.__setattr__(self, "scale", s)
        if not (0 <= int(self.shift) <= C.MAX_SHIFT):
            raise ValueError(f"shift {self.shift!r} is outside [0, {C.MAX_SHIFT}]")
        object.__setattr__(self, "shift", int(self.shift))
        if self.reset not in ("subtract", "to_value"):
            raise ValueError(f"reset must be 'subtract' or 'to_value', got {self.reset!r}")
        for name in ("alpha_mem", "alpha_syn"):
            if getattr(self, name) is not None:
                _check_within(name, getattr(self, name), 0, C.DECAY_ONE)
        if (self.threshold <= 0).any():
            i = int(np.argmax(self.threshold <= 0))
            raise ValueError(f"threshold[{i}] = {int(self.threshold[i])} must be > 0")

    @property
    def n_syn(self) -> int:
        """Inputs of the weights (after pooling)."""
        return int(self.weight.shape[1]) if self.conv is None else self.conv.n_in

    @property
    def n_in(self) -> int:
        """Spikes the layer receives (before pooling)."""
        return self.pool.n_in if self.pool is not None else self.n_syn

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0]) if self.conv is None else self.conv.n_out

    @property
    def in_shape(self) -> tuple[int, ...]:
        if self.pool is not None:
            return self.pool.in_shape
        return self.conv.in_shape if self.conv is not None else (self.n_syn,)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.conv.out_shape if self.conv is not None else (self.n_out,)

    @property
    def fan_in(self) -> int:
        """Most weights that can add into one neuron's accumulator in one step (a sum-pooled
        input counts once per spike of its window)."""
        per = self.conv.weight_shape[1] * self.conv.kernel[0] * self.conv.kernel[1] if self.conv else self.n_syn
        if self.pool is not None:
            per *= self.pool.count
        return per + (self.n_out if self.recurrent is not None else 0)

    @property
    def current_based(self) -> bool:
        return self.alpha_syn is not None

    def neuron_step(
        self, x: np.ndarray, i: np.ndarray | None, v: np.ndarray, state_bits: int, saturations: list[int] | None = None
    ) -> np.ndarray:
        """Steps 3-6 of the contract for this layer's neurons (``contract.neuron_step`` with this
        layer's parameters), updating ``i`` and ``v`` in place; returns the spikes."""
        return C.neuron_step(
            x,
            i,
            v,
            alpha_syn=self.alpha_syn,
            alpha_mem=self.alpha_mem,
            threshold=self.threshold,
            reset_subtract=self.reset == "subtract",
            v_reset=cast(np.ndarray, self.v_reset),  # filled in by __post_init__
            state_bits=state_bits,
            saturations=saturations,
        )


@dataclass(frozen=True, eq=False)
class QuantConnection(EdgeShape):
    """A connection of the graph in integers (``ir.graph.Connection``): its accumulator terms join
    the target's ``acc`` (docs/fixed-point.md, "Graphs"), scaled by the target's one ``shift``::

        acc_target += sum(weight[j, k] * p(s_source)[k])     (s_source at t, or t-1 for a back-edge)
    """

    source: int
    target: int
    weight: np.ndarray
    conv: ConvGeometry | None = None
    pool: Pool2d | None = None

    def __post_init__(self):
        object.__setattr__(self, "weight", _frozen_int("connection weight", self.weight))
        for name in ("source", "target"):
            object.__setattr__(self, name, int(getattr(self, name)))
        connection_shapes(self.weight, self.conv, self.pool)
        if self.pool is not None and self.pool.kind not in ("sum", "max"):
            raise ValueError(f"pooling {self.pool.kind!r} is not in the integer contract (sum or max; avg is folded)")

    def as_dict(self) -> dict:
        """Its structure (not its weights) for hashes and files."""
        return {
            "source": self.source,
            "target": self.target,
            "shape": list(self.weight.shape),
            **({"conv": self.conv.as_dict()} if self.conv is not None else {}),
            **({"pool": self.pool.as_dict()} if self.pool is not None else {}),
        }


@dataclass(frozen=True, eq=False)
class QuantNetwork:
    """A network in the integer contract. Bit widths are parameters, checked against every table."""

    n_inputs: int
    layers: tuple[QuantLayer, ...]
    weight_bits: int = 8
    state_bits: int = 24
    readout: str = "spike_count"
    input_spec: dict[str, Any] = field(default_factory=dict)
    name: str = "network"
    contract_version: int = C.CONTRACT_VERSION
    #: the arithmetic variant (``fixedpoint.dialects``): ``edgesnn`` for MCU firmware, or a chip's
    dialect: str = "edgesnn"
    #: a graph (``ir.graph``): each layer's source (empty: a chain) and more connections
    sources: tuple[int, ...] = ()
    connections: tuple[QuantConnection, ...] = ()
    #: SEW OR / IAND gates on layers' spikes (``ir.graph.SpikeGate``), ordered by layer
    gates: tuple[SpikeGate, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "gates", tuple(sorted(self.gates, key=lambda g: g.layer)))
        object.__setattr__(self, "sources", tuple(int(s) for s in self.sources))
        object.__setattr__(self, "connections", tuple(self.connections))
        if self.contract_version != C.CONTRACT_VERSION:
            raise ValueError(
                f"contract version {self.contract_version} is not supported (this edgesnn implements "
                f"{C.CONTRACT_VERSION}); re-quantize the float model"
            )
        lo, hi = C.WEIGHT_BITS_RANGE
        if not lo <= self.weight_bits <= hi:
            raise ValueError(f"weight_bits {self.weight_bits!r} is outside [{lo}, {hi}]")
        lo, hi = C.STATE_BITS_RANGE
        if not lo <= self.state_bits <= hi:
            raise ValueError(f"state_bits {self.state_bits!r} is outside [{lo}, {hi}]")
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        q = C.weight_limit(self.weight_bits)
        s_lo, s_hi = C.state_limits(self.state_bits)
        for ci, c in enumerate(self.connections):
            if not isinstance(c, QuantConnection):
                raise ValueError(f"connection {ci} has unsupported type {type(c).__name__}")
        sources = check_graph(int(self.n_inputs), self.layers, self.sources, self.connections, self.gates)
        object.__setattr__(self, "sources", sources)
        for li, layer in enumerate(self.layers):
            fan_in = self.fan_in(li)
            if fan_in * (q + 1) > C.ACC_LIMIT:
                raise ValueError(f"layer {li}: fan-in {fan_in} can overflow the int32 accumulator")
            for name in ("weight", "recurrent"):
                arr = getattr(layer, name)
                if arr is not None:  # Speck's weights use -128 too (dialects.check_network)
                    _check_within(f"layer {li} {name}", arr, -q - (self.dialect == "speck"), q)
            for name in ("bias", "threshold", "v_reset"):
                _check_within(f"layer {li} {name}", getattr(layer, name), s_lo, s_hi)
        for ci, c in enumerate(self.connections):
            _check_within(f"connection {ci} weight", c.weight, -q, q)
        if not self.is_chain and self.dialect != "edgesnn":
            raise ValueError(
                f"the {self.dialect} dialect takes chains only; this model is a graph (connections or gates)"
            )
        dialects.check_network(self)
        fe = self.front_end
        if fe is not None and fe.channels != self.n_inputs:
            raise ValueError(f"the audio front end has {fe.channels} channels but the network {self.n_inputs} inputs")
        rule = self.decision
        if rule is not None and rule.background >= self.n_outputs:
            raise ValueError(f"decision rule background {rule.background} is not an output (of {self.n_outputs})")

    @property
    def is_chain(self) -> bool:
        """Every layer reads the one before it and nothing else."""
        return is_chain(self)

    def fan_in(self, li: int) -> int:
        """Most weights that can add into one neuron of layer ``li`` in one step, over every
        connection into it (the int32 accumulator bound)."""
        return self.layers[li].fan_in + sum(c.fan_in for c in self.connections if c.target == li)

    @property
    def decision(self):
        """The decision rule of a stream model (``fixedpoint.decision.DecisionRule``), or None."""
        from edgesnn.fixedpoint.decision import DecisionRule

        d = self.input_spec.get("decision")
        return None if d is None else DecisionRule(**d)

    @cached_property
    def front_end(self):
        """The audio front end that makes this network's input spikes (``fixedpoint.audio``), or
        None: part of the model, as it runs on the device too."""
        from edgesnn.fixedpoint.audio import AudioFrontEnd

        d = self.input_spec.get("front_end")
        return None if d is None else AudioFrontEnd.from_dict(d)

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @cached_property
    def content_hash(self) -> str:
        """sha256 over everything the firmware computes with (not names or float scales)."""
        h = hashlib.sha256()
        head = {
            "contract": self.contract_version,
            "n_inputs": int(self.n_inputs),
            "weight_bits": self.weight_bits,
            "state_bits": self.state_bits,
            "readout": self.readout,
            # only a chip dialect adds a key: hashes of edgesnn-dialect models stay as they were
            **({"dialect": self.dialect} if self.dialect != "edgesnn" else {}),
            # a stream model's decision rule runs on the device too (fixedpoint.decision)
            **({"decision": self.decision.as_dict()} if self.decision is not None else {}),
            # an audio model's front end too (fixedpoint.audio): its integers, not its design notes
            **({"front_end": self.front_end.as_dict(design=False)} if self.front_end is not None else {}),
            # a graph's shape: only a graph adds these keys, so a chain's hash stays as it was
            **({"sources": list(self.sources)} if self.sources else {}),
            **({"connections": [c.as_dict() for c in self.connections]} if self.connections else {}),
            **({"gates": [g.as_dict() for g in self.gates]} if self.gates else {}),
            "layers": [
                {
                    "shift": L.shift,
                    "reset": L.reset,
                    "cuba": L.current_based,
                    "rec": L.recurrent is not None,
                    "shape": list(L.weight.shape),
                    **({"conv": L.conv.as_dict()} if L.conv is not None else {}),
                    **({"pool": L.pool.as_dict()} if L.pool is not None else {}),
                }
                for L in self.layers
            ],
        }
        h.update(json.dumps(head, sort_keys=True).encode())
        for L in self.layers:
            for arr in (L.weight, L.recurrent, L.bias, L.alpha_syn, L.alpha_mem, L.threshold, L.v_reset):
                if arr is not None:
                    h.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
        for c in self.connections:
            h.update(np.ascontiguousarray(c.weight, dtype="<i8").tobytes())
        return h.hexdigest()

    @property
    def hash32(self) -> int:
        """The 32-bit id the firmware reports: the first 4 bytes of the hash, big-endian."""
        return int(self.content_hash[:8], 16)
