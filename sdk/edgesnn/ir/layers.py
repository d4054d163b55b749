"""Layers of the float IR: spiking layers (``Dense``, ``Conv2d``), each with an optional pooling
of its input spikes (``geometry.Pool2d``).

A network is a chain of spiking layers. Flattening is implicit and follows torch: a ``Dense``
layer after a feature map reads it flattened in (channel, row, column) order, so NIR's
``Flatten`` nodes need no layer of their own (import accepts them, export writes them back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.ir._arrays import check_finite, frozen_matrix, frozen_vector
from edgesnn.ir.geometry import ConvGeometry, Pool2d
from edgesnn.ir.neurons import Neurons


def _check_pool(pool: Pool2d | None, n_syn: int, layer: str) -> None:
    if pool is not None and pool.n_out != n_syn:
        raise ValueError(f"{layer}: pooling gives {pool.n_out} values ({pool.out_shape}) but the layer takes {n_syn}")


@dataclass(frozen=True, eq=False)
class Dense:
    """A fully connected spiking layer, optionally recurrent::

        x[t] = weight @ p(s_in[t]) + recurrent @ z[t-1] + bias      (z[-1] = 0)

    followed by the layer's neuron model (``ir.neurons``). ``weight`` is (n_out, n_syn),
    ``recurrent`` (n_out, n_out) or None, ``bias`` (n_out,); ``p`` is the input pooling
    (``pool``, over the incoming spike map) or the identity.
    """

    weight: np.ndarray
    bias: np.ndarray
    neurons: Neurons
    recurrent: np.ndarray | None = None
    pool: Pool2d | None = None

    conv = None  # not convolutional

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
        _check_pool(self.pool, int(w.shape[1]), "dense layer")

    @property
    def n_syn(self) -> int:
        """Inputs of the weights (after pooling)."""
        return int(self.weight.shape[1])

    @property
    def n_in(self) -> int:
        """Spikes the layer receives (before pooling)."""
        return self.pool.n_in if self.pool is not None else self.n_syn

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.pool.in_shape if self.pool is not None else (self.n_syn,)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.n_out,)

    @property
    def neuron_bias(self) -> np.ndarray:
        return self.bias


@dataclass(frozen=True, eq=False)
class Conv2d:
    """A convolutional spiking layer: one neuron per output position and channel::

        x[t] = conv(p(s_in[t]); weight) + bias[channel]

    (``conv``, a ``geometry.ConvGeometry``; neurons in (channel, row, column) order), followed
    by the layer's neuron model. ``weight`` is (C_out, C_in/groups, kh, kw), ``bias`` (C_out,);
    ``neurons`` has one entry per output neuron (C_out * H_out * W_out). No recurrence.
    """

    weight: np.ndarray
    bias: np.ndarray
    neurons: Neurons
    conv: ConvGeometry
    pool: Pool2d | None = None

    def __post_init__(self):
        w = np.array(self.weight, dtype=np.float64)
        if w.shape != self.conv.weight_shape:
            raise ValueError(f"conv weight has shape {w.shape}, expected {self.conv.weight_shape}")
        check_finite("weight", w)
        w.flags.writeable = False
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", frozen_vector("bias", self.bias, self.conv.out_channels))
        if self.neurons.size != self.conv.n_out:
            raise ValueError(
                f"conv layer has {self.conv.n_out} outputs {self.conv.out_shape} but {self.neurons.size} neurons"
            )
        _check_pool(self.pool, self.conv.n_in, "conv layer")

    recurrent = None  # convolutional layers have no recurrent weights

    @property
    def n_syn(self) -> int:
        return self.conv.n_in

    @property
    def n_in(self) -> int:
        return self.pool.n_in if self.pool is not None else self.n_syn

    @property
    def n_out(self) -> int:
        return self.conv.n_out

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.pool.in_shape if self.pool is not None else self.conv.in_shape

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.conv.out_shape

    @property
    def neuron_bias(self) -> np.ndarray:
        """The bias of every neuron (its channel's)."""
        c, h, w = self.conv.out_shape
        return np.repeat(self.bias, h * w)


Layer = Dense | Conv2d
