"""The float IR: layers, neuron models and networks. Imports nothing else of edgesnn."""

from edgesnn.ir.layers import Dense
from edgesnn.ir.network import Network
from edgesnn.ir.neurons import IF, LI, LIF, CubaLIF, membrane_decay, synaptic_decay

__all__ = ["Dense", "Network", "IF", "LI", "LIF", "CubaLIF", "membrane_decay", "synaptic_decay"]
