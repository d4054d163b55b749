"""SEW-ResNet's OR and IAND gates (ir.graph.SpikeGate): the golden simulator against the
step-by-step reference on random gated graphs, validation naming the layer, files, hashes and
NIR round trips, and the QAT forward equal to the golden model bit for bit."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.errors import ArchitectureError
from edgesnn.fixedpoint import quantize, simulate_float, simulate_int
from edgesnn.formats import qmodel
from edgesnn.formats.nir_float import to_nir
from edgesnn.formats.nir_import import import_graph
from edgesnn.ir import Connection, Network, SpikeGate
from tests.test_graph import _dense, equals_reference
from tests.toolchains import import_or_skip


def gated_graph(seed: int, n_layers: int, n_conn: int, cuba: bool) -> Network:
    """A random graph whose layers share one width so that gates can join any two; each layer
    after the first has a gate with probability 1/2 (OR or IAND, from a random earlier layer)."""
    rng = np.random.default_rng(seed)
    n, n_in = int(rng.integers(3, 9)), 6
    layers, sources, gates = [], [], []
    for li in range(n_layers):
        s = int(rng.integers(-1, li))
        sources.append(s)
        layers.append(_dense(rng, n, n_in if s < 0 else n, scale=0.9, cuba=cuba and li % 2 == 0))
        if li > 0 and rng.random() < 0.5:
            gates.append(SpikeGate(li, int(rng.integers(0, li)), ("or", "iand")[int(rng.integers(0, 2))]))
    conns = []
    for _ in range(n_conn):  # forward, self and backward edges alike
        s, t = int(rng.integers(-1, n_layers)), int(rng.integers(0, n_layers))
        conns.append(Connection(s, t, rng.normal(0, 0.5, (n, n_in if s < 0 else n))))
    for li in range(n_layers - 1):  # every layer reaches the output
        conns.append(Connection(li, n_layers - 1, rng.normal(0, 0.5, (n, n))))
    return Network(
        n_inputs=n_in, layers=tuple(layers), sources=tuple(sources), connections=tuple(conns), gates=tuple(gates)
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n_layers=st.integers(2, 5), n_conn=st.integers(0, 3), cuba=st.booleans())
def test_random_gated_graphs_equal_the_reference_on_every_spike_and_state(seed, n_layers, n_conn, cuba):
    equals_reference(gated_graph(seed, n_layers, n_conn, cuba), seed)


def _three(rng, gate: SpikeGate) -> Network:
    layers = (_dense(rng, 5, 4, scale=1.5), _dense(rng, 5, 5, scale=1.5), _dense(rng, 3, 5))
    return Network(4, layers, gates=(gate,))


@pytest.mark.parametrize("op", ["or", "iand"])
def test_a_gate_changes_what_the_layer_emits_as_its_definition_says(op):
    """Layer 1 gated with layer 0: the emitted spikes are OR / IAND of the ungated layer's
    spikes (same network without the gate: the neurons do not see the gate) and layer 0's."""
    rng = np.random.default_rng(3)
    net = _three(rng, SpikeGate(1, 0, op))
    plain = Network(4, net.layers)
    x = np.random.default_rng(4).random((8, 20, 4)) < 0.5
    for q, p in ((quantize(net), quantize(plain)), (net, plain)):
        run = simulate_int if q is not net else simulate_float
        a = run(q, x, record=True).recorded()
        b = run(p, x, record=True).recorded()
        own, src = b[1]["spikes"], b[0]["spikes"]
        want = own | src if op == "or" else ~own & src
        assert np.array_equal(a[1]["spikes"], want) and want.any() and not np.array_equal(want, own)
        assert np.array_equal(a[1]["v"], b[1]["v"])  # the neurons follow their own spikes


@pytest.mark.parametrize(
    "gate, match",
    [
        (SpikeGate(1, 1, "or"), r"layer 1: its OR gate reads 1, which must be a layer before it"),
        (
            SpikeGate(1, -1, "iand"),
            r"layer 1: its IAND gate reads -1, which must be a layer before it \(not the input\)",
        ),
        (SpikeGate(2, 0, "or"), r"layer 2: its OR gate reads layer 0, which makes \(5,\), not \(3,\)"),
        (SpikeGate(5, 0, "or"), r"gate: layer 5 is not a layer"),
    ],
)
def test_bad_gates_name_the_layer_and_the_value(gate, match):
    with pytest.raises(ValueError, match=match):
        _three(np.random.default_rng(0), gate)


def test_a_gate_op_outside_or_and_iand_is_named():
    with pytest.raises(ValueError, match=r"gate on layer 1: op 'and' is not one of or, iand"):
        SpikeGate(1, 0, "and")


def test_gates_travel_in_files_hashes_and_nir_round_trips(tmp_path):
    rng = np.random.default_rng(5)
    net = _three(rng, SpikeGate(1, 0, "iand"))
    q = quantize(net)
    plain = quantize(Network(4, net.layers))
    assert q.content_hash != plain.content_hash  # the hash covers the gate
    back = qmodel.from_bytes(qmodel.to_bytes(q))
    assert back.gates == q.gates and back.content_hash == q.content_hash
    again, _ = import_graph(to_nir(net))
    assert again.gates == net.gates
    x = np.random.default_rng(6).random((4, 10, 4)) < 0.5
    assert np.array_equal(simulate_float(again, x).spikes, simulate_float(net, x).spikes)
    assert "edgesnn.gates" in to_nir(net).metadata


def test_export_keeps_the_gates_and_says_other_tools_run_them_ungated(tmp_path):
    from edgesnn.api.interop import export_nir
    from edgesnn.api.model import load

    net = _three(np.random.default_rng(7), SpikeGate(1, 0, "or"))
    for m, name in ((net, "f.nir"), (quantize(net), "q.nir")):
        res = export_nir(m, tmp_path / name)
        assert len(res["warnings"]) == 1 and "layer 1's SEW OR gate" in res["warnings"][0]
        assert "run that layer ungated" in res["warnings"][0]
        assert load(tmp_path / name).gates == net.gates


torch = import_or_skip("torch")

from edgesnn.train.arch import resolve  # noqa: E402
from edgesnn.train.snn import SpikingNet  # noqa: E402
from tests.qat_check import trains_as_simulated  # noqa: E402

#: two SEW blocks on a 6x6 map: stem, [conv, conv IAND stem], [conv, conv OR block 1]
SEW = [
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1, "name": "stem"},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1, "name": "b1", "sew": "iand", "sew_with": "stem"},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1, "sew": "or", "sew_with": "b1"},
    {"type": "pool", "kind": "sum", "kernel": 2},
    {"type": "dense", "units": "classes"},
]


@pytest.mark.parametrize("qat", [None, {"weight_bits": 8, "state_bits": 24, "per_channel": True}])
def test_a_sew_gated_conv_net_trains_as_the_simulator_computes(qat):
    net, _, rec = trains_as_simulated(SEW, (1, 6, 6), 4, qat, scale=2, samples=5)
    assert net.gates == (SpikeGate(2, 0, "iand"), SpikeGate(4, 2, "or"))
    assert rec[2]["spikes"].any() and rec[4]["spikes"].any()


def test_gradients_flow_through_both_sides_of_a_gate():
    specs = resolve(SEW, (1, 6, 6), 4)
    m = SpikingNet(specs, 36, 0.9, 1.0)
    out, _ = m((torch.rand(3, 8, 36) < 0.5).float())
    out.sum().backward()
    assert all(mod.weight.grad is not None and mod.weight.grad.abs().sum() > 0 for mod in m.fcs)


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"sew": "xor", "sew_with": "stem"}, r"layer 1 \('conv'\): sew must be one of 'or', 'iand', got 'xor'"),
        ({"sew": "or", "sew_with": "nope"}, r"layer 1 \('conv'\): sew_with must name an earlier layer \(stem\)"),
        (
            {"sew": "or", "sew_with": "stem", "channels": 4},
            r"sew_with 'stem' makes \(3, 6, 6\) but the layer makes \(4, 6, 6\)",
        ),
    ],
)
def test_bad_sew_specs_name_the_layer(extra, match):
    layers = [SEW[0], {**SEW[1], **extra}]
    with pytest.raises(ArchitectureError, match=match):
        resolve(layers, (1, 6, 6), 4)


def test_a_dense_layer_reading_a_map_without_pooling_exports_with_its_flatten():
    """NIR's type check needs Flatten between a feature map and a fully connected layer (graphs
    with depthwise residuals skip that check, so a SEW net, which has none, found it)."""
    layers = [{"type": "conv", "channels": 2, "kernel": 3, "padding": 1}, {"type": "dense", "units": 5}]
    net, _, _ = trains_as_simulated(layers, (1, 6, 6), 3, None, scale=3)
    g = to_nir(net)  # type-checked on construction
    assert ("lif0", "flat1") in g.edges and ("flat1", "fc1") in g.edges
    back, _ = import_graph(g)
    x = np.random.default_rng(0).random((3, 10, 36)) < 0.4
    assert np.array_equal(simulate_float(back, x).spikes, simulate_float(net, x).spikes)


def test_the_example_resnets_resolve_for_saccade_digits():
    """examples/*.toml at saccade-digits --downsample 2's shape: the SEW one has two IAND gates."""
    from pathlib import Path

    from edgesnn.train.arch import load

    root = Path(__file__).resolve().parents[1] / "examples"
    for name in ("sew_saccade.toml", "sew_wide_saccade.toml"):
        sew = resolve(load(str(root / name)), (2, 16, 16), 10)
        assert [sp.gate for sp in sew if sp.gate] == [("iand", 1), ("iand", 4)] and len(sew) == 8
    add = resolve(load(str(root / "resnet_saccade.toml")), (2, 16, 16), 10)
    assert [len(sp.extra) for sp in add] == [0, 0, 0, 1, 0, 0, 1, 0]
