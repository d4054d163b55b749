"""SynSense Speck / DynapCNN: edgesnn's own mapping of a model in the ``speck`` dialect onto the
chip's cores (the layer configuration and the design-rule check of kernel, neuron and bias
memory), and Sinabs' model of the chip as the reference (sinabs 3.1, never ``samna``).

Every layer is one DynapCNN layer (convolution + IAF on one core); a dense layer is a
convolution whose kernel covers its whole input map; sum pooling of a layer's input is the
previous core's output pooling (the first layer's: the DVS layer's). Memory per layer, as
``sinabs.backend.dynapcnn.DynapcnnLayer.memory_summary`` computes it:

    kernel = c_in * 2^(ceil(log2(kh * kw)) + ceil(log2(c_out)))
    neuron = c_out * 2^(ceil(log2(out_h)) + ceil(log2(out_w)))
    bias   = c_out

and each layer needs its own core whose memories hold it (the kit file lists them: Sinabs'
``chips/dynapcnn.py`` ``get_constraints``).
"""

from __future__ import annotations

import importlib.util
import json
import math
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import numpy as np

from edgesnn.errors import BoardError, FitError
from edgesnn.firmware.boards import Board
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
from edgesnn.kits.plan import Plan, PlannedLayer


def kernel_shape(L: QuantLayer | PlannedLayer) -> tuple[int, int, int, int]:
    """(c_out, c_in, kh, kw) of the layer's convolution on the chip."""
    if L.conv is not None:  # from the geometry, so a planned layer (kits.rules.Plan) has one too
        g = L.conv
        return (g.out_channels, g.in_shape[0] // g.groups, g.kernel[0], g.kernel[1])
    shape = L.pool.out_shape if L.pool is not None else L.in_shape
    c, h, w = shape if len(shape) == 3 else (shape[0], 1, 1)
    return (L.n_out, c, h, w)


def out_map(L: QuantLayer | PlannedLayer) -> tuple[int, int, int]:
    return L.conv.out_shape if L.conv is not None else (L.n_out, 1, 1)


def channel_bias(L: QuantLayer) -> np.ndarray:
    """One bias per output channel (the quantizer makes a channel's neurons share it)."""
    return L.bias.reshape(out_map(L))[:, 0, 0]


def memory(L: QuantLayer | PlannedLayer) -> dict[str, int]:
    f, c, kh, kw = kernel_shape(L)
    _, oh, ow = out_map(L)

    def up(n: int) -> int:
        return math.ceil(math.log2(n)) if n > 1 else 0

    return {"kernel": c * 2 ** (up(kh * kw) + up(f)), "neuron": f * 2 ** (up(oh) + up(ow)), "bias": f}


def assign_cores(kit: Board, qnet: QuantNetwork | Plan) -> list[int]:
    """One core per layer whose memories hold it (bipartite matching, augmenting paths); raises
    FitError naming the rule, kit, layer and its memory needs when none exists."""
    cores = kit.core_memory
    need = [memory(L) for L in qnet.layers]
    fits = [
        [c for c in range(len(cores["kernel"])) if all(n[k] <= cores[k][c] for k in ("kernel", "neuron", "bias"))]
        for n in need
    ]
    for i, f in enumerate(fits):
        if not f:
            raise FitError(
                f"rule speck-core-memory on kit {kit.name}: layer {i} needs kernel {need[i]['kernel']}, "
                f"neuron {need[i]['neuron']}, bias {need[i]['bias']} entries; no core holds that",
                rule="speck-core-memory",
            )
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for c in fits[i]:
            if c not in seen:
                seen.add(c)
                if c not in owner or place(owner[c], seen):
                    owner[c] = i
                    return True
        return False

    for i in range(len(need)):
        if not place(i, set()):
            raise FitError(
                f"rule speck-cores on kit {kit.name}: layer {i} finds no free core among those that hold it "
                f"({len(need)} layers, {len(cores['kernel'])} cores)",
                rule="speck-cores",
            )
    by_layer = {i: c for c, i in owner.items()}
    return [by_layer[i] for i in range(len(need))]


def configuration(qnet: QuantNetwork, kit: Board) -> dict[str, Any]:
    cores = assign_cores(kit, qnet)
    rows = []
    for i, (L, core) in enumerate(zip(qnet.layers, cores)):
        g = L.conv
        rows.append(
            {
                "layer": i,
                "core": core,
                "kernel": list(kernel_shape(L)),
                "stride": list(g.stride) if g is not None else [1, 1],
                "padding": list(g.padding) if g is not None else [0, 0],
                "groups": g.groups if g is not None else 1,
                "input_sum_pool": list(L.pool.kernel) if L.pool is not None else None,
                "threshold_high": int(L.threshold[0]),
                "threshold_low": int(L.v_reset[0]),  # type: ignore[index]
                "memory": memory(L),
                "destination": cores[i + 1] if i + 1 < len(cores) else "readout",
            }
        )
    return {"kit": kit.name, "chip": kit.chip, "hash": qnet.content_hash, "layers": rows}


def build(qnet: QuantNetwork, kit: Board, out: Path) -> dict[str, Any]:
    """The layer configuration with its core assignment (``speck_config.json``) and the integer
    weights and biases (``speck_weights.npz``, per layer ``w{k}`` (c_out, c_in, kh, kw), ``b{k}``)."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = configuration(qnet, kit)
    arrays = {}
    for k, L in enumerate(qnet.layers):
        arrays[f"w{k}"] = L.weight.reshape(kernel_shape(L))
        arrays[f"b{k}"] = channel_bias(L)
    np.savez(out / "speck_weights.npz", **arrays)  # type: ignore[arg-type]
    (out / "speck_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return {**cfg, "files": [str(out / "speck_config.json"), str(out / "speck_weights.npz")]}


# --- Sinabs as the reference -----------------------------------------------------------------


def _sinabs():
    try:
        import sinabs.layers as sl
    except ImportError:
        raise BoardError("the speck check needs sinabs 3.1: pip install --no-deps sinabs==3.1.3 pbr") from None
    return sl


def discretize_module():
    """``sinabs/backend/dynapcnn/discretize.py`` loaded by path: the package's ``__init__``
    imports samna, which edgesnn never installs (facts.md)."""
    _sinabs()
    import sinabs

    path = Path(sinabs.__file__).parent / "backend" / "dynapcnn" / "discretize.py"
    spec = importlib.util.spec_from_file_location("edgesnn_sinabs_discretize", path)
    if spec is None or spec.loader is None:
        raise BoardError(f"Sinabs' discretisation module is not at {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


COMPARED = "every layer's spike counts (Sinabs' IAF layers holding the model's integers)"


def reference_name(kit=None) -> str:
    return f"Sinabs {metadata.version('sinabs')} (sinabs.layers.IAF, MultiSpike, its DynapCNN discretisation)"


def _torch_layers(L: QuantLayer, weight, bias, thr: float, low: float):
    import torch

    sl = _sinabs()
    f, c, kh, kw = kernel_shape(L)
    g = L.conv
    conv = torch.nn.Conv2d(
        c, f, (kh, kw), g.stride if g else 1, g.padding if g else 0, groups=g.groups if g else 1, bias=True
    )
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(np.asarray(weight, np.float32).reshape(f, c // conv.groups, kh, kw)))
        cast(torch.Tensor, conv.bias).copy_(torch.as_tensor(np.asarray(bias, np.float32)))
    iaf = sl.IAF(spike_threshold=torch.tensor(float(thr)), min_v_mem=float(low))
    pool = sl.SumPool2d(L.pool.kernel, L.pool.stride) if L.pool is not None else None
    return pool, conv, iaf


def run_reference(qnet: QuantNetwork, kit, x: np.ndarray) -> tuple[list[tuple[int, np.ndarray]], None]:
    """Every layer's spike counts (N, T, n) from Sinabs' layers holding this model's integers, in
    float32 (exact: every sum is below 2**24); Sinabs reports no membrane."""
    import torch

    n, steps, _ = x.shape
    s = torch.as_tensor(np.asarray(x, np.float32))
    outs = []
    for k, L in enumerate(qnet.layers):
        pool, conv, iaf = _torch_layers(L, L.weight, channel_bias(L), L.threshold[0], L.v_reset[0])  # type: ignore[index]
        shape = L.pool.in_shape if L.pool is not None else (L.conv.in_shape if L.conv is not None else None)
        flat = s.reshape(n * steps, *(shape if shape is not None else kernel_shape(L)[1:]))
        with torch.no_grad():
            if pool is not None:
                flat = pool(flat)
            cur = conv(flat).reshape(n, steps, *out_map(L))
            spk = iaf(cur)
        s = spk.reshape(n, steps, -1)
        outs.append((k, s.numpy().astype(np.int64)))
    return outs, None


def discretisation_agrees(net, qnet: QuantNetwork, min_v_mem: float | None = None) -> bool:
    """Does Sinabs' own discretisation (``discretize_conv_spike_``) of the float network's layers,
    with threshold_low ``min_v_mem`` or minus the threshold (as ``quantize_kits`` takes it), give
    edgesnn's speck quantization ``qnet``, table by table?"""
    d = discretize_module()
    for L, QL in zip(net.layers, qnet.layers):
        thr = float(np.asarray(L.neurons.threshold)[0])
        low = -thr if min_v_mem is None else min_v_mem
        _, conv, iaf = _torch_layers(QL, np.asarray(L.weight), np.asarray(L.bias), thr, low)
        d.discretize_conv_spike_(conv, iaf)
        same = (
            np.array_equal(conv.weight.detach().numpy().astype(np.int64).reshape(QL.weight.shape), QL.weight)
            and np.array_equal(conv.bias.detach().numpy().astype(np.int64), channel_bias(QL))
            and int(iaf.spike_threshold) == int(QL.threshold[0])
            and int(iaf.min_v_mem) == int(QL.v_reset[0])  # type: ignore[index]
        )
        if not same:
            return False
    return True
