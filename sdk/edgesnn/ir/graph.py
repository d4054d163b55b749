"""Graphs of populations: each layer's own input, extra connections, and their validation.

A network is a directed graph. Its nodes are the network input (index -1) and the layers
(populations, 0 … L-1, in evaluation order; the last one is the readout). Its edges are

* each layer's own connection (its ``weight``, ``conv``, ``pool``), from ``sources[l]``, which
  is ``l - 1`` in a chain;
* ``Connection`` records: more connections into a layer, from the input or any layer.

A population sums the synaptic input of every connection entering it (NIR's meaning of several
edges into one node; a spike-element-wise ADD of two populations, as in SEW-ResNet, is the same
thing: one connection from each). The non-linear SEW functions are ``SpikeGate`` records: the
spikes a gated layer emits are ``OR`` or ``IAND`` of its neurons' spikes and an earlier layer's.
An edge from an earlier layer (or the input) reads spikes of the
same timestep; an edge whose source is the target itself or a later layer closes a cycle and reads
the previous timestep's spikes, as a recurrent weight does.

The same rules hold for the float IR and the integer contract: both call ``check_graph``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgesnn.ir._arrays import check_finite
from edgesnn.ir.geometry import ConvGeometry, Pool2d


class _Shaped(Protocol):
    @property
    def n_in(self) -> int: ...
    @property
    def n_out(self) -> int: ...
    @property
    def in_shape(self) -> tuple[int, ...]: ...
    @property
    def out_shape(self) -> tuple[int, ...]: ...


def connection_shapes(weight: np.ndarray, conv: ConvGeometry | None, pool: Pool2d | None) -> tuple[int, int]:
    """(n_syn, n_out) of a connection's weights, checking them against its geometry."""
    if conv is not None:
        if weight.shape != conv.weight_shape:
            raise ValueError(f"conv weight has shape {weight.shape}, expected {conv.weight_shape}")
        n_syn, n_out = conv.n_in, conv.n_out
    else:
        if weight.ndim != 2:
            raise ValueError(f"weight must be 2-d, got shape {weight.shape}")
        n_syn, n_out = int(weight.shape[1]), int(weight.shape[0])
    if pool is not None and pool.n_out != n_syn:
        raise ValueError(f"pooling gives {pool.n_out} values ({pool.out_shape}) but the weights take {n_syn}")
    return n_syn, n_out


class EdgeShape:
    """Shape properties shared by ``Connection`` and its integer twin ``QuantConnection``: both
    hold ``source``, ``target``, ``weight``, ``conv`` and ``pool``."""

    source: int
    target: int
    weight: np.ndarray
    conv: ConvGeometry | None
    pool: Pool2d | None

    recurrent = None  # a connection's own weights only; for code shared with layers

    @property
    def n_syn(self) -> int:
        return connection_shapes(self.weight, self.conv, self.pool)[0]

    @property
    def n_out(self) -> int:
        return connection_shapes(self.weight, self.conv, self.pool)[1]

    @property
    def n_in(self) -> int:
        return self.pool.n_in if self.pool is not None else self.n_syn

    @property
    def in_shape(self) -> tuple[int, ...]:
        if self.pool is not None:
            return self.pool.in_shape
        return self.conv.in_shape if self.conv is not None else (self.n_syn,)

    @property
    def back(self) -> bool:
        """True when it reads the previous timestep (its source is the target or a later layer)."""
        return self.source >= self.target

    @property
    def fan_in(self) -> int:
        """Most of its weights that add into one accumulator in one step (a sum-pooled input
        counts once per spike of its window)."""
        conv = self.conv
        per = conv.weight_shape[1] * conv.kernel[0] * conv.kernel[1] if conv is not None else self.n_syn
        return per * (self.pool.count if self.pool is not None else 1)


@dataclass(frozen=True, eq=False)
class Connection(EdgeShape):
    """One more connection into population ``target``, from ``source`` (-1: the network input)::

        x_target[t] += weight @ p(s_source[t])        source <  target  (same timestep)
        x_target[t] += weight @ p(s_source[t - 1])    source >= target  (closes a cycle; s[-1] = 0)

    ``weight`` is (n_target, n_syn), or a convolution's (C_out, C_in/groups, kh, kw) with ``conv``
    (its output is the target's neurons in (channel, row, column) order); ``p`` is ``pool`` over the
    source's spike map, or the identity. A connection has no bias: the target's bias is the
    population's. Float weights here; ``fixedpoint.qnetwork.QuantConnection`` is the integer twin.
    """

    source: int
    target: int
    weight: np.ndarray
    conv: ConvGeometry | None = None
    pool: Pool2d | None = None

    def __post_init__(self):
        w = np.array(self.weight, dtype=np.float64)
        check_finite("connection weight", w)
        w.flags.writeable = False
        object.__setattr__(self, "weight", w)
        for name in ("source", "target"):
            object.__setattr__(self, name, int(getattr(self, name)))
        connection_shapes(w, self.conv, self.pool)


#: SEW-ResNet's non-linear spike-element-wise functions (Fang et al. 2021), on spikes a, s in {0, 1}
GATE_OPS = ("or", "iand")


@dataclass(frozen=True)
class SpikeGate:
    """The spikes layer ``layer`` emits, to every reader (later layers, back-edges, the record),
    are a spike-element-wise function of its neurons' own spikes ``a`` and the spikes layer
    ``source`` emits in the same timestep ``s`` (an earlier layer of the same shape)::

        or:    z[j] = a[j] OR s[j]             = a + s - a*s
        iand:  z[j] = (NOT a[j]) AND s[j]      = (1 - a) * s

    as in a SEW-ResNet block, where ``a`` is the residual path's last population and ``s`` the
    block's input. The neurons' state (v, i, reset) follows ``a``; the gate only changes what
    leaves the layer. A spike-element-wise ADD is a ``Connection`` instead (it feeds a population).
    The same record serves the float IR and the integer contract."""

    layer: int
    source: int
    op: str

    def __post_init__(self):
        for name in ("layer", "source"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.op not in GATE_OPS:
            raise ValueError(f"gate on layer {self.layer}: op {self.op!r} is not one of {', '.join(GATE_OPS)}")

    def as_dict(self) -> dict:
        return {"layer": self.layer, "source": self.source, "op": self.op}


def check_gates(layers: tuple, gates: tuple) -> None:
    """Validate a network's gates; the error names the layer and the value."""
    seen: set[int] = set()
    for g in gates:
        if not isinstance(g, SpikeGate):
            raise ValueError(f"gate {g!r} is not a SpikeGate")
        if not 0 <= g.layer < len(layers):
            raise ValueError(f"gate: layer {g.layer} is not a layer (0 … {len(layers) - 1})")
        where = f"layer {g.layer}: its {g.op.upper()} gate"
        if g.layer in seen:
            raise ValueError(f"layer {g.layer} has two gates; a layer's spikes pass one gate")
        seen.add(g.layer)
        if not 0 <= g.source < g.layer:
            raise ValueError(f"{where} reads {g.source}, which must be a layer before it (not the input)")
        a, b = layers[g.layer], layers[g.source]
        if tuple(a.out_shape) != tuple(b.out_shape):
            raise ValueError(
                f"{where} reads layer {g.source}, which makes {tuple(b.out_shape)}, not {tuple(a.out_shape)}"
            )
        if a.recurrent is not None:
            raise ValueError(f"{where}: a gated layer has no recurrent weights (they would read the gated spikes)")


def _node(i: int) -> str:
    return "the input" if i < 0 else f"layer {i}"


def _reads(shape_out: tuple[int, ...] | None, n_out: int, edge: Any, where: str) -> None:
    if edge.n_in != n_out:
        note = f" (a {edge.in_shape} map)" if len(edge.in_shape) == 3 else ""
        raise ValueError(f"{where} expects {edge.n_in} inputs{note} but its source makes {n_out}")
    if shape_out is not None and len(edge.in_shape) == 3 and tuple(edge.in_shape) != tuple(shape_out):
        raise ValueError(f"{where} reads a {edge.in_shape} map but its source makes {shape_out}")


def check_graph(
    n_inputs: int, layers: tuple, sources: tuple[int, ...], connections: tuple, gates: tuple = ()
) -> tuple[int, ...]:
    """Validate a graph (float or integer); the error names the layer or connection and the value.

    ``sources`` is empty (a chain) or one source per layer, each earlier than the layer.
    ``input_shape`` of the network is flat unless its first reader says otherwise. Returns the
    sources to store: ``()`` when they spell out the chain (each layer reads the one before), so
    one network has one spelling and one hash."""
    n_layers = len(layers)
    if sources and len(sources) != n_layers:
        raise ValueError(f"sources names {len(sources)} layers but the network has {n_layers}")
    srcs = tuple(sources) if sources else tuple(range(-1, n_layers - 1))

    def made(i: int) -> tuple[int, tuple[int, ...] | None]:
        if i < 0:
            return int(n_inputs), None
        shape = tuple(layers[i].out_shape)
        return layers[i].n_out, (shape if len(shape) == 3 else None)

    for li, (layer, s) in enumerate(zip(layers, srcs)):
        if not -1 <= s < li:
            raise ValueError(
                f"layer {li}: its own input comes from {s}, which must be the input (-1) or a layer before it"
            )
        n, shape = made(s)
        if layer.n_in != n:
            note = f" (a {layer.in_shape} map)" if len(layer.in_shape) == 3 else ""
            raise ValueError(f"layer {li} expects {layer.n_in} inputs{note} but receives {n} from {_node(s)}")
        if shape is not None and len(layer.in_shape) == 3 and tuple(layer.in_shape) != shape:
            raise ValueError(f"layer {li} reads a {layer.in_shape} map but {_node(s)} makes {shape}")
    for ci, c in enumerate(connections):
        where = f"connection {ci} ({_node(c.source)} -> {_node(c.target)})"
        if not -1 <= c.source < n_layers:
            raise ValueError(
                f"connection {ci}: source {c.source} is not the input (-1) or a layer (0 … {n_layers - 1})"
            )
        if not 0 <= c.target < n_layers:
            raise ValueError(f"connection {ci}: target {c.target} is not a layer (0 … {n_layers - 1})")
        n, shape = made(c.source)
        _reads(shape, n, c, where)
        tgt = layers[c.target]
        if c.n_out != tgt.n_out:
            raise ValueError(f"{where} gives {c.n_out} values but layer {c.target} has {tgt.n_out} neurons")
        if c.conv is not None and tuple(c.conv.out_shape) != tuple(tgt.out_shape) and len(tgt.out_shape) == 3:
            raise ValueError(f"{where} makes a {c.conv.out_shape} map but layer {c.target} is {tgt.out_shape}")
    check_gates(layers, gates)
    reach = {n_layers - 1}
    outgoing: dict[int, set[int]] = {}
    for g in gates:  # the source's spikes leave through the gated layer
        outgoing.setdefault(g.source, set()).add(g.layer)
    for li, s in enumerate(srcs):
        outgoing.setdefault(s, set()).add(li)
    for c in connections:
        outgoing.setdefault(c.source, set()).add(c.target)
    changed = True
    while changed:  # layers whose outgoing edges reach a layer known to reach the output
        changed = False
        for li in range(n_layers):
            if li not in reach and outgoing.get(li, set()) & reach:
                reach.add(li)
                changed = True
    dead = [li for li in range(n_layers) if li not in reach]
    if dead:
        raise ValueError(f"layer {dead[0]} has no path to the output (layer {n_layers - 1})")
    return () if srcs == tuple(range(-1, n_layers - 1)) else srcs


def incoming(net: Any, target: int) -> list[tuple[int, Any]]:
    """(source, edge) of every connection into ``target``: its own first, then ``connections`` in
    order (the order synaptic sums are formed in; integer sums do not depend on it)."""
    srcs = net.sources or tuple(range(-1, len(net.layers) - 1))
    return [(srcs[target], net.layers[target])] + [(c.source, c) for c in net.connections if c.target == target]


def gate_of(net: Any, layer: int) -> SpikeGate | None:
    """The gate on ``layer``'s spikes, or None."""
    return next((g for g in getattr(net, "gates", ()) if g.layer == layer), None)


def apply_gate(op: str, a, s):
    """A gate's spikes from the neurons' own ``a`` and the source's ``s``: numpy bool or
    integer arrays, or torch tensors in {0, 1} (then differentiable: a + s - a*s, (1 - a)*s)."""
    if isinstance(a, np.ndarray) and a.dtype == bool:
        s = np.asarray(s, bool)
        return a | s if op == "or" else ~a & s
    if op == "or":
        return a + s - a * s
    return (1 - a) * s


def is_chain(net: Any) -> bool:
    """True when every layer reads the one before it and nothing else (today's firmware shape)."""
    if getattr(net, "gates", ()):
        return False
    return not net.connections and (not net.sources or tuple(net.sources) == tuple(range(-1, len(net.layers) - 1)))
