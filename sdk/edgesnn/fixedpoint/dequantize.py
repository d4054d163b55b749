"""Quantized -> float: the float network whose real-valued dynamics the integer model approximates.

Used to export quantized models to float formats (NIR); the integer tables travel alongside.
"""

from __future__ import annotations

import numpy as np

from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.ir import IF, LI, LIF, Connection, Conv2d, CubaLIF, Dense, Network


def dequantize(qnet: QuantNetwork) -> Network:
    """The float network of a quantized one (a convolution's bias is its channel's: the float IR
    keeps one per channel, which is what the quantizer produces). Chip dialects other than
    Akida's (edgesnn's arithmetic) have no float meaning here: they are refused."""
    if qnet.dialect not in ("edgesnn", "akida"):
        raise ValueError(
            f"a model in the {qnet.dialect} dialect has no float export; export the float model it came from"
        )
    lo, hi = C.state_limits(qnet.state_bits)
    layers: list[Dense | Conv2d] = []
    for L in qnet.layers:
        scale = L.scale if L.scale is not None else np.ones(L.n_out)
        unit = scale / (1 << L.shift)
        rows = L.weight.shape[0]  # output neurons, or a convolution's output channels
        per_row = scale.reshape(rows, -1)[:, 0]  # a channel's neurons share its scale
        w = L.weight * per_row.reshape((rows,) + (1,) * (L.weight.ndim - 1))
        r = None if L.recurrent is None else L.recurrent * scale[:, None]
        beta_m = L.alpha_mem / C.DECAY_ONE
        v_reset = L.v_reset if L.v_reset is not None else np.zeros(L.n_out)
        thr, vr = L.threshold * unit, v_reset * unit
        neurons: LI | CubaLIF | IF | LIF
        if np.all(L.threshold == hi) and not L.current_based:
            neurons = LI(beta=beta_m)
        elif L.current_based and L.alpha_syn is not None:
            neurons = CubaLIF(
                beta_syn=L.alpha_syn / C.DECAY_ONE, beta_mem=beta_m, threshold=thr, reset=L.reset, v_reset=vr
            )
        elif np.all(L.alpha_mem == C.DECAY_ONE):
            neurons = IF(threshold=thr, reset=L.reset, v_reset=vr)
        else:
            neurons = LIF(beta=beta_m, threshold=thr, reset=L.reset, v_reset=vr)
        if L.conv is not None:
            bias = (L.bias * unit).reshape(rows, -1)[:, 0]  # equal within a channel (quantizer)
            layers.append(Conv2d(weight=w, bias=bias, neurons=neurons, conv=L.conv, pool=L.pool))
        else:
            layers.append(Dense(weight=w, bias=L.bias * unit, neurons=neurons, recurrent=r, pool=L.pool))
    connections = []
    for c in qnet.connections:  # at the target's scale (the quantizer gave every connection into it one)
        tgt = qnet.layers[c.target]
        scale = tgt.scale if tgt.scale is not None else np.ones(tgt.n_out)
        per_row = scale[:: c.n_out // c.weight.shape[0]]
        w = c.weight * per_row.reshape((c.weight.shape[0],) + (1,) * (c.weight.ndim - 1))
        connections.append(Connection(c.source, c.target, w, conv=c.conv, pool=c.pool))
    return Network(
        n_inputs=qnet.n_inputs,
        layers=tuple(layers),
        input_spec=dict(qnet.input_spec),
        name=qnet.name,
        sources=qnet.sources,
        connections=tuple(connections),
        gates=qnet.gates,
    )
