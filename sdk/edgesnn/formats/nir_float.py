"""Float networks <-> NIR graphs (the interchange format; no second float format).

Discrete -> continuous mapping (forward Euler with the network's ``dt``; docs/nir.md):

* LIF, beta < 1:  ``tau = dt / (1 - beta)``, ``r = tau / dt``, ``v_leak = 0``
  (so ``v += dt/tau * (-v + r*I)`` is ``v = beta*v + I``; snnTorch writes the same);
* LIF with beta == 1 and IF:  ``nir.IF`` with ``r = 1 / dt``;
* CubaLIF:  ``tau_syn = dt / (1 - beta_syn)``, ``w_in = tau_syn / dt``, ``tau_mem`` and ``r`` as LIF.

NIR resets to ``v_reset`` only; edgesnn's exact parameters (beta, reset mode) also travel in
each node's ``metadata`` so that edgesnn files round-trip without loss. Reading graphs from
other tools (snnTorch, Norse, ...) is the NIR import issue's work; this reader accepts the
chains edgesnn writes: Input -> (Affine -> neuron [-> Linear -> same neuron])* -> Output.
"""

from __future__ import annotations

import json

import nir
import numpy as np

from edgesnn.errors import ModelFileError
from edgesnn.ir import IF, LI, LIF, CubaLIF, Dense, Network

FORMAT_VERSION = 1


def _neuron_node(neurons, dt: float):
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
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=np.zeros(n),
                           v_threshold=thr, v_reset=vr, w_in=tau_syn / dt, metadata=md)
    beta = np.ones(n) if isinstance(neurons, IF) else np.asarray(neurons.beta)
    md["edgesnn.beta"] = beta
    if np.all(beta == 1.0):
        return nir.IF(r=np.full(n, 1.0 / dt), v_threshold=thr, v_reset=vr, metadata=md)
    with np.errstate(divide="ignore"):
        tau = dt / (1 - beta)
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=thr, v_reset=vr, metadata=md)


def to_nir(net: Network) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array([net.n_inputs])})}
    edges, prev = [], "input"
    for i, layer in enumerate(net.layers):
        fc, nrn = f"fc{i}", f"lif{i}"
        nodes[fc] = nir.Affine(weight=np.array(layer.weight), bias=np.array(layer.bias))
        nodes[nrn] = _neuron_node(layer.neurons, net.dt)
        edges += [(prev, fc), (fc, nrn)]
        if layer.recurrent is not None:
            nodes[f"rec{i}"] = nir.Linear(weight=np.array(layer.recurrent))
            edges += [(nrn, f"rec{i}"), (f"rec{i}", nrn)]
        prev = nrn
    nodes["output"] = nir.Output(output_type={"output": np.array([net.n_outputs])})
    edges.append((prev, "output"))
    md = {
        "edgesnn.format": FORMAT_VERSION,
        "edgesnn.dt": float(net.dt),
        "edgesnn.readout": net.readout,
        "edgesnn.name": net.name,
        "edgesnn.input_spec": json.dumps(net.input_spec),
        "edgesnn.meta": json.dumps(net.meta),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=md)


def _neurons_from_node(node, dt: float):
    md = node.metadata or {}
    if isinstance(node, nir.LI):
        return LI(beta=md.get("edgesnn.beta", 1 - dt / np.asarray(node.tau, float)))
    reset = str(md.get("edgesnn.reset", "to_value"))
    thr, vr = np.asarray(node.v_threshold, float), np.asarray(node.v_reset, float)
    if isinstance(node, nir.CubaLIF):
        bs = md.get("edgesnn.beta_syn", 1 - dt / np.asarray(node.tau_syn, float))
        bm = md.get("edgesnn.beta_mem", 1 - dt / np.asarray(node.tau_mem, float))
        return CubaLIF(beta_syn=bs, beta_mem=bm, threshold=thr, reset=reset, v_reset=vr)
    if isinstance(node, nir.LIF):
        beta = md.get("edgesnn.beta", 1 - dt / np.asarray(node.tau, float))
        return LIF(beta=beta, threshold=thr, reset=reset, v_reset=vr)
    if isinstance(node, nir.IF):
        return IF(threshold=thr, reset=reset, v_reset=vr)
    raise ModelFileError(f"NIR node type {type(node).__name__} is not supported here")


def from_nir(graph: nir.NIRGraph) -> Network:
    md = graph.metadata or {}
    dt = float(md.get("edgesnn.dt", 1e-3))
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ModelFileError(f"expected one NIR Input node, found {len(inputs)}")
    n_inputs = int(np.prod(graph.nodes[inputs[0]].input_type["input"]))
    layers, cur, seen = [], inputs[0], set()
    while True:
        nxt = [s for s in succ.get(cur, []) if s not in seen]
        if len(nxt) != 1:
            raise ModelFileError(f"NIR graph is not a chain at node {cur!r} (successors {nxt})")
        name = nxt[0]
        node = graph.nodes[name]
        if isinstance(node, nir.Output):
            break
        if not isinstance(node, (nir.Affine, nir.Linear)):
            raise ModelFileError(f"NIR node {name!r} ({type(node).__name__}) is not supported here")
        targets = succ.get(name, [])
        if len(targets) != 1:
            raise ModelFileError(f"NIR node {name!r} must feed exactly one neuron node, feeds {targets}")
        nrn_name = targets[0]
        nrn = graph.nodes[nrn_name]
        w = np.asarray(node.weight, float)
        b = np.asarray(getattr(node, "bias", np.zeros(w.shape[0])), float)
        rec = None
        for s in succ.get(nrn_name, []):
            if nrn_name in succ.get(s, []) and isinstance(graph.nodes[s], (nir.Linear, nir.Affine)):
                rec = np.asarray(graph.nodes[s].weight, float)
                seen.add(s)
        layers.append(Dense(weight=w, bias=b, neurons=_neurons_from_node(nrn, dt), recurrent=rec))
        seen.update({name, nrn_name})
        cur = nrn_name
    return Network(
        n_inputs=n_inputs, layers=tuple(layers), dt=dt,
        readout=str(md.get("edgesnn.readout", "spike_count")),
        input_spec=json.loads(md.get("edgesnn.input_spec", "{}")),
        meta=json.loads(md.get("edgesnn.meta", "{}")),
        name=str(md.get("edgesnn.name", "network")),
    )
