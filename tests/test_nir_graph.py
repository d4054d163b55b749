"""NIR graphs with skip connections: exported by nirtorch from a trained snnTorch network, run by
snnTorch's own NIR importer (nirtorch's graph executor), imported, quantized, exported back; and
bad graphs named by node."""

import json

import nir
import numpy as np
import pytest
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.data.datasets import encoded
from edgesnn.errors import ModelFileError
from edgesnn.fixedpoint import quantize, simulate_float, simulate_int
from edgesnn.formats import load_model, save_model
from edgesnn.formats.nir_import import import_graph
from tests.snntorch_fit import fit_on_spike_counts
from tests.toolchains import import_or_skip

torch = import_or_skip("torch")
snn = import_or_skip("snntorch")
nirtorch = import_or_skip("nirtorch")

DT = 1e-4  # snnTorch's NIR convention: r = tau / dt with this dt


def _skip_net():
    """64-32-32-10 with two skips: the input into the second population, the first population
    into the third (each a Linear summed into the population's input)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)

    def leaky(n, beta, output=False):
        return snn.Leaky(
            beta=torch.full((n,), beta),
            threshold=torch.ones(n),
            reset_mechanism="zero",
            init_hidden=True,
            output=output,
        )

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = torch.nn.Linear(64, 32), leaky(32, 0.9)
            self.fc2, self.skip1, self.lif2 = (
                torch.nn.Linear(32, 32),
                torch.nn.Linear(64, 32, bias=False),
                leaky(32, 0.85),
            )
            self.fc3, self.skip2, self.lif3 = (
                torch.nn.Linear(32, 10),
                torch.nn.Linear(32, 10, bias=False),
                leaky(10, 0.8, True),
            )

        def forward(self, x):
            s1 = self.lif1(self.fc1(x))
            s2 = self.lif2(self.fc2(s1) + self.skip1(x))
            return self.lif3(self.fc3(s2) + self.skip2(s1))

    return Net()


def _run_torch(net, x, stateful_output: bool = True):
    from snntorch import utils

    out = []
    with torch.no_grad():
        utils.reset(net)
        xs = torch.from_numpy(x.astype(np.float32))
        for t in range(x.shape[1]):
            r = net(xs[:, t])
            out.append((r[0] if isinstance(r, tuple) else r).numpy())
    return np.stack(out, 1) > 0


@pytest.fixture(scope="module")
def trained():
    """The skip network trained two epochs on digits, and its NIR graph from nirtorch's tracer."""
    x, y = encoded("digits", "train", {"timesteps": 15})
    net = fit_on_spike_counts(_skip_net(), x, y, epochs=2)

    def leaky_node(m):  # what a user writes for nirtorch: snnTorch's Leaky in snnTorch's convention
        beta = m.beta.detach().numpy().reshape(-1).astype(np.float64)
        tau = DT / (1 - beta)
        n = beta.size
        thr = np.full(n, float(m.threshold.detach().reshape(-1)[0]))
        return nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=thr, v_reset=np.zeros(n))

    graph = nirtorch.torch_to_nir(net, {snn.Leaky: leaky_node}, stateful_modules={snn.Leaky})
    return net, graph


def test_nirtorch_graph_with_two_skips_imports_and_every_tool_gives_the_same_spikes(trained, tmp_path):
    net, graph = trained
    skips = {(a, b) for a, b in graph.edges if "skip" in a or "skip" in b}
    assert len([e for e in skips if e[1].startswith("lif")]) == 2  # two skip connections into populations
    path = tmp_path / "skip.nir"
    nir.write(str(path), graph)
    res = CliRunner().invoke(app, ["import", str(path), "--out", str(tmp_path / "m.nir"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["dt"] == pytest.approx(DT, rel=1e-6)
    model = load_model(tmp_path / "m.nir")
    assert len(model.connections) == 2 and model.sources == ()  # own inputs form the chain; skips extra
    x, y = encoded("digits", "test", {"timesteps": 15})
    ours = simulate_float(model, x[:150]).spikes
    assert np.array_equal(_run_torch(net, x[:150]), ours)  # the trained snnTorch network itself
    from snntorch.import_nir import import_from_nir

    executor = import_from_nir(graph)  # snnTorch's importer on nirtorch's graph executor
    assert np.array_equal(_run_torch(executor, x[:150]), ours)

    float_acc = simulate_float(model, x).accuracy(y)
    q = quantize(model, calibration=encoded("digits", "train", {"timesteps": 15})[0][:200])
    assert float_acc > 0.7
    assert abs(simulate_int(q, x).accuracy(y) - float_acc) <= 0.01

    # edgesnn's own export, read back by snnTorch's importer: the same spikes again
    save_model(model, tmp_path / "back.nir")
    again = import_from_nir(nir.read(str(tmp_path / "back.nir")))
    assert np.array_equal(_run_torch(again, x[:150]), ours)
    assert np.array_equal(simulate_float(load_model(tmp_path / "back.nir"), x[:150]).spikes, ours)


def _pops(n):
    return nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))


def _graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_a_shared_node_after_a_sum_adds_its_bias_once():
    """conv-free SEW shape: (a + b) -> Affine(bias) -> c is W a + W b + bias, not 2 biases."""
    rng = np.random.default_rng(0)
    w, bias = rng.normal(0, 1, (3, 4)), rng.normal(0, 1, 3)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4])}),
        "fa": nir.Affine(weight=np.eye(4), bias=np.zeros(4)),
        "a": _pops(4),
        "mix": nir.Affine(weight=w, bias=bias),
        "c": _pops(3),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("input", "fa"), ("fa", "a"), ("a", "mix"), ("input", "mix"), ("mix", "c"), ("c", "output")]
    net, _ = import_graph(_graph(nodes, edges), dt=1e-3)
    gain = 1e-3 / 0.01  # dt * r / tau
    assert np.allclose(net.layers[1].bias, gain * bias)  # once
    conn = net.connections[0]
    assert (conn.source, conn.target) in {(-1, 1), (0, 1)} and np.allclose(conn.weight, gain * w)


def _conv3x3():
    """A 2 -> 2 channel 3x3 convolution of ones on a 4x4 map, padded to keep its shape."""
    return nir.Conv2d(
        input_shape=(4, 4), weight=np.ones((2, 2, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2)
    )


def _map_pop():
    """A LIF population over a (2, 4, 4) feature map."""
    return nir.LIF(
        tau=np.full((2, 4, 4), 0.01), r=np.ones((2, 4, 4)), v_leak=np.zeros((2, 4, 4)), v_threshold=np.ones((2, 4, 4))
    )


def test_an_identity_skip_between_feature_maps_is_a_depthwise_one_by_one():
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "conv": _conv3x3(),
        "a": _map_pop(),
        "b": _map_pop(),
        "conv2": _conv3x3(),
        "output": nir.Output(output_type={"output": np.array([2, 4, 4])}),
    }
    edges = [("input", "conv"), ("conv", "a"), ("a", "conv2"), ("conv2", "b"), ("input", "b"), ("b", "output")]
    net, _ = import_graph(_graph(nodes, edges), dt=1e-3)
    c = net.connections[0]
    assert c.source == -1 and c.conv is not None and c.conv.groups == 2 and c.conv.kernel == (1, 1)
    x = np.random.default_rng(1).random((3, 6, 32)) < 0.5
    sim = simulate_float(net, x, record=True).recorded()
    assert sim[1]["spikes"].any()


@pytest.mark.parametrize(
    "edges, match",
    [
        (
            [
                ("input", "fa"),
                ("fa", "a"),
                ("a", "l1"),
                ("l1", "l2"),
                ("l2", "l1"),
                ("l2", "b"),
                ("a", "b"),
                ("b", "output"),
            ],
            "node 'l[12]': a cycle of linear nodes with no neuron population",
        ),
        (
            [("input", "fa"), ("fa", "a"), ("a", "b"), ("input", "wide"), ("wide", "b"), ("b", "output")],
            "node 'b': the input from 'input' has shape .* shapes that do not add",
        ),
        (
            [("input", "fa"), ("fa", "a"), ("a", "b"), ("a", "dead"), ("b", "output")],
            "node 'dead' has no path to the output",
        ),
    ],
)
def test_bad_graphs_are_named_by_node(edges, match):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4])}),
        "fa": nir.Affine(weight=np.eye(4), bias=np.zeros(4)),
        "a": _pops(4),
        "b": _pops(4),
        "dead": _pops(4),
        "l1": nir.Linear(weight=np.eye(4)),
        "l2": nir.Linear(weight=np.eye(4)),
        "wide": nir.Linear(weight=np.ones((5, 4))),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    used = {n for e in edges for n in e}
    g = _graph({k: v for k, v in nodes.items() if k in used}, edges)
    with pytest.raises(ModelFileError, match=match):
        import_graph(g, dt=1e-3)
