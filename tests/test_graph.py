"""Graphs (ir.graph): validation, the golden simulator against a step-by-step reference, the
quantizer's one scale per population, files and hashes, and refusals where chains are needed."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.errors import QuantizationError
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint import quantize, simulate_float, simulate_int
from edgesnn.fixedpoint.simulate_graph import blocks
from edgesnn.formats import qmodel
from edgesnn.ir import LIF, Connection, Conv2d, ConvGeometry, CubaLIF, Dense, Network, Pool2d, gate_of, incoming


def _lif(n, beta=0.9, thr=1.0):
    return LIF(beta=np.full(n, beta), threshold=np.full(n, thr))


def _dense(rng, n_out, n_in, scale=0.6, cuba=False):
    nrn = (
        CubaLIF(beta_syn=np.full(n_out, 0.7), beta_mem=np.full(n_out, 0.9), threshold=np.ones(n_out))
        if cuba
        else _lif(n_out)
    )
    return Dense(weight=rng.normal(0, scale, (n_out, n_in)), bias=rng.normal(0, 0.05, n_out), neurons=nrn)


def _dense_matrix(edge, n_in: int) -> np.ndarray:
    """Any edge's weights as one dense (n_out, n_syn) integer matrix (a convolution applied to the
    identity basis): the reference needs no convolution code of its own."""
    if edge.conv is None:
        return np.asarray(edge.weight, np.int64)
    eye = np.eye(edge.conv.n_in)
    return np.rint(edge.conv.apply(eye, edge.weight)).astype(np.int64).T


def reference_int(q, x: np.ndarray):
    """The contract's graph timestep written out directly (docs/fixed-point.md, "Graphs"): for
    every timestep, layers in order; each connection's sum over its source's spikes (this step,
    or the previous one for an edge closing a cycle), all summed, one shift, the neuron step,
    then the layer's gate if it has one."""
    n, steps = x.shape[:2]
    edges = [[(s, e, _dense_matrix(e, 0), s >= li) for s, e in incoming(q, li)] for li in range(len(q.layers))]
    spikes = [np.zeros((n, steps, L.n_out), bool) for L in q.layers]
    vs = [np.zeros((n, steps, L.n_out), np.int64) for L in q.layers]
    state = [
        [np.zeros((n, L.n_out), np.int64) if L.current_based else None, np.zeros((n, L.n_out), np.int64)]
        for L in q.layers
    ]
    for t in range(steps):
        for li, L in enumerate(q.layers):
            acc = np.zeros((n, L.n_out), np.int64)
            for s, e, w, back in edges[li]:
                if back and t == 0:
                    continue
                src = x if s < 0 else spikes[s]
                sp = src[:, t - 1 if back else t].astype(np.int64)
                if e.pool is not None:
                    win = sp[:, e.pool.windows]
                    sp = win.max(axis=-1) if e.pool.kind == "max" else win.sum(axis=-1)
                acc += sp @ w.T
            if L.recurrent is not None and t > 0:
                acc += spikes[li][:, t - 1].astype(np.int64) @ L.recurrent.T
            x_drive = acc * (1 << L.shift) + L.bias
            z = L.neuron_step(x_drive, state[li][0], state[li][1], q.state_bits)
            g = gate_of(q, li)  # a SEW gate: OR / IAND with an earlier layer's spikes of this step
            if g is not None:
                s_g = spikes[g.source][:, t]
                z = (z | s_g) if g.op == "or" else (~z & s_g)
            spikes[li][:, t] = z
            vs[li][:, t] = state[li][1]
    return spikes, vs


def _random_graph(seed: int, n_layers: int, n_conn: int, cuba: bool) -> Network:
    rng = np.random.default_rng(seed)
    sizes = [int(v) for v in rng.integers(3, 9, n_layers)]
    n_in = 6
    layers, sources = [], []
    for li, n in enumerate(sizes):
        s = int(rng.integers(-1, li))  # any earlier node
        sources.append(s)
        layers.append(_dense(rng, n, n_in if s < 0 else sizes[s], cuba=cuba and li % 2 == 0))
    conns = []
    for _ in range(n_conn):  # forward, self and backward edges alike
        s, t = int(rng.integers(-1, n_layers)), int(rng.integers(0, n_layers))
        conns.append(Connection(s, t, rng.normal(0, 0.5, (sizes[t], n_in if s < 0 else sizes[s]))))
    for li in range(n_layers - 1):  # every layer reaches the output
        conns.append(Connection(li, n_layers - 1, rng.normal(0, 0.5, (sizes[-1], sizes[li]))))
    return Network(n_inputs=n_in, layers=tuple(layers), sources=tuple(sources), connections=tuple(conns))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n_layers=st.integers(1, 4),
    n_conn=st.integers(0, 4),
    cuba=st.booleans(),
)
def test_random_graphs_equal_the_step_by_step_reference_on_every_spike_and_state(seed, n_layers, n_conn, cuba):
    equals_reference(_random_graph(seed, n_layers, n_conn, cuba), seed)


def equals_reference(net: Network, seed: int) -> None:
    """Quantized (6-bit weights, 16-bit state) and run on random spikes (6 inputs): every layer's
    spikes and membrane equal ``reference_int``'s."""
    q = quantize(net, weight_bits=6, state_bits=16)
    x = np.random.default_rng(seed + 1).random((5, 12, 6)) < 0.4
    sim = simulate_int(q, x, record=True)
    ref_spikes, ref_v = reference_int(q, x)
    for li, r in enumerate(sim.recorded()):
        assert np.array_equal(r["spikes"], ref_spikes[li]), f"layer {li} spikes"
        assert np.array_equal(r["v"], ref_v[li]), f"layer {li} membrane"


def test_a_conv_graph_with_pooling_and_a_residual_equals_the_reference():
    """A small SEW-style block: conv -> conv, plus the block's input added at the second conv's
    population through an identity (depthwise 1x1) connection, then a pooled dense readout."""
    rng = np.random.default_rng(3)
    g1 = ConvGeometry((2, 6, 6), 4, (3, 3), (1, 1), (1, 1))
    g2 = ConvGeometry((4, 6, 6), 4, (3, 3), (1, 1), (1, 1))
    ident = ConvGeometry((4, 6, 6), 4, (1, 1), (1, 1), (0, 0), 4)
    n = g1.n_out
    c1 = Conv2d(weight=rng.normal(0, 0.5, g1.weight_shape), bias=np.zeros(4), neurons=_lif(n), conv=g1)
    c2 = Conv2d(weight=rng.normal(0, 0.5, g2.weight_shape), bias=np.zeros(4), neurons=_lif(n), conv=g2)
    c3 = Conv2d(weight=rng.normal(0, 0.5, g2.weight_shape), bias=np.zeros(4), neurons=_lif(n), conv=g2)
    pool = Pool2d("sum", (2, 2), (4, 6, 6))
    out = Dense(weight=rng.normal(0, 0.3, (3, pool.n_out)), bias=np.zeros(3), neurons=_lif(3), pool=pool)
    conns = (
        Connection(0, 2, np.ones(ident.weight_shape), conv=ident),  # the residual: c1's spikes into c3
        Connection(0, 3, rng.normal(0, 0.3, (3, pool.n_out)), pool=Pool2d("max", (2, 2), (4, 6, 6))),
    )
    net = Network(n_inputs=72, layers=(c1, c2, c3, out), connections=conns)
    q = quantize(net)
    x = np.random.default_rng(4).random((4, 10, 72)) < 0.3
    sim = simulate_int(q, x, record=True)
    ref_spikes, ref_v = reference_int(q, x)
    for li, r in enumerate(sim.recorded()):
        assert np.array_equal(r["spikes"], ref_spikes[li]) and np.array_equal(r["v"], ref_v[li]), li
    assert sum(r["spikes"].sum() for r in sim.recorded()) > 0  # the case is not all silence


def test_a_chain_with_an_idle_connection_runs_as_the_chain_bit_for_bit():
    """The graph path on a chain plus a zero-weight connection gives the chain simulator's spikes
    and states exactly, in integers and in float."""
    rng = np.random.default_rng(0)
    layers = (_dense(rng, 8, 6), _dense(rng, 7, 8, cuba=True), _dense(rng, 3, 7))
    chain = Network(6, layers)
    graph = Network(6, layers, connections=(Connection(0, 2, np.zeros((3, 8))),))
    x = rng.random((10, 20, 6)) < 0.3
    for a, b in [
        (simulate_float(chain, x, record=True), simulate_float(graph, x, record=True)),
        (
            simulate_int(quantize(chain), x, record=True, backend="numpy"),
            simulate_int(quantize(graph), x, record=True),
        ),
    ]:
        for ra, rb in zip(a.recorded(), b.recorded()):
            assert np.array_equal(ra["spikes"], rb["spikes"]) and np.array_equal(ra["v"], rb["v"])
        assert np.array_equal(a.prediction, b.prediction)


def test_blocks_join_the_layers_a_backward_edge_spans():
    rng = np.random.default_rng(0)
    layers = tuple(_dense(rng, 4, 4) for _ in range(5))
    net = Network(4, layers, connections=(Connection(3, 1, np.ones((4, 4))), Connection(4, 4, np.ones((4, 4)))))
    assert blocks(net) == [(0, 0), (1, 3), (4, 4)]


def test_one_scale_per_population_covers_every_connection_into_it():
    """The quantizer aligns connections into a layer to one shift: the largest weight of any of
    them reaches the weight limit, and each int weight is its float over the row's one scale."""
    rng = np.random.default_rng(5)
    layers = (_dense(rng, 5, 4, scale=0.1), _dense(rng, 3, 5, scale=0.1))
    big = rng.normal(0, 2.0, (3, 4))  # the skip's weights dominate layer 1's scale
    net = Network(4, layers, connections=(Connection(-1, 1, big),))
    q = quantize(net, weight_bits=8)
    L1, c = q.layers[1], q.connections[0]
    assert np.abs(c.weight).max() == C.weight_limit(8)
    assert np.array_equal(c.weight, np.clip(C.to_int_round_half_up(big / L1.scale[:, None]), -127, 127))
    assert np.array_equal(L1.weight, C.to_int_round_half_up(np.asarray(layers[1].weight) / L1.scale[:, None]))
    assert q.fan_in(1) == 5 + 4


def test_graph_files_round_trip_and_the_hash_covers_every_connection(tmp_path):
    net = _random_graph(7, 3, 3, cuba=True)
    q = quantize(net)
    back = qmodel.from_bytes(qmodel.to_bytes(q))
    assert back.content_hash == q.content_hash and back.sources == q.sources
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(q.connections, back.connections))
    from dataclasses import replace

    w = q.connections[0].weight.copy()
    w.flat[0] += 1
    moved = replace(q, connections=(replace(q.connections[0], weight=w), *q.connections[1:]))
    assert moved.content_hash != q.content_hash
    rng = np.random.default_rng(2)  # the same weights, read from another source: another model
    layers = (_dense(rng, 4, 4), _dense(rng, 4, 4), _dense(rng, 4, 4))
    w = rng.normal(0, 1, (4, 4))
    one, other = (quantize(Network(4, layers, connections=(Connection(s, 2, w),))) for s in (-1, 0))
    assert np.array_equal(one.connections[0].weight, other.connections[0].weight)
    assert one.content_hash != other.content_hash


def test_a_chains_hash_and_file_do_not_change():
    """A chain never writes the graph keys: its hash is the one it had before graphs existed
    (pinned here from the release before this change)."""
    rng = np.random.default_rng(0)
    net = Network(6, (_dense(rng, 8, 6), _dense(rng, 3, 8)))
    q = quantize(net)
    assert q.content_hash == CHAIN_HASH
    assert b"connections" not in qmodel.to_bytes(q)


#: ``quantize`` of the chain above, computed with edgesnn at 9d2ed1b (before graphs)
CHAIN_HASH = "356a5423a99479f3da2879e7203488783d6cde98862c671619fd986fe800fcf3"


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda L: Network(4, L, connections=(Connection(-1, 1, np.ones((4, 3))),)),
            r"connection 0 \(the input -> layer 1\) expects 3 inputs but its source makes 4",
        ),
        (
            lambda L: Network(4, L, connections=(Connection(0, 1, np.ones((5, 4))),)),
            r"connection 0 \(layer 0 -> layer 1\) gives 5 values but layer 1 has 4 neurons",
        ),
        (lambda L: Network(4, (*L, L[1]), sources=(-1, 0, 0)), r"layer 1 has no path to the output \(layer 2\)"),
        (lambda L: Network(4, L, sources=(-1, 1)), r"layer 1: its own input comes from 1"),
        (
            lambda L: Network(4, L, connections=(Connection(0, 7, np.ones((4, 4))),)),
            r"connection 0: target 7 is not a layer",
        ),
    ],
)
def test_bad_graphs_name_the_node_and_the_value(build, match):
    rng = np.random.default_rng(0)
    layers = (_dense(rng, 4, 4), _dense(rng, 4, 4))
    with pytest.raises(ValueError, match=match):
        build(layers)


def test_chips_and_compiled_host_kernels_refuse_a_graph():
    """(The board rule for graphs the C runtime does not take: tests/test_graph_firmware.py.)"""
    from edgesnn.fixedpoint.quantize_kits import quantize_kit

    net = _random_graph(1, 2, 1, cuba=False)
    q = quantize(net)
    with pytest.raises(QuantizationError, match="the xylo dialect takes chains of layers only"):
        quantize_kit(net, "xylo")
    with pytest.raises(ValueError, match="backend 'c' runs chains only"):
        simulate_int(q, np.zeros((1, 2, 6), bool), backend="c")
