"""Hypothesis strategies for random small networks, float and quantized, including extremes."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork


@st.composite
def quant_networks(draw, max_layers: int = 3, max_width: int = 6):
    wb = draw(st.integers(2, 8))
    sb = draw(st.sampled_from([8, 12, 16, 24, 32]))
    q = C.weight_limit(wb)
    lo, hi = C.state_limits(sb)
    n_in = draw(st.integers(1, max_width))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layers, n = [], n_in
    for _ in range(draw(st.integers(1, max_layers))):
        m = draw(st.integers(1, max_width))
        extreme = draw(st.booleans())  # push weights, shifts and thresholds to the limits
        shift = draw(st.integers(0, C.MAX_SHIFT if extreme else 6))
        th_hi = hi if extreme else max(1, min(hi, 64 << shift))
        # uniform decay and reset value: the layers the firmware gives a specialised update
        # (runtime/esnn_update.h), with the decays at its branch points
        uniform = draw(st.booleans())
        edge = [0, 1, 32767, 32768, 32769, 58982, 65535, 65536]
        alpha_u = draw(st.sampled_from(edge)) if uniform else 0
        layers.append(
            QuantLayer(
                weight=rng.integers(-q, q + 1, (m, n)),
                recurrent=rng.integers(-q, q + 1, (m, m)) if draw(st.booleans()) else None,
                bias=np.zeros(m, np.int64)
                if uniform and draw(st.booleans())
                else rng.integers(lo if extreme else -8, (hi if extreme else 8) + 1, m),
                shift=shift,
                alpha_mem=np.full(m, alpha_u) if uniform else rng.integers(0, C.DECAY_ONE + 1, m),
                alpha_syn=rng.integers(0, C.DECAY_ONE + 1, m) if draw(st.booleans()) else None,
                threshold=rng.integers(1, th_hi + 1, m),
                reset=draw(st.sampled_from(["subtract", "to_value"])),
                v_reset=np.full(m, int(rng.integers(lo, hi + 1)))
                if uniform
                else rng.integers(lo, hi + 1, m)
                if extreme
                else rng.integers(-4, 5, m),
            )
        )
        n = m
    return QuantNetwork(n_inputs=n_in, layers=tuple(layers), weight_bits=wb, state_bits=sb)


@st.composite
def spike_inputs(draw, n_inputs: int, max_samples: int = 4, max_steps: int = 8):
    n = draw(st.integers(1, max_samples))
    t = draw(st.integers(1, max_steps))
    p = draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.random((n, t, n_inputs)) < p


@st.composite
def idle_inputs(draw, n_inputs: int, max_samples: int = 3, max_steps: int = 60):
    """Mostly silent inputs, as a stream between detections: a few steps with events (bursts
    at random places, any density), every other step empty."""
    n = draw(st.integers(1, max_samples))
    t = draw(st.integers(2, max_steps))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = np.zeros((n, t, n_inputs), bool)
    for i in range(n):
        for _ in range(draw(st.integers(0, 3))):
            at = int(rng.integers(0, t))
            width = int(rng.integers(1, 4))
            x[i, at : at + width] = rng.random((min(width, t - at), n_inputs)) < draw(st.sampled_from([0.2, 0.5, 1.0]))
    return x


def _per_channel(rng, channels: int, positions: int, lo: int, hi: int) -> np.ndarray:
    return np.repeat(rng.integers(lo, hi + 1, channels), positions)


@st.composite
def conv_networks(draw, max_channels: int = 5, max_side: int = 9):
    """Random convolutional networks: one or two convolutions (stride, padding, groups), input
    pooling (sum or max) before any layer, then a dense output layer; parameters per channel
    (what the firmware stores), at the bit-width extremes too."""
    from edgesnn.ir.geometry import ConvGeometry, Pool2d

    wb = draw(st.integers(2, 8))
    sb = draw(st.sampled_from([8, 12, 16, 24, 32]))
    q = C.weight_limit(wb)
    lo, hi = C.state_limits(sb)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(3, max_side)), draw(st.integers(3, max_side)))
    n_inputs = int(np.prod(shape))
    layers = []

    def pool_for(shape):
        if min(shape[1:]) < 2 or not draw(st.booleans()):
            return None, shape
        k = draw(st.integers(2, min(3, *shape[1:])))
        p = Pool2d(draw(st.sampled_from(["sum", "max"])), k, shape)
        return p, p.out_shape

    def neuron_params(channels: int, positions: int):
        extreme = draw(st.booleans())
        shift = draw(st.integers(0, C.MAX_SHIFT if extreme else 6))
        th_hi = hi if extreme else max(1, min(hi, 64 << shift))
        blo, bhi = (lo, hi) if extreme else (-8, 8)
        # uniform decay and reset value, no current: the layers with a generated update
        uniform = draw(st.booleans())
        n = channels * positions
        alpha_u = draw(st.sampled_from([0, 1, 32767, 32768, 32769, 58982, 65535, 65536]))
        return {
            "shift": shift,
            "bias": _per_channel(rng, channels, positions, blo, bhi),
            "alpha_mem": np.full(n, alpha_u) if uniform else _per_channel(rng, channels, positions, 0, C.DECAY_ONE),
            "alpha_syn": None
            if uniform or not draw(st.booleans())
            else _per_channel(rng, channels, positions, 0, C.DECAY_ONE),
            "threshold": _per_channel(rng, channels, positions, 1, th_hi),
            "reset": draw(st.sampled_from(["subtract", "to_value"])),
            "v_reset": np.full(n, int(rng.integers(blo, bhi + 1)))
            if uniform
            else _per_channel(rng, channels, positions, blo, bhi),
        }

    for _ in range(draw(st.integers(1, 2))):
        pool, shape = pool_for(shape)
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if shape[0] % g == 0]))
        out_c = groups * draw(st.integers(1, max(1, max_channels // groups)))
        k = (draw(st.integers(1, min(3, shape[1]))), draw(st.integers(1, min(3, shape[2]))))
        pad = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
        g = ConvGeometry(shape, out_c, k, (draw(st.integers(1, 2)), draw(st.integers(1, 2))), pad, groups)
        positions = g.out_shape[1] * g.out_shape[2]
        layers.append(
            QuantLayer(
                weight=rng.integers(-q, q + 1, g.weight_shape), conv=g, pool=pool, **neuron_params(out_c, positions)
            )
        )
        shape = g.out_shape
    pool, shape = pool_for(shape)
    m = draw(st.integers(1, 6))
    n_syn = int(np.prod(shape))
    layers.append(QuantLayer(weight=rng.integers(-q, q + 1, (m, n_syn)), pool=pool, **neuron_params(m, 1)))
    return QuantNetwork(n_inputs=n_inputs, layers=tuple(layers), weight_bits=wb, state_bits=sb)
