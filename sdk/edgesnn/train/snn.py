"""A torch spiking network (dense and convolutional layers) whose forward pass follows either float semantics or the integer contract.

Float mode computes exactly the float IR (``ir.neurons``). Quantization-aware mode (QAT)
computes in the integer units of docs/fixed-point.md: weights, thresholds and biases are
quantized with the quantizer's own rules (``fixedpoint.quantize``), states are rounded with the
contract's rounding rule and saturated, all in float64 (exact for these integers); rounding
uses straight-through gradients. A QAT forward therefore gives the golden simulator's spikes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
import torch.nn.functional as F

from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.quantize import THRESHOLD_HEADROOM
from edgesnn.ir.geometry import Pool2d
from edgesnn.ir.graph import apply_gate
from edgesnn.train.arch import LayerSpec

if TYPE_CHECKING:
    from edgesnn.train.kit_qat import KitNet


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
        u = torch.empty_like(v)
        z = torch.empty(n, m, dtype=torch.bool, device=cur.device)
        us = torch.empty_like(cur)
        # where the QAT clamp did not bind (float mode has no clamp and keeps nothing)
        inside = torch.empty_like(cur, dtype=torch.bool) if qat else torch.empty(0, dtype=torch.bool)
        low = torch.empty_like(z) if qat else z
        out = torch.empty_like(cur)
        for t in range(steps):  # in place: the loop runs per timestep, its allocations add up
            torch.mul(v, decay, out=u)
            if qat:
                u.add_(0.5).floor_().add_(cur[:, t])
                torch.ge(u, lo, out=low)
                torch.le(u, hi, out=z)
                torch.logical_and(low, z, out=inside[:, t])
                u.clamp_(lo, hi)
            else:
                u.add_(cur[:, t])
            torch.gt(u, thr, out=z)
            us[:, t] = u
            out[:, t] = z
            torch.addcmul(u, out[:, t], thr, value=-1.0, out=v)
        ctx.save_for_backward(us, thr, inside)
        ctx.decay, ctx.slope, ctx.qat = decay, slope, qat
        return out, v

    @staticmethod
    def backward(ctx, g_out, g_v):
        us, thr, inside = ctx.saved_tensors
        steps = us.shape[1]
        # the surrogate term of every step at once (it does not depend on the recurrence) ...
        sg = g_out / (ctx.slope * ((us - thr) / thr).abs() + 1.0) ** 2 / thr
        if ctx.qat:
            sg.mul_(inside)
        g_cur = torch.empty_like(us)
        gv = g_v if g_v is not None else torch.zeros_like(us[:, 0])
        # ... then the linear recurrence backwards in time: g_t = mask_t * (sg_t + decay * g_{t+1})
        for t in range(steps - 1, -1, -1):
            gu = g_cur[:, t]
            if ctx.qat:
                torch.addcmul(sg[:, t], gv, inside[:, t], out=gu)
            else:
                torch.add(sg[:, t], gv, out=gu)
            gv = gu * ctx.decay
        return g_cur, None, None, None, None, None, None


def recurrent_modules(specs: list[LayerSpec]) -> torch.nn.ModuleDict:
    """The recurrent weights of the layers that have them, keyed by layer index, small at first
    (uniform within 0.1 / sqrt(units)) so that training starts near the feed-forward network."""
    recs = torch.nn.ModuleDict(
        {str(i): torch.nn.Linear(sp.units, sp.units, bias=False) for i, sp in enumerate(specs) if sp.recurrent}
    )
    for i, sp in enumerate(specs):
        if sp.recurrent:
            bound = 0.1 / sp.units**0.5
            torch.nn.init.uniform_(cast(torch.nn.Linear, recs[str(i)]).weight, -bound, bound)
    return recs


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """The contract's rounding rule, floor(x + 1/2), with a straight-through gradient."""
    return x + (torch.floor(x + 0.5) - x).detach()


def _extra_module(sp: LayerSpec, n_in: int) -> torch.nn.Module:
    """A graph's further input into a layer: a weight matrix (dense), or for a convolution a
    depthwise 1x1 (one weight per channel, one to one from a map of its shape) that starts as the
    identity, a residual connection into the population."""
    if sp.conv is None:
        return torch.nn.Linear(n_in, sp.units, bias=False)
    c = sp.conv.out_channels
    mod = torch.nn.Conv2d(c, c, 1, groups=c, bias=False)
    torch.nn.init.ones_(mod.weight)
    return mod


class SpikingNet(torch.nn.Module):
    """Spiking layers (``train.arch.LayerSpec``: dense or convolutional, each with an optional
    pooling of its input) of voltage-based LIF (beta < 1) or IF (beta == 1) neurons, reset by
    subtraction. In QAT mode every layer computes what ``fixedpoint.quantize`` and the golden
    simulator compute: per-row (neuron or conv channel) weight scales, average pooling folded
    into the weights as a sum, the contract's rounded decay and saturation."""

    def __init__(
        self,
        specs: list[LayerSpec],
        n_inputs: int,
        beta: float,
        threshold: float,
        *,
        qat: dict | None = None,
        slope: float = 5.0,
    ):
        super().__init__()
        self.specs, self.n_inputs = list(specs), n_inputs
        self.beta, self.threshold, self.slope = beta, threshold, slope
        mods: list[torch.nn.Module] = []
        for sp in self.specs:
            if sp.conv is None:
                mods.append(torch.nn.Linear(sp.n_syn, sp.units))
            else:
                g = sp.conv
                mods.append(
                    torch.nn.Conv2d(g.in_shape[0], g.out_channels, g.kernel, g.stride, g.padding, groups=g.groups)
                )
        self.fcs = torch.nn.ModuleList(mods)
        self.recs = recurrent_modules(self.specs)
        # a graph's further inputs (train.arch: inputs = [...]): one weight matrix each, no bias
        self.extras = torch.nn.ModuleDict(
            {f"{i}_{src}": _extra_module(sp, n) for i, sp in enumerate(self.specs) for src, n in sp.extra}
        )
        self.qat = qat  # {"weight_bits", "state_bits", "per_channel"} or None
        self.fused = True  # the time loop as one autograd node (LIFRecurrence); False: step by step

    def _pool(self, flat: torch.Tensor, pool: Pool2d) -> torch.Tensor:
        x = flat.reshape(flat.shape[0], *pool.in_shape)
        if pool.kind == "max":
            y = F.max_pool2d(x, pool.kernel, pool.stride)
        elif pool.kind == "avg" and not self.qat:
            y = F.avg_pool2d(x, pool.kernel, pool.stride)
        else:  # sum, and average in QAT (the 1 / window is in the weights, as the quantizer folds it)
            y = F.avg_pool2d(x, pool.kernel, pool.stride, divisor_override=1)
        return y.reshape(flat.shape[0], -1)

    def _layer_params(self, sp: LayerSpec, mod, rec, extras: list | None = None):
        """(weight, recurrent weight or None, bias, threshold, alpha-or-beta, |feed-forward sum|
        bound, the extra inputs' weights) in the units the forward pass uses. One scale per
        neuron covers the layer's own, recurrent and extra weights, as the quantizer's."""
        extras = extras or []
        thr = torch.full((sp.units,), float(self.threshold), dtype=torch.float64, device=mod.weight.device)
        if self.qat is None:
            rw = None if rec is None else rec.weight
            return mod.weight, rw, mod.bias, thr.float(), self.beta, math.inf, [e.weight for e in extras]
        wb, sb = self.qat["weight_bits"], self.qat["state_bits"]
        q = C.weight_limit(wb)
        w = mod.weight.double()
        count = sp.pool.count if sp.pool is not None else 1
        if sp.pool is not None and sp.pool.kind == "avg":
            w = w / count
        rows = w.reshape(w.shape[0], -1)
        mag = rows.detach().abs().amax(dim=1)
        r = None if rec is None else rec.weight.double()
        if r is not None:  # one scale per neuron for both, as the quantizer's weight_scales
            mag = torch.maximum(mag, r.detach().abs().amax(dim=1))
        ew = [e.weight.double() for e in extras]
        for e in ew:  # (units, n) dense, or (C, 1, 1, 1): one to one per channel
            mag = torch.maximum(mag, e.detach().reshape(e.shape[0], -1).abs().amax(dim=1))
        layer_max = float(mag.max()) or float(q)
        if not self.qat.get("per_channel", True):
            mag = torch.full_like(mag, layer_max)
        scale = torch.where(mag > 0, mag, torch.full_like(mag, layer_max)) / q
        scale_n = scale.repeat_interleave(sp.units // rows.shape[0])  # a conv channel's neurons share it
        shift = C.choose_shift(float((thr / scale_n).max()), sb, THRESHOLD_HEADROOM)

        def as_int(m):
            return torch.clamp(ste_round(m / scale[:, None]), -q, q) * float(1 << shift)

        wq = as_int(rows).reshape(w.shape)
        rq = None if r is None else as_int(r)
        eq = [as_int(e.reshape(e.shape[0], -1)).reshape(e.shape) for e in ew]
        lo, hi = C.state_limits(sb)
        bq = torch.clamp(ste_round(mod.bias.double() / (scale / (1 << shift))), lo, hi)
        thr_q = torch.clamp(torch.floor(thr / (scale_n / (1 << shift)) + 0.5), min=1.0)
        alpha = float(C.decay_multiplier(self.beta))
        bound = float(wq.detach().abs().amax()) * rows.shape[1] * count + float(bq.detach().abs().amax())
        bound += sum(float(e.detach().abs().amax()) * (e.shape[1] if e.dim() == 2 else 1) for e in eq)
        return wq, rq, bq, thr_q, alpha, bound, eq

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, time, inputs) spikes -> (output spikes (batch, time, out), final membrane)."""
        n, steps, _ = x.shape
        x_in = x.double() if self.qat else x.float()
        s = x_in
        if self.qat:
            lo, hi = C.state_limits(self.qat["state_bits"])
        spikes: list[torch.Tensor] = []  # every layer's, for a graph's later readers
        for i, (sp, mod) in enumerate(zip(self.specs, self.fcs)):
            src = sp.source if sp.source != -2 else i - 1
            s = x_in if src < 0 else spikes[src]
            flat = s.reshape(n * steps, -1)
            if sp.pool is not None:
                flat = self._pool(flat, sp.pool)
            extras = [self.extras[f"{i}_{e}"] for e, _ in sp.extra]
            w, r, b, thr, decay, bound, ew = self._layer_params(
                sp, mod, self.recs[str(i)] if sp.recurrent else None, extras
            )
            exact32 = bound < 2**24  # QAT: every sum is an integer below 2**24, which float32 computes exactly
            if exact32:
                flat, w, b = flat.float(), w.float(), b.float()
            if sp.conv is None:
                cur = F.linear(flat, w, b)
            else:
                g = sp.conv
                cur = F.conv2d(flat.reshape(-1, *g.in_shape), w, b, g.stride, g.padding, 1, g.groups)
            for (e, _), we in zip(sp.extra, ew):  # a graph's further inputs, summed into the same drive
                fe = (x_in if e < 0 else spikes[e]).reshape(n * steps, -1).to(cur.dtype)
                if sp.conv is None:
                    cur = cur + F.linear(fe, we.to(cur.dtype))
                else:  # one to one per channel, on the map of the layer's own output shape
                    g = sp.conv
                    one = F.conv2d(fe.reshape(-1, *g.out_shape), we.to(cur.dtype), None, 1, 0, 1, g.out_channels)
                    cur = cur + one.reshape(cur.shape)
            cur = cur.reshape(n, steps, -1).to(x_in.dtype)
            if self.fused and r is None:  # a recurrent layer's input depends on its last spikes: step by step
                a = decay / C.DECAY_ONE if self.qat else decay
                bounds = (float(lo), float(hi)) if self.qat else (0.0, 0.0)
                s, v = LIFRecurrence.apply(cur, thr.to(cur.dtype), a, self.slope, bool(self.qat), *bounds)
                spikes.append(self._gated(sp, s, spikes))
                continue
            v = torch.zeros(n, sp.units, dtype=cur.dtype, device=cur.device)
            z = torch.zeros_like(v)
            out = []
            for t in range(steps):
                x_t = cur[:, t] if r is None else cur[:, t] + F.linear(z, r.to(cur.dtype))
                if self.qat:
                    v = torch.clamp(DecayRound.apply(v, decay / C.DECAY_ONE) + x_t, lo, hi)
                else:
                    v = decay * v + x_t
                z = SpikeFn.apply((v - thr) / thr, self.slope)
                v = v - z.detach() * thr
                out.append(z)
            s = torch.stack(out, dim=1)
            spikes.append(self._gated(sp, s, spikes))
        return spikes[-1], v

    @staticmethod
    def _gated(sp: LayerSpec, s: torch.Tensor, spikes: list[torch.Tensor]) -> torch.Tensor:
        """A SEW gate (``ir.graph.SpikeGate``) on the layer's spikes: OR / IAND with an earlier
        layer's, in {0, 1} and differentiable through both (surrogate gradients)."""
        if sp.gate is None:
            return s
        op, src = sp.gate
        return apply_gate(op, s, spikes[src].to(s.dtype))


class SpikingMLP(SpikingNet):
    """Dense layers of the given sizes (inputs first)."""

    def __init__(self, sizes: list[int], beta: float, threshold: float, *, qat: dict | None = None, slope: float = 5.0):
        specs = [LayerSpec(units=b, n_syn=a) for a, b in zip(sizes[:-1], sizes[1:])]
        super().__init__(specs, sizes[0], beta, threshold, qat=qat, slope=slope)
        self.sizes = sizes


def recurrent_params(model: SpikingNet | KitNet) -> list[np.ndarray | None]:
    """Each layer's recurrent weight (float64) or None (a ``SpikingNet`` or ``KitNet``)."""
    return [
        cast(torch.nn.Linear, model.recs[str(i)]).weight.detach().double().cpu().numpy().copy()
        if sp.recurrent
        else None
        for i, sp in enumerate(model.specs)
    ]


def to_numpy_params(model: SpikingNet | KitNet) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each layer's (weight, bias), float64 (a ``SpikingNet`` or ``KitNet``)."""
    out = []
    for module in model.fcs:
        w, b = cast(torch.Tensor, module.weight), cast(torch.Tensor, module.bias)
        out.append((w.detach().double().cpu().numpy().copy(), b.detach().double().cpu().numpy().copy()))
    return out


def beta_from_tau(tau: float, dt: float) -> float:
    return math.exp(-dt / tau)
