"""Convolutions and pooling: IR validation, the golden simulator against a scalar reference and
torch, QAT bit for bit, NIR round trips, fit rules, and the C runtime bit for bit (host under
ASan/UBSan, emulated Cortex-M0/M3/M4)."""

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.errors import ArchitectureError, FitError, ModelFileError
from edgesnn.firmware.boards import check_fits, get_board
from edgesnn.firmware.render import model_table_bytes
from edgesnn.fixedpoint import simulate_int
from edgesnn.fixedpoint.kernels import fan_out
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
from edgesnn.fixedpoint.quantize import quantize
from edgesnn.fixedpoint.simulate import simulate_float
from edgesnn.formats.files import load_model, save_model
from edgesnn.formats.nir_float import to_nir
from edgesnn.formats.nir_import import import_graph
from edgesnn.ir import LIF, Conv2d, ConvGeometry, Dense, Network, Pool2d
from edgesnn.train import arch
from tests import reference
from tests.host_c import host_bit_exact
from tests.qat_check import trains_as_simulated
from tests.strategies import conv_networks, spike_inputs
from tests.toolchains import import_or_skip, need_tools

torch.set_num_threads(1)


def _float_conv_net(pool_kind="avg", seed=0, groups=1):
    rng = np.random.default_rng(seed)
    g = ConvGeometry((2, 8, 8), 4, (3, 3), padding=(1, 1), groups=groups)
    conv = Conv2d(
        rng.normal(0, 0.6, g.weight_shape),
        rng.normal(0, 0.1, 4),
        LIF(np.full(g.n_out, 0.9), np.ones(g.n_out)),
        conv=g,
    )
    pool = Pool2d(pool_kind, 2, g.out_shape)
    fc = Dense(rng.normal(0, 0.4, (5, pool.n_out)), np.zeros(5), LIF(np.full(5, 0.8), np.ones(5)), pool=pool)
    return Network(n_inputs=g.n_in, layers=(conv, fc), name="conv-test")


# --- IR -----------------------------------------------------------------------------------


def test_geometry_matches_torch_conv_and_pooling():
    rng = np.random.default_rng(0)
    g = ConvGeometry((4, 7, 9), 6, (3, 2), stride=(2, 1), padding=(1, 0), groups=2)
    w = rng.integers(-5, 6, g.weight_shape).astype(float)
    x = rng.integers(0, 3, (3, g.n_in)).astype(float)
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(x).reshape(3, *g.in_shape), torch.from_numpy(w), stride=(2, 1), padding=(1, 0), groups=2
    )
    assert np.array_equal(g.apply(x, w), ref.reshape(3, -1).numpy())  # integers: exact
    assert g.out_shape == tuple(ref.shape[1:])
    s = rng.random((3, 6 * 7 * 9)) < 0.3
    for kind, fn in (("max", torch.nn.functional.max_pool2d), ("avg", torch.nn.functional.avg_pool2d)):
        p = Pool2d(kind, 2, (6, 7, 9))
        ref = fn(torch.from_numpy(s.astype(float)).reshape(3, 6, 7, 9), 2).reshape(3, -1).numpy()
        assert np.array_equal(p.apply(s).astype(float), ref)
    # fan-out: the taps that land inside the output map, times the group's channels
    dense = np.array([g.apply(np.eye(g.n_in)[k : k + 1], np.ones(g.weight_shape)) != 0 for k in range(g.n_in)])
    assert np.array_equal(g.fan_out, dense.reshape(g.n_in, -1).sum(axis=1))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"in_shape": (2, 8, 8), "out_channels": 3, "kernel": 3, "groups": 2}, "groups 2 must divide"),
        ({"in_shape": (2, 8, 8), "out_channels": 4, "kernel": 3, "padding": 3}, "padding"),
        ({"in_shape": (2, 2, 8), "out_channels": 4, "kernel": 3}, "larger than the padded input"),
        ({"in_shape": (2, 8), "out_channels": 4, "kernel": 3}, "in_shape must be"),
    ],
)
def test_bad_geometry_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvGeometry(**kwargs)


def test_layer_shapes_are_checked():
    net = _float_conv_net()
    with pytest.raises(ValueError, match="conv weight has shape"):
        Conv2d(np.zeros((4, 2, 2, 2)), np.zeros(4), net.layers[0].neurons, conv=net.layers[0].conv)
    with pytest.raises(ValueError, match="pooling gives 64 values"):
        Dense(np.zeros((5, 10)), np.zeros(5), LIF(np.full(5, 0.9), np.ones(5)), pool=net.layers[1].pool)
    other = Conv2d(
        np.zeros((1, 4, 1, 1)),
        np.zeros(1),
        LIF(np.full(64, 0.9), np.ones(64)),
        conv=ConvGeometry((4, 4, 16), 1, 1),
    )
    with pytest.raises(ValueError, match=r"reads a \(4, 4, 16\) map but layer 0 makes \(4, 8, 8\)"):
        Network(n_inputs=128, layers=(net.layers[0], other))
    with pytest.raises(ValueError, match="pooling 'avg' is not in the integer contract"):
        QuantLayer(np.zeros((2, 4)), [0, 0], 0, [0, 0], [1, 1], pool=Pool2d("avg", 2, (1, 4, 4)))


# --- golden simulator, QAT ---------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_simulator_equals_naive_reference_on_conv_networks(data):
    qnet = data.draw(conv_networks(max_channels=4, max_side=6))
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=2, max_steps=4))
    sim = simulate_int(qnet, x, record=True)
    for li, (rec, (z, v, i)) in enumerate(zip(sim.record, reference.run(qnet, x))):
        assert np.array_equal(rec["spikes"], np.array(z, bool)), f"spikes of layer {li}"
        assert np.array_equal(rec["v"], np.array(v, np.int64)), f"v of layer {li}"
        if qnet.layers[li].current_based:
            assert np.array_equal(rec["i"], np.array(i, np.int64)), f"i of layer {li}"
    # synaptic events: every pooled input event times its fan-out
    p = reference.pooled(qnet.layers[0], [int(b) for b in x[0, 0]])
    assert sim.synops[0] >= int(np.dot(p, fan_out(qnet.layers[0])))


@pytest.mark.parametrize("pools", [("sum", "avg"), ("max", "avg"), ("avg", "max")])
def test_qat_forward_equals_the_golden_simulator_bit_for_bit(pools):
    from edgesnn.train.loop import TrainConfig

    layers = [
        {"type": "conv", "channels": 4, "kernel": 3, "padding": 1},
        {"type": "pool", "kind": pools[0], "kernel": 2},
        {"type": "conv", "channels": 6, "kernel": 3, "stride": 2, "groups": 2},
        {"type": "pool", "kind": pools[1], "kernel": 2},
        {"type": "dense", "units": 12},
    ]
    qat = {"weight_bits": 6, "state_bits": 20, "per_channel": True}
    cfg = TrainConfig(weight_bits=6, state_bits=20)
    net, _, _ = trains_as_simulated(layers, (2, 12, 12), 5, qat, scale=3, rate=0.2, cfg=cfg)
    assert [type(L).__name__ for L in net.layers] == ["Conv2d", "Conv2d", "Dense", "Dense"]


def test_architecture_files_and_errors(tmp_path):
    f = tmp_path / "a.toml"
    f.write_text('[[layer]]\ntype = "conv"\nchannels = 4\nkernel = 3\n[[layer]]\ntype = "pool"\nkind = "max"\n')
    specs = arch.resolve(arch.load(str(f)), (2, 10, 10), 7)
    assert [s.units for s in specs] == [4 * 8 * 8, 7] and specs[1].pool.kind == "max"
    (tmp_path / "b.json").write_text(json.dumps({"layers": [{"type": "conv", "channels": 0}]}))
    with pytest.raises(ArchitectureError, match=r"layer 0 \('conv'\): channels must be a positive integer, got 0"):
        arch.resolve(arch.load(str(tmp_path / "b.json")), (2, 10, 10), 7)
    with pytest.raises(ArchitectureError, match="needs a"):
        arch.resolve(arch.load("conv"), (64,), 10)
    with pytest.raises(ArchitectureError, match=r"layer 0 \('dense'\): recurrent must be true or false, got 'yes'"):
        arch.resolve([{"type": "dense", "units": 4, "recurrent": "yes"}], (8,), 3)
    with pytest.raises(ArchitectureError, match="unknown model 'nope'"):
        arch.load("nope")
    res = CliRunner().invoke(
        app, ["train", "--dataset", "saccade-digits", "--model", str(tmp_path / "b.json"), "--json"]
    )
    assert res.exit_code != 0 and "channels must be a positive integer" in res.output


# --- NIR -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool_kind", ["avg", "sum", "max"])
def test_nir_round_trip_keeps_convolutions(pool_kind, tmp_path):
    net = _float_conv_net(pool_kind, groups=2)
    back, rep = import_graph(to_nir(net))
    assert [r["kind"] for r in rep.layers] == ["conv", "dense"]
    assert back.layers[0].conv == net.layers[0].conv and back.layers[1].pool == net.layers[1].pool
    x = np.random.default_rng(2).random((4, 10, net.n_inputs)) < 0.3
    assert np.array_equal(simulate_float(net, x).spikes, simulate_float(back, x).spikes)
    # through a file, and the quantized model through .qsnn
    assert isinstance(load_model(save_model(net, tmp_path / "c.nir")).layers[0], Conv2d)
    q = quantize(net)
    assert load_model(save_model(q, tmp_path / "c.qsnn")).content_hash == q.content_hash
    # a quantized conv model as NIR: its float meaning (dequantized) for other tools, exact inside
    assert load_model(save_model(q, tmp_path / "q.nir")).content_hash == q.content_hash
    from edgesnn.fixedpoint.dequantize import dequantize

    deq = dequantize(q)
    assert isinstance(deq.layers[0], Conv2d) and deq.layers[1].pool == q.layers[1].pool
    assert quantize(deq).content_hash == q.content_hash
    if pool_kind == "max":
        with pytest.raises(ModelFileError, match="max pooling .* is not linear"):
            import_graph(to_nir(net), compose_dense=True)
        return
    dense, _ = import_graph(to_nir(net), compose_dense=True)
    assert all(isinstance(L, Dense) for L in dense.layers)
    assert np.array_equal(simulate_float(dense, x).spikes, simulate_float(net, x).spikes)
    assert sum(model_table_bytes(quantize(dense))) > 5 * sum(model_table_bytes(q))


def test_snntorch_conv_export_imports_with_the_same_spikes(tmp_path):
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(1)

    def leaky(shape, output=False):
        return snn.Leaky(
            beta=torch.full(shape, 0.8),
            threshold=torch.ones(shape),
            reset_mechanism="zero",
            init_hidden=True,
            output=output,
        )

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        leaky((4, 6, 6)),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(start_dim=-3),
        torch.nn.Linear(36, 5),
        leaky((5,), output=True),
    )
    for prm in net.parameters():
        prm.data *= 4
    x = np.random.default_rng(0).random((20, 12, 64)) < 0.3
    outs = []
    with torch.no_grad():
        for sample in x:
            for mod in net:
                if isinstance(mod, snn.Leaky):
                    mod.reset_hidden()
            outs.append([net(torch.from_numpy(r.astype(np.float32)).reshape(1, 1, 8, 8))[0][0].numpy() for r in sample])
    theirs = np.array(outs).astype(bool)
    import nir

    nir.write(str(tmp_path / "s.nir"), export_to_nir(net, torch.zeros(1, 8, 8)))
    ours, rep = import_graph(nir.read(str(tmp_path / "s.nir")))
    assert [r["kind"] for r in rep.layers] == ["conv", "dense"]
    assert theirs.sum() > 0 and np.array_equal(simulate_float(ours, x).spikes, theirs)


def test_sinabs_conv_export_imports_with_the_same_spikes():
    """Sinabs 3.1 (installed --no-deps: its requirements pin an older nir and pull samna):
    Conv2d -> IAF -> SumPool2d -> Flatten -> Linear -> IAF, exported with sinabs.to_nir (in
    memory: nir.write of its graph fails under nir 1.0.8). Sinabs' IAF integrates without leak
    (dt = 1, r = 1) and subtracts the threshold; one spike per step (SingleSpike)."""
    import_or_skip("sinabs", what="the Sinabs NIR export check")
    import sinabs
    import sinabs.layers as sl

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, bias=False),
        sl.IAFSqueeze(batch_size=1, spike_fn=sinabs.activation.SingleSpike),
        sl.SumPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(36, 5, bias=False),
        sl.IAFSqueeze(batch_size=1, spike_fn=sinabs.activation.SingleSpike),
    )
    for prm in net.parameters():
        prm.data = prm.data.abs() * 2  # excitatory, so that both layers spike
    graph = sinabs.to_nir(net, torch.zeros(1, 1, 8, 8))
    x = np.random.default_rng(0).random((10, 12, 64)) < 0.3
    theirs = []
    with torch.no_grad():
        for sample in x:
            for mod in net:
                if hasattr(mod, "reset_states"):
                    mod.reset_states()
            theirs.append(net(torch.from_numpy(sample.astype(np.float32)).reshape(12, 1, 8, 8)).numpy() > 0)
    ours, rep = import_graph(graph, dt=1.0, reset="subtract")
    assert [r["kind"] for r in rep.layers] == ["conv", "dense"]
    assert np.array(theirs).sum() > 0 and np.array_equal(simulate_float(ours, x).spikes, np.array(theirs))


def test_conv_chains_that_are_not_layers_are_refused_unless_composed():
    import nir

    g = ConvGeometry((1, 6, 6), 2, 3)
    w = np.ones(g.weight_shape)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
        "c1": nir.Conv2d(input_shape=(6, 6), weight=w, stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(2)),
        "s": nir.Scale(scale=np.full((2, 4, 4), 0.5)),
        "lif": nir.IF(r=np.ones((2, 4, 4)), v_threshold=np.ones((2, 4, 4)), v_reset=np.zeros((2, 4, 4))),
        "output": nir.Output(output_type={"output": np.array([2, 4, 4])}),
    }
    edges = [("input", "c1"), ("c1", "s"), ("s", "lif"), ("lif", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    with pytest.raises(ModelFileError, match=r"node 'lif': the chain \['Conv2d', 'Scale'\] .* --compose-dense"):
        import_graph(graph, dt=1.0)
    net, _ = import_graph(graph, dt=1.0, compose_dense=True)
    assert isinstance(net.layers[0], Dense)


# --- firmware --------------------------------------------------------------------------------


def test_fit_rules_name_the_conv_limits():
    q = quantize(_float_conv_net("sum"))
    host = get_board("host")
    L0 = q.layers[0]
    uneven = QuantLayer(**{**_fields(L0), "threshold": np.arange(1, L0.n_out + 1)})
    with pytest.raises(FitError, match="rule conv-per-channel on board host: layer 0: threshold differs"):
        check_fits(host, QuantNetwork(n_inputs=q.n_inputs, layers=(uneven, q.layers[1])))
    overlap = QuantLayer(
        **{**_fields(q.layers[1]), "pool": Pool2d("sum", 2, (4, 8, 8), stride=1), "weight": np.zeros((5, 4 * 7 * 7))}
    )
    with pytest.raises(FitError, match=r"rule pool-tiles on board host: layer 1: pooling stride \(1, 1\)"):
        check_fits(host, QuantNetwork(n_inputs=q.n_inputs, layers=(L0, overlap)))
    with pytest.raises(FitError, match="rule learn-dense on board host: layer 1 pools its input"):
        check_fits(host, q, learn_layer=1)
    with pytest.raises(FitError, match="rule dense-output on board host: layer 0"):
        check_fits(host, QuantNetwork(n_inputs=q.n_inputs, layers=(L0,)))
    with pytest.raises(FitError, match=r"rule ram on board qemu-microbit: .*largest layer: 0, 8192 neurons"):
        big = quantize(_big_conv_net())
        check_fits(get_board("qemu-microbit"), big)


def _fields(L):
    names = ("weight", "bias", "shift", "alpha_mem", "threshold", "reset", "v_reset", "alpha_syn", "recurrent")
    return {**{n: getattr(L, n) for n in names}, "conv": L.conv, "pool": L.pool}


def _big_conv_net():
    g = ConvGeometry((2, 32, 32), 8, 3, padding=1)
    conv = Conv2d(np.ones(g.weight_shape), np.zeros(8), LIF(np.full(g.n_out, 0.9), np.ones(g.n_out)), conv=g)
    fc = Dense(np.ones((2, g.n_out)), np.zeros(2), LIF(np.full(2, 0.9), np.ones(2)))
    return Network(n_inputs=g.n_in, layers=(conv, fc))


@pytest.mark.device
@pytest.mark.parametrize("sanitize", [False, True], ids=["strict-warnings", "asan-ubsan"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_host_c_equals_golden_on_random_conv_networks(tmp_path_factory, sanitize, data):
    qnet = data.draw(conv_networks())
    x = data.draw(spike_inputs(qnet.n_inputs, max_samples=3, max_steps=6))
    # the sanitized build also decodes event positions by steps, as the division-free M0 does
    extra = ("-DESNN_DECODE_BY_STEPS",) if sanitize else ()
    host_bit_exact(qnet, x, tmp_path_factory.mktemp("conv"), sanitize, extra)


@pytest.mark.device
@pytest.mark.parametrize("board", ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-microbit", "qemu-sifive-e"])
def test_emulated_boards_run_a_conv_network_bit_exactly(board, tmp_path):
    from edgesnn.firmware.verify import verify

    b = get_board(board)
    need_tools(b.toolchain["cc"], b.qemu["binary"], what=f"the {board} build")
    rng = np.random.default_rng(3)
    net = _float_conv_net("max", seed=3)
    x = rng.random((24, 15, net.n_inputs)) < 0.25
    q = quantize(net, calibration=x)
    res = verify(q, b, x, tmp_path)
    assert res["samples"] == 24 and res["mismatches"] == 0, res
    assert simulate_int(q, x).counts.sum() > 0


@pytest.mark.device
@pytest.mark.parametrize("board", ["host", "qemu-mps2-an385"])
def test_conv_events_cross_the_int16_chunk_boundary(board, tmp_path):
    """A sum-pooled 8-channel input (receptive field 8 x 9 x 4 spikes x 127 > 2^15: no single
    pass) with every input spiking: 2,048 events in chunks, the packed lanes flushed exactly."""
    from edgesnn.firmware.verify import verify

    b = get_board(board)
    need_tools(b.toolchain["cc"], *([b.qemu["binary"]] if b.kind == "qemu" else []), what=f"the {board} build")
    rng = np.random.default_rng(0)
    pool = Pool2d("sum", 2, (8, 16, 16))
    g = ConvGeometry(pool.out_shape, 4, 3, padding=1)
    n = g.n_out
    conv = QuantLayer(
        weight=np.where(rng.random(g.weight_shape) < 0.5, 127, -127),
        bias=np.zeros(n, np.int64),
        shift=0,
        alpha_mem=np.full(n, 65536),
        threshold=np.full(n, 10**6),
        conv=g,
        pool=pool,
    )
    out = QuantLayer(weight=np.ones((2, n)), bias=[0, 0], shift=0, alpha_mem=[65536] * 2, threshold=[10**9] * 2)
    qnet = QuantNetwork(n_inputs=pool.n_in, layers=(conv, out), state_bits=32)
    assert conv.fan_in * 127 >= 2**15
    x = np.ones((2, 3, pool.n_in), bool)
    x[1, 1] = rng.random(pool.n_in) < 0.5
    res = verify(qnet, b, x, tmp_path)
    assert res["samples"] == 2 and res["mismatches"] == 0, res
