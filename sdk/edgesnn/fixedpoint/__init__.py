"""The integer contract (docs/fixed-point.md), the quantizer and the golden simulator. No torch."""

from edgesnn.fixedpoint.contract import CONTRACT_VERSION
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
from edgesnn.fixedpoint.quantize import QuantReport, quantization_report, quantize
from edgesnn.fixedpoint.simulate import SimResult, simulate, simulate_float, simulate_int

__all__ = [
    "CONTRACT_VERSION",
    "QuantLayer",
    "QuantNetwork",
    "QuantReport",
    "SimResult",
    "quantization_report",
    "quantize",
    "simulate",
    "simulate_float",
    "simulate_int",
]
