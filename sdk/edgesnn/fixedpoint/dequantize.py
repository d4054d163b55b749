"""Quantized -> float: the float network whose real-valued dynamics the integer model approximates.

Used to export quantized models to float formats (NIR); the integer tables travel alongside.
"""

from __future__ import annotations

import numpy as np

from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.ir import IF, LI, LIF, CubaLIF, Dense, Network


def dequantize(qnet: QuantNetwork) -> Network:
    lo, hi = C.state_limits(qnet.state_bits)
    layers = []
    for L in qnet.layers:
        scale = L.scale if L.scale is not None else np.ones(L.n_out)
        unit = scale / (1 << L.shift)
        w = L.weight * scale[:, None]
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
        layers.append(Dense(weight=w, bias=L.bias * unit, neurons=neurons, recurrent=r))
    return Network(n_inputs=qnet.n_inputs, layers=tuple(layers), input_spec=dict(qnet.input_spec), name=qnet.name)
