"""BrainChip Akida: an ``akida.Model`` for a model in the ``akida`` dialect (stateless, 4-bit
weights, 1-bit activations), mapped onto a virtual AKD1000 as the design-rule check, and akida's
software backend as the reference (extra ``akida``: akida 2.19, numpy only).

Per layer: ``FullyConnected(units, weights_bits=4, act_bits=1)`` with ``weights`` the layer's
weights (1, 1, inputs, units), ``act_step`` 1 and ``threshold = floor((threshold - bias) /
2**shift)``: Akida fires ``x.W > threshold`` (measured: ``clip(ceil((x.W - thr) / step), 0, 1)``),
and edgesnn's stateless neuron fires ``x.W * 2**shift + bias > threshold``; for an integer sum
the two tests are the same. Each timestep is one independent forward pass.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.errors import BoardError
from edgesnn.fixedpoint.qnetwork import QuantNetwork


def _akida():
    try:
        import akida
    except ImportError:
        raise BoardError("the akida check needs akida 2.19: pip install 'edgesnn[akida]'") from None
    return akida


def akida_threshold(L) -> np.ndarray:
    return ((L.threshold - L.bias) >> L.shift).astype(np.int32)


def model(qnet: QuantNetwork, upto: int | None = None):
    """The ``akida.Model`` of layers ``0..upto`` (default: all), unmapped (software backend)."""
    akida = _akida()
    m = akida.Model()
    m.add(akida.InputData(input_shape=(1, 1, qnet.n_inputs), input_bits=1))
    for L in qnet.layers[: None if upto is None else upto + 1]:
        fc = akida.FullyConnected(units=L.n_out, weights_bits=4, act_bits=1)
        m.add(fc)
        fc.set_variable("weights", L.weight.T.astype(np.int8).reshape(1, 1, L.n_in, L.n_out))
        fc.set_variable("threshold", akida_threshold(L))
        fc.set_variable("act_step", np.ones(L.n_out, np.float32))
    return m


COMPARED = "every layer's spikes (akida reports no membrane)"


def reference_name(kit=None) -> str:
    return f"akida {metadata.version('akida')} software backend (model mapped on a virtual AKD1000)"


def build(qnet: QuantNetwork, kit, out: Path) -> dict[str, Any]:
    """Map the model onto AKD1000 (``hw_only=True``: every layer in hardware, else akida
    refuses naming why) and save it (``model.fbz``)."""
    akida = _akida()
    out.mkdir(parents=True, exist_ok=True)
    m = model(qnet)
    try:
        m.map(akida.AKD1000(), hw_only=True)
    except Exception as e:  # akida raises RuntimeError/ValueError with its own message
        raise BoardError(f"kit {kit.name}: akida's mapper refused the model: {e}") from None
    path = out / "model.fbz"
    m.save(str(path))
    return {
        "kit": kit.name,
        "chip": kit.chip,
        "hash": qnet.content_hash,
        "mapped": "AKD1000, hw_only=True",
        "sequences": len(m.sequences),
        "files": [str(path)],
        "reference": reference_name(kit),
    }


def run_reference(qnet: QuantNetwork, kit, x: np.ndarray) -> tuple[list[tuple[int, np.ndarray]], None]:
    """Every layer's spikes (N, T, n): each timestep one forward pass of the software model (of
    the layers up to that one); akida reports no membrane."""
    n, steps, n_in = x.shape
    flat = np.asarray(x, np.uint8).reshape(n * steps, 1, 1, n_in)
    layers = [
        (k, model(qnet, k).forward(flat).reshape(n, steps, L.n_out).astype(np.int64)) for k, L in enumerate(qnet.layers)
    ]
    return layers, None
