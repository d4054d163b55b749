"""NIR graphs that are not chains -> edgesnn graphs (``ir.graph``): skips, residuals, several
edges into a node.

A NIR node with several incoming edges sums them. Between two neuron populations (or the input
and a population) every path of linear nodes is one connection: its composed weights, times the
target's input gain. A linear node that several paths share (a convolution after a residual sum,
``conv(a + b)``) is linear, so ``conv(a) + conv(b)``: each path gets its weights, and the node's
bias enters the target once. A path with no linear node (a population straight into another) is
the identity, which SEW-ResNet's ADD of spikes is.

Populations are ordered by a depth-first walk from the input (a chain keeps its order); an edge
into a population already on the walk's stack closes a cycle and reads the previous timestep. The
population that feeds ``Output`` comes last; every population must have a path to it.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import nir
import numpy as np

from edgesnn.errors import ModelFileError
from edgesnn.formats.nir_conv import is_structured, per_channel, structured
from edgesnn.formats.nir_float import gates_from
from edgesnn.formats.nir_linear import LINEAR_TYPES, apply, compose
from edgesnn.formats.nir_neurons import NEURON_TYPES, ImportReport, neurons_of
from edgesnn.ir import LI, LIF, Connection, Conv2d, ConvGeometry, CubaLIF, Dense, Network


def _paths(graph: nir.NIRGraph, pred: dict[str, list[str]], target: str) -> list[tuple[str, list[str]]]:
    """(source, linear node names in forward order) of every path of linear nodes into ``target``
    from a population or the input."""
    out: list[tuple[str, list[str]]] = []

    def back(node: str, suffix: list[str], seen: tuple[str, ...]) -> None:
        for u in pred.get(node, []):
            kind = graph.nodes[u]
            if isinstance(kind, (nir.Input, *NEURON_TYPES)):
                out.append((u, suffix))
            elif isinstance(kind, LINEAR_TYPES):
                if u in seen:
                    raise ModelFileError(f"node {u!r}: a cycle of linear nodes with no neuron population on it")
                back(u, [u, *suffix], (*seen, u))
            else:
                raise ModelFileError(f"NIR node {u!r} of type {type(kind).__name__} is not supported")

    back(target, [], ())
    return out


def _order(graph: nir.NIRGraph, succ: dict[str, list[str]], start: str, last: str) -> tuple[list[str], set]:
    """Populations in depth-first order from the input, ``last`` moved to the end, and the set of
    (source, target) population pairs whose paths close a cycle."""
    pops = [k for k, v in graph.nodes.items() if isinstance(v, NEURON_TYPES)]
    reach: dict[str, list[str]] = {}  # population or input -> populations it reaches through linear nodes
    for p in [start, *pops]:
        seen, stack, found = set(), list(succ.get(p, [])), []
        while stack:
            u = stack.pop(0)
            if u in seen:
                continue
            seen.add(u)
            if isinstance(graph.nodes[u], NEURON_TYPES):
                found.append(u)
            elif isinstance(graph.nodes[u], LINEAR_TYPES):
                stack.extend(succ.get(u, []))
        reach[p] = found
    order: list[str] = []
    back: set = set()
    on_stack: list[str] = []

    def visit(p: str) -> None:
        on_stack.append(p)
        for q in reach[p]:
            if q in on_stack:
                back.add((p, q))
            elif q not in order and q not in on_stack:
                visit(q)
        on_stack.pop()
        order.insert(0, p)  # reverse postorder: a topological order of the forward edges

    visit(start)
    order = [p for p in order if p != start]
    missing = [p for p in pops if p not in order]
    if missing:
        raise ModelFileError(f"node {missing[0]!r}: no path from the input reaches it")
    if order[-1] != last:
        after = order[order.index(last) + 1 :]
        if any(last in reach.get(p, []) and (p, last) not in back for p in after):
            raise ModelFileError(f"node {after[0]!r} feeds the output population {last!r} from after it")
        raise ModelFileError(f"node {after[0]!r} has no path to the output (from {last!r})")
    return order, back


def _bias(graph: nir.NIRGraph, paths: list[tuple[str, list[str]]], shapes: dict) -> np.ndarray:
    """The target's input when every source is zero: each linear node's bias through what follows
    it, counted once per distinct tail (a shared node adds its bias once)."""
    total = None
    done: set = set()
    for src, names in paths:
        shape = shapes[src]
        for k, name in enumerate(names):
            tail = tuple(names[k:])
            y = apply(graph.nodes[name], np.zeros((1, *shape)))  # this node's bias, from zero
            for nxt in names[k + 1 :]:
                y = apply(graph.nodes[nxt], y, with_bias=False)
            if tail not in done and np.any(y):
                done.add(tail)
                total = y.reshape(-1) if total is None else total + y.reshape(-1)
            shape = apply(graph.nodes[name], np.zeros((1, *shape)), with_bias=False).shape[1:]
    return np.zeros(0) if total is None else total


def _identity(shape: tuple[int, ...]):
    """A population straight into another: identity weights (a depthwise 1x1 convolution of ones
    for a feature map, a unit matrix otherwise)."""
    if len(shape) == 3:
        g = ConvGeometry(shape, shape[0], (1, 1), (1, 1), (0, 0), shape[0])
        return np.ones(g.weight_shape), g, None, shape
    n = int(math.prod(shape))
    return np.eye(n), None, None, (n,)


def import_general(
    graph: nir.NIRGraph, step: float, source: str, rep: ImportReport, reset, undecayed: bool, compose_dense: bool
):
    """The graph import (module docstring); ``step``/``source``/``rep``/``reset`` as ``import_graph`` resolved them."""
    md = graph.metadata or {}
    pred: dict[str, list[str]] = {}
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise ModelFileError(f"an edge names node {end!r}, which the graph does not have")
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelFileError(f"expected one Input and one Output node, found {len(inputs)} and {len(outputs)}")
    live, todo = {outputs[0]}, [outputs[0]]
    while todo:  # every node that reaches the output
        for u in pred.get(todo.pop(), []):
            if u not in live:
                live.add(u)
                todo.append(u)
    dead = [k for k in graph.nodes if k not in live]
    if dead:
        raise ModelFileError(f"node {dead[0]!r} has no path to the output")
    into_out = _paths(graph, pred, outputs[0])
    if len(into_out) != 1 or into_out[0][1] or into_out[0][0] == inputs[0]:
        raise ModelFileError("the Output node must be fed by one neuron population directly (no linear nodes after it)")
    last = into_out[0][0]
    order, back = _order(graph, succ, inputs[0], last)
    index = {p: i for i, p in enumerate(order)}
    index[inputs[0]] = -1
    in_shape = tuple(int(v) for v in np.atleast_1d(np.asarray(graph.nodes[inputs[0]].input_type["input"])).ravel())
    shapes: dict[str, tuple[int, ...]] = {inputs[0]: in_shape}
    layers: list[Dense | Conv2d] = []
    sources: list[int] = []
    connections: list[Connection] = []
    biases: list = []
    pending: list = []  # back-edges: their source's shape is known once every population is
    for name in order:
        node = graph.nodes[name]
        where = f"node {name!r}"
        fwd: list[tuple[str, list[str]]] = []
        later: list[tuple[str, list[str]]] = []
        for src, names in _paths(graph, pred, name):
            (later if (src, name) in back or src == name else fwd).append((src, names))
        if not fwd:
            raise ModelFileError(f"{where}: every input to it closes a cycle; it needs one from the input side")
        syns = [_synapses(graph, names, shapes[src], where, compose_dense) for src, names in fwd]
        out_shape = syns[0][3]
        for (src, _), s in zip(fwd, syns):
            both_maps = len(s[3]) == 3 and len(out_shape) == 3
            if int(math.prod(s[3])) != int(math.prod(out_shape)) or (both_maps and s[3] != out_shape):
                raise ModelFileError(
                    f"{where}: the input from {src!r} has shape {s[3]} but from {fwd[0][0]!r} {out_shape}: shapes that do not add"
                )
        n = int(math.prod(out_shape))
        neurons, gain, extra_bias = neurons_of(node, n, step, reset, rep.warnings, name)
        shapes[name] = tuple(out_shape)
        bias = np.zeros(n)  # set once every shape is known (a back-edge's source may come later)
        biases.append((fwd + later, gain, np.broadcast_to(extra_bias, (n,)), where))
        w, conv, pool, _ = syns[0]
        layer: Dense | Conv2d
        if conv is not None:
            c = conv.out_channels
            g_c = per_channel(gain, c, "the input gain", where)
            layer = Conv2d(
                weight=g_c[:, None, None, None] * w,
                bias=per_channel(np.broadcast_to(bias, (n,)), c, "the bias", where),
                neurons=neurons,
                conv=conv,
                pool=pool,
            )
        else:
            layer = Dense(weight=gain[:, None] * w, bias=np.broadcast_to(bias, (n,)).copy(), neurons=neurons, pool=pool)
        li = len(layers)
        layers.append(layer)
        sources.append(index[fwd[0][0]])
        for (src, _), (w2, conv2, pool2, _) in list(zip(fwd, syns))[1:]:
            connections.append(_connection(index[src], li, w2, conv2, pool2, gain, conv, where))
        pending += [(src, names, name, li, gain, conv, where) for src, names in later]
        if undecayed and isinstance(neurons, (LIF, CubaLIF)):  # snnTorch's reset: see nir_import
            if conv is not None:
                raise ModelFileError(
                    f"{where}: snnTorch's undecayed subtract reset on a convolutional population needs a recurrent matrix; use --compose-dense"
                )
            beta = np.asarray(neurons.beta if isinstance(neurons, LIF) else neurons.beta_mem)
            connections.append(Connection(li, li, np.diag(-(1.0 - beta) * np.asarray(neurons.threshold))))
        rep.layers.append(
            {
                "node": name,
                "neuron": type(node).__name__,
                "shape": [n, layer.n_in],
                "kind": "conv" if conv is not None else "dense",
                "out_shape": list(out_shape),
                "inputs": [s for s, _ in fwd + later],
                "recurrent": bool(later),
            }
        )
    for src, names, _target, li, gain, conv, where in pending:
        w2, conv2, pool2, shp = _synapses(graph, names, shapes[src], where, compose_dense)
        if int(math.prod(shp)) != layers[li].n_out:
            raise ModelFileError(
                f"{where}: the input from {src!r} has shape {shp} but the node has {layers[li].n_out} neurons: shapes that do not add"
            )
        connections.append(_connection(index[src], li, w2, conv2, pool2, gain, conv, where))
    for li, (paths, gain, extra_bias, where) in enumerate(biases):
        b = _bias(graph, paths, shapes)
        b = (np.zeros(layers[li].n_out) if b.size == 0 else b) * gain + extra_bias
        conv_li = layers[li].conv
        if conv_li is not None:
            b = per_channel(b, conv_li.out_channels, "the bias", where)
        layers[li] = replace(layers[li], bias=b)
    for i, L in enumerate(layers[:-1]):
        if isinstance(L.neurons, LI):
            raise ModelFileError(f"node {order[i]!r}: a non-spiking LI population can only be the last layer")
    try:
        net = Network(
            n_inputs=int(math.prod(in_shape)),
            layers=tuple(layers),
            dt=step,
            sources=tuple(sources),
            connections=tuple(connections),
            gates=gates_from(md, order) if "edgesnn.format" in md else (),
            **_provenance(md, source, rep),
        )
    except ValueError as e:
        raise ModelFileError(f"the graph does not make a network: {e}") from None
    return net, rep


def _provenance(md: dict, source: str, rep: ImportReport) -> dict:
    if "edgesnn.format" in md:
        return {
            "readout": str(md.get("edgesnn.readout", "spike_count")),
            "input_spec": json.loads(md.get("edgesnn.input_spec", "{}")),
            "meta": json.loads(md.get("edgesnn.meta", "{}")),
            "name": str(md.get("edgesnn.name", "network")),
        }
    return {
        "name": str(md.get("name", "imported")),
        "meta": {"imported_from": "nir", "dt_source": source, "warnings": rep.warnings},
    }


def _synapses(graph: nir.NIRGraph, names: list[str], shape: tuple[int, ...], where: str, compose_dense: bool):
    """(weight, conv, pool, out_shape) of one path, without its biases (``_bias`` has them)."""
    chain = [graph.nodes[n] for n in names]
    if not chain:
        return _identity(shape)
    if is_structured(chain) and not compose_dense:
        s = structured(chain, shape, f"{where} (from the path {names})")
        return s.weight, s.conv, s.pool, tuple(s.out_shape)
    w, _, out_shape = compose(chain, shape)
    return w, None, None, out_shape


def _connection(src: int, li: int, w, conv, pool, gain: np.ndarray, target_conv, where: str) -> Connection:
    """A path as a connection, with the target's input gain folded in."""
    if conv is not None:
        g_c = per_channel(gain, conv.out_channels, "the input gain", where)
        w = g_c[:, None, None, None] * w
    else:
        w = gain[:, None] * w
    return Connection(source=src, target=li, weight=w, conv=conv, pool=pool)
