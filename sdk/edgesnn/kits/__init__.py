"""Neuromorphic dev kits: map a model quantized in a chip's dialect onto the chip's own
configuration, and check it against the vendor's simulator, spike for spike.

Vendor packages are imported here only, lazily (each kit's extra), so a missing one never breaks
the rest of edgesnn. Kits are board files of kind ``kit`` (boards/*.toml, boards/kit-schema.json)
and their limits are checked by ``kits.rules``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.errors import BoardError
from edgesnn.firmware.boards import Board
from edgesnn.fixedpoint.contract import predict_from_counts
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.fixedpoint.quantize_kits import quantize_kit
from edgesnn.fixedpoint.simulate import simulate_int
from edgesnn.ir import Network
from edgesnn.kits.rules import check_kit_fits

#: The module of each dialect with a vendor check; each has ``build(qnet, kit, out)``,
#: ``run_reference(qnet, kit, x) -> ([(layer index, spikes)], final readout membrane or None)``,
#: ``reference_name(kit)`` and ``COMPARED`` (what its check compares, in words).
MODULES = {"xylo": "xylo", "loihi2": "loihi2", "akida": "akida", "speck": "speck"}


def _module(kit: Board):
    if kit.dialect not in MODULES:
        raise BoardError(f"kit {kit.name}: no vendor module for dialect {kit.dialect}")
    return importlib.import_module(f"edgesnn.kits.{MODULES[kit.dialect]}")


def quantize(net: Network, kit: Board) -> tuple[QuantNetwork, dict[str, Any]]:
    """The float network in the kit's dialect, after the kit's fit rules, and what else the
    quantization report gets (Speck: ``sinabs_discretisation``, Sinabs' own discretisation of
    the same float model compared table by table)."""
    qnet = quantize_kit(net, kit.dialect, weight_bits=kit.limits["weight_bits"])
    check_kit_fits(kit, qnet)
    if kit.dialect != "speck":
        return qnet, {}
    from edgesnn.kits import speck

    try:
        check = "equal" if speck.discretisation_agrees(net, qnet) else "differs"
    except BoardError as e:  # Sinabs is not installed here
        check = f"not checked: {e}"
    return qnet, {"sinabs_discretisation": check}


def build(qnet: QuantNetwork, kit: Board, out: Path) -> dict[str, Any]:
    """The kit's configuration files for this model (after the kit's fit rules)."""
    check_kit_fits(kit, qnet)
    if kit.dialect == "spinnaker2":
        return _export_spinnaker2(qnet, kit, out)
    return _module(kit).build(qnet, kit, out)


#: What `build` and `verify` say for SpiNNaker 2, in their output and in docs/kits.md.
NO_OFFLINE_CHECK = (
    "no offline check is possible: SpiNNaker 2 has no simulator on PyPI (py-spinnaker2 and its "
    "brian2 backend are not published there); run s2_nir.from_nir(nir.read(FILE)) where py-spinnaker2 is installed"
)


def _export_spinnaker2(qnet: QuantNetwork, kit: Board, out: Path) -> dict[str, Any]:
    """The NIR graph py-spinnaker2's converter reads: the model's float meaning (LIF, CubaLIF,
    Affine, Conv2d, SumPool2d, Flatten), with the exact integer model in its metadata."""
    import nir

    from edgesnn.formats.nir_import import export_graph

    out.mkdir(parents=True, exist_ok=True)
    path = out / "spinnaker2.nir"
    nir.write(str(path), export_graph(qnet))
    return {
        "kit": kit.name,
        "chip": kit.chip,
        "hash": qnet.content_hash,
        "files": [str(path)],
        "check": NO_OFFLINE_CHECK,
    }


def verify(qnet: QuantNetwork, kit: Board, x: np.ndarray, labels: np.ndarray | None = None) -> dict[str, Any]:
    """Run the vendor's simulator and the golden simulator on the same inputs and compare every
    spike of every layer the simulator reports (Xylo: hidden spike counts and readout spikes;
    Lava: every layer) and the readout's final membrane. ``mismatches`` counts samples with any
    difference. Accuracies use edgesnn's readout (most spikes, then the larger final membrane)
    on each simulator's own spikes and membrane (a simulator that reports no membrane: ties go
    to the lowest index)."""
    check_kit_fits(kit, qnet)
    if kit.check["how"] == "none":
        raise BoardError(f"kit {kit.name}: {NO_OFFLINE_CHECK}")
    mod = _module(kit)
    golden = simulate_int(qnet, x, record=True)
    rec = golden.recorded()
    layers, v_last = mod.run_reference(qnet, kit, x)
    pairs = [(got, rec[k]["spikes"]) for k, got in layers]
    spikes_compared = sum(np.size(w) for _, w in pairs)
    if v_last is not None:
        pairs.append((v_last, golden.v_last))
    differs = np.zeros(len(x), bool)
    for got, want in pairs:
        differs |= (np.asarray(got, np.int64) != np.asarray(want, np.int64)).reshape(len(x), -1).any(axis=1)
    res: dict[str, Any] = {
        "kit": kit.name,
        "samples": int(len(x)),
        "timesteps": int(x.shape[1]),
        "mismatches": int(differs.sum()),
        "spikes_compared": int(spikes_compared),
        "reference": mod.reference_name(kit),
        "compared": mod.COMPARED,
    }
    if labels is not None:
        counts = np.asarray(layers[-1][1], np.int64).sum(axis=1)  # the readout's spikes
        res["accuracy"] = golden.accuracy(labels)
        v = np.zeros_like(counts) if v_last is None else v_last
        res["reference_accuracy"] = float(np.mean(predict_from_counts(counts, v) == labels))
    return res
