"""NIR's linear nodes as numpy functions on batches, and their composition into one matrix.

The integer contract has fully connected layers only, so a chain of linear nodes between two
neuron populations (Affine, Linear, Scale, Conv2d, SumPool2d, AvgPool2d, Flatten) is composed
into one dense matrix by applying the chain to the identity basis. This is exact for linear
maps; the convolutional structure (weight sharing) is not kept, which costs memory for large
images (the import reports the matrix sizes).
"""

from __future__ import annotations

import math

import nir
import numpy as np

from edgesnn.errors import ModelFileError


def _pair(v) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _conv2d(x: np.ndarray, node: nir.Conv2d, with_bias: bool = True) -> np.ndarray:
    """x: (B, C_in, H, W) -> (B, C_out, H', W'), cross-correlation like torch."""
    w = np.asarray(node.weight, float)
    c_out, c_in_g, kh, kw = w.shape
    sh, sw = _pair(node.stride)
    dh, dw = _pair(node.dilation)
    groups = int(node.groups)
    if isinstance(node.padding, str):
        if node.padding == "valid":
            ph = pw = 0
        else:  # "same" (stride 1)
            ph, pw = (dh * (kh - 1)) // 2, (dw * (kw - 1)) // 2
    else:
        ph, pw = _pair(node.padding)
    b, c_in, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((b, c_out, ho, wo))
    per_group_out = c_out // groups
    for g in range(groups):
        xs = xp[:, g * c_in_g : (g + 1) * c_in_g]
        ws = w[g * per_group_out : (g + 1) * per_group_out]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw]
                out[:, g * per_group_out : (g + 1) * per_group_out] += np.einsum("bchw,oc->bohw", patch, ws[:, :, i, j])
    bias = getattr(node, "bias", None)
    if with_bias and bias is not None and np.size(bias):
        out += np.asarray(bias, float).reshape(1, -1, 1, 1)
    return out


def _pool(x: np.ndarray, node, average: bool) -> np.ndarray:
    kh, kw = _pair(node.kernel_size)
    sh, sw = _pair(node.stride)
    ph, pw = _pair(node.padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    b, c, h, w = xp.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((b, c, ho, wo))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
    return out / (kh * kw) if average else out


def apply(node, x: np.ndarray, with_bias: bool = True) -> np.ndarray:
    """Apply one linear NIR node to a batch x of shape (B, *input_shape); ``with_bias=False``
    applies its linear part only."""
    if isinstance(node, nir.Affine):
        y = x.reshape(x.shape[0], -1) @ np.asarray(node.weight, float).T
        return y + np.asarray(node.bias, float) if with_bias else y
    if isinstance(node, nir.Linear):
        return x.reshape(x.shape[0], -1) @ np.asarray(node.weight, float).T
    if isinstance(node, nir.Scale):
        return x * np.asarray(node.scale, float).reshape((1,) + np.shape(node.scale))
    if isinstance(node, nir.Conv2d):
        if x.ndim == 2:  # flat input: recover (C, H, W) from the node's input shape
            hw = tuple(int(v) for v in np.atleast_1d(node.input_shape))
            x = x.reshape(x.shape[0], -1, *hw)
        return _conv2d(x, node, with_bias)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        if (node.metadata or {}).get("edgesnn.pool") == "max":
            raise ModelFileError("max pooling (a logical OR) is not linear: it cannot be composed into a dense matrix")
        return _pool(x, node, isinstance(node, nir.AvgPool2d))
    if isinstance(node, nir.Flatten):
        nd = x.ndim - 1
        start = int(node.start_dim) % nd if nd else 0
        end = int(node.end_dim) % nd if nd else 0
        shape = x.shape[1:]
        new = shape[:start] + (int(math.prod(shape[start : end + 1])),) + shape[end + 1 :]
        return x.reshape((x.shape[0],) + new)
    raise ModelFileError(f"NIR node type {type(node).__name__} is not a linear operation edgesnn can import")


LINEAR_TYPES = (nir.Affine, nir.Linear, nir.Scale, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Flatten)


def compose(nodes: list, in_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(matrix (n_out, n_in), bias (n_out,), output shape) of a chain of linear nodes.

    The matrix is the chain's linear part applied to the identity basis (for a single Affine or
    Linear node it reproduces the weights exactly); the bias is the whole chain applied to zero.
    """
    n_in = int(math.prod(in_shape))
    if len(nodes) == 1 and isinstance(nodes[0], (nir.Affine, nir.Linear)):  # the common case: the tables as they are
        w = np.array(nodes[0].weight, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != n_in:
            raise ModelFileError(f"{type(nodes[0]).__name__} weight of shape {w.shape} does not take {n_in} inputs")
        b = np.array(getattr(nodes[0], "bias", np.zeros(w.shape[0])), dtype=np.float64).reshape(-1)
        return w, np.broadcast_to(b, (w.shape[0],)).copy(), (w.shape[0],)
    y0 = np.zeros((1,) + tuple(in_shape))
    y = np.eye(n_in).reshape((n_in,) + tuple(in_shape))
    for node in nodes:
        y0, y = apply(node, y0), apply(node, y, with_bias=False)
    out_shape = y.shape[1:]
    return y.reshape(n_in, -1).T.copy(), y0.reshape(-1), tuple(int(v) for v in out_shape)
