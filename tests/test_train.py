"""Training is deterministic with a seed and produces a network the simulators agree with."""

import numpy as np
import pytest

from tests.toolchains import import_or_skip

torch = import_or_skip("torch")

from edgesnn.data.datasets import encoded  # noqa: E402
from edgesnn.fixedpoint import quantize, simulate_int  # noqa: E402
from edgesnn.train import TrainConfig, train  # noqa: E402


def test_same_seed_same_weights_and_qat_model_quantizes_losslessly():
    cfg = TrainConfig(epochs=2, hidden=(24,), timesteps=8, seed=5)
    a, b = train(cfg), train(cfg)
    for la, lb in zip(a.network.layers, b.network.layers):
        assert np.array_equal(la.weight, lb.weight)
    assert a.test_accuracy > 0.3
    x, y = encoded("digits", "test", a.network.input_spec)
    q = quantize(a.network)  # the QAT model's own forward pass is the integer model
    assert a.history[-1]["test_accuracy_train_readout"] == pytest.approx(
        float(np.mean(simulate_int(q, x).counts.argmax(axis=1) == y))
    )


def test_latency_encoding_trains():
    r = train(TrainConfig(epochs=2, hidden=(24,), timesteps=8, encoding="latency", qat=False))
    assert r.test_accuracy > 0.3
