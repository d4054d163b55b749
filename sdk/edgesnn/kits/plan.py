"""A network as training will make it, before any weight exists: the shapes the kit fit rules
(``kits.rules``) read, so that ``train --board KIT`` can refuse a data set or architecture the
kit cannot take before the first epoch instead of after the last."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgesnn.ir.geometry import ConvGeometry, Pool2d


@dataclass(frozen=True)
class PlannedLayer:
    """One layer's shape: ``n_out`` neurons over ``n_syn`` weight inputs (after the input's
    ``pool``), a convolution's geometry or None (dense), and ``recurrent`` True or None (as a
    quantized layer's recurrent matrix is a matrix or None)."""

    n_out: int
    n_syn: int
    conv: ConvGeometry | None = None
    pool: Pool2d | None = None
    recurrent: bool | None = None

    def __post_init__(self):
        if self.n_out < 1 or self.n_syn < 1:
            raise ValueError(f"a layer needs neurons and inputs, got n_out {self.n_out}, n_syn {self.n_syn}")

    @property
    def in_shape(self) -> tuple[int, ...]:
        if self.pool is not None:
            return self.pool.in_shape
        return self.conv.in_shape if self.conv is not None else (self.n_syn,)


@dataclass(frozen=True)
class Plan:
    """The layers of a network to be trained on ``n_inputs`` input channels."""

    n_inputs: int
    layers: tuple[PlannedLayer, ...]

    def __post_init__(self):
        if not self.layers:
            raise ValueError("a plan needs at least one layer")

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out


def plan_of(specs: Sequence[Any], n_inputs: int) -> Plan:
    """The plan of resolved architecture layers (``train.arch.LayerSpec``: ``units``, ``n_syn``,
    ``conv``, ``pool``, ``recurrent``)."""
    return Plan(
        n_inputs=int(n_inputs),
        layers=tuple(
            PlannedLayer(int(s.units), int(s.n_syn), s.conv, s.pool, True if s.recurrent else None) for s in specs
        ),
    )
