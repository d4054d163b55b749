"""Rate-based ANN -> SNN conversion with data-based threshold normalisation.

The ANN is a chain of affine stages ``y = W x + b`` each optionally followed by ReLU (what
``torch_ann`` and ``tflite_ann`` extract). Every stage becomes a layer of IF neurons with
threshold 1 and reset by subtraction, so that a neuron's firing rate approximates its ReLU
activation divided by a scale ``lambda``. Following Rueckauer et al. (2017), ``lambda`` of each
stage is a high percentile (default 99.9) of its positive activations on training data, which
is robust to outliers where the maximum is not; weights become ``W * lambda_prev / lambda`` and
biases ``b / lambda``. Inputs are intensities in [0, 1] rate coded as spikes (lambda_0 = 1).
The last stage (logits, no ReLU) is normalised the same way and read out by spike count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesnn.ir import IF, Dense, Network


@dataclass(frozen=True)
class Stage:
    weight: np.ndarray  # (out, in)
    bias: np.ndarray  # (out,)
    relu: bool


def ann_forward(stages: list[Stage], x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, float)
    for s in stages:
        a = a @ s.weight.T + s.bias
        if s.relu:
            a = np.maximum(a, 0.0)
    return a


def convert(
    stages: list[Stage],
    x_train: np.ndarray,
    *,
    percentile: float = 99.9,
    input_spec: dict | None = None,
    name: str = "converted",
) -> tuple[Network, list[float]]:
    """(SNN, lambda per stage). ``x_train``: intensities (samples, inputs) in [0, 1]."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if not stages:
        raise ValueError("the ANN has no layers")
    a = np.asarray(x_train, float)
    lam_prev, layers, lams = 1.0, [], []
    for s in stages:
        z = a @ s.weight.T + s.bias
        act = np.maximum(z, 0.0)
        pos = act[act > 0]
        lam = float(np.percentile(pos, percentile)) if pos.size else 1.0
        lam = lam if lam > 0 else 1.0
        w = s.weight * (lam_prev / lam)
        layers.append(Dense(weight=w, bias=s.bias / lam, neurons=IF(threshold=np.ones(w.shape[0]), reset="subtract")))
        lams.append(lam)
        a = act if s.relu else z
        lam_prev = lam
    spec = dict(input_spec or {})
    return Network(
        n_inputs=stages[0].weight.shape[1],
        layers=tuple(layers),
        input_spec=spec,
        name=name,
        meta={"converted_from": "ann", "percentile": percentile, "lambdas": lams},
    ), lams
