"""NIR convolution and pooling nodes <-> edgesnn layers, keeping their structure.

Between two neuron populations, a chain ``[SumPool2d | AvgPool2d] [Flatten] (Conv2d | Affine |
Linear)`` becomes one layer: a ``Conv2d`` or ``Dense`` with the pooling applied to its input.
Flatten needs no layer (edgesnn flattens in (C, H, W) order, like torch). Chains of this shape
are imported as they are; other chains that contain a convolution or a pooling can only be
composed into a dense matrix (``nir_linear.compose``), which the user asks for explicitly.

NIR 1.0 has no max pooling node: edgesnn writes its max pooling (a logical OR of spikes) as a
``SumPool2d`` whose metadata says ``{"edgesnn.pool": "max"}``; other tools read it as a sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from edgesnn.errors import ModelFileError
from edgesnn.ir import ConvGeometry, Pool2d

POOL_TYPES = (nir.SumPool2d, nir.AvgPool2d)


def _pair(v) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


@dataclass
class Synapses:
    """What one structured chain becomes: weights, per-channel or per-neuron bias, geometry."""

    weight: np.ndarray
    bias: np.ndarray
    out_shape: tuple[int, ...]
    conv: ConvGeometry | None = None
    pool: Pool2d | None = None


def is_structured(chain: list) -> bool:
    """Whether a chain holds a convolution or pooling (else it is plain dense algebra)."""
    return any(isinstance(n, (nir.Conv2d, *POOL_TYPES)) for n in chain)


def _pool(node, shape: tuple[int, ...], where: str) -> Pool2d:
    if len(shape) != 3:
        raise ModelFileError(f"{where}: pooling needs a (C, H, W) input, got shape {shape}")
    if any(_pair(node.padding)):
        raise ModelFileError(f"{where}: pooling with padding {_pair(node.padding)} is not supported")
    md = node.metadata or {}
    kind = "avg" if isinstance(node, nir.AvgPool2d) else str(md.get("edgesnn.pool", "sum"))
    return Pool2d(kind, _pair(node.kernel_size), (shape[0], shape[1], shape[2]), _pair(node.stride))


def _conv(node: nir.Conv2d, shape: tuple[int, ...], where: str) -> tuple[ConvGeometry, np.ndarray, np.ndarray]:
    w = np.asarray(node.weight, float)
    if w.ndim != 4:
        raise ModelFileError(f"{where}: Conv2d weight must be 4-d, got shape {w.shape}")
    if len(shape) != 3:
        if node.input_shape is None:
            raise ModelFileError(f"{where}: Conv2d on a flat input of {shape} without input_shape")
        hw = _pair(node.input_shape)
        shape = (int(np.prod(shape)) // (hw[0] * hw[1]), *hw)
    if _pair(node.dilation) != (1, 1):
        raise ModelFileError(f"{where}: Conv2d dilation {_pair(node.dilation)} is not supported")
    kh, kw = w.shape[2:]
    if isinstance(node.padding, str):
        if node.padding not in ("valid", "same"):
            raise ModelFileError(f"{where}: Conv2d padding {node.padding!r} is not supported")
        pad = (0, 0) if node.padding == "valid" else ((kh - 1) // 2, (kw - 1) // 2)
    else:
        pad = _pair(node.padding)
    try:
        g = ConvGeometry(
            (shape[0], shape[1], shape[2]), w.shape[0], (kh, kw), _pair(node.stride), pad, int(node.groups)
        )
    except ValueError as e:
        raise ModelFileError(f"{where}: {e}") from None
    if g.weight_shape != w.shape:
        raise ModelFileError(f"{where}: Conv2d weight {w.shape} does not fit input {shape} (expected {g.weight_shape})")
    b = getattr(node, "bias", None)
    bias = (
        np.zeros(w.shape[0]) if b is None or np.size(b) == 0 else np.broadcast_to(np.asarray(b, float), (w.shape[0],))
    )
    return g, w, bias.copy()


def structured(chain: list, shape: tuple[int, ...], where: str) -> Synapses:
    """The layer a chain ``[pool] [Flatten] (Conv2d | Affine | Linear)`` makes, or ModelFileError
    naming why it does not have that shape."""
    nodes = list(chain)
    pool = None
    if nodes and isinstance(nodes[0], POOL_TYPES):
        pool = _pool(nodes.pop(0), shape, where)
        shape = pool.out_shape
    if nodes and isinstance(nodes[0], nir.Flatten):
        nodes.pop(0)
        shape = (int(np.prod(shape)),)
    if len(nodes) != 1 or not isinstance(nodes[0], (nir.Conv2d, nir.Affine, nir.Linear)):
        names = [type(n).__name__ for n in chain]
        raise ModelFileError(
            f"{where}: the chain {names} is not [pooling] [Flatten] (Conv2d | Affine | Linear); "
            "import with --compose-dense to turn it into one dense matrix"
        )
    node = nodes[0]
    if isinstance(node, nir.Conv2d):
        g, w, b = _conv(node, shape, where)
        if pool is not None and pool.out_shape != g.in_shape:
            raise ModelFileError(f"{where}: pooling gives {pool.out_shape} but Conv2d reads {g.in_shape}")
        return Synapses(weight=w, bias=b, out_shape=g.out_shape, conv=g, pool=pool)
    w = np.asarray(node.weight, float)
    n_in = int(np.prod(shape))
    if w.ndim != 2 or w.shape[1] != n_in:
        raise ModelFileError(f"{where}: {type(node).__name__} weight {w.shape} does not take {n_in} inputs")
    b = np.asarray(getattr(node, "bias", np.zeros(w.shape[0])), float).reshape(-1)
    return Synapses(weight=w, bias=np.broadcast_to(b, (w.shape[0],)).copy(), out_shape=(w.shape[0],), pool=pool)


def per_channel(values: np.ndarray, channels: int, what: str, where: str) -> np.ndarray:
    """A per-neuron vector (channel-major) as one value per channel; ModelFileError if it varies
    within a channel (a convolution shares its weights, so it cannot scale neurons apart)."""
    v = np.broadcast_to(np.asarray(values, float), (channels * (np.size(values) // channels or 1),))
    rows = v.reshape(channels, -1)
    if not np.all(rows == rows[:, :1]):
        raise ModelFileError(
            f"{where}: {what} differs between neurons of one channel; use {{compose_dense}}", names=["compose_dense"]
        )
    return rows[:, 0].copy()


def export_nodes(layer, i: int | str, source_shape: tuple[int, ...] | None = None) -> tuple[dict, list[str]]:
    """NIR nodes (name -> node, in chain order) for a layer's pooling, Flatten and synapses; for a
    graph's ``Connection`` (no bias: the target's bias is on its own connection) the same.
    ``source_shape``: what its source makes, when a fully connected layer without pooling reads
    a feature map (NIR's types need the Flatten between them)."""
    nodes: dict = {}
    shape = layer.in_shape
    if layer.pool is None and layer.conv is None and source_shape is not None and len(source_shape) == 3:
        shape = tuple(source_shape)
    if layer.pool is not None:
        p = layer.pool
        cls = nir.AvgPool2d if p.kind == "avg" else nir.SumPool2d
        md = {"edgesnn.pool": "max"} if p.kind == "max" else {}
        nodes[f"pool{i}"] = cls(
            kernel_size=np.array(p.kernel), stride=np.array(p.stride), padding=np.array([0, 0]), metadata=md
        )
        shape = p.out_shape
    if layer.conv is None and len(shape) == 3:
        nodes[f"flat{i}"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
    if layer.conv is not None:
        g = layer.conv
        nodes[f"conv{i}"] = nir.Conv2d(
            input_shape=g.in_shape[1:],
            weight=np.array(layer.weight),
            stride=g.stride,
            padding=g.padding,
            dilation=1,
            groups=g.groups,
            bias=np.array(layer.bias) if hasattr(layer, "bias") else np.zeros(g.out_channels),
        )
    elif hasattr(layer, "bias"):
        nodes[f"fc{i}"] = nir.Affine(weight=np.array(layer.weight), bias=np.array(layer.bias))
    else:
        nodes[f"fc{i}"] = nir.Linear(weight=np.array(layer.weight))
    return nodes, list(nodes)
