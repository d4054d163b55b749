"""NIR neuron populations -> edgesnn neurons, and the time step of a NIR graph: shared by the
chain import (``nir_import``) and the graph import (``nir_graph``). The equations are in
``nir_import``'s docstring and docs/nir.md."""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from edgesnn.errors import ModelFileError
from edgesnn.formats.nir_float import exact_neurons
from edgesnn.ir import IF, LI, LIF, CubaLIF

NEURON_TYPES = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI)
RESETS = (None, "to_value", "subtract", "subtract-undecayed")


@dataclass
class ImportReport:
    dt: float
    dt_source: str
    layers: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _vec(v, n: int) -> np.ndarray:
    a = np.asarray(v, float).ravel()
    return np.full(n, float(a[0])) if a.size == 1 else a


def infer_dt(graph: nir.NIRGraph, dt: float | None) -> tuple[float, str]:
    if dt is not None:
        if not dt > 0:
            raise ModelFileError(f"dt must be > 0, got {dt}")
        return float(dt), "given"
    md = graph.metadata or {}
    for key in ("dt", "edgesnn.dt"):
        if key in md:
            return float(md[key]), f"graph metadata {key!r}"
    ratios = []
    for node in graph.nodes.values():
        if isinstance(node, (nir.LIF, nir.LI)):
            ratios.append(np.asarray(node.tau, float).ravel() / np.asarray(node.r, float).ravel())
        elif isinstance(node, nir.CubaLIF):
            ratios.append(np.asarray(node.tau_mem, float).ravel() / np.asarray(node.r, float).ravel())
    if ratios:
        allr = np.concatenate(ratios)
        taus = np.concatenate(
            [
                np.asarray(getattr(n, "tau", getattr(n, "tau_mem", np.inf)), float).ravel()
                for n in graph.nodes.values()
                if isinstance(n, (nir.LIF, nir.LI, nir.CubaLIF))
            ]
        )
        if np.all(np.isfinite(allr)) and np.allclose(allr, allr[0], rtol=1e-6) and allr[0] < taus.min():
            return float(allr[0]), "r = tau/dt on every neuron (snnTorch's convention)"
    raise ModelFileError(
        "cannot tell the time step of this NIR graph: import it with its step, "
        "`edgesnn import FILE.nir --dt SECONDS --out MODEL.nir` (api.import_nir(..., dt=SECONDS))"
    )


#: What the import says of a graph that looks exported by snnTorch when no reset was chosen.
SNNTORCH_RESET = (
    "this graph looks exported by snnTorch (dt = 1e-4, r = tau/dt, v_leak = v_reset = 0), and NIR does "
    "not record snnTorch's reset mechanism: assumed reset to zero (snnTorch reset_mechanism='zero', "
    "--reset to_value); if the network was trained with snnTorch's default reset_mechanism='subtract', "
    "import it with --reset subtract-undecayed"
)


def looks_like_snntorch(graph: nir.NIRGraph) -> bool:
    """True for a graph whose every neuron population carries snnTorch's ``export_to_nir``
    pattern: ``r = tau / 1e-4`` (its fixed dt), ``v_leak = 0`` and ``v_reset = 0`` (written
    for every reset mechanism), and a CubaLIF's ``w_in = tau_syn / 1e-4``."""
    pops = [n for n in graph.nodes.values() if isinstance(n, (nir.LIF, nir.CubaLIF))]
    if not pops:
        return False
    for n in pops:
        tau = np.asarray(n.tau if isinstance(n, nir.LIF) else n.tau_mem, float).ravel()
        pattern = [
            np.allclose(np.asarray(n.r, float).ravel() * 1e-4, tau, rtol=1e-5, atol=0),
            not np.any(np.asarray(n.v_leak, float)),
            not np.any(np.asarray(n.v_reset, float)),
        ]
        if isinstance(n, nir.CubaLIF):
            syn = np.asarray(n.tau_syn, float).ravel()
            pattern.append(np.allclose(np.asarray(n.w_in, float).ravel() * 1e-4, syn, rtol=1e-5, atol=0))
        if not all(pattern):
            return False
    return True


def neurons_of(node, n: int, dt: float, reset: str | None, warn: list[str], name: str):
    """(edgesnn neurons, input gain per neuron, extra bias per neuron)."""
    if "edgesnn.model" in (node.metadata or {}):  # written by edgesnn: exact parameters, unit gain
        return exact_neurons(node, dt), np.ones(n), 0.0
    if isinstance(node, nir.IF):
        r = _vec(node.r, n)
        return (
            IF(threshold=_vec(node.v_threshold, n), reset=reset or "to_value", v_reset=_vec(node.v_reset, n)),
            dt * r,
            0.0,
        )
    if isinstance(node, (nir.LIF, nir.LI)):
        tau, r, leak = _vec(node.tau, n), _vec(node.r, n), _vec(node.v_leak, n)
        if np.any(dt > tau):
            raise ModelFileError(f"node {name!r}: dt {dt} exceeds tau {tau.min()}: forward Euler would be unstable")
        beta = 1.0 - dt / tau
        if isinstance(node, nir.LI):
            return LI(beta=beta), dt * r / tau, dt * leak / tau
        lif = LIF(
            beta=beta, threshold=_vec(node.v_threshold, n), reset=reset or "to_value", v_reset=_vec(node.v_reset, n)
        )
        return lif, dt * r / tau, dt * leak / tau
    tau_s, tau_m = _vec(node.tau_syn, n), _vec(node.tau_mem, n)
    if np.any(dt > tau_s) or np.any(dt > tau_m):
        raise ModelFileError(f"node {name!r}: dt {dt} exceeds a time constant")
    if np.any(_vec(node.v_leak, n) != 0):
        warn.append(f"node {name!r}: CubaLIF v_leak is not representable exactly (a bias enters the current); ignored")
    gain = (dt * _vec(node.w_in, n) / tau_s) * (dt * _vec(node.r, n) / tau_m)
    cuba = CubaLIF(
        beta_syn=1.0 - dt / tau_s,
        beta_mem=1.0 - dt / tau_m,
        threshold=_vec(node.v_threshold, n),
        reset=reset or "to_value",
        v_reset=_vec(node.v_reset, n),
    )
    return cuba, gain, 0.0
