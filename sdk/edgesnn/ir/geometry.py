"""Shapes of convolutions and pooling, shared by the float IR and the integer contract.

Feature maps are (channels, height, width) and flatten in that order (C-major, like torch's
``Flatten``): neuron ``(c, y, x)`` of a (C, H, W) map is index ``(c * H + y) * W + x``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

POOL_KINDS = ("sum", "avg", "max")


def _pair(name: str, value) -> tuple[int, int]:
    if isinstance(value, (int,)) or (hasattr(value, "__int__") and not hasattr(value, "__len__")):
        a = b = int(value)
    else:
        vals = tuple(int(v) for v in value)
        if len(vals) == 1:
            vals = vals * 2
        if len(vals) != 2:
            raise ValueError(f"{name} must be one integer or two, got {value!r}")
        a, b = vals
    return a, b


def _shape3(name: str, value) -> tuple[int, int, int]:
    vals = tuple(int(v) for v in value)
    if len(vals) != 3 or min(vals) < 1:
        raise ValueError(f"{name} must be (channels, height, width) with every entry >= 1, got {value!r}")
    return vals[0], vals[1], vals[2]


def _as_dict(g) -> dict:
    """A geometry as JSON-able data (model files, hashes); ``cls(**d)`` rebuilds it."""
    return {
        f: list(v) if isinstance(v, tuple) else v
        for f, v in vars(g).items()
        if not f.startswith("_") and f in g.__dataclass_fields__
    }


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for v in shape:
        n *= int(v)
    return n


class _Sizes:
    """n_in and n_out of a shape record with ``in_shape`` and ``out_shape``."""

    in_shape: tuple[int, int, int]

    @property
    def out_shape(self) -> tuple[int, int, int]:
        raise NotImplementedError

    @property
    def n_in(self) -> int:
        return _size(self.in_shape)

    @property
    def n_out(self) -> int:
        return _size(self.out_shape)


@dataclass(frozen=True)
class ConvGeometry(_Sizes):
    """A 2-d convolution's shape (cross-correlation, as torch and NIR define it)::

        out[co, oy, ox] = sum over ci in co's group, ky < kh, kx < kw of
                          w[co, ci, ky, kx] * in[g(co) * C_in/groups + ci, oy*sh + ky - ph, ox*sw + kx - pw]

    where inputs outside the map (padding) are 0. ``out_shape`` = (C_out, H_out, W_out) with
    ``H_out = (H + 2*ph - kh) // sh + 1`` (likewise W).
    """

    in_shape: tuple[int, int, int]
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1

    def __post_init__(self):
        object.__setattr__(self, "in_shape", _shape3("in_shape", self.in_shape))
        for name in ("kernel", "stride", "padding"):
            object.__setattr__(self, name, _pair(name, getattr(self, name)))
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"kernel and stride must be >= 1 and padding >= 0, got kernel {self.kernel}, "
                f"stride {self.stride}, padding {self.padding}"
            )
        if int(self.groups) < 1 or self.in_shape[0] % int(self.groups) or int(self.out_channels) % int(self.groups):
            raise ValueError(
                f"groups {self.groups!r} must divide in channels {self.in_shape[0]} and out channels {self.out_channels}"
            )
        if int(self.out_channels) < 1:
            raise ValueError(f"out_channels must be >= 1, got {self.out_channels!r}")
        object.__setattr__(self, "groups", int(self.groups))
        object.__setattr__(self, "out_channels", int(self.out_channels))
        _, h, w = self.in_shape
        if h + 2 * self.padding[0] < self.kernel[0] or w + 2 * self.padding[1] < self.kernel[1]:
            raise ValueError(f"kernel {self.kernel} is larger than the padded input {self.in_shape}")
        if self.padding[0] >= self.kernel[0] or self.padding[1] >= self.kernel[1]:
            raise ValueError(f"padding {self.padding} must be smaller than the kernel {self.kernel}")

    def as_dict(self) -> dict:
        return _as_dict(self)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        _, h, w = self.in_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return (self.out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_shape[0] // self.groups, *self.kernel)

    @cached_property
    def taps(self) -> np.ndarray:
        """(groups, H_out*W_out, C_in/groups * kh * kw) flat input index read by each output
        position and weight tap, in the weight's (ci, ky, kx) order; ``n_in`` marks padding."""
        c_in, h, w = self.in_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        _, ho, wo = self.out_shape
        cig = c_in // self.groups
        oy, ox = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
        ky, kx = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
        y = oy.reshape(-1, 1) * sh + ky.reshape(1, -1) - ph  # (P, kh*kw)
        x = ox.reshape(-1, 1) * sw + kx.reshape(1, -1) - pw
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        out = np.empty((self.groups, ho * wo, cig, kh * kw), np.int64)
        for g in range(self.groups):
            for ci in range(cig):
                out[g, :, ci] = np.where(inside, ((g * cig + ci) * h + y) * w + x, self.n_in)
        taps = out.reshape(self.groups, ho * wo, cig * kh * kw)
        taps.flags.writeable = False
        return taps

    def apply(self, x: np.ndarray, weight: np.ndarray, dtype=np.float64, rows: int = 512) -> np.ndarray:
        """The convolution of flat inputs ``x`` (B, n_in) with ``weight`` (C_out, C_in/groups,
        kh, kw): (B, n_out) in ``dtype``, computed ``rows`` samples at a time (im2col + GEMM).
        For integer data the caller picks a dtype that holds every sum exactly."""
        b = x.shape[0]
        taps = self.taps
        cog = self.out_channels // self.groups
        p = taps.shape[1]
        w = np.asarray(weight, dtype).reshape(self.groups, cog, -1)
        out = np.empty((b, self.out_channels, p), dtype)
        for start in range(0, b, rows):
            xp = np.zeros((min(rows, b - start), self.n_in + 1), dtype)
            xp[:, : self.n_in] = x[start : start + rows]
            for g in range(self.groups):
                cols = xp[:, taps[g]]  # (rows, P, K)
                out[start : start + rows, g * cog : (g + 1) * cog] = np.einsum("rpk,ok->rop", cols, w[g], optimize=True)
        return out.reshape(b, -1)

    @cached_property
    def fan_out(self) -> np.ndarray:
        """Per input neuron, the weights one of its spikes adds (padding and borders excluded):
        its synaptic events. (n_in,) int64."""
        cog = self.out_channels // self.groups
        counts = np.zeros(self.n_in + 1, np.int64)
        for g in range(self.groups):
            counts += np.bincount(self.taps[g].ravel(), minlength=self.n_in + 1) * cog
        out = counts[: self.n_in]
        out.flags.writeable = False
        return out


@dataclass(frozen=True)
class Pool2d(_Sizes):
    """Pooling of a spike map, applied to a layer's input (windows ``kernel``, step ``stride``,
    no padding; rows and columns that do not fill a window are dropped, as in torch)::

        sum:  p[c, py, px] = number of spikes in the window          (an integer in [0, kh*kw])
        avg:  p[c, py, px] = that number / (kh * kw)                 (float IR only: the
              quantizer folds 1 / (kh*kw) into the next layer's weights and pools by sum)
        max:  p[c, py, px] = 1 if any spike in the window else 0     (a logical OR)
    """

    kind: str
    kernel: tuple[int, int]
    in_shape: tuple[int, int, int]
    stride: tuple[int, int] | None = None

    def __post_init__(self):
        if self.kind not in POOL_KINDS:
            raise ValueError(f"pooling kind must be one of {POOL_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "in_shape", _shape3("in_shape", self.in_shape))
        object.__setattr__(self, "kernel", _pair("kernel", self.kernel))
        object.__setattr__(self, "stride", self.kernel if self.stride is None else _pair("stride", self.stride))
        if min(self.kernel) < 1 or min(self.stride) < 1:
            raise ValueError(f"pooling kernel and stride must be >= 1, got {self.kernel} and {self.stride}")
        if self.kernel[0] > self.in_shape[1] or self.kernel[1] > self.in_shape[2]:
            raise ValueError(f"pooling kernel {self.kernel} is larger than the map {self.in_shape}")

    def as_dict(self) -> dict:
        return _as_dict(self)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        (kh, kw), (sh, sw) = self.kernel, self.stride  # type: ignore[misc]
        return (c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    @property
    def window(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @cached_property
    def windows(self) -> np.ndarray:
        """(n_out, kh*kw) flat input index of every position of every window."""
        c, h, w = self.in_shape
        (kh, kw), (sh, sw) = self.kernel, self.stride  # type: ignore[misc]
        _, ho, wo = self.out_shape
        cc, py, px, ky, kx = np.meshgrid(
            np.arange(c), np.arange(ho), np.arange(wo), np.arange(kh), np.arange(kw), indexing="ij"
        )
        out = ((cc * h + py * sh + ky) * w + px * sw + kx).reshape(c * ho * wo, kh * kw)
        out.flags.writeable = False
        return out

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Pool flat spike maps ``x`` (..., n_in) -> (..., n_out): counts (``sum``, int64),
        averages (``avg``, float64) or a logical OR (``max``, bool)."""
        win = np.asarray(x)[..., self.windows]
        if self.kind == "max":
            return np.asarray(win.any(axis=-1))
        total = win.sum(axis=-1, dtype=np.float64 if win.dtype.kind == "f" else np.int64)
        return total / self.window if self.kind == "avg" else total

    @property
    def count(self) -> int:
        """The most input spikes one pooled value adds weights for: the window for sum and average
        (average's 1 / window lives in the weights), 1 for max. A fan-in factor."""
        return 1 if self.kind == "max" else self.window

    @property
    def tiles(self) -> bool:
        """Whether windows neither overlap nor leave gaps (stride == kernel): each input
        position then belongs to at most one window (what the C runtime supports)."""
        return self.stride == self.kernel
