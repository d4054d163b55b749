"""Float networks <-> NIR graphs (the interchange format; no second float format).

Discrete -> continuous mapping (forward Euler with the network's ``dt``; docs/nir.md):

* LIF, beta < 1:  ``tau = dt / (1 - beta)``, ``r = tau / dt``, ``v_leak = 0``
  (so ``v += dt/tau * (-v + r*I)`` is ``v = beta*v + I``; snnTorch writes the same);
* LIF with beta == 1 and IF:  ``nir.IF`` with ``r = 1 / dt``;
* CubaLIF:  ``tau_syn = dt / (1 - beta_syn)``, ``w_in = tau_syn / dt``, ``tau_mem`` and ``r`` as LIF.

NIR resets to ``v_reset`` only; edgesnn's exact parameters (beta, reset mode) also travel in
each node's ``metadata`` so that edgesnn files round-trip without loss: ``exact_neurons`` reads
them back, and ``nir_import.import_graph`` walks the graph for edgesnn's files and other tools'.
"""

from __future__ import annotations

import json

import nir
import numpy as np

from edgesnn.errors import ModelFileError
from edgesnn.formats.nir_conv import export_nodes
from edgesnn.ir import IF, LI, LIF, CubaLIF, Network, SpikeGate

FORMAT_VERSION = 1
_PARAMS = ("tau", "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")


def _neuron_node(neurons, dt: float, shape: tuple[int, ...]):
    """The NIR node of a population; its parameters take the layer's output shape (a feature map
    for convolutions), as NIR's type inference expects."""
    node = _flat_neuron_node(neurons, dt)
    if len(shape) == 1:
        return node
    params = {f: np.asarray(getattr(node, f)).reshape(shape) for f in _PARAMS if hasattr(node, f)}
    return type(node)(**params, metadata=node.metadata)  # rebuilt: NIR derives its types on construction


def _flat_neuron_node(neurons, dt: float):
    n = neurons.size
    if isinstance(neurons, LI):
        beta = np.asarray(neurons.beta)
        with np.errstate(divide="ignore"):
            tau = dt / (1 - beta)
        return nir.LI(tau=tau, r=tau / dt, v_leak=np.zeros(n), metadata={"edgesnn.model": "LI", "edgesnn.beta": beta})
    thr, vr = np.asarray(neurons.threshold), np.asarray(neurons.v_reset)
    md = {"edgesnn.reset": neurons.reset, "edgesnn.model": type(neurons).__name__}
    if isinstance(neurons, CubaLIF):
        bs, bm = np.asarray(neurons.beta_syn), np.asarray(neurons.beta_mem)
        md["edgesnn.beta_syn"], md["edgesnn.beta_mem"] = bs, bm
        with np.errstate(divide="ignore"):
            tau_syn, tau_mem = dt / (1 - bs), dt / (1 - bm)
        return nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_mem / dt,
            v_leak=np.zeros(n),
            v_threshold=thr,
            v_reset=vr,
            w_in=tau_syn / dt,
            metadata=md,
        )
    beta = np.ones(n) if isinstance(neurons, IF) else np.asarray(neurons.beta)
    md["edgesnn.beta"] = beta
    if np.all(beta == 1.0):
        return nir.IF(r=np.full(n, 1.0 / dt), v_threshold=thr, v_reset=vr, metadata=md)
    with np.errstate(divide="ignore"):
        tau = dt / (1 - beta)
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=thr, v_reset=vr, metadata=md)


def to_nir(net: Network) -> nir.NIRGraph:
    first = net.layers[0].in_shape
    nodes = {"input": nir.Input(input_type={"input": np.array(first if len(first) == 3 else [net.n_inputs])})}
    edges: list[tuple[str, str]] = []
    srcs = net.sources or tuple(range(-1, len(net.layers) - 1))

    def chain_into(prev: str, chain: list[str], nrn: str) -> None:
        for name in chain:
            edges.append((prev, name))
            prev = name
        edges.append((prev, nrn))

    def made(s: int) -> tuple[int, ...] | None:  # the shape a source makes
        return (tuple(first) if len(first) == 3 else None) if s < 0 else tuple(net.layers[s].out_shape)

    for i, layer in enumerate(net.layers):
        syn, chain = export_nodes(layer, i, made(srcs[i]))
        nodes.update(syn)
        nrn = f"lif{i}"
        nodes[nrn] = _neuron_node(layer.neurons, net.dt, layer.out_shape)
        chain_into("input" if srcs[i] < 0 else f"lif{srcs[i]}", chain, nrn)
        if layer.recurrent is not None:
            nodes[f"rec{i}"] = nir.Linear(weight=np.array(layer.recurrent))
            edges += [(nrn, f"rec{i}"), (f"rec{i}", nrn)]
    for k, c in enumerate(net.connections):  # a graph's other connections: their own linear nodes
        syn, chain = export_nodes(c, f"c{k}_", made(c.source))
        nodes.update(syn)
        chain_into("input" if c.source < 0 else f"lif{c.source}", chain, f"lif{c.target}")
    nodes["output"] = nir.Output(output_type={"output": np.array(net.layers[-1].out_shape)})
    edges.append((f"lif{len(net.layers) - 1}", "output"))
    md = {
        "edgesnn.format": FORMAT_VERSION,
        "edgesnn.dt": float(net.dt),
        "edgesnn.readout": net.readout,
        "edgesnn.name": net.name,
        "edgesnn.input_spec": json.dumps(net.input_spec),
        "edgesnn.meta": json.dumps(net.meta),
    }
    if net.gates:  # NIR has no spike-element-wise OR / IAND node: edgesnn's own metadata carries them
        md["edgesnn.gates"] = json.dumps(
            [{"layer": f"lif{g.layer}", "source": f"lif{g.source}", "op": g.op} for g in net.gates]
        )
    # NIR 1.0's type inference takes a Conv2d's input channels from weight.shape[1], which is
    # C_in / groups: a grouped convolution fails its check although the graph is right
    grouped = any(L.conv is not None and L.conv.groups > 1 for L in (*net.layers, *net.connections))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=md, type_check=not grouped)


def exact_neurons(node, dt: float):
    """The edgesnn neurons a node written by ``to_nir`` carries in its metadata (no Euler mapping)."""
    md = node.metadata or {}
    try:

        def flat(key: str) -> np.ndarray:  # feature-map populations store their parameters shaped
            return np.asarray(md[key], float).ravel()

        if isinstance(node, nir.LI):
            return LI(beta=flat("edgesnn.beta"))
        reset = str(md["edgesnn.reset"])
        thr, vr = np.asarray(node.v_threshold, float).ravel(), np.asarray(node.v_reset, float).ravel()
        if isinstance(node, nir.CubaLIF):
            return CubaLIF(
                beta_syn=flat("edgesnn.beta_syn"),
                beta_mem=flat("edgesnn.beta_mem"),
                threshold=thr,
                reset=reset,
                v_reset=vr,
            )
        if isinstance(node, nir.LIF):
            return LIF(beta=flat("edgesnn.beta"), threshold=thr, reset=reset, v_reset=vr)
        if isinstance(node, nir.IF):
            return IF(threshold=thr, reset=reset, v_reset=vr)
    except KeyError as e:
        raise ModelFileError(f"edgesnn node metadata lacks {e}") from None
    raise ModelFileError(f"NIR node type {type(node).__name__} is not supported here")


def gates_from(md: dict, populations: list[str]) -> tuple[SpikeGate, ...]:
    """The SEW gates ``to_nir`` wrote into an edgesnn graph's metadata, by population node name
    (``populations`` in layer order)."""
    text = md.get("edgesnn.gates")
    if not text:
        return ()
    index = {name: i for i, name in enumerate(populations)}
    try:
        return tuple(SpikeGate(index[g["layer"]], index[g["source"]], g["op"]) for g in json.loads(text))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"the graph's edgesnn.gates metadata is invalid ({e!r})") from None


def gate_warnings(net) -> list[str]:
    """What another tool reading ``to_nir(net)`` will not run: the gates live in metadata only.
    ``net``: a float or a quantized network (both hold ``gates``)."""
    return [
        f"layer {g.layer}'s SEW {g.op.upper()} gate (with layer {g.source}) is in edgesnn metadata only: "
        "NIR has no spike-element-wise OR/IAND node, so other tools run that layer ungated"
        for g in net.gates
    ]
