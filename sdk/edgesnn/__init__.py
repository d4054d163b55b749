"""edgesnn: spiking neural networks on small devices.

The pipeline is a chain of pure stages with typed values between them::

    ir.Network --quantize--> fixedpoint.QuantNetwork --render--> firmware --build--> device

Importing ``edgesnn`` is cheap: torch is imported only by ``edgesnn.train``.
"""

__version__ = "0.1.0"

from edgesnn.errors import DatasetError, EdgesnnError, ModelFileError, QuantizationError

__all__ = ["__version__", "EdgesnnError", "ModelFileError", "DatasetError", "QuantizationError"]
