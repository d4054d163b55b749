"""The float IR: layers, neuron models and networks. Imports nothing else of edgesnn."""

from edgesnn.ir.geometry import ConvGeometry, Pool2d
from edgesnn.ir.graph import GATE_OPS, Connection, SpikeGate, apply_gate, gate_of, incoming, is_chain
from edgesnn.ir.layers import Conv2d, Dense, Layer
from edgesnn.ir.network import Network
from edgesnn.ir.neurons import IF, LI, LIF, CubaLIF, membrane_decay, synaptic_decay

__all__ = [
    "Connection",
    "GATE_OPS",
    "SpikeGate",
    "apply_gate",
    "gate_of",
    "Conv2d",
    "ConvGeometry",
    "Dense",
    "Layer",
    "Pool2d",
    "Network",
    "IF",
    "LI",
    "LIF",
    "CubaLIF",
    "membrane_decay",
    "synaptic_decay",
    "incoming",
    "is_chain",
]
