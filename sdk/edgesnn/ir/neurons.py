"""Neuron models of the float IR, in discrete time (one step = the network's ``dt``).

All parameters are per neuron (1-d vectors). Every model shares the spike and reset rule::

    z[t] = 1  if v[t] > threshold  (strict)          else 0
    v[t] = v[t] - threshold        if reset == "subtract" and z[t]
    v[t] = v_reset                 if reset == "to_value" and z[t]

``x[t]`` below is the layer's synaptic input (weights, recurrent weights and bias; see
``ir.layers.Dense``). The integer contract (docs/fixed-point.md) follows the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.ir._arrays import check_range, frozen_vector

RESETS = ("subtract", "to_value")


def _check_spiking(obj, n: int) -> None:
    object.__setattr__(obj, "threshold", frozen_vector("threshold", obj.threshold, n))
    check_range("threshold", obj.threshold, 0.0, np.inf, lo_open=True)
    object.__setattr__(obj, "v_reset", frozen_vector("v_reset", obj.v_reset, n))
    if obj.reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {obj.reset!r}")


@dataclass(frozen=True, eq=False)
class IF:
    """Integrate-and-fire: ``v[t] = v[t-1] + x[t]``, then spike and reset."""

    threshold: np.ndarray
    reset: str = "subtract"
    v_reset: np.ndarray | float = 0.0

    def __post_init__(self):
        _check_spiking(self, np.size(self.threshold))

    @property
    def size(self) -> int:
        return int(self.threshold.shape[0])


@dataclass(frozen=True, eq=False)
class LIF:
    """Voltage-based leaky integrate-and-fire: ``v[t] = beta * v[t-1] + x[t]``, then spike and reset.

    ``beta`` in [0, 1] is the per-step membrane decay (``exp(-dt / tau_mem)``).
    """

    beta: np.ndarray
    threshold: np.ndarray
    reset: str = "subtract"
    v_reset: np.ndarray | float = 0.0

    def __post_init__(self):
        n = np.size(self.beta)
        object.__setattr__(self, "beta", frozen_vector("beta", self.beta, n))
        check_range("beta", self.beta, 0.0, 1.0)
        _check_spiking(self, n)

    @property
    def size(self) -> int:
        return int(self.beta.shape[0])


@dataclass(frozen=True, eq=False)
class CubaLIF:
    """Current-based LIF::

    i[t] = beta_syn * i[t-1] + x[t]
    v[t] = beta_mem * v[t-1] + i[t]        then spike and reset (v only)
    """

    beta_syn: np.ndarray
    beta_mem: np.ndarray
    threshold: np.ndarray
    reset: str = "subtract"
    v_reset: np.ndarray | float = 0.0

    def __post_init__(self):
        n = np.size(self.beta_mem)
        for name in ("beta_syn", "beta_mem"):
            object.__setattr__(self, name, frozen_vector(name, getattr(self, name), n))
            check_range(name, getattr(self, name), 0.0, 1.0)
        _check_spiking(self, n)

    @property
    def size(self) -> int:
        return int(self.beta_mem.shape[0])


@dataclass(frozen=True, eq=False)
class LI:
    """Leaky integrator, no spikes (a readout): ``v[t] = beta * v[t-1] + x[t]``.

    As the last layer it makes the prediction the neuron with the largest final membrane (the
    spike-count readout with all counts zero). Quantized, its threshold is the top of the state
    range, which a saturating state never exceeds.
    """

    beta: np.ndarray

    def __post_init__(self):
        n = np.size(self.beta)
        object.__setattr__(self, "beta", frozen_vector("beta", self.beta, n))
        check_range("beta", self.beta, 0.0, 1.0)

    @property
    def size(self) -> int:
        return int(self.beta.shape[0])

    @property
    def threshold(self) -> np.ndarray:
        return np.full(self.size, np.inf)

    @property
    def v_reset(self) -> np.ndarray:
        return np.zeros(self.size)

    reset = "to_value"


Neurons = IF | LIF | CubaLIF | LI


def membrane_decay(neurons: Neurons) -> np.ndarray:
    """Per-step membrane decay of any model (1 for IF)."""
    if isinstance(neurons, IF):
        return np.ones(neurons.size)
    if isinstance(neurons, (LIF, LI)):
        return np.asarray(neurons.beta)
    return np.asarray(neurons.beta_mem)


def synaptic_decay(neurons: Neurons) -> np.ndarray | None:
    """Per-step synaptic-current decay, or None for voltage-based models."""
    return np.asarray(neurons.beta_syn) if isinstance(neurons, CubaLIF) else None
