"""Float network -> quantized network, and a report of what quantization did.

Pure functions: the input network is never modified (its arrays are read-only anyway).

Scaling, per layer (docs/fixed-point.md, "Quantization"):

* weight scale ``s_j = max(|weight[j]|, |recurrent[j]|) / (2**(bits-1) - 1)`` per output
  neuron (``per_channel``; a convolution's neurons share their output channel's scale) or the
  layer maximum; average pooling is folded into the next weights first (``folded``); neuron j's state is held in units of
  ``s_j / 2**shift``, so thresholds, biases and resets are divided by that unit;
* ``shift`` is the largest that keeps the peak state (``headroom`` x the largest
  threshold, or the peak seen on calibration data x 2) inside ``state_bits``;
* decays become Q0.16 multipliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.errors import QuantizationError
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantConnection, QuantLayer, QuantNetwork
from edgesnn.fixedpoint.simulate import simulate_float, simulate_int
from edgesnn.ir import LI, Connection, Conv2d, Dense, Network, Pool2d, membrane_decay, synaptic_decay

#: Without calibration data the state must hold this many thresholds.
THRESHOLD_HEADROOM = 8.0
#: With calibration data, this margin over the largest state seen.
DATA_HEADROOM = 2.0


def weight_scales(
    weight: np.ndarray,
    recurrent: np.ndarray | None,
    weight_bits: int,
    per_channel: bool,
    extra_mag: np.ndarray | None = None,
) -> np.ndarray:
    """Per-neuron weight scale (float); an all-zero row borrows the layer's scale. ``extra_mag``
    is the largest |weight| per row of a graph's other connections into the layer: one scale
    covers every connection, so the population keeps one shift."""
    mag = np.abs(weight).max(axis=1) if weight.shape[1] else np.zeros(weight.shape[0])
    if recurrent is not None:
        mag = np.maximum(mag, np.abs(recurrent).max(axis=1))
    if extra_mag is not None:
        mag = np.maximum(mag, extra_mag)
    layer_max = float(mag.max()) if mag.size else 0.0
    if layer_max == 0.0:
        layer_max = float(C.weight_limit(weight_bits))  # all-zero layer: unit scale
    if not per_channel:
        mag = np.full_like(mag, layer_max)
    mag = np.where(mag > 0, mag, layer_max)
    return mag / C.weight_limit(weight_bits)


def quantize_weights(w: np.ndarray, scale: np.ndarray, weight_bits: int) -> np.ndarray:
    q = C.weight_limit(weight_bits)
    return np.clip(C.to_int_round_half_up(w / scale[:, None]), -q, q)


def folded(layer) -> tuple[np.ndarray, Pool2d | None]:
    """(weights, pooling) with average pooling folded in: ``avg = sum / window``, so the
    weights are divided by the window and the pooling becomes a sum (exact in the float model;
    the integer contract then pools by counting)."""
    pool = layer.pool
    if pool is None or pool.kind != "avg":
        return np.asarray(layer.weight), pool
    return np.asarray(layer.weight) / pool.window, Pool2d("sum", pool.kernel, pool.in_shape, pool.stride)


def quantize_layer(
    layer: Dense | Conv2d,
    *,
    weight_bits: int,
    state_bits: int,
    per_channel: bool,
    observed_peak: np.ndarray | None = None,
    index: int = 0,
    extra: tuple = (),
) -> QuantLayer:
    """Quantize one layer; ``observed_peak`` is the float state magnitude seen per neuron on data;
    ``extra`` are a graph's other connections into it (``ir.Connection``), which share its scale."""
    nrn = layer.neurons
    weight, pool = folded(layer)
    rows = weight.reshape(weight.shape[0], -1)  # one row per output neuron, or per conv channel
    if any(c.conv is not None for c in extra) and layer.conv is None:
        per_channel = False  # a convolution's weights share a channel: one scale for the layer
    extra_mag = None
    for c in extra:
        m = np.repeat(np.abs(folded(c)[0]).reshape(c.weight.shape[0], -1).max(axis=1), c.n_out // c.weight.shape[0])
        m = m.reshape(rows.shape[0], -1).max(axis=1)  # per neuron, then per scale row
        extra_mag = m if extra_mag is None else np.maximum(extra_mag, m)
    row_scale = weight_scales(rows, layer.recurrent, weight_bits, per_channel, extra_mag)
    per_row = layer.n_out // rows.shape[0]  # neurons sharing a row (a conv channel's positions)
    scale = np.repeat(row_scale, per_row)
    spiking = not isinstance(nrn, LI)
    if spiking:
        thr = np.asarray(nrn.threshold) / scale
        peak = float(max(thr.max(), (np.abs(nrn.v_reset) / scale).max()))
    else:  # a leaky integrator holds at most the steady state of the largest drive
        leak = float(1.0 - np.asarray(nrn.beta).max()) if isinstance(nrn, LI) else 0.0  # LI: the non-spiking kind
        count = pool.count if pool is not None else 1
        fan_in = rows.shape[1] * count + (layer.n_out if layer.recurrent is not None else 0)
        fan_in += sum(int(np.prod(c.weight.shape[1:])) * (c.pool.count if c.pool else 1) for c in extra)
        thr = np.zeros(layer.n_out)
        peak = (fan_in * C.weight_limit(weight_bits) + float((np.abs(layer.neuron_bias) / scale).max())) / max(
            leak, 1 / 64
        )
    if observed_peak is None:
        shift = C.choose_shift(peak, state_bits, THRESHOLD_HEADROOM)
    else:
        shift = C.choose_shift(max(peak, float((observed_peak / scale).max())), state_bits, DATA_HEADROOM)
    unit = scale / (1 << shift)
    lo, hi = C.state_limits(state_bits)
    threshold = C.to_int_round_half_up(nrn.threshold / unit) if spiking else np.full(layer.n_out, hi, np.int64)
    if (threshold > hi).any():
        raise QuantizationError(
            f"layer {index}: threshold/weight ratio {thr.max():.3g} does not fit state_bits={state_bits}"
        )
    return QuantLayer(
        weight=quantize_weights(rows, row_scale, weight_bits).reshape(weight.shape),
        recurrent=None if layer.recurrent is None else quantize_weights(layer.recurrent, scale, weight_bits),
        bias=np.clip(C.to_int_round_half_up(layer.neuron_bias / unit), lo, hi),
        shift=shift,
        alpha_mem=C.decay_multiplier(membrane_decay(nrn)),
        alpha_syn=None if synaptic_decay(nrn) is None else C.decay_multiplier(synaptic_decay(nrn)),
        threshold=np.maximum(threshold, 1),
        reset=nrn.reset,
        v_reset=np.clip(C.to_int_round_half_up(np.asarray(nrn.v_reset) / unit), lo, hi),
        scale=scale,
        conv=layer.conv,
        pool=pool,
    )


def quantize_connection(c: Connection, target: QuantLayer, weight_bits: int) -> QuantConnection:
    """A graph connection in integers, at its target's scale (``quantize_layer`` chose that scale
    over every connection into the target)."""
    weight, pool = folded(c)
    scale = np.asarray(target.scale)
    rows = weight.reshape(weight.shape[0], -1)
    row_scale = scale[:: c.n_out // weight.shape[0]]  # equal within a conv channel (quantize_layer)
    w = quantize_weights(rows, row_scale, weight_bits).reshape(weight.shape)
    return QuantConnection(source=c.source, target=c.target, weight=w, conv=c.conv, pool=pool)


def observed_peaks(net: Network, calibration: np.ndarray) -> list[np.ndarray]:
    """Per layer and neuron, the largest |state| of the float model on calibration inputs.

    Recorded v is after reset, so the threshold is added back to bound the pre-reset value.
    """
    rec = simulate_float(net, calibration, record=True).recorded()
    peaks = []
    for layer, r in zip(net.layers, rec):
        thr = np.asarray(layer.neurons.threshold)
        p = np.abs(r["v"]).max(axis=(0, 1)) + np.where(np.isfinite(thr), thr, 0.0)
        if "i" in r:
            p = np.maximum(p, np.abs(r["i"]).max(axis=(0, 1)))
        peaks.append(p)
    return peaks


def quantize(
    net: Network,
    *,
    weight_bits: int = 8,
    state_bits: int = 24,
    per_channel: bool = True,
    calibration: np.ndarray | None = None,
) -> QuantNetwork:
    """Quantize a float network. With ``calibration`` input spikes, shifts follow the data."""
    lo, hi = C.WEIGHT_BITS_RANGE
    if not lo <= weight_bits <= hi:
        raise QuantizationError(f"weight_bits {weight_bits} is outside [{lo}, {hi}]")
    lo, hi = C.STATE_BITS_RANGE
    if not lo <= state_bits <= hi:
        raise QuantizationError(f"state_bits {state_bits} is outside [{lo}, {hi}]")
    peaks = observed_peaks(net, calibration) if calibration is not None else [None] * len(net.layers)
    layers = [
        quantize_layer(
            L,
            weight_bits=weight_bits,
            state_bits=state_bits,
            per_channel=per_channel,
            observed_peak=p,
            index=i,
            extra=tuple(c for c in net.connections if c.target == i),
        )
        for i, (L, p) in enumerate(zip(net.layers, peaks))
    ]
    try:
        return QuantNetwork(
            sources=net.sources,
            connections=tuple(quantize_connection(c, layers[c.target], weight_bits) for c in net.connections),
            gates=net.gates,
            n_inputs=net.n_inputs,
            layers=tuple(layers),
            weight_bits=weight_bits,
            state_bits=state_bits,
            readout=net.readout,
            input_spec=dict(net.input_spec),
            name=net.name,
        )
    except ValueError as e:
        raise QuantizationError(str(e)) from None


def quantize_as_trained(
    net: Network,
    *,
    weight_bits: int | None = None,
    state_bits: int | None = None,
    per_layer: bool = False,
    calibration: np.ndarray | None = None,
) -> QuantNetwork:
    """:func:`quantize` with the bit widths a quantization-aware model was trained with
    (``net.meta["qat"]``), else 8-bit weights, 24-bit states, per-channel scales."""
    qat = net.meta.get("qat", {})
    return quantize(
        net,
        weight_bits=weight_bits or qat.get("weight_bits", 8),
        state_bits=state_bits or qat.get("state_bits", 24),
        per_channel=not per_layer and qat.get("per_channel", True),
        calibration=calibration,
    )


@dataclass
class QuantReport:
    """What quantization did, measured on data."""

    layers: list[dict]
    float_accuracy: float | None
    int_accuracy: float | None
    prediction_agreement: float
    output_spike_agreement: float

    def as_dict(self) -> dict:
        return {
            "layers": self.layers,
            "float_accuracy": self.float_accuracy,
            "int_accuracy": self.int_accuracy,
            "prediction_agreement": self.prediction_agreement,
            "output_spike_agreement": self.output_spike_agreement,
        }


def quantization_report(
    net: Network, qnet: QuantNetwork, inputs: np.ndarray, labels: np.ndarray | None = None
) -> QuantReport:
    """Compare the float and integer models on the same inputs."""
    f = simulate_float(net, inputs)
    q = simulate_int(qnet, inputs, count_saturation=True)
    layers = []
    for i, (L, QL, sat) in enumerate(zip(net.layers, qnet.layers, q.saturations)):
        layers.append(
            {
                "layer": i,
                "shape": [QL.n_out, QL.n_in],
                "neuron": type(L.neurons).__name__,
                "scale_min": float(np.min(QL.scale)) if QL.scale is not None else 1.0,
                "scale_max": float(np.max(QL.scale)) if QL.scale is not None else 1.0,
                "shift": QL.shift,
                "threshold_min": int(QL.threshold.min()),
                "threshold_max": int(QL.threshold.max()),
                "weights_at_limit": int(np.count_nonzero(np.abs(QL.weight) == C.weight_limit(qnet.weight_bits))),
                "state_writes_at_limit": sat,
            }
        )
    return QuantReport(
        layers=layers,
        float_accuracy=None if labels is None else f.accuracy(labels),
        int_accuracy=None if labels is None else q.accuracy(labels),
        prediction_agreement=float(np.mean(f.prediction == q.prediction)),
        output_spike_agreement=float(np.mean(f.spikes == q.spikes)),
    )


__all__ = ["quantize", "quantize_as_trained", "quantize_layer", "quantization_report", "QuantReport", "weight_scales"]
