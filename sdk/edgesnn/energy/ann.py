"""The int8 ANN a user would deploy instead of an SNN: a ReLU MLP trained here with torch,
quantized as TensorFlow Lite does (int8 activations with zero points, symmetric per-tensor int8
weights, int32 biases, one Q31 multiplier and shift per layer), and run in numpy exactly as
CMSIS-NN's ``arm_fully_connected_s8`` computes it (its default double-rounding requantization:
``arm_nn_doubling_high_mult_no_sat`` then ``arm_nn_divide_by_power_of_two``), so that the
device's outputs can be compared with it byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Int8Dense:
    """y = clamp(requantize((x + input_offset) . W^T + bias, multiplier, shift) + output_offset,
    act_min, act_max): one ``arm_fully_connected_s8`` call."""

    weight: np.ndarray  # int8 (out, in)
    bias: np.ndarray  # int32 (out,)
    multiplier: int  # Q31
    shift: int  # > 0: left shift before the multiply; < 0: rounding right shift after
    input_offset: int  # minus the input zero point
    output_offset: int  # the output zero point
    act_min: int
    act_max: int

    def __post_init__(self) -> None:
        if self.weight.dtype != np.int8 or self.weight.ndim != 2:
            raise ValueError(f"weight must be a 2-D int8 array, got {self.weight.dtype} {self.weight.shape}")
        if self.bias.shape != (self.weight.shape[0],):
            raise ValueError(f"bias shape {self.bias.shape} does not match {self.weight.shape[0]} outputs")
        if not 0 <= self.multiplier < 2**31:
            raise ValueError(f"multiplier {self.multiplier} is not a non-negative Q31 value")


@dataclass(frozen=True, eq=False)
class Int8ANN:
    """Layers run in order: ``Int8Dense`` and (``energy.ann_conv``) ``Int8Conv``. ``input_order``
    reorders the data set's flat inputs into the first layer's layout (CHW -> NHWC for a CNN)."""

    layers: tuple[Any, ...]
    hidden: tuple[int, ...]
    input_order: np.ndarray | None = None

    @property
    def n_inputs(self) -> int:
        first = self.layers[0]
        return int(np.prod(first.in_shape)) if hasattr(first, "in_shape") else int(first.weight.shape[1])

    @property
    def macs(self) -> int:
        return int(sum(L.macs if hasattr(L, "macs") else L.weight.size for L in self.layers))


def quantize_input(x: np.ndarray) -> np.ndarray:
    """Inputs in [0, 1] as int8 with scale 1/255 and zero point -128."""
    return np.clip(np.rint(np.asarray(x, np.float64) * 255.0) - 128, -128, 127).astype(np.int8)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(Q31 multiplier, shift) with real = multiplier * 2^(shift - 31), as TFLite computes them."""
    if real <= 0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = int(round(q * (1 << 31)))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    return fixed, shift


def requantize(acc: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """CMSIS-NN's arm_nn_requantize (default build: no single rounding), in int64."""
    left, right = max(shift, 0), max(-shift, 0)
    v = acc.astype(np.int64) * (1 << left)
    high = (v * multiplier + (1 << 30)) >> 31  # arm_nn_doubling_high_mult_no_sat
    high = ((high + 2**31) % 2**32) - 2**31  # the C result is an int32
    mask = (1 << right) - 1
    result = high >> right
    threshold = (mask >> 1) + (result < 0)
    return result + ((high & mask) > threshold)


def ann_inputs(ann: Int8ANN, x: np.ndarray) -> np.ndarray:
    """The data set's inputs in [0, 1] as the deployed network reads them: int8, its layout."""
    xq = quantize_input(x)
    return xq if ann.input_order is None else np.ascontiguousarray(xq[:, ann.input_order])


def run_int8(ann: Int8ANN, xq: np.ndarray) -> np.ndarray:
    """Output int8 logits of the deployed network for int8 inputs (N, n_inputs)."""
    x = np.asarray(xq, np.int64)
    for L in ann.layers:
        if hasattr(L, "in_shape"):  # a convolution (energy.ann_conv)
            from edgesnn.energy.ann_conv import conv_forward

            x = conv_forward(L, x).astype(np.int64)
            continue
        acc = (x + L.input_offset) @ L.weight.astype(np.int64).T + L.bias
        x = np.clip(requantize(acc, L.multiplier, L.shift) + L.output_offset, L.act_min, L.act_max)
    return x.astype(np.int8)


def predict_int8(ann: Int8ANN, xq: np.ndarray) -> np.ndarray:
    """Class = first index of the largest logit (argmax), as the device app reports it."""
    return np.argmax(run_int8(ann, xq), axis=1)


def train_float(x: np.ndarray, y: np.ndarray, hidden: int, classes: int, *, epochs: int = 60, seed: int = 0):
    """A 2-layer ReLU MLP on inputs in [0, 1] (torch, Adam, cross-entropy)."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))
    return fit(model, torch.as_tensor(x, dtype=torch.float32), y, epochs=epochs, seed=seed)


def fit(model, xt, y: np.ndarray, *, epochs: int, seed: int):
    """Adam, cross-entropy, minibatches of 64 in a seeded order: the baselines' training."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    yt = torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model


def quantize_ann(model, x_calib: np.ndarray) -> Int8ANN:
    """Post-training int8 quantization of the MLP, activation ranges from ``x_calib``."""
    import torch

    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    in_scale, in_zero = 1.0 / 255.0, -128
    h = torch.as_tensor(x_calib, dtype=torch.float32)
    layers = []
    with torch.no_grad():
        for k, lin in enumerate(linears):
            last = k == len(linears) - 1
            w = lin.weight.numpy().astype(np.float64)
            b = lin.bias.numpy().astype(np.float64)
            w_scale = max(float(np.abs(w).max()), 1e-12) / 127.0
            h = lin(h) if last else torch.relu(lin(h))
            lo, hi = (float(h.min()), float(h.max())) if last else (0.0, float(h.max()))
            lo, hi = min(lo, 0.0), max(hi, lo + 1e-6)
            out_scale = (hi - lo) / 255.0
            out_zero = int(np.clip(round(-128 - lo / out_scale), -128, 127))
            mult, shift = quantize_multiplier(in_scale * w_scale / out_scale)
            layers.append(
                Int8Dense(
                    weight=np.clip(np.rint(w / w_scale), -127, 127).astype(np.int8),
                    # clipped: a layer whose inputs are all dead has a tiny input scale
                    bias=np.clip(np.rint(b / (in_scale * w_scale)), -(2**31), 2**31 - 1).astype(np.int32),
                    multiplier=mult,
                    shift=shift,
                    input_offset=-in_zero,
                    output_offset=out_zero,
                    act_min=out_zero if not last else -128,
                    act_max=127,
                )
            )
            in_scale, in_zero = out_scale, out_zero
    return Int8ANN(layers=tuple(layers), hidden=tuple(int(L.weight.shape[0]) for L in layers[:-1]))


def smallest_matching_ann(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: int,
    target_accuracy: float,
    *,
    widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128),
    seed: int = 0,
    epochs: int = 150,
) -> tuple[Int8ANN, float, list[dict]]:
    """The narrowest int8 MLP whose integer test accuracy is at least ``target_accuracy`` - 1 pt
    (the cheapest ANN as good as the SNN); the widest tried if none is. Returns the network, its
    integer accuracy and every width tried."""
    return narrowest(
        widths,
        lambda w: quantize_ann(train_float(x_train, y_train, w, classes, epochs=epochs, seed=seed), x_train),
        x_test,
        y_test,
        target_accuracy,
        "hidden",
    )


def narrowest(widths, make, x_test, y_test, target_accuracy: float, key: str) -> tuple[Int8ANN, float, list[dict]]:
    """Build ``make(width)`` for each width in turn until one's int8 test accuracy is within 1 pt
    of ``target_accuracy``: (that network or the last tried, its accuracy, every width tried as
    ``{key: width, "int8_accuracy": ...}``)."""
    tried, best = [], None
    for width in widths:
        ann = make(width)
        acc = float(np.mean(predict_int8(ann, ann_inputs(ann, x_test)) == y_test))
        tried.append({key: width, "int8_accuracy": acc})
        best = (ann, acc)
        if acc >= target_accuracy - 0.01:
            break
    if best is None:
        raise ValueError("widths is empty")
    return best[0], best[1], tried
