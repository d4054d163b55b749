"""The int8 CNN a user would deploy instead of a convolutional SNN: two 3x3 convolutions (stride
2, padding 1, ReLU) and a fully connected classifier, trained here with torch and quantized as
TensorFlow Lite does (int8 activations with zero points, symmetric per-output-channel int8
convolution weights, int32 biases, one Q31 multiplier and shift per channel), run in numpy
exactly as CMSIS-NN's ``arm_convolve_s8`` (NHWC maps, padding at the input zero point, its
default requantization) and ``arm_fully_connected_s8`` compute it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.energy import ann as A


@dataclass(frozen=True)
class Int8Conv:
    """One ``arm_convolve_s8`` call: input (H, W, C) int8 NHWC, weight (C_out, kh, kw, C_in)."""

    weight: np.ndarray  # int8 (out, kh, kw, in)
    bias: np.ndarray  # int32 (out,)
    multiplier: np.ndarray  # int64 (out,) Q31
    shift: np.ndarray  # int64 (out,)
    in_shape: tuple[int, int, int]  # (H, W, C)
    stride: int
    padding: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int

    def __post_init__(self) -> None:
        if self.weight.dtype != np.int8 or self.weight.ndim != 4 or self.weight.shape[3] != self.in_shape[2]:
            raise ValueError(f"conv weight must be int8 (out, kh, kw, {self.in_shape[2]}), got {self.weight.shape}")

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w, _ = self.in_shape
        kh, kw = self.weight.shape[1:3]
        s, p = self.stride, self.padding
        return ((h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1, int(self.weight.shape[0]))

    @property
    def macs(self) -> int:
        ho, wo, co = self.out_shape
        return ho * wo * co * int(np.prod(self.weight.shape[1:]))


def requantize_channels(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``ann.requantize`` with one multiplier and shift per channel (the last axis)."""
    out = np.empty_like(acc, dtype=np.int64)
    for c in range(acc.shape[-1]):
        out[..., c] = A.requantize(acc[..., c], int(multiplier[c]), int(shift[c]))
    return out


def conv_forward(L: Int8Conv, x: np.ndarray) -> np.ndarray:
    """int8 output (N, Ho*Wo*C_out), NHWC, of int8 input (N, H*W*C), NHWC."""
    h, w, c = L.in_shape
    ho, wo, co = L.out_shape
    kh, kw = L.weight.shape[1:3]
    s, p = L.stride, L.padding
    xo = np.asarray(x, np.int64).reshape(-1, h, w, c) + L.input_offset  # padding: 0 after the offset
    xp = np.zeros((xo.shape[0], h + 2 * p, w + 2 * p, c), np.int64)
    xp[:, p : p + h, p : p + w] = xo
    acc = np.zeros((xo.shape[0], ho, wo, co), np.int64)
    wt = L.weight.astype(np.int64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, ky : ky + s * (ho - 1) + 1 : s, kx : kx + s * (wo - 1) + 1 : s]  # (N, ho, wo, c)
            acc += np.einsum("nyxc,oc->nyxo", patch, wt[:, ky, kx, :])
    acc += L.bias
    y = np.clip(requantize_channels(acc, L.multiplier, L.shift) + L.output_offset, L.act_min, L.act_max)
    return y.reshape(xo.shape[0], -1)


def chw_to_hwc(shape: tuple[int, int, int]) -> np.ndarray:
    """Column order that turns (C, H, W)-flattened inputs into (H, W, C)-flattened ones."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def _bias(conv) -> np.ndarray:
    """A torch convolution's bias (zeros when it has none)."""
    b = conv.bias
    return np.zeros(conv.out_channels) if b is None else b.detach().numpy().astype(np.float64)


def _side(n: int) -> int:
    return (n + 1) // 2  # 3x3, stride 2, padding 1


def train_float(x: np.ndarray, y: np.ndarray, in_shape, channels: int, classes: int, *, epochs: int, seed: int = 0):
    """Two convolutions (3x3, stride 2, padding 1, ReLU; ``channels`` then 2 x ``channels``) and a
    linear classifier, on (C, H, W) inputs in [0, 1]."""
    import torch

    torch.manual_seed(seed)
    c, h, w = in_shape
    ho, wo = _side(_side(h)), _side(_side(w))
    model = torch.nn.Sequential(
        torch.nn.Conv2d(c, channels, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * channels * ho * wo, classes),
    )
    return A.fit(model, torch.as_tensor(x, dtype=torch.float32).reshape(-1, c, h, w), y, epochs=epochs, seed=seed)


def quantize_cnn(model, in_shape, x_calib: np.ndarray) -> A.Int8ANN:
    """Post-training int8 quantization of the CNN (activation ranges from ``x_calib``); the FC
    weights are reordered to read the NHWC map CMSIS-NN writes."""
    import torch

    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    fc = [m for m in model if isinstance(m, torch.nn.Linear)][-1]
    c, h, w = in_shape
    scale, zero = 1.0 / 255.0, -128
    act = torch.as_tensor(x_calib, dtype=torch.float32).reshape(-1, c, h, w)
    layers: list = []
    with torch.no_grad():
        for conv in convs:
            act = torch.relu(conv(act))
            wc = conv.weight.detach().numpy().astype(np.float64)  # (out, in, kh, kw)
            w_scale = np.maximum(np.abs(wc).reshape(wc.shape[0], -1).max(axis=1), 1e-12) / 127.0
            out_scale = max(float(act.max()), 1e-6) / 255.0
            mults = [A.quantize_multiplier(scale * s / out_scale) for s in w_scale]
            layers.append(
                Int8Conv(
                    weight=np.clip(np.rint(wc / w_scale[:, None, None, None]), -127, 127)
                    .astype(np.int8)
                    .transpose(0, 2, 3, 1)
                    .copy(),
                    bias=np.rint(_bias(conv) / (scale * w_scale)).astype(np.int32),
                    multiplier=np.array([m for m, _ in mults], np.int64),
                    shift=np.array([s for _, s in mults], np.int64),
                    in_shape=(h, w, c),
                    stride=2,
                    padding=1,
                    input_offset=-zero,
                    output_offset=-128,
                    act_min=-128,  # ReLU: nothing below the zero point
                    act_max=127,
                )
            )
            scale, zero = out_scale, -128
            h, w, c = layers[-1].out_shape
        logits = fc(act.flatten(1))
    wf = (
        fc.weight.detach()
        .numpy()
        .astype(np.float64)
        .reshape(-1, c, h, w)
        .transpose(0, 2, 3, 1)
        .reshape(fc.out_features, -1)
    )
    wf_scale = max(float(np.abs(wf).max()), 1e-12) / 127.0
    lo, hi = min(float(logits.min()), 0.0), max(float(logits.max()), 1e-6)
    out_scale = (hi - lo) / 255.0
    out_zero = int(np.clip(round(-128 - lo / out_scale), -128, 127))
    mult, shift = A.quantize_multiplier(scale * wf_scale / out_scale)
    layers.append(
        A.Int8Dense(
            weight=np.clip(np.rint(wf / wf_scale), -127, 127).astype(np.int8),
            bias=np.rint(fc.bias.detach().numpy() / (scale * wf_scale)).astype(np.int32),
            multiplier=mult,
            shift=shift,
            input_offset=-zero,
            output_offset=out_zero,
            act_min=-128,
            act_max=127,
        )
    )
    hidden = tuple(int(L.weight.shape[0]) for L in layers[:-1])
    return A.Int8ANN(layers=tuple(layers), hidden=hidden, input_order=chw_to_hwc(in_shape))


def smallest_matching_cnn(
    static: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    in_shape,
    classes: int,
    target_accuracy: float,
    *,
    widths: tuple[int, ...] = (2, 4, 8, 16),
    epochs: int = 60,
    seed: int = 0,
) -> tuple[A.Int8ANN, float, list[dict]]:
    """The narrowest int8 CNN (output channels of its first convolution) within 1 pt of
    ``target_accuracy``, else the widest tried: network, integer accuracy, widths tried."""
    x_tr, y_tr, x_te, y_te = static

    def make(width: int) -> A.Int8ANN:
        model = train_float(x_tr, y_tr, in_shape, width, classes, epochs=epochs, seed=seed)
        return quantize_cnn(model, in_shape, x_tr)

    return A.narrowest(widths, make, x_te, y_te, target_accuracy, "channels")
