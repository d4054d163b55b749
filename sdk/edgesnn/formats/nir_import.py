"""NIR graphs from any tool -> edgesnn networks, and edgesnn models -> NIR.

Continuous-time NIR neurons are mapped to discrete time with forward Euler and a step ``dt``
(docs/nir.md). NIR stores no dt: it comes from ``--dt``, else from the graph's metadata, else
from the snnTorch convention (``r = tau / dt`` on every LIF, so ``dt = tau / r``); otherwise
the import stops and asks for it.

    LIF      v += dt/tau * (v_leak - v + r*I)    ->  beta = 1 - dt/tau, input gain dt*r/tau, bias dt*v_leak/tau
    IF       v += dt * r * I                     ->  beta = 1, input gain dt*r
    LI       like LIF, no spikes                 ->  edgesnn LI (readout by final membrane)
    CubaLIF  I += dt/tau_syn * (-I + w_in*S); v += dt/tau_mem * (v_leak - v + r*I)
             ->  beta_syn = 1 - dt/tau_syn, beta_mem = 1 - dt/tau_mem, input gain (dt*w_in/tau_syn)*(dt*r/tau_mem)

Input gains are folded into each layer's weights (and recurrent weights), so thresholds keep
their values. Other linear nodes between neuron populations are composed into one dense matrix
(``nir_linear``), except convolutions and pooling, which stay layers (``nir_conv``). NIR resets to ``v_reset`` (``reset="to_value"``, the default). Two other
conventions that NIR cannot state:

* ``reset="subtract"``: ``v -= threshold`` right after a spike (edgesnn's own subtract reset);
* ``reset="subtract-undecayed"``: snnTorch's default ``v[t] = beta*v[t-1] + x[t] - threshold*z[t-1]``,
  where the subtracted threshold is not decayed. It is reproduced exactly by edgesnn's subtract
  reset plus a self-connection of ``-(1 - beta) * threshold`` on each neuron.
"""

from __future__ import annotations

import base64
import json
import math

import nir
import numpy as np

from edgesnn.errors import ModelFileError
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.formats import qmodel
from edgesnn.formats.nir_conv import is_structured, per_channel, structured
from edgesnn.formats.nir_float import gates_from, to_nir
from edgesnn.formats.nir_graph import import_general
from edgesnn.formats.nir_linear import LINEAR_TYPES, compose
from edgesnn.formats.nir_neurons import (
    NEURON_TYPES,
    RESETS,
    SNNTORCH_RESET,
    ImportReport,
    infer_dt,
    looks_like_snntorch,
    neurons_of,
)
from edgesnn.ir import LI, LIF, Conv2d, CubaLIF, Dense, Network


def _shape(t) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(np.asarray(t)).ravel())


def read_nir(path) -> nir.NIRGraph:
    """Read a NIR file without NIR's own type check: it rejects grouped convolutions (it takes
    a Conv2d's input channels from ``weight.shape[1]``); ``import_graph`` checks every shape it
    uses and names the node."""
    return nir.read(str(path), type_check=False)


def import_graph(
    graph: nir.NIRGraph, *, dt: float | None = None, reset: str | None = None, compose_dense: bool = False
) -> tuple[Network, ImportReport]:
    """Any NIR graph of linear nodes and neuron populations ending in Output. A chain of (linear
    nodes -> neuron population), with optional recurrent linear loops on a population, is walked
    here; any other graph (branches, skips, several edges into a node) goes to ``nir_graph``.
    Convolutions and pooling stay layers (``nir_conv``); ``compose_dense`` composes every path into
    a dense matrix instead."""
    md = graph.metadata or {}
    if reset not in RESETS:
        raise ModelFileError(f"reset must be one of {', '.join(r for r in RESETS if r)}, got {reset!r}")
    undecayed = reset == "subtract-undecayed"
    if undecayed:
        reset = "subtract"
    step, source = infer_dt(graph, dt)
    rep = ImportReport(dt=step, dt_source=source)
    if reset is None and "edgesnn.format" not in md and looks_like_snntorch(graph):
        rep.warnings.append(SNNTORCH_RESET)
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ModelFileError(f"expected one Input node, found {len(inputs)}")
    shape = _shape(graph.nodes[inputs[0]].input_type["input"])
    n_inputs = int(math.prod(shape))
    layers: list = []
    populations: list[str] = []  # their node names, for the metadata that names nodes
    chain: list = []
    cur, visited = inputs[0], {inputs[0]}

    def loop_back(neuron: str) -> tuple[list, list[str]] | None:
        """A path of linear nodes from ``neuron`` back to itself (a recurrent connection)."""
        for s in succ.get(neuron, []):
            path, node = [], s
            while node != neuron and isinstance(graph.nodes.get(node), LINEAR_TYPES) and len(succ.get(node, [])) == 1:
                if node in path:  # a cycle of linear nodes only: the graph import names it
                    break
                path.append(node)
                node = succ[node][0]
            if node == neuron and path:
                return [graph.nodes[p] for p in path], path
        return None

    while True:
        nexts = [s for s in succ.get(cur, []) if s not in visited]
        if len(nexts) != 1:  # not a chain: the graph import (skips, residuals, several edges into a node)
            rep = ImportReport(dt=step, dt_source=source, warnings=rep.warnings)
            return import_general(graph, step, source, rep, reset, undecayed, compose_dense)
        name = nexts[0]
        node = graph.nodes[name]
        visited.add(name)
        if isinstance(node, nir.Output):
            if chain:
                raise ModelFileError("linear nodes after the last neuron population are not supported")
            break
        if isinstance(node, LINEAR_TYPES):
            chain.append(node)
            cur = name
            continue
        if not isinstance(node, NEURON_TYPES):
            raise ModelFileError(f"NIR node {name!r} of type {type(node).__name__} is not supported")
        where = f"node {name!r}"
        syn = structured(chain, shape, where) if is_structured(chain) and not compose_dense else None
        if syn is None:
            w, b, out_shape = compose(chain, shape)
        else:
            w, b, out_shape = syn.weight, syn.bias, syn.out_shape
        n = int(math.prod(out_shape))
        neurons, gain, extra_bias = neurons_of(node, n, step, reset, rep.warnings, name)
        rec = loop_back(name)
        layer: Dense | Conv2d
        if syn is not None and syn.conv is not None:
            if rec is not None or undecayed:
                raise ModelFileError(
                    f"{where}: a convolutional population cannot have recurrent connections "
                    "(nor snnTorch's undecayed subtract reset, which needs one); use --compose-dense"
                )
            c = syn.conv.out_channels
            g_c = per_channel(gain, c, "the input gain", where)
            b_c = g_c * b + per_channel(np.broadcast_to(extra_bias, (n,)), c, "v_leak", where)
            layer = Conv2d(weight=g_c[:, None, None, None] * w, bias=b_c, neurons=neurons, conv=syn.conv, pool=syn.pool)
        else:
            recurrent = None
            if rec is not None:
                rw, rb, _ = compose(rec[0], out_shape)
                if np.any(rb != 0):
                    rep.warnings.append(f"node {name!r}: bias on the recurrent path folded into the layer bias")
                    b = b + rb
                recurrent = gain[:, None] * rw
                visited.update(rec[1])
            if undecayed and isinstance(neurons, (LIF, CubaLIF)):
                beta = np.asarray(neurons.beta if isinstance(neurons, LIF) else neurons.beta_mem)
                if isinstance(neurons, CubaLIF):
                    rep.warnings.append(
                        f"node {name!r}: subtract-undecayed on a CubaLIF goes through the current; approximate"
                    )
                self_reset = np.diag(-(1.0 - beta) * np.asarray(neurons.threshold))
                recurrent = self_reset if recurrent is None else recurrent + self_reset
            pool = syn.pool if syn is not None else None
            layer = Dense(
                weight=gain[:, None] * w, bias=gain * b + extra_bias, neurons=neurons, recurrent=recurrent, pool=pool
            )
        layers.append(layer)
        populations.append(name)
        rep.layers.append(
            {
                "neuron": type(node).__name__,
                "shape": [n, layer.n_in],
                "kind": "conv" if isinstance(layer, Conv2d) else "dense",
                "out_shape": list(out_shape),
                "linear_nodes": [type(c).__name__ for c in chain],
                "recurrent": layer.recurrent is not None,
            }
        )
        chain, shape, cur = [], out_shape, name
    if not layers:
        raise ModelFileError("the graph has no neuron population")
    for i, L in enumerate(layers[:-1]):
        if isinstance(L.neurons, LI):
            raise ModelFileError(f"layer {i}: a non-spiking LI population can only be the last layer")
    if "edgesnn.format" in md:  # an edgesnn file: its own readout, encoding and provenance
        net = Network(
            n_inputs=n_inputs,
            layers=tuple(layers),
            dt=step,
            readout=str(md.get("edgesnn.readout", "spike_count")),
            input_spec=json.loads(md.get("edgesnn.input_spec", "{}")),
            meta=json.loads(md.get("edgesnn.meta", "{}")),
            name=str(md.get("edgesnn.name", "network")),
            gates=gates_from(md, populations),
        )
    else:
        net = Network(
            n_inputs=n_inputs,
            layers=tuple(layers),
            dt=step,
            name=str(md.get("name", "imported")),
            meta={"imported_from": "nir", "dt_source": source, "warnings": rep.warnings},
        )
    return net, rep


def export_graph(model: Network | QuantNetwork) -> nir.NIRGraph:
    """A float network as plain NIR; a quantized one as its float meaning plus the exact integer
    model in the graph metadata, so that it imports back without loss."""
    if isinstance(model, Network):
        return to_nir(model)
    from edgesnn.fixedpoint.dequantize import dequantize

    graph = to_nir(dequantize(model))
    graph.metadata["edgesnn.qsnn"] = base64.b64encode(qmodel.to_bytes(model)).decode("ascii")
    graph.metadata["edgesnn.qsnn_hash"] = model.content_hash
    return graph


def quantized_from_graph(graph: nir.NIRGraph, source: str) -> QuantNetwork | None:
    blob = (graph.metadata or {}).get("edgesnn.qsnn")
    if blob is None:
        return None
    q = qmodel.from_bytes(base64.b64decode(blob), source)
    if q.content_hash != graph.metadata.get("edgesnn.qsnn_hash"):
        raise ModelFileError(f"{source}: quantized model in the NIR metadata does not match its hash")
    return q


__all__ = ["import_graph", "export_graph", "quantized_from_graph", "ImportReport"]
