"""The generated C, compiled for the host, equals the golden simulator on every spike and state."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.firmware import golden, hostbuild
from edgesnn.firmware.boards import get_board
from edgesnn.firmware.build import build
from edgesnn.firmware.render import packed_rows
from edgesnn.fixedpoint import simulate_int
from tests.host_c import host_bit_exact
from tests.strategies import conv_networks, idle_inputs, quant_networks, spike_inputs
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import need_tools

pytestmark = pytest.mark.device


@pytest.fixture(autouse=True)
def _host_compiler():
    need_tools("cc", what="the host firmware build")


def _compare(qnet, x, tmp, sanitize):
    return host_bit_exact(qnet, x, tmp, sanitize)[1]


@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_networks_bit_exact(tmp_path_factory, sanitize, data):
    qnet = data.draw(quant_networks(max_layers=3, max_width=40))
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=4, max_steps=10))
    _compare(qnet, x, tmp_path_factory.mktemp("fw"), sanitize)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mostly_idle_inputs_bit_exact_with_idle_skipping(tmp_path_factory, data):
    """Idle skipping under ASan/UBSan: every state, and the neuron updates the device performed
    equal the golden rule's count (fixedpoint/activity.py), on dense and convolutional networks."""
    if data.draw(st.booleans()):
        qnet = data.draw(quant_networks(max_layers=3, max_width=40))
    else:
        qnet = data.draw(conv_networks())
    x = data.draw(idle_inputs(qnet.n_inputs))
    res = _compare(qnet, x, tmp_path_factory.mktemp("fw"), sanitize=True)
    assert res["samples"] == x.shape[0]


def test_idle_skipping_stops_updating_neurons_at_rest(tmp_path):
    """A bias-free network after a burst: once its states stop changing, steps update nothing, and
    the device counted exactly the golden number of updates (fewer than timesteps x neurons)."""
    qnet = digits_like_model(seed=3, hidden=32, cuba=False)
    from dataclasses import replace

    qnet = replace(qnet, layers=tuple(replace(L, bias=np.zeros_like(L.bias)) for L in qnet.layers))
    x = np.zeros((2, 400, qnet.n_inputs), bool)
    x[:, :5] = np.random.default_rng(0).random((2, 5, qnet.n_inputs)) < 0.4
    sim = simulate_int(qnet, x, record=True)
    shorter = simulate_int(qnet, x[:, :300], record=True)
    dense = 400 * sum(L.n_out for L in qnet.layers)
    assert sim.neuron_updates == dense
    assert sim.membrane_updates is not None and shorter.membrane_updates is not None
    assert (sim.membrane_updates < dense // 2).all(), sim.membrane_updates
    # at rest by step 300: the last 100 silent steps updated no neuron
    assert sim.membrane_updates.tolist() == shorter.membrane_updates.tolist()
    _compare(qnet, x, tmp_path, sanitize=True)  # the device's own count equals sim.membrane_updates


def test_many_events_cross_the_int16_chunk_boundary(tmp_path):
    """600 inputs all spiking with max weights: the packed int16 lanes must be flushed exactly."""
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

    rng = np.random.default_rng(0)
    n_in, n_out = 600, 13
    w = np.where(rng.random((n_out, n_in)) < 0.5, 127, -127)
    layer = QuantLayer(
        weight=w,
        bias=np.zeros(n_out, np.int64),
        shift=0,
        alpha_mem=np.full(n_out, 65536),
        threshold=np.full(n_out, 10**6),
    )
    qnet = QuantNetwork(n_inputs=n_in, layers=(layer,), state_bits=32)
    _compare(qnet, np.ones((2, 3, n_in), bool), tmp_path, sanitize=True)


def test_packed_rows_hold_exact_lane_sums():
    w = np.array([[127, -127, 5], [-1, 0, 127], [3, 3, -3]])  # (n_out=3, n_in=3)
    rows, words = packed_rows(w)
    assert words % 4 == 0 and rows.shape == (3, words)
    total = rows.astype(np.uint64).sum(axis=0) & 0xFFFFFFFF
    lo = ((total & 0xFFFF).astype(np.int64) ^ 0x8000) - 0x8000
    hi = ((total.astype(np.int64) - lo) & 0xFFFFFFFF) >> 16
    hi = (hi ^ 0x8000) - 0x8000
    lanes = np.empty(2 * words, np.int64)
    lanes[0::2], lanes[1::2] = lo, hi
    assert lanes[:3].tolist() == w.sum(axis=1).tolist()


def test_trained_digits_model_bit_exact(tmp_path):
    """The README's model on the whole digits test split, under ASan/UBSan."""
    from edgesnn.data.datasets import encoded
    from edgesnn.fixedpoint import quantize
    from edgesnn.ir import LIF, Dense, Network

    rng = np.random.default_rng(1)  # random weights at the trained model's shapes (training is tested elsewhere)
    net = Network(
        n_inputs=64,
        layers=(
            Dense(rng.normal(0, 0.35, (128, 64)), rng.normal(0, 0.05, 128), LIF(np.full(128, 0.9), np.ones(128))),
            Dense(rng.normal(0, 0.35, (10, 128)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),
        ),
    )
    q = quantize(net)
    x, _ = encoded("digits", "test")
    res = _compare(q, x, tmp_path, sanitize=True)
    assert res["samples"] == 450


def test_clang_sanitizers_find_no_out_of_bounds_pointer(tmp_path):
    """clang's UBSan (pointer-overflow: an offset applied to a null pointer) on voltage-based
    models, whose state has no current buffer, and on a current-based one."""
    from dataclasses import replace

    need_tools("clang-14", what="the clang sanitizer build")
    host = get_board("host")
    clang_host = replace(host, data={**host.data, "toolchain": {**host.toolchain, "cc": "clang-14"}})
    x = np.random.default_rng(3).random((3, 6, 64)) < 0.3
    for cuba in (False, True):
        qnet = digits_like_model(seed=7, hidden=24, cuba=cuba)
        res = build(
            qnet,
            clang_host,
            tmp_path / f"c{int(cuba)}",
            app="golden_host",
            extra_cflags=tuple(hostbuild.SANITIZE_FLAGS),
        )
        run = hostbuild.run_host(qnet, res.elf, x)
        out = golden.count_mismatches(simulate_int(qnet, x, record=True), run)
        assert out["mismatched_values"] == 0 and out["values_compared"] > 0
