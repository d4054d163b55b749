"""SEW gates on the C runtime (esnn_layer_t.gate_op): random gated graphs and gated spiking
ResNets bit-exact with the golden simulator on host C (strict warnings, ASan/UBSan), idle
skipping included, and on emulated boards."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.firmware.boards import get_board
from edgesnn.firmware.verify import verify
from edgesnn.fixedpoint import quantize, simulate_int
from edgesnn.ir import Connection, Conv2d, ConvGeometry, Network, Pool2d, SpikeGate
from tests.host_c import host_bit_exact
from tests.strategies import idle_inputs, spike_inputs
from tests.test_graph import _dense, _lif
from tests.test_sew_gates import gated_graph
from tests.toolchains import need_board_tools

pytestmark = pytest.mark.device


@st.composite
def gated(draw):
    net = gated_graph(
        draw(st.integers(0, 2**31 - 1)), draw(st.integers(2, 5)), draw(st.integers(0, 3)), draw(st.booleans())
    )
    return quantize(net, weight_bits=draw(st.sampled_from([4, 6, 8])), state_bits=draw(st.sampled_from([16, 24])))


def sew_net(seed: int, ops: tuple[str, ...], channels: int, side: int) -> Network:
    """A stem convolution, one SEW block per op (two same-shape convolutions; the second emits
    op(its spikes, the block input's): "add" is a one-to-one connection into it instead), then a
    sum-pooled fully connected readout."""
    rng = np.random.default_rng(seed)
    shape = (channels, side, side)
    stem = ConvGeometry((1, side, side), channels, (3, 3), (1, 1), (1, 1))
    same = ConvGeometry(shape, channels, (3, 3), (1, 1), (1, 1))
    one = ConvGeometry(shape, channels, (1, 1), (1, 1), (0, 0), channels)

    def conv(g):
        return Conv2d(
            weight=rng.normal(0, 0.7, g.weight_shape), bias=rng.normal(0, 0.05, channels), neurons=_lif(g.n_out), conv=g
        )

    layers, conns, gates = [conv(stem)], [], []
    for op in ops:
        first = len(layers) - 1
        layers += [conv(same), conv(same)]
        if op == "add":
            conns.append(Connection(first, len(layers) - 1, rng.normal(0.8, 0.3, one.weight_shape), conv=one))
        else:
            gates.append(SpikeGate(len(layers) - 1, first, op))
    pool = Pool2d("sum", (2, 2), shape)
    out = _dense(rng, 3, pool.n_out)
    layers.append(type(out)(weight=out.weight, bias=out.bias, neurons=out.neurons, pool=pool))
    return Network(side * side, tuple(layers), connections=tuple(conns), gates=tuple(gates))


@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_gated_graphs_bit_exact_on_host_c(tmp_path_factory, sanitize, data):
    qnet = data.draw(gated())
    x = data.draw(
        st.sampled_from([spike_inputs(qnet.n_inputs, max_samples=4, max_steps=12), idle_inputs(qnet.n_inputs)])
    )
    sim, _ = host_bit_exact(qnet, data.draw(x), tmp_path_factory.mktemp("g"), sanitize)
    assert sim.membrane_updates is not None


@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sew_resnets_bit_exact_on_host_c(tmp_path_factory, sanitize, data):
    ops = tuple(data.draw(st.lists(st.sampled_from(["or", "iand", "add"]), min_size=1, max_size=3)))
    net = sew_net(data.draw(st.integers(0, 2**31 - 1)), ops, data.draw(st.integers(1, 4)), 6)
    qnet = quantize(net, weight_bits=data.draw(st.sampled_from([6, 8])))
    x = data.draw(
        st.sampled_from([spike_inputs(qnet.n_inputs, max_samples=3, max_steps=10), idle_inputs(qnet.n_inputs)])
    )
    host_bit_exact(qnet, data.draw(x), tmp_path_factory.mktemp("s"), sanitize)


@pytest.mark.parametrize("ops", [("or", "iand"), ("iand", "add", "or")])
def test_busy_sew_resnets_bit_exact_on_host_c_under_sanitizers(ops, tmp_path):
    """Inputs busy enough that each gate changes what its layer emits (hypothesis' small
    examples may leave a gate with nothing to do)."""
    qnet = quantize(sew_net(3, ops, 4, 6))
    x = np.random.default_rng(1).random((4, 12, 36)) < 0.3
    sim, _ = host_bit_exact(qnet, x, tmp_path, sanitize=True)
    rec = sim.recorded()
    for g in qnet.gates:
        assert rec[g.layer]["spikes"].any() and rec[g.source]["spikes"].any()
    plain = quantize(Network(36, sew_net(3, ops, 4, 6).layers, connections=sew_net(3, ops, 4, 6).connections))
    assert not np.array_equal(sim.spikes, simulate_int(plain, x).spikes)  # the gates matter here


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-microbit", "qemu-sifive-e"])
def test_a_sew_resnet_bit_exact_on_emulated_boards(name, tmp_path):
    board = get_board(name)
    need_board_tools(board)
    qnet = quantize(sew_net(3, ("iand", "or"), 4, 6))
    x = np.random.default_rng(1).random((6, 12, 36)) < 0.3
    res = verify(qnet, board, x, tmp_path)
    assert res["mismatches"] == 0 and res["samples"] == 6, res
