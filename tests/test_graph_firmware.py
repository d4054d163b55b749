"""Graphs on the C runtime (esnn_edge_t): random graphs of fully connected layers, bit-exact with
the golden simulator on host C (strict warnings, ASan/UBSan) and on emulated boards, idle skipping
included; graphs the runtime does not take are refused by the board rule before any build."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.errors import FitError
from edgesnn.firmware.boards import get_board
from edgesnn.firmware.build import build
from edgesnn.firmware.verify import verify
from edgesnn.fixedpoint import quantize
from edgesnn.ir import Connection, Conv2d, ConvGeometry, Network, Pool2d
from tests.host_c import host_bit_exact
from tests.strategies import idle_inputs, spike_inputs
from tests.test_graph import _dense, _lif, _random_graph
from tests.test_sew_firmware import gated
from tests.toolchains import need_board_tools

pytestmark = pytest.mark.device


@st.composite
def graphs(draw):
    """A quantized random graph: any layer's own source, forward, self and backward connections,
    LIF and CUBA layers, and bit widths from narrow to wide."""
    net = _random_graph(
        draw(st.integers(0, 2**31 - 1)), draw(st.integers(1, 4)), draw(st.integers(0, 4)), draw(st.booleans())
    )
    return quantize(net, weight_bits=draw(st.sampled_from([4, 6, 8])), state_bits=draw(st.sampled_from([16, 24])))


def _host(qnet, x, tmp, sanitize: bool):
    return host_bit_exact(qnet, x, tmp, sanitize)[0]


@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_graphs_bit_exact_on_host_c(tmp_path_factory, sanitize, data):
    qnet = data.draw(graphs())
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=4, max_steps=12))
    _host(qnet, x, tmp_path_factory.mktemp("g"), sanitize)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_graphs_with_mostly_idle_inputs_keep_idle_skipping_exact(tmp_path_factory, data):
    """The neuron updates the device performs equal the golden rule's count: a layer is idle only
    when its own input, its recurrence and every connection into it are silent."""
    qnet = data.draw(graphs())
    x = data.draw(idle_inputs(qnet.n_inputs))
    sim = _host(qnet, x, tmp_path_factory.mktemp("g"), sanitize=True)
    assert sim.membrane_updates is not None


@pytest.mark.parametrize("kind", ["graph", "gated"])
@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-microbit", "qemu-sifive-e"])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_graphs_bit_exact_on_emulated_boards(tmp_path_factory, name, kind, data):
    """Random graphs, and random graphs with SEW gates (tests/test_sew_firmware.py's)."""
    board = get_board(name)
    need_board_tools(board)
    qnet = data.draw(graphs() if kind == "graph" else gated())
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=4, max_steps=10))
    res = verify(qnet, board, x, tmp_path_factory.mktemp("q"))
    assert res["mismatches"] == 0 and res["samples"] == x.shape[0], res


def _residual_net(seed: int, blocks: int, channels: int, side: int, cuba: bool = False) -> Network:
    """A small spiking ResNet: a stem convolution, ``blocks`` residual blocks of two same-shape
    convolutions whose second population also receives the block input one to one (a depthwise
    1x1 connection, learned weight per channel), then a sum-pooled fully connected readout."""
    rng = np.random.default_rng(seed)
    shape = (channels, side, side)
    stem = ConvGeometry((1, side, side), channels, (3, 3), (1, 1), (1, 1))
    same = ConvGeometry(shape, channels, (3, 3), (1, 1), (1, 1))
    one = ConvGeometry(shape, channels, (1, 1), (1, 1), (0, 0), channels)
    n = stem.n_out

    def conv(g):
        return Conv2d(
            weight=rng.normal(0, 0.6, g.weight_shape), bias=rng.normal(0, 0.05, channels), neurons=_lif(n), conv=g
        )

    layers, conns = [conv(stem)], []
    for _ in range(blocks):
        first = len(layers) - 1  # the block's input
        layers += [conv(same), conv(same)]
        conns.append(Connection(first, len(layers) - 1, rng.normal(0.8, 0.3, one.weight_shape), conv=one))
    pool = Pool2d("sum", (2, 2), shape)
    out = _dense(rng, 3, pool.n_out)
    layers.append(type(out)(weight=out.weight, bias=out.bias, neurons=out.neurons, pool=pool))
    return Network(side * side, tuple(layers), connections=tuple(conns))


@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_residual_conv_graphs_bit_exact_on_host_c(tmp_path_factory, sanitize, data):
    net = _residual_net(
        data.draw(st.integers(0, 2**31 - 1)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4)), 6
    )
    qnet = quantize(net, weight_bits=data.draw(st.sampled_from([6, 8])))
    x = data.draw(
        st.sampled_from([spike_inputs(qnet.n_inputs, max_samples=3, max_steps=10), idle_inputs(qnet.n_inputs)])
    )
    _host(qnet, data.draw(x), tmp_path_factory.mktemp("r"), sanitize)


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-microbit", "qemu-sifive-e"])
def test_a_residual_conv_graph_bit_exact_on_emulated_boards(name, tmp_path):
    board = get_board(name)
    need_board_tools(board)
    qnet = quantize(_residual_net(3, 2, 4, 6))
    x = np.random.default_rng(1).random((6, 12, 36)) < 0.3
    res = verify(qnet, board, x, tmp_path)
    assert res["mismatches"] == 0 and res["samples"] == 6, res


def test_graphs_the_runtime_does_not_take_are_refused_by_the_board_rule_before_any_build(tmp_path):
    rng = np.random.default_rng(0)
    g = ConvGeometry((1, 4, 4), 2, (3, 3), (1, 1), (1, 1))
    conv = Conv2d(weight=rng.normal(0, 1, g.weight_shape), bias=np.zeros(2), neurons=_lif(g.n_out), conv=g)
    overlapping = Pool2d("sum", (2, 2), (2, 4, 4), (1, 1))  # windows that do not tile the map
    pooled = Connection(0, 1, rng.normal(0, 1, (3, overlapping.n_out)), pool=overlapping)
    net = Network(16, (conv, _dense(rng, 3, g.n_out)), connections=(pooled,))
    with pytest.raises(
        FitError, match=r"rule graph on board qemu-mps2-an385: .*connection 0 \(layer 0 -> layer 1\) pools"
    ):
        build(quantize(net), get_board("qemu-mps2-an385"), tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def _pooled_net(seed: int, kinds: tuple[str, str]) -> Network:
    """A convolution, a hidden dense layer and a readout; connections that pool: the input map
    into the hidden layer, the convolution's map into the readout (sum or max, 2x2)."""
    rng = np.random.default_rng(seed)
    g = ConvGeometry((2, 6, 6), 3, (3, 3), (1, 1), (1, 1))
    conv = Conv2d(weight=rng.normal(0, 0.8, g.weight_shape), bias=np.zeros(3), neurons=_lif(g.n_out), conv=g)
    p_in, p_map = Pool2d(kinds[0], (2, 2), (2, 6, 6)), Pool2d(kinds[1], (3, 3), (3, 6, 6))
    conns = (
        Connection(-1, 1, rng.normal(0.3, 0.5, (8, p_in.n_out)), pool=p_in),
        Connection(0, 2, rng.normal(0.2, 0.5, (3, p_map.n_out)), pool=p_map),
    )
    return Network(72, (conv, _dense(rng, 8, g.n_out), _dense(rng, 3, 8)), connections=conns)


@pytest.mark.parametrize("kinds", [("sum", "max"), ("max", "sum")])
@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
def test_connections_that_pool_bit_exact_on_host_c(kinds, sanitize, tmp_path):
    qnet = quantize(_pooled_net(2, kinds))
    x = np.random.default_rng(3).random((4, 12, 72)) < 0.3
    x[:, 5:9] = False  # idle steps: the pooled connections are silent too
    sim, _ = host_bit_exact(qnet, x, tmp_path, sanitize)
    assert all(r["spikes"].any() for r in sim.recorded())


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-sifive-e"])
def test_connections_that_pool_bit_exact_on_emulated_boards(name, tmp_path):
    board = get_board(name)
    need_board_tools(board)
    qnet = quantize(_pooled_net(2, ("sum", "max")))
    x = np.random.default_rng(1).random((5, 12, 72)) < 0.3
    res = verify(qnet, board, x, tmp_path)
    assert res["mismatches"] == 0 and res["samples"] == 5, res


def _shortcut_net(seed: int, groups: int) -> Network:
    """A stem, a downsampling block (3x3 stride 2 to twice the channels, then 3x3) whose second
    population also takes a projection shortcut from the stem (1x1 stride 2, a channel change),
    and a 3x3 shortcut from the block's first population into the same population, then a
    fully connected readout: convolutional connections that are not one to one."""
    rng = np.random.default_rng(seed)
    stem = ConvGeometry((1, 6, 6), 4, (3, 3), (1, 1), (1, 1))
    down = ConvGeometry((4, 6, 6), 8, (3, 3), (2, 2), (1, 1), groups)
    same = ConvGeometry((8, 3, 3), 8, (3, 3), (1, 1), (1, 1), groups)
    proj = ConvGeometry((4, 6, 6), 8, (1, 1), (2, 2), (0, 0), groups)

    def conv(g):
        return Conv2d(
            weight=rng.normal(0, 0.7, g.weight_shape), bias=np.zeros(g.out_channels), neurons=_lif(g.n_out), conv=g
        )

    layers = (conv(stem), conv(down), conv(same), _dense(rng, 3, same.n_out))
    conns = (
        Connection(0, 2, rng.normal(0.3, 0.5, proj.weight_shape), conv=proj),
        Connection(1, 2, rng.normal(0.0, 0.4, same.weight_shape), conv=same),
    )
    return Network(36, layers, connections=conns)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
def test_convolutional_shortcuts_bit_exact_on_host_c(groups, sanitize, tmp_path):
    qnet = quantize(_shortcut_net(4, groups))
    x = np.random.default_rng(5).random((4, 12, 36)) < 0.3
    x[:, 4:8] = False
    sim, _ = host_bit_exact(qnet, x, tmp_path, sanitize)
    assert all(r["spikes"].any() for r in sim.recorded())


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-microbit", "qemu-sifive-e"])
def test_convolutional_shortcuts_bit_exact_on_emulated_boards(name, tmp_path):
    board = get_board(name)
    need_board_tools(board)
    qnet = quantize(_shortcut_net(4, 1))
    x = np.random.default_rng(1).random((5, 12, 36)) < 0.3
    res = verify(qnet, board, x, tmp_path)
    assert res["mismatches"] == 0 and res["samples"] == 5, res
