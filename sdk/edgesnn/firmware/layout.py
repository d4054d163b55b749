"""How a quantized network's layers are laid out in the C runtime's tables and buffers.

Fully connected layers: one packed row per input (``packed_rows``). Convolutional layers: one
packed row per (input channel, ky, kx) holding its group's output channels, per-channel
parameters, and feature maps indexed (y * W + x) * C + c ("HWC") on the device, so that one
tap adds a contiguous run of output channels. The host (golden simulator, NIR, torch) indexes
maps (c * H + y) * W + x ("CHW"); ``device_order`` maps between the two, and the rows of a fully
connected layer that reads a map are permuted to the device's order here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

ROW_ALIGN_WORDS = 4
PARAMS = ("bias", "alpha_mem", "alpha_syn", "threshold", "v_reset")


def hwc_order(shape: tuple[int, ...]) -> np.ndarray:
    """For each device index of a (C, H, W) map (HWC), the host index (CHW)."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def device_order(layer: QuantLayer) -> np.ndarray | None:
    """Host neuron index of each device neuron of a layer (None: the same order)."""
    return hwc_order(layer.conv.out_shape) if layer.conv is not None else None


def input_is_hwc(qnet: QuantNetwork, index: int) -> tuple[bool, bool]:
    """Whether layer ``index``'s input indices are HWC (before, after its pooling)."""
    src = qnet.sources[index] if qnet.sources else index - 1  # the layer its own weights read
    before = src >= 0 and qnet.layers[src].conv is not None
    return before, before or qnet.layers[index].pool is not None


def pack_lanes(values: np.ndarray, words: int) -> np.ndarray:
    """Rows of int values -> uint32 words of two int16 lanes (``hi * 65536 + lo``), zero padded."""
    rows = values.shape[0]
    lanes = np.zeros((rows, 2 * words), np.int64)
    lanes[:, : values.shape[1]] = values
    return ((lanes[:, 1::2] * 65536 + lanes[:, 0::2]) & 0xFFFFFFFF).astype(np.uint32)


def packed_rows(weight: np.ndarray) -> tuple[np.ndarray, int]:
    """(rows, words): one row per presynaptic neuron, int16 lane pairs as ``hi * 65536 + lo``.

    ``weight`` is (n_out, n_in); the result is (n_in, words) uint32 with words a multiple of 4.
    """
    n_out = weight.shape[0]
    words = -(-n_out // (2 * ROW_ALIGN_WORDS)) * ROW_ALIGN_WORDS
    return pack_lanes(np.asarray(weight).T, words), words


def dense_weight(qnet: QuantNetwork, index: int) -> np.ndarray:
    """A fully connected layer's weight with its columns in the order the device sends events."""
    L = qnet.layers[index]
    if not input_is_hwc(qnet, index)[1]:
        return L.weight
    src = qnet.sources[index] if qnet.sources else index - 1
    shape = L.pool.out_shape if L.pool is not None else qnet.layers[src].out_shape
    return L.weight[:, hwc_order(shape)]


def conv_words(layer: QuantLayer) -> tuple[int, int]:
    """(words per tap row, words per output position) of a convolutional layer."""
    g = layer.conv
    assert g is not None
    words_g = -(-(g.out_channels // g.groups) // 2)
    return words_g, words_g * g.groups


def conv_rows(layer: QuantLayer) -> np.ndarray:
    """Packed tap rows: for input channel c, ky, then kx from kw - 1 down to 0, the weights of c's
    group's output channels. (C_in * kh * kw, words_g) uint32. Taps in that order land on output
    positions left to right, so with one group the taps of a kernel row that an event reaches
    add one contiguous run of weights to one contiguous run of sums."""
    g = layer.conv
    assert g is not None
    cig, cog = g.in_shape[0] // g.groups, g.out_channels // g.groups
    w = layer.weight  # (C_out, cig, kh, kw)
    rows = []
    for c in range(g.in_shape[0]):
        grp, ci = divmod(c, cig)
        block = w[grp * cog : (grp + 1) * cog, ci, :, ::-1]  # (cog, kh, kw), kx reversed
        rows.append(block.reshape(cog, -1).T)  # (kh*kw, cog)
    return pack_lanes(np.concatenate(rows), conv_words(layer)[0])


def channel_values(layer: QuantLayer, name: str) -> np.ndarray | None:
    """A convolutional layer's per-neuron parameter as one value per output channel, or None
    when it differs within a channel (the runtime stores one per channel)."""
    arr = getattr(layer, name)
    if arr is None:
        return None
    rows = np.asarray(arr).reshape(layer.conv.out_channels, -1)  # type: ignore[union-attr]
    return rows[:, 0].copy() if np.all(rows == rows[:, :1]) else None


def part_words(qnet: QuantNetwork, index: int) -> int:
    """Packed partial-sum words a layer needs."""
    L = qnet.layers[index]
    if L.conv is not None:
        _, ho, wo = L.conv.out_shape
        return ho * wo * conv_words(L)[1]
    return packed_rows(L.weight)[1]


def scratch_words(qnet: QuantNetwork) -> int:
    """Words of the packed-sum scratch buffer: the largest layer's, padded to 4 (block clears)."""
    return -(-max(part_words(qnet, i) for i in range(len(qnet.layers))) // ROW_ALIGN_WORDS) * ROW_ALIGN_WORDS


def weight_words(qnet: QuantNetwork, index: int) -> int:
    """uint32 words of a layer's weight tables (feed-forward and recurrent)."""
    L = qnet.layers[index]
    if L.conv is not None:
        return int(conv_rows(L).size)
    n = packed_rows(L.weight)[0].size
    return int(n + (packed_rows(L.recurrent)[0].size if L.recurrent is not None else 0))


def pooled_scratch(qnet: QuantNetwork) -> tuple[int, int]:
    """(event slots, flags) the pooling scratch buffers need (1 each when unused), for layers'
    and connections' pooling: the flags serve max pooling and a SEW gate's marks (one per
    neuron of the gated layer)."""
    edges: list[Any] = [*qnet.layers, *qnet.connections]  # a graph's connections pool too
    pooled = [e for e in edges if e.pool is not None]
    events = max((e.n_in for e in pooled), default=1)
    seen = max((e.pool.n_out for e in pooled if e.pool.kind == "max"), default=1)
    return events, max([seen] + [qnet.layers[g.layer].n_out for g in qnet.gates])
