"""The float network: layers (populations) in evaluation order, a chain unless it names a graph
(``ir.graph``: each layer's source, and more connections)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgesnn.ir.graph import Connection, SpikeGate, check_graph
from edgesnn.ir.layers import Conv2d, Dense, Layer

READOUTS = ("spike_count",)


@dataclass(frozen=True, eq=False)
class Network:
    """A float spiking network in discrete time.

    ``layers[0]`` receives the input spikes (``n_inputs`` channels, flat; a first ``Conv2d``
    reads them as its (C, H, W) map); ``layers[l]`` receives the spikes of ``layers[l-1]`` in the
    same timestep, pooled first if the layer has a ``pool``. ``dt`` (seconds) is the step the decays
    were derived with; it matters only when converting to continuous time (NIR).

    Readout ``spike_count``: the prediction is the output neuron with the most spikes over the
    sample; ties go to the larger final membrane potential, then to the lower index.

    A graph (``ir.graph``): ``sources[l]`` is the layer (or -1, the input) whose spikes layer
    ``l``'s own weights read, earlier than ``l``; empty means ``l - 1``. ``connections`` add more
    synaptic input into a layer, from the input or any layer; one that closes a cycle reads the
    previous timestep. ``gates`` (``ir.graph.SpikeGate``) make a layer emit SEW-ResNet's OR or IAND
    of its spikes and an earlier layer's. Layers are evaluated in index order within a timestep.

    ``input_spec`` records how inputs were encoded (data set, encoding, timesteps) so that later
    stages can reproduce them; ``meta`` records provenance (training settings, quantization-aware
    bit widths). Both are free-form JSON-able data.
    """

    n_inputs: int
    layers: tuple[Layer, ...]
    dt: float = 1e-3
    readout: str = "spike_count"
    input_spec: dict[str, Any] = field(default_factory=dict)
    name: str = "network"
    meta: dict[str, Any] = field(default_factory=dict)
    sources: tuple[int, ...] = ()
    connections: tuple[Connection, ...] = ()
    gates: tuple[SpikeGate, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "sources", tuple(int(s) for s in self.sources))
        object.__setattr__(self, "connections", tuple(self.connections))
        object.__setattr__(self, "gates", tuple(sorted(self.gates, key=lambda g: g.layer)))
        if int(self.n_inputs) < 1:
            raise ValueError(f"n_inputs must be >= 1, got {self.n_inputs!r}")
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, (Dense, Conv2d)):
                raise ValueError(f"layer {i} has unsupported type {type(layer).__name__}")
        for i, c in enumerate(self.connections):
            if not isinstance(c, Connection):
                raise ValueError(f"connection {i} has unsupported type {type(c).__name__}")
        sources = check_graph(int(self.n_inputs), self.layers, self.sources, self.connections, self.gates)
        object.__setattr__(self, "sources", sources)
        if not (self.dt > 0):
            raise ValueError(f"dt must be > 0, got {self.dt!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out
