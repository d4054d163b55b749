"""Training for a chip's own arithmetic: a torch network of current-based LIF layers whose
quantization-aware forward is the chip dialect's integer step (``fixedpoint.dialects``).

Float mode is the float IR's ``CubaLIF`` (``i = beta_syn i + x``, ``v = beta_mem v + i``, spike
``v > threshold``, reset by subtraction): one float model that quantizes to any dialect. QAT mode
computes, in float64 (exact for these integers), what ``fixedpoint.quantize_kits`` and the golden
simulator compute for the dialect: the same scales, shifts, registers and per-step rules, with
straight-through gradients for rounding and the fast-sigmoid surrogate for spikes. Xylo adds
each spike into its synaptic current with a saturating add, so where a step's adds saturate
part-way the result depends on their order: this forward replays those adds in the chip's order
(as the golden simulator does) and passes the clamped sum's gradient.
"""

from __future__ import annotations

from functools import partial
from typing import cast

import numpy as np
import torch

from edgesnn.fixedpoint import dialects as D
from edgesnn.fixedpoint.quantize_kits import kit_registers, kit_shift
from edgesnn.train.arch import LayerSpec
from edgesnn.train.snn import SpikeFn, recurrent_modules, recurrent_params, ste_round, to_numpy_params


class _Decay(torch.autograd.Function):
    """A dialect's integer decay in the forward pass; its mean factor as the gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, fn, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return fn(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None, None


def _xylo_dec(dash: int):
    """``dialects.xylo_decay`` in torch (float64 integers): floor(x / 2**dash), at least 1 LSB."""

    def f(x):
        d = torch.floor(x / float(1 << dash))
        return torch.where((d == 0) & (x != 0), torch.sign(x), d)

    return f


def _loihi_dec(dd: int):
    """``dialects.loihi_decay``: sign(x) * floor(|x| (4096 - d) / 4096)."""

    def f(x):
        return torch.sign(x) * torch.floor(x.abs() * float(4096 - dd) / 4096.0)

    return f


def _exact(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``value`` forward, ``x``'s gradient (a wrap or a C conversion the gradient ignores)."""
    return x + (value - x).detach()


def _delay(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


class KitNet(torch.nn.Module):
    """Dense current-based LIF layers (``LayerSpec`` without convolution or pooling), recurrent
    where the spec says so. ``dialect`` picks the QAT arithmetic (``xylo`` or ``loihi2``);
    ``qat=False`` trains the float CubaLIF model (with a chip's dialect: the decays its registers
    can hold; with ``edgesnn``: the decays as given)."""

    def __init__(
        self,
        specs: list[LayerSpec],
        n_inputs: int,
        beta_syn: float,
        beta_mem: float,
        threshold: float,
        *,
        dialect: str,
        qat: bool = True,
        slope: float = 5.0,
    ):
        super().__init__()
        for k, sp in enumerate(specs):
            if sp.conv is not None or sp.pool is not None:
                raise ValueError(f"layer {k}: dialect {dialect} trains dense layers only (no convolution or pooling)")
        if dialect not in ("xylo", "loihi2", "speck") and (qat or dialect != "edgesnn"):
            raise ValueError(f"no quantization-aware training for dialect {dialect!r} (xylo, loihi2, speck)")
        self.specs, self.n_inputs, self.dialect, self.qat, self.slope = list(specs), n_inputs, dialect, qat, slope
        if any(sp.recurrent for sp in specs) and dialect == "speck":
            raise ValueError("Speck layers are not recurrent")
        if dialect == "edgesnn":  # the float model: the decays as given
            self.registers, self.beta_syn, self.beta_mem = (0, 0), beta_syn, beta_mem
        elif dialect == "speck":  # non-leaky IAF without a synaptic current
            self.registers, self.beta_syn, self.beta_mem = (0, 0), 0.0, 1.0
        else:  # the chip's decay registers; beta_* are the decays they apply
            a_syn, a_mem, self.beta_syn, self.beta_mem = kit_registers(dialect, beta_syn, beta_mem)
            self.registers = (a_syn, a_mem)
        self.threshold = threshold
        self.fcs = torch.nn.ModuleList(torch.nn.Linear(sp.n_syn, sp.units) for sp in self.specs)
        self.recs = recurrent_modules(self.specs)

    def _speck_params(self, k: int):
        """Sinabs' DynapCNN discretisation (``quantize_kits._quantize_speck``): one float32 scale per
        layer from the weights, biases (8 bits) and thresholds (-threshold and threshold, 16
        bits), values rounded half to even; returns (w, None, b, thr, threshold_low)."""
        from edgesnn.fixedpoint.quantize_kits import _sinabs_scale

        fc = cast(torch.nn.Linear, self.fcs[k])
        w32, b32 = fc.weight.float(), fc.bias.float()
        thresholds = np.array([-self.threshold, self.threshold], np.float32)
        scale = min(
            _sinabs_scale(w32.detach().cpu().numpy(), 8),
            _sinabs_scale(b32.detach().cpu().numpy(), 8),
            _sinabs_scale(thresholds, 16),
        )

        def rnd(x: torch.Tensor) -> torch.Tensor:  # torch.round is half to even, as numpy's
            y = x * float(scale)
            return (y + (torch.round(y) - y).detach()).double()

        low, thr = np.round(thresholds * scale)
        n = fc.weight.shape[0]
        full = fc.weight.new_full((n,), 0.0).double()
        return rnd(w32), None, rnd(b32), full + float(thr), full + float(low)

    def _params(self, k: int):
        """(w, r, b, thr) in the integers ``quantize_kits.quantize_kit_layer`` makes (QAT)."""
        if self.dialect == "speck":
            return self._speck_params(k)
        d = D.get_dialect(self.dialect)
        q = d.weight_limit
        fc = cast(torch.nn.Linear, self.fcs[k])
        w = fc.weight.double()
        rec = cast(torch.nn.Linear, self.recs[str(k)]) if str(k) in self.recs else None
        r = None if rec is None else rec.weight.double()
        if self.dialect == "xylo":
            w = w / self.beta_syn
            r = None if r is None else r / self.beta_syn
        mag = w.detach().abs().amax(dim=1)
        if r is not None:
            mag = torch.maximum(mag, r.detach().abs().amax(dim=1))
        layer_max = float(mag.max()) or float(q)
        if self.dialect == "loihi2":
            mag = torch.full_like(mag, layer_max)
        scale = torch.where(mag > 0, mag, torch.full_like(mag, layer_max)) / q
        thr = torch.full_like(scale, float(self.threshold))
        shift = kit_shift(self.dialect, float((thr / scale).max()))
        scale_s = scale / (1 << shift)
        bias = fc.bias.double() / (1.0 - self.beta_syn)
        if self.dialect == "xylo":
            thr_q = torch.clamp(torch.floor(thr / scale_s + 0.5), 1, 32767)
            bq = torch.clamp(ste_round(bias / scale_s), -32768, 32767)
        else:
            thr_q = torch.clamp(torch.floor(thr / scale_s + 0.5), 1, (1 << 17) - 1) * float(1 << D.LOIHI_ACT_SHIFT)
            x = ste_round(bias / scale_s * float(1 << D.LOIHI_ACT_SHIFT))
            bq = _exact(x, torch.from_numpy(D.loihi_bias_round(x.detach().cpu().numpy().astype("int64"))).to(x))
        wq = torch.clamp(ste_round(w / scale[:, None]), -q, q) * float(1 << shift)
        rq = None if r is None else torch.clamp(ste_round(r / scale[:, None]), -q, q) * float(1 << shift)
        return wq, rq, bq, thr_q, None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, time, inputs) spikes -> (output spikes or counts (batch, time, out), final v)."""
        s = x.double()
        last = len(self.specs) - 1
        v = s.new_zeros(0)
        for k, sp in enumerate(self.specs):
            if self.qat:
                w, r, b, thr, low = self._params(k)
                step = {"xylo": self._xylo_step, "loihi2": self._loihi_step}.get(self.dialect)
                step = step or partial(self._speck_step, low=low)
            else:
                fc = cast(torch.nn.Linear, self.fcs[k])
                w, b = fc.weight.double(), fc.bias.double()
                r = cast(torch.nn.Linear, self.recs[str(k)]).weight.double() if sp.recurrent else None
                thr = torch.full((sp.units,), float(self.threshold), dtype=s.dtype, device=s.device)
                step = self._float_step
            if self.qat and self.dialect == "xylo":
                s = torch.clamp(s, max=float(D.XYLO_MAX_INPUT_SPIKES if k == 0 else D.XYLO_MAX_SPIKES))
            if self.qat and D.get_dialect(self.dialect).delayed(k):
                s = _delay(s)
            cur = s @ w.T + b if not self.qat or self.dialect == "speck" else s @ w.T
            xylo = self.qat and self.dialect == "xylo"
            if xylo:  # the positive and negative sums of each step, to find order-dependent saturation
                wd = w.detach()
                ff_pos, ff_neg = s @ wd.clamp(min=0).T, s @ wd.clamp(max=0).T
            n = s.shape[0]
            i = s.new_zeros(n, sp.units)
            v = s.new_zeros(n, sp.units)
            z = s.new_zeros(n, sp.units)
            out = []
            for t in range(s.shape[1]):
                a = cur[:, t] if r is None else cur[:, t] + z @ r.T
                if xylo:  # the chip's saturating adds, exact: ``a`` becomes the delivered current
                    a = self._xylo_deliver(i, a, (ff_pos[:, t], ff_neg[:, t]), s[:, t], z, w, r)
                i, v, z = step(a, i, v, b, thr, k == last)
                out.append(z)
            s = torch.stack(out, dim=1)
        return s, v

    def _spike(self, v, thr, strict: bool):
        # integers: v >= thr is v - thr + 1/2 > 0
        return SpikeFn.apply((v - thr + (0.0 if strict else 0.5)) / thr, self.slope)

    def _float_step(self, a, i, v, b, thr, last):
        i = self.beta_syn * i + a
        v = self.beta_mem * v + i
        z = self._spike(v, thr, True)
        return i, v - z.detach() * thr, z

    @staticmethod
    def _xylo_deliver(i, a, ff, s_t, z, w, r):
        """``i`` after the step's spikes are added one by one with int16 saturation (XyloSim's
        order), with the clamped sum's gradient: where the positive and the negative sums cannot
        leave int16 in any order this is the sum; elsewhere (rare) the adds are replayed in the
        chip's order, exactly as ``simulate_kits.run_xylo_layer`` does."""
        pos, neg = ff
        idet = i.detach()
        if r is not None:
            rd, zd = r.detach(), z.detach()
            pos, neg = pos + zd @ rd.clamp(min=0).T, neg + zd @ rd.clamp(max=0).T
        ok = D.xylo_order_free(idet, pos, neg)
        out = torch.clamp(i + a, -32768, 32767)
        if bool(ok.all()):
            return out
        exact = out.detach().clone()

        def ints(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.int64)

        s_np, z_np, w_np = ints(s_t), ints(z), ints(w)
        r_np = None if r is None else ints(r)
        for b, j in (~ok).nonzero().tolist():
            rec = (None, None) if r_np is None else (r_np[j], z_np[b])
            exact[b, j] = float(D.xylo_replay(int(idet[b, j]), w_np[j], s_np[b], *rec))
        return _exact(out, exact)

    def _xylo_step(self, a, i, v, b, thr, last):
        """One Xylo neuron update; ``a`` is the current after delivery (``_xylo_deliver``)."""
        ds, dm = self.registers
        i = a
        i = i - _Decay.apply(i, _xylo_dec(ds), 2.0**-ds)
        dv = -_Decay.apply(v, _xylo_dec(dm), 2.0**-dm)
        dv = _exact(dv, torch.where(dv == 32768, torch.full_like(dv, -32768), dv))  # int16 wrap of -(-32768)
        dv = torch.clamp(torch.clamp(dv + i, -32768, 32767) + b, -32768, 32767)
        v = torch.clamp(v + dv, -32768, 32767)
        z = self._spike(v, thr, False)
        cap = D.XYLO_MAX_OUT_SPIKES if last else D.XYLO_MAX_SPIKES
        n = torch.clamp(torch.floor(v.detach() / thr), 1, cap) * z.detach()  # several spikes a step
        z = z + (n - z.detach())
        return i, v - n * thr, z

    def _speck_step(self, a, i, v, b, thr, last, *, low):
        """Sinabs' IAF (MultiSpike, reset by subtraction, then the threshold_low ``low`` clamp)."""
        v = v + a
        z = self._spike(v, thr, False)
        n = torch.clamp(torch.floor(v.detach() / thr), min=1.0) * z.detach()  # several spikes a step
        z = z + (n - z.detach())
        v = torch.maximum(v - n * thr, low)
        return i, v, z

    def _loihi_step(self, a, u, v, b, thr, last):
        du, dv = self.registers
        m = float(1 << (D.LOIHI_UV_BITS - 1))
        u = _Decay.apply(u, _loihi_dec(du + 1), (4095 - du) / 4096) + a * float(1 << D.LOIHI_ACT_SHIFT)
        wrapped = torch.where(u > m, u - 2 * m, u)
        u = _exact(u, torch.where(wrapped <= -m, u + 2 * m, wrapped))
        v = torch.clamp(_Decay.apply(v, _loihi_dec(dv), (4096 - dv) / 4096) + u + b, -m + 1, m - 1)
        z = self._spike(v, thr, True)
        return u, v * (1 - z.detach()), z


def kit_network(model: KitNet, input_spec: dict | None = None, meta: dict | None = None, name: str = "network"):
    """The float IR of a trained ``KitNet``: CubaLIF layers whose decays are those the chip's
    registers apply, so ``quantize_kit`` gives back the registers the model trained with (Speck:
    non-leaky IAF layers)."""
    from edgesnn.ir import LIF, CubaLIF, Dense, Network

    layers = []
    for sp, (w, b), r in zip(model.specs, to_numpy_params(model), recurrent_params(model)):
        n = sp.units
        nrn: CubaLIF | LIF
        if model.dialect == "speck":  # non-leaky IAF
            nrn = LIF(beta=np.ones(n), threshold=np.full(n, model.threshold))
        else:
            nrn = CubaLIF(
                beta_syn=np.full(n, model.beta_syn),
                beta_mem=np.full(n, model.beta_mem),
                threshold=np.full(n, model.threshold),
            )
        layers.append(Dense(weight=w, bias=b, neurons=nrn, recurrent=r))
    return Network(
        n_inputs=model.n_inputs, layers=tuple(layers), input_spec=input_spec or {}, meta=meta or {}, name=name
    )
