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


@pytest.mark.parametrize("qat", [None, {"weight_bits": 8, "state_bits": 24, "per_channel": True}])
def test_fused_time_loop_gives_the_step_by_step_spikes_and_gradients(qat):
    """LIFRecurrence (one autograd node per layer) against the graph built step by step."""
    import torch

    from edgesnn.train.snn import SpikingMLP

    torch.manual_seed(0)
    m = SpikingMLP([64, 24, 10], 0.9, 1.0, qat=qat)
    x = (torch.rand(8, 20, 64) < 0.3).float()
    got = []
    for fused in (True, False):
        m.fused = fused
        m.zero_grad()
        s, v = m(x)
        (s.sum(1).pow(2).mean() + 1e-3 * v.sum()).backward()
        got.append((s.detach(), v.detach(), [p.grad.clone() for p in m.parameters()]))
    (s1, v1, g1), (s2, v2, g2) = got
    assert torch.equal(s1, s2) and torch.equal(v1, v2) and s1.sum() > 0
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9) and a.abs().max() > 0


@pytest.mark.parametrize("qat", [None, {"weight_bits": 8, "state_bits": 24, "per_channel": True}])
def test_recurrent_layers_train_as_the_simulator_computes(qat):
    """Dense layers with recurrent weights (architecture files: recurrent = true): the QAT forward
    equals the golden simulator on every output spike and the final membrane; the float forward
    the float simulator's spikes."""
    from tests.qat_check import trains_as_simulated

    layers = [{"type": "dense", "units": 24, "recurrent": True}]
    net, _, _ = trains_as_simulated(layers, (8,), 5, qat, scale=4, steps=20, rate=0.3)
    assert net.layers[0].recurrent is not None and net.layers[1].recurrent is None


def test_digits_rows_feeds_each_row_over_time():
    import numpy as np

    from edgesnn.data.datasets import ROW_STEPS, digits_splits, open_dataset

    ds = open_dataset("digits-rows")
    x, y = ds.spikes("test")
    assert x.shape == (450, 8 * ROW_STEPS, 8) and ds.info()["input_shape"] == [8] and ds.classes == 10
    img = digits_splits()[1].x.reshape(-1, 8, 8)
    counts = x.reshape(450, 8, ROW_STEPS, 8).sum(axis=2)  # spikes per row and column
    assert np.array_equal(counts, np.floor(img * ROW_STEPS + 0.5))
    assert not x.reshape(450, 8, ROW_STEPS, 8)[:, :, 1:][~x.reshape(450, 8, ROW_STEPS, 8)[:, :, :-1]].any()
