"""Layers of the float IR.

Only fully connected layers exist today; convolution and pooling arrive with event-camera
work as further dataclasses with the same ``n_in`` / ``n_out`` / ``neurons`` shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.ir._arrays import frozen_matrix, frozen_vector
from edgesnn.ir.neurons import Neurons


@dataclass(frozen=True, eq=False)
class Dense:
    """A fully connected spiking layer, optionally recurrent::

        x[t] = weight @ s_in[t] + recurrent @ z[t-1] + bias      (z[-1] = 0)

    followed by the layer's neuron model (``ir.neurons``). ``weight`` is (n_out, n_in),
    ``recurrent`` (n_out, n_out) or None, ``bias`` (n_out,).
    """

    weight: np.ndarray
    bias: np.ndarray
    neurons: Neurons
    recurrent: np.ndarray | None = None

    def __post_init__(self):
        w = frozen_matrix("weight", self.weight)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", frozen_vector("bias", self.bias, w.shape[0]))
        if self.neurons.size != w.shape[0]:
            raise ValueError(f"layer has {w.shape[0]} outputs but {self.neurons.size} neurons")
        if self.recurrent is not None:
            r = frozen_matrix("recurrent", self.recurrent)
            if r.shape != (w.shape[0], w.shape[0]):
                raise ValueError(f"recurrent weight has shape {r.shape}, expected {(w.shape[0],) * 2}")
            object.__setattr__(self, "recurrent", r)

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])
