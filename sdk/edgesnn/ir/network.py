"""The float network: a feed-forward chain of layers, each driven by the previous layer's spikes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if int(self.n_inputs) < 1:
            raise ValueError(f"n_inputs must be >= 1, got {self.n_inputs!r}")
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        n, shape = int(self.n_inputs), None
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, (Dense, Conv2d)):
                raise ValueError(f"layer {i} has unsupported type {type(layer).__name__}")
            if layer.n_in != n:
                shape_note = f" (a {layer.in_shape} map)" if len(layer.in_shape) == 3 else ""
                raise ValueError(f"layer {i} expects {layer.n_in} inputs{shape_note} but receives {n}")
            if shape is not None and len(layer.in_shape) == 3 and layer.in_shape != shape:
                raise ValueError(f"layer {i} reads a {layer.in_shape} map but layer {i - 1} makes {shape}")
            n, shape = layer.n_out, (layer.out_shape if len(layer.out_shape) == 3 else None)
        if not (self.dt > 0):
            raise ValueError(f"dt must be > 0, got {self.dt!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out
