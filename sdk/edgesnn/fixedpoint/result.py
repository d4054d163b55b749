"""What a simulation returns: shared by the chain simulator (``simulate``) and the graph one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SimResult:
    """What a simulation returns. Arrays are indexed (sample, timestep, neuron)."""

    spikes: np.ndarray  # output-layer spikes, bool (N, T, n_out)
    counts: np.ndarray  # output spike counts (N, n_out)
    v_last: np.ndarray  # output-layer membrane after the last step (N, n_out)
    prediction: np.ndarray  # (N,)
    synops: np.ndarray  # synaptic events per sample (N,)
    neuron_updates: int  # neuron updates per sample without idle skipping (timesteps x neurons)
    saturations: list[int] = field(default_factory=list)  # per layer: states at a limit after the clamp
    record: list[dict[str, np.ndarray]] | None = None  # per layer: "spikes", "v", and "i" if CUBA
    #: neuron updates the C runtime performs per sample under idle skipping (fixedpoint/activity.py); with record
    membrane_updates: np.ndarray | None = None

    def recorded(self) -> list[dict[str, np.ndarray]]:
        """The per-layer record; the simulation must have been run with ``record=True``."""
        if self.record is None:
            raise ValueError("the simulation was run without record=True: no states recorded")
        return self.record

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.prediction == np.asarray(labels)))
