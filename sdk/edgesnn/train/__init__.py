"""Training: surrogate-gradient BPTT in torch (``loop``, ``snn``) and unsupervised STDP in numpy
(``stdp``). Submodules are imported on use, so that STDP never needs torch."""

from __future__ import annotations

__all__ = ["TrainConfig", "TrainResult", "train"]


def __getattr__(name: str):
    if name in __all__:
        from edgesnn.train import loop

        return getattr(loop, name)
    raise AttributeError(name)
