"""SynSense Xylo: the chip configuration of a model in the ``xylo`` dialect, and XyloSim as the
reference it is checked against (extra ``xylo``: rockpool 3.1 + xylosim 0.1.3).

Mapping (one hidden layer, recurrent or not, and a readout): layer 0's weights are Xylo's input
weights (``weight_shift_in`` = its shift), its recurrent weights the recurrent ones (same shift),
layer 1's weights the readout weights from every hidden neuron (``weight_shift_out``); dashes,
thresholds and biases are the layers' ``alpha_syn``, ``alpha_mem``, ``threshold``, ``bias``
(``fixedpoint.dialects``).
"""

from __future__ import annotations

import json
import os
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.errors import BoardError
from edgesnn.firmware.boards import Board
from edgesnn.fixedpoint.qnetwork import QuantNetwork

#: rockpool's module for each chip (its XyloSim and mapper)
CHIP_MODULES = {"SYNS63300": "syns63300", "SYNS61201": "syns61201"}


def specification(qnet: QuantNetwork) -> dict[str, Any]:
    """The keyword arguments of rockpool's ``XyloSim.from_specification`` for this model."""
    hid, out = qnet.layers[0], qnet.layers[-1]
    h = hid.n_out
    rec = np.zeros((h, h), np.int64) if hid.recurrent is None else hid.recurrent.T
    return {
        "weights_in": np.ascontiguousarray(hid.weight.T),
        "weights_rec": np.ascontiguousarray(rec),
        "weights_out": np.ascontiguousarray(out.weight.T),
        "dash_mem": hid.alpha_mem.copy(),
        "dash_syn": hid.alpha_syn.copy(),  # type: ignore[union-attr]  # the dialect requires it
        "dash_mem_out": out.alpha_mem.copy(),
        "dash_syn_out": out.alpha_syn.copy(),  # type: ignore[union-attr]
        "threshold": hid.threshold.copy(),
        "threshold_out": out.threshold.copy(),
        "bias": hid.bias.copy(),
        "bias_out": out.bias.copy(),
        "weight_shift_in": hid.shift,
        "weight_shift_rec": hid.shift,
        "weight_shift_out": out.shift,
    }


def _rockpool_module(chip: str):
    """rockpool's chip module without samna: ``rockpool.devices.xylo/__init__`` imports samna
    parts unguarded (facts.md), so the package is registered empty and the chip module imported
    directly."""
    try:
        import rockpool
    except ImportError:
        raise BoardError("the xylo check needs rockpool 3.1 and xylosim 0.1.3: pip install 'edgesnn[xylo]'") from None
    name = "rockpool.devices.xylo"
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(os.path.dirname(rockpool.__file__), "devices", "xylo")]
        sys.modules[name] = pkg
    import importlib

    try:
        return importlib.import_module(f"{name}.{CHIP_MODULES[chip]}")
    except ImportError as e:
        raise BoardError(f"rockpool's {chip} module does not import ({e}); pip install 'edgesnn[xylo]'") from None


COMPARED = "hidden spike counts, readout spikes, final readout membrane"


def reference_name(kit: Board) -> str:
    return (
        f"XyloSim (xylosim {metadata.version('xylosim')}) through rockpool {metadata.version('rockpool')} "
        f"devices.xylo.{CHIP_MODULES[kit.chip]}"
    )


def simulator(qnet: QuantNetwork, kit: Board):
    """rockpool's ``XyloSim`` built from this model's specification."""
    mod = _rockpool_module(kit.chip)
    return mod.XyloSim.from_specification(**specification(qnet), dt=1e-3)


def build(qnet: QuantNetwork, kit: Board, out: Path) -> dict[str, Any]:
    """Write the specification (``xylo_spec.npz``, its arrays; ``xylo_spec.json``, the summary)
    and, where rockpool is installed, check that ``XyloSim.from_specification`` accepts it."""
    out.mkdir(parents=True, exist_ok=True)
    spec = specification(qnet)
    npz = out / "xylo_spec.npz"
    np.savez(npz, **{k: np.asarray(v) for k, v in spec.items()})  # type: ignore[arg-type]
    summary = {
        "kit": kit.name,
        "chip": kit.chip,
        "hash": qnet.content_hash,
        "inputs": qnet.n_inputs,
        "hidden": qnet.layers[0].n_out,
        "outputs": qnet.n_outputs,
        "recurrent": qnet.layers[0].recurrent is not None,
        "weight_shift_in": spec["weight_shift_in"],
        "weight_shift_rec": spec["weight_shift_rec"],
        "weight_shift_out": spec["weight_shift_out"],
        "load": "XyloSim.from_specification(**numpy.load('xylo_spec.npz'))",
    }
    try:
        simulator(qnet, kit)
        summary["accepted_by"] = reference_name(kit)
    except BoardError as e:
        summary["accepted_by"] = None
        summary["not_checked"] = str(e)
    (out / "xylo_spec.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {**summary, "files": [str(npz), str(out / "xylo_spec.json")]}


def run_reference(qnet: QuantNetwork, kit: Board, x: np.ndarray) -> tuple[list[tuple[int, np.ndarray]], np.ndarray]:
    """XyloSim's hidden spike counts (N, T, hidden) and readout spikes (N, T, outputs), and the
    final readout membrane (N, outputs), each sample from a reset state."""
    sim = simulator(qnet, kit)
    outs, hidden, v_last = [], [], []
    for sample in np.asarray(x, np.int64):
        sim.reset_state()
        o, _, rec = sim(sample, record=True)
        outs.append(np.asarray(o, np.int64))
        hidden.append(np.asarray(rec["Spikes"], np.int64))
        v_last.append(np.asarray(rec["Vmem_out"], np.int64)[-1])
    return [(0, np.stack(hidden)), (len(qnet.layers) - 1, np.stack(outs))], np.stack(v_last)
