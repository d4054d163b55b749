"""Float IR validation, the quantizer, and QAT == golden simulator."""

import numpy as np
import pytest

from edgesnn.errors import QuantizationError
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint import quantization_report, quantize, simulate_float, simulate_int
from edgesnn.ir import IF, LIF, CubaLIF, Dense, Network
from tests.toolchains import import_or_skip


def small_net(seed=0, n_in=6, hidden=5, out=3, recurrent=True):
    rng = np.random.default_rng(seed)
    return Network(
        n_inputs=n_in,
        layers=(
            Dense(
                rng.normal(0, 0.6, (hidden, n_in)),
                rng.normal(0, 0.1, hidden),
                CubaLIF(np.full(hidden, 0.7), np.full(hidden, 0.9), np.full(hidden, 1.0)),
                recurrent=rng.normal(0, 0.3, (hidden, hidden)) if recurrent else None,
            ),
            Dense(rng.normal(0, 0.6, (out, hidden)), np.zeros(out), LIF(np.full(out, 0.8), np.full(out, 0.7))),
        ),
    )


def test_nan_weight_is_rejected_with_its_index():
    w = np.ones((2, 3))
    w[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"weight has a non-finite value nan at index \(1, 2\)"):
        Dense(w, np.zeros(2), IF(np.ones(2)))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"beta": [0.5, 1.5], "threshold": [1, 1]}, r"beta\[1\] = 1.5"),
        ({"beta": [0.5, 0.5], "threshold": [1, 0]}, r"threshold\[1\] = 0.0"),
        ({"beta": [0.5, 0.5], "threshold": [1, 1], "reset": "zero"}, "reset must be one of"),
    ],
)
def test_neuron_validation_names_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LIF(**kwargs)


def test_layer_shapes_must_chain():
    a = Dense(np.ones((4, 3)), np.zeros(4), IF(np.ones(4)))
    b = Dense(np.ones((2, 5)), np.zeros(2), IF(np.ones(2)))
    with pytest.raises(ValueError, match="layer 1 expects 5 inputs but receives 4"):
        Network(n_inputs=3, layers=(a, b))


def test_quantize_does_not_mutate_and_arrays_are_read_only():
    net = small_net()
    before = [L.weight.copy() for L in net.layers]
    q = quantize(net, calibration=np.random.default_rng(1).random((4, 10, 6)) < 0.5)
    assert all(np.array_equal(a, L.weight) for a, L in zip(before, net.layers))
    with pytest.raises(ValueError):
        q.layers[0].weight[0, 0] = 1
    with pytest.raises(ValueError):
        net.layers[0].weight[0, 0] = 1


@pytest.mark.parametrize("wb", [4, 8])
@pytest.mark.parametrize("per_channel", [True, False])
def test_quantized_weights_use_the_full_range(wb, per_channel):
    q = quantize(small_net(), weight_bits=wb, per_channel=per_channel)
    lim = C.weight_limit(wb)
    for L in q.layers:
        assert np.abs(L.weight).max() == lim
        if per_channel:
            full = np.maximum(
                np.abs(L.weight).max(axis=1), 0 if L.recurrent is None else np.abs(L.recurrent).max(axis=1)
            )
            assert (full == lim).all()


def test_quantized_model_tracks_float_model():
    net = small_net(recurrent=False)
    x = np.random.default_rng(2).random((64, 20, 6)) < 0.4
    q = quantize(net, calibration=x)
    rep = quantization_report(net, q, x)
    assert rep.output_spike_agreement > 0.95  # float vs int8: not exact by nature
    assert q.layers[0].shift > 0


def test_state_bits_out_of_range_is_a_quantization_error():
    with pytest.raises(QuantizationError, match="state_bits 40"):
        quantize(small_net(), state_bits=40)


def test_threshold_too_large_for_state_bits():
    net = Network(n_inputs=2, layers=(Dense(np.full((1, 2), 1e-6), np.zeros(1), IF(np.ones(1))),))
    with pytest.raises(QuantizationError, match="state_bits=8"):
        quantize(net, state_bits=8)


def test_float_if_without_leak_integrates_exactly():
    net = Network(n_inputs=1, layers=(Dense(np.array([[0.3]]), np.zeros(1), IF(np.ones(1))),))
    x = np.ones((1, 10, 1), bool)
    r = simulate_float(net, x, record=True)
    # 0.3 per step, threshold 1 (strict), subtract reset: spikes at steps 3, 6, 9 (0-based after 4th add...)
    v = np.cumsum(np.full(10, 0.3))
    expected = np.diff(np.floor(v - 1e-12).clip(0), prepend=0) > 0
    assert np.array_equal(r.spikes[0, :, 0], expected)


def test_qat_forward_equals_golden_simulator():
    torch = import_or_skip("torch")
    from edgesnn.data.datasets import encoded
    from edgesnn.train.loop import TrainConfig, to_network
    from edgesnn.train.snn import SpikingMLP

    torch.set_num_threads(1)
    torch.manual_seed(3)
    for wb, sb in ((8, 24), (4, 16)):
        m = SpikingMLP([64, 32, 10], 0.9, 1.0, qat={"weight_bits": wb, "state_bits": sb, "per_channel": True})
        with torch.no_grad():
            for fc in m.fcs:
                fc.weight.mul_(3)  # strong drive: saturation happens
            x, _ = encoded("digits", "test")
            x = x[:100]
            s, v = m(torch.from_numpy(x))
        cfg = TrainConfig(qat=True, weight_bits=wb, state_bits=sb)
        r = simulate_int(quantize(to_network(m, cfg, 64), weight_bits=wb, state_bits=sb), x, count_saturation=True)
        assert sum(r.saturations) > 0
        assert np.array_equal(s.numpy().astype(bool), r.spikes)
        assert np.array_equal(v.numpy().astype(np.int64), r.v_last)
