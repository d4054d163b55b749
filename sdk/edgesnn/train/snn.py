"""A torch spiking MLP whose forward pass follows either float semantics or the integer contract.

Float mode computes exactly the float IR (``ir.neurons``). Quantization-aware mode (QAT)
computes in the integer units of docs/fixed-point.md: weights, thresholds and biases are
quantized with the quantizer's own rules (``fixedpoint.quantize``), states are rounded with the
contract's rounding rule and saturated, all in float64 (exact for these integers); rounding
uses straight-through gradients. A QAT forward therefore gives the golden simulator's spikes.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import torch

from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.quantize import THRESHOLD_HEADROOM


class SpikeFn(torch.autograd.Function):
    """Heaviside forward (strict ``>``); fast-sigmoid surrogate of the normalised distance."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad / (ctx.slope * u.abs() + 1.0) ** 2, None


class DecayRound(torch.autograd.Function):
    """``floor(v * a + 1/2)``: the contract's decay with its rounding; gradient as if unrounded."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, a: float) -> torch.Tensor:
        ctx.a = a
        return torch.floor(v * a + 0.5)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.a, None


class LIFRecurrence(torch.autograd.Function):
    """The whole time loop of one layer as one autograd node (forward and the reverse-time
    backward written out), instead of five graph nodes per timestep: the same spikes and the same
    gradients as the step-by-step graph (tests compare both), in a fraction of the time.

    Per step: u_t = clamp(decay(v_{t-1}) + I_t) (QAT: the contract's rounded decay and
    saturation; float: beta * v, no clamp), z_t = H((u_t - thr) / thr) with the fast-sigmoid
    surrogate, v_t = u_t - z_t * thr (reset not differentiated). Gradients: the rounded decay
    passes ``alpha`` straight through, the clamp passes where it did not bind.
    """

    @staticmethod
    def forward(ctx, cur, thr, decay: float, slope: float, qat: bool, lo: float, hi: float):
        n, steps, m = cur.shape
        v = torch.zeros(n, m, dtype=cur.dtype, device=cur.device)
        us = torch.empty_like(cur)
        # where the QAT clamp did not bind (float mode has no clamp and keeps nothing)
        inside = torch.empty_like(cur, dtype=torch.bool) if qat else torch.empty(0, dtype=torch.bool)
        out = torch.empty_like(cur)
        for t in range(steps):
            if qat:
                pre = torch.floor(v * decay + 0.5) + cur[:, t]
                inside[:, t] = (pre >= lo) & (pre <= hi)
                u = torch.clamp(pre, lo, hi)
            else:
                u = decay * v + cur[:, t]
            z = (u > thr).to(cur.dtype)
            us[:, t] = u
            out[:, t] = z
            v = u - z * thr
        ctx.save_for_backward(us, thr, inside)
        ctx.decay, ctx.slope, ctx.qat = decay, slope, qat
        return out, v

    @staticmethod
    def backward(ctx, g_out, g_v):
        us, thr, inside = ctx.saved_tensors
        steps = us.shape[1]
        g_cur = torch.empty_like(us)
        gv = g_v if g_v is not None else torch.zeros_like(us[:, 0])
        for t in range(steps - 1, -1, -1):
            x = (us[:, t] - thr) / thr
            gu = gv + (g_out[:, t] / (ctx.slope * x.abs() + 1.0) ** 2) / thr
            if ctx.qat:
                gu = gu * inside[:, t]
            g_cur[:, t] = gu
            gv = gu * ctx.decay
        return g_cur, None, None, None, None, None, None


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """The contract's rounding rule, floor(x + 1/2), with a straight-through gradient."""
    return x + (torch.floor(x + 0.5) - x).detach()


class SpikingMLP(torch.nn.Module):
    """Dense layers of voltage-based LIF (beta < 1) or IF (beta == 1) neurons, reset by subtraction."""

    def __init__(self, sizes: list[int], beta: float, threshold: float, *, qat: dict | None = None, slope: float = 5.0):
        super().__init__()
        self.sizes, self.beta, self.threshold, self.slope = sizes, beta, threshold, slope
        self.fcs = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.qat = qat  # {"weight_bits", "state_bits", "per_channel"} or None
        self.fused = True  # the time loop as one autograd node (LIFRecurrence); False: step by step

    def _layer_params(self, fc: torch.nn.Linear):
        """(weight, bias, threshold, alpha-or-beta) in the units the forward pass uses."""
        thr = torch.full((fc.out_features,), float(self.threshold), dtype=torch.float64, device=fc.weight.device)
        if self.qat is None:
            return fc.weight, fc.bias, thr.float(), self.beta
        wb, sb = self.qat["weight_bits"], self.qat["state_bits"]
        q = C.weight_limit(wb)
        w = fc.weight.double()
        mag = w.detach().abs().amax(dim=1)
        layer_max = float(mag.max()) or float(q)
        if not self.qat.get("per_channel", True):
            mag = torch.full_like(mag, layer_max)
        scale = torch.where(mag > 0, mag, torch.full_like(mag, layer_max)) / q
        shift = C.choose_shift(float((thr / scale).max()), sb, THRESHOLD_HEADROOM)
        unit = scale / (1 << shift)
        wq = torch.clamp(ste_round(w / scale[:, None]), -q, q) * float(1 << shift)
        lo, hi = C.state_limits(sb)
        bq = torch.clamp(ste_round(fc.bias.double() / unit), lo, hi)
        thr_q = torch.clamp(torch.floor(thr / unit + 0.5), min=1.0)
        alpha = float(C.decay_multiplier(self.beta))
        return wq, bq, thr_q, alpha

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, time, inputs) spikes -> (output spikes (batch, time, out), final membrane)."""
        n, steps, _ = x.shape
        s = x.double() if self.qat else x.float()
        if self.qat:
            lo, hi = C.state_limits(self.qat["state_bits"])
        for module in self.fcs:
            fc = cast(torch.nn.Linear, module)
            w, b, thr, decay = self._layer_params(fc)
            if self.qat and float(w.detach().abs().amax()) * fc.in_features + float(b.detach().abs().amax()) < 2**24:
                # every sum is an integer below 2**24: float32 computes it exactly, and faster
                cur = torch.nn.functional.linear(s.float(), w.float(), b.float()).double()
            else:
                cur = torch.nn.functional.linear(s, w, b)  # all timesteps at once, (n, T, out)
            if self.fused:
                a = decay / C.DECAY_ONE if self.qat else decay
                bounds = (float(lo), float(hi)) if self.qat else (0.0, 0.0)
                s, v = LIFRecurrence.apply(cur, thr.to(cur.dtype), a, self.slope, bool(self.qat), *bounds)
                continue
            v = torch.zeros(n, fc.out_features, dtype=cur.dtype, device=cur.device)
            out = []
            for t in range(steps):
                if self.qat:
                    v = torch.clamp(DecayRound.apply(v, decay / C.DECAY_ONE) + cur[:, t], lo, hi)
                else:
                    v = decay * v + cur[:, t]
                z = SpikeFn.apply((v - thr) / thr, self.slope)
                v = v - z.detach() * thr
                out.append(z)
            s = torch.stack(out, dim=1)
        return s, v


def to_numpy_params(model: SpikingMLP) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for module in model.fcs:
        fc = cast(torch.nn.Linear, module)
        out.append((fc.weight.detach().double().cpu().numpy().copy(), fc.bias.detach().double().cpu().numpy().copy()))
    return out


def beta_from_tau(tau: float, dt: float) -> float:
    return math.exp(-dt / tau)
