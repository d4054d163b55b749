"""Float network -> quantized network in a chip dialect (``fixedpoint.dialects``).

The float model a chip runs is a current-based LIF (``CubaLIF``: ``i = beta_syn * i + x``,
``v = beta_mem * v + i``; a voltage-based ``LIF`` is the case ``beta_syn = 0``). Per layer
(docs/fixed-point.md, "Dialects"):

* decays become the chip's registers: Xylo ``dash = round(-log2(1 - beta))`` (``beta = 1 -
  2**-dash``), Loihi 2 ``dv = round(4096 (1 - beta_mem))`` and ``du = round(4096 (1 -
  beta_syn)) - 1`` (Lava adds 1);
* Xylo decays the synaptic current *after* adding the step's input, so its weights are the float
  weights over ``beta_syn`` (the same membrane drive);
* weight scale per neuron ``s_j = max|row j| / weight_limit`` (Loihi 2: per layer, as Lava's LIF
  has one threshold per layer); the shift is the largest in the
  chip's range that keeps ``headroom`` thresholds inside the state; thresholds, biases (a
  constant drive ``b`` reaches the membrane as ``b / (1 - beta_syn)`` per step, which both chips
  add to v directly) follow in state units.

``train.kit_qat`` computes the same numbers in torch with the same operations in the same order,
so a model trained for a dialect quantizes to exactly what it was trained with.
"""

from __future__ import annotations

import math

import numpy as np

from edgesnn.errors import QuantizationError
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint import dialects as D
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
from edgesnn.fixedpoint.quantize import quantize, quantize_weights, weight_scales
from edgesnn.ir import Conv2d, Dense, Network, is_chain, membrane_decay, synaptic_decay

#: The state must hold this many thresholds (Xylo's 16 bits leave little room for more).
KIT_HEADROOM = {"xylo": 8.0, "loihi2": 4.0}


def xylo_dash(beta: float, lo: int) -> int:
    """Xylo's decay shift for a per-step decay ``beta`` (1 keeps the most: dash 15)."""
    if beta >= 1.0:
        return 15
    return int(min(15, max(lo, round(-math.log2(1.0 - beta)))))


def xylo_beta(dash: int) -> float:
    return 1.0 - 2.0**-dash


def loihi_dv(beta: float) -> int:
    return int(min(4095, max(0, round(4096 * (1.0 - beta)))))


def loihi_du(beta: float) -> int:
    return int(min(4095, max(0, round(4096 * (1.0 - beta)) - 1)))


def kit_registers(dialect: str, beta_syn: float, beta_mem: float) -> tuple[int, int, float, float]:
    """(alpha_syn, alpha_mem) as the chip's decay registers, and the decays they really apply."""
    if dialect == "xylo":
        ds, dm = xylo_dash(beta_syn, 1), xylo_dash(beta_mem, 0)
        return ds, dm, xylo_beta(ds), xylo_beta(dm)
    du, dv = loihi_du(beta_syn), loihi_dv(beta_mem)
    return du, dv, (4096 - du - 1) / 4096, (4096 - dv) / 4096


def kit_shift(dialect: str, thr_over_scale: float) -> int:
    """Largest shift in the dialect's range keeping ``headroom`` x the largest threshold (in
    weight steps) inside the state (Loihi: also vth < 2**17)."""
    d = D.get_dialect(dialect)
    head = KIT_HEADROOM[dialect]
    if dialect == "xylo":
        room = 32767 / head
    else:
        room = min((1 << 17) - 1, (1 << (D.LOIHI_UV_BITS - 1 - D.LOIHI_ACT_SHIFT)) / head)
    shift = d.shift_range[0]
    while shift < d.shift_range[1] and thr_over_scale * (1 << (shift + 1)) <= room:
        shift += 1
    return shift


def quantize_kit_layer(layer: Dense | Conv2d, dialect: str, index: int = 0) -> QuantLayer:
    if not isinstance(layer, Dense) or layer.pool is not None:
        raise QuantizationError(f"layer {index}: dialect {dialect} takes dense layers without pooling")
    d = D.get_dialect(dialect)
    nrn = layer.neurons
    if not np.all(np.isfinite(np.asarray(getattr(nrn, "threshold", np.inf)))):
        raise QuantizationError(f"layer {index}: dialect {dialect} needs spiking neurons (a threshold)")
    bsyn = synaptic_decay(nrn)
    beta_syn = 0.0 if bsyn is None else float(np.mean(bsyn))
    beta_mem = float(np.mean(membrane_decay(nrn)))
    a_syn, a_mem, b_syn, _ = kit_registers(dialect, beta_syn, beta_mem)
    w = np.asarray(layer.weight, np.float64)
    r = None if layer.recurrent is None else np.asarray(layer.recurrent, np.float64)
    if dialect == "xylo":  # the chip decays i after adding the input: drive w / beta_syn
        w = w / b_syn
        r = None if r is None else r / b_syn
    # Lava's LIF takes one threshold per layer: one scale per layer
    scale = weight_scales(w, r, d.weight_bits, per_channel=dialect != "loihi2")
    thr = np.asarray(nrn.threshold, np.float64)
    shift = kit_shift(dialect, float((thr / scale).max()))
    scale_s = scale / (1 << shift)
    bias = np.asarray(layer.neuron_bias, np.float64) / (1.0 - b_syn)
    if dialect == "xylo":
        threshold = np.clip(C.to_int_round_half_up(thr / scale_s), 1, 32767)
        b = np.clip(C.to_int_round_half_up(bias / scale_s), -32768, 32767)
        reset, v_reset = "subtract", None
    else:
        threshold = np.clip(C.to_int_round_half_up(thr / scale_s), 1, (1 << 17) - 1) << D.LOIHI_ACT_SHIFT
        b = D.loihi_bias_round(C.to_int_round_half_up(bias / scale_s * (1 << D.LOIHI_ACT_SHIFT)))
        reset, v_reset = "to_value", np.zeros(layer.n_out, np.int64)
    return QuantLayer(
        weight=quantize_weights(w, scale, d.weight_bits),
        recurrent=None if r is None else quantize_weights(r, scale, d.weight_bits),
        bias=b,
        shift=shift,
        alpha_syn=np.full(layer.n_out, a_syn, np.int64),
        alpha_mem=np.full(layer.n_out, a_mem, np.int64),
        threshold=threshold,
        reset=reset,
        v_reset=v_reset,
        scale=scale_s if dialect == "xylo" else scale_s / (1 << D.LOIHI_ACT_SHIFT),
    )


def quantize_kit(
    net: Network, dialect: str, *, weight_bits: int | None = None, min_v_mem: float | None = None
) -> QuantNetwork:
    """Quantize a float network into a chip dialect (``xylo``, ``loihi2``; ``akida``: the
    edgesnn quantizer at ``weight_bits`` (default 4) for a stateless model; ``speck``: Sinabs'
    discretisation, ``min_v_mem`` the float threshold_low). Chips take chains of layers: a graph
    (``ir.graph``) is refused, naming its first connection."""
    if not is_chain(net):
        where = (
            f"connection {net.connections[0].source} -> {net.connections[0].target}" if net.connections else "sources"
        )
        raise QuantizationError(
            f"the {dialect} dialect takes chains of layers only; this network is a graph ({where}): "
            "quantize it for the edgesnn dialect (no --board, or an MCU board)"
        )
    if dialect == "akida":
        return _quantize_akida(net, weight_bits or 4)
    if dialect == "speck":
        return _quantize_speck(net, min_v_mem)
    if dialect not in ("xylo", "loihi2"):
        raise QuantizationError(f"no quantizer for dialect {dialect!r} (xylo, loihi2, akida)")
    d = D.get_dialect(dialect)
    layers = tuple(quantize_kit_layer(L, dialect, i) for i, L in enumerate(net.layers))
    try:
        return QuantNetwork(
            n_inputs=net.n_inputs,
            layers=layers,
            weight_bits=d.weight_bits,
            state_bits=d.state_bits,
            readout=net.readout,
            input_spec=dict(net.input_spec),
            name=net.name,
            dialect=dialect,
        )
    except ValueError as e:
        raise QuantizationError(str(e)) from None


def _quantize_akida(net: Network, weight_bits: int) -> QuantNetwork:
    from dataclasses import replace

    for i, L in enumerate(net.layers):
        if synaptic_decay(L.neurons) is not None or np.any(membrane_decay(L.neurons) != 0) or L.recurrent is not None:
            raise QuantizationError(
                f"layer {i}: Akida is stateless; it takes models with beta 0 and no synaptic current or "
                "recurrence (train with --beta 0 --weight-bits 4, or convert an ANN)"
            )
    q = quantize(net, weight_bits=weight_bits)
    try:
        return replace(q, dialect="akida")
    except ValueError as e:
        raise QuantizationError(str(e)) from None


def _sinabs_scale(values: np.ndarray, bits: int) -> np.float32:
    """Sinabs' ``determine_discretization_scale`` in float32, as torch computes it."""
    lo, hi = np.float32(-(2 ** (bits - 1))), np.float32(2 ** (bits - 1) - 1)
    v = np.asarray(values, np.float32)
    vmin, vmax = v.min(), v.max()
    with np.errstate(divide="ignore"):
        if abs(vmin) <= abs(vmax) * abs(lo / hi):
            return np.float32(abs(hi / vmax))
        return np.float32(abs(lo / vmin))


def _quantize_speck(net: Network, min_v_mem: float | None) -> QuantNetwork:
    """Sinabs' discretisation for DynapCNN (``backend/dynapcnn/discretize.py``), per layer: one
    scale, the smallest of the weights' (8 bits), the biases' (8 bits) and the thresholds'
    (threshold_low and threshold: 16 bits), in float32; values rounded half to even
    (``torch.round``). ``threshold_low`` is ``min_v_mem`` or, by default, minus the threshold
    (Sinabs' own default, -2**15, collapses the scale so that every weight rounds to 0)."""
    layers = []
    for i, L in enumerate(net.layers):
        nrn = L.neurons
        beta = membrane_decay(nrn)
        thr = np.asarray(getattr(nrn, "threshold", [np.inf]), np.float64)
        if synaptic_decay(nrn) is not None or np.any(beta != 1.0) or L.recurrent is not None:
            raise QuantizationError(f"layer {i}: Speck neurons are non-leaky IAF (beta 1, no current, no recurrence)")
        if not np.all(np.isfinite(thr)) or np.any(thr != thr[0]) or getattr(nrn, "reset", "") != "subtract":
            raise QuantizationError(f"layer {i}: Speck takes one threshold per layer and reset by subtraction")
        if L.pool is not None and L.pool.kind != "sum":
            raise QuantizationError(f"layer {i}: Speck pools by summing spikes, not {L.pool.kind}")
        w = np.asarray(L.weight, np.float32)
        b = np.asarray(L.bias, np.float32)
        low = np.float32(-thr[0] if min_v_mem is None else min_v_mem)
        thresholds = np.array([low, thr[0]], np.float32)
        scale = min(_sinabs_scale(w, 8), _sinabs_scale(b, 8), _sinabs_scale(thresholds, 16))
        wq = np.round(w * scale).astype(np.int64)
        bq = np.round(b * scale).astype(np.int64)
        low_q, thr_q = np.round(thresholds * scale).astype(np.int64)
        n = L.n_out
        per = n // b.shape[0] if L.conv is not None else 1  # a conv channel's bias for each position
        layers.append(
            QuantLayer(
                weight=wq,
                bias=np.repeat(bq, per),
                shift=0,
                alpha_mem=np.full(n, C.DECAY_ONE, np.int64),
                threshold=np.full(n, thr_q, np.int64),
                reset="subtract",
                v_reset=np.full(n, low_q, np.int64),
                scale=np.full(n, 1.0 / float(scale)),
                conv=L.conv,
                pool=L.pool,
            )
        )
    try:
        return QuantNetwork(
            n_inputs=net.n_inputs,
            layers=tuple(layers),
            weight_bits=8,
            state_bits=16,
            readout=net.readout,
            input_spec=dict(net.input_spec),
            name=net.name,
            dialect="speck",
        )
    except ValueError as e:
        raise QuantizationError(str(e)) from None
