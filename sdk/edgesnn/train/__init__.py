"""Training in torch: surrogate-gradient BPTT with an optional quantization-aware forward pass.

This is the only package that imports torch.
"""

from edgesnn.train.loop import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
