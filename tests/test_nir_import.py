"""NIR import/export: snnTorch round trips, conv graphs, quantized round trips, CLI."""

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
from edgesnn.ir import LI, LIF, Dense, Network
from tests.toolchains import import_or_skip

torch = import_or_skip("torch")
snn = import_or_skip("snntorch")


def lif_graph(tau: float, v_reset: float | None = None) -> nir.NIRGraph:
    """Input -> Affine(2x2 ones) -> LIF(tau, r = 1) -> Output: a graph no tool's dt convention
    explains (r = 1 is not tau/dt for any dt below tau)."""
    reset = {} if v_reset is None else {"v_reset": np.full(2, v_reset)}
    lif = nir.LIF(tau=np.full(2, tau), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), **reset)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2])}),
        "fc": nir.Affine(weight=np.ones((2, 2)), bias=np.zeros(2)),
        "lif": lif,
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def _snntorch_net(reset: str, train_epochs: int = 2):
    """A small snnTorch network trained briefly on digits, as a user would bring it."""
    torch.manual_seed(0)
    torch.set_num_threads(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(64, 32)
            self.lif1 = snn.Leaky(
                beta=torch.full((32,), 0.9), threshold=torch.ones(32), reset_mechanism=reset, init_hidden=True
            )
            self.fc2 = torch.nn.Linear(32, 10)
            self.lif2 = snn.Leaky(
                beta=torch.full((10,), 0.8),
                threshold=torch.ones(10),
                reset_mechanism=reset,
                init_hidden=True,
                output=True,
            )

        def forward(self, x):
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))

    from snntorch import utils

    net = Net()
    x, y = encoded("digits", "train", {"timesteps": 15})
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(train_epochs):
        for idx in torch.randperm(len(y)).split(64):
            utils.reset(net)
            counts = 0
            xb = torch.from_numpy(x[idx.numpy()].astype(np.float32))
            for t in range(xb.shape[1]):
                spk, _ = net(xb[:, t])
                counts = counts + spk
            loss = torch.nn.functional.cross_entropy(counts, torch.from_numpy(y[idx.numpy()]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def _snntorch_spikes(net, x):
    from snntorch import utils

    out = []
    with torch.no_grad():
        for sample in x:
            utils.reset(net)
            out.append(np.array([net(torch.from_numpy(row.astype(np.float32)))[0].numpy() for row in sample]))
    return np.array(out).astype(bool)


@pytest.mark.parametrize("reset,mode", [("zero", None), ("subtract", "subtract-undecayed")])
def test_snntorch_export_imports_and_reproduces_its_spikes(reset, mode, tmp_path):
    from snntorch.export_nir import export_to_nir

    net = _snntorch_net(reset)
    path = tmp_path / "snntorch.nir"
    nir.write(str(path), export_to_nir(net, torch.zeros(64)))
    res = CliRunner().invoke(
        app, ["import", str(path), "--out", str(tmp_path / "m.nir"), "--json", *(["--reset", mode] if mode else [])]
    )
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["dt"] == pytest.approx(1e-4, rel=1e-6) and "snnTorch" in info["dt_source"]
    model = load_model(tmp_path / "m.nir")
    x, y = encoded("digits", "test", {"timesteps": 15})
    theirs = _snntorch_spikes(net, x[:120])
    ours = simulate_float(model, x[:120]).spikes
    assert np.array_equal(theirs, ours)  # every output spike of every sample
    float_acc = simulate_float(model, x).accuracy(y)
    q = quantize(model, calibration=encoded("digits", "train", {"timesteps": 15})[0][:200])
    assert float_acc > 0.7
    assert abs(simulate_int(q, x).accuracy(y) - float_acc) <= 0.01


def test_snntorch_default_reset_export_is_recognised_and_named(tmp_path):
    """NIR does not record snnTorch's reset: a graph with its export pattern and no --reset says
    which reset was assumed and which option gives snnTorch's default, on stderr and in the
    result; with that option every output spike agrees (the test above)."""
    from snntorch.export_nir import export_to_nir

    from edgesnn.formats.nir_import import SNNTORCH_RESET, looks_like_snntorch

    net = _snntorch_net("subtract", train_epochs=1)
    graph = export_to_nir(net, torch.zeros(64))
    assert looks_like_snntorch(graph)
    path = tmp_path / "snntorch.nir"
    nir.write(str(path), graph)
    res = CliRunner().invoke(app, ["import", str(path), "--out", str(tmp_path / "m.nir"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["warnings"] == [SNNTORCH_RESET]
    assert f"warning: {SNNTORCH_RESET}" in res.stderr
    assert "--reset subtract-undecayed" in SNNTORCH_RESET and "reset to zero" in SNNTORCH_RESET
    chosen = CliRunner().invoke(
        app, ["import", str(path), "--out", str(tmp_path / "s.nir"), "--json", "--reset", "subtract-undecayed"]
    )
    assert json.loads(chosen.stdout)["warnings"] == [] and "warning" not in chosen.stderr
    # a graph that is not snnTorch's pattern (its own dt, a v_reset) gets no such warning
    other = lif_graph(tau=0.02, v_reset=-0.5)
    assert not looks_like_snntorch(other)
    assert import_graph(other, dt=1e-3)[1].warnings == []


def _conv_graph():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (4, 1, 3, 3))
    fc = rng.normal(0, 0.3, (10, 4 * 3 * 3))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=w, stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(4)),
        "if1": nir.IF(r=np.ones((4, 6, 6)), v_threshold=np.ones((4, 6, 6)), v_reset=np.zeros((4, 6, 6))),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=fc, bias=np.zeros(10)),
        "li": nir.LI(tau=np.full(10, 1e-3), r=np.ones(10), v_leak=np.zeros(10)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    edges = [
        ("input", "conv"),
        ("conv", "if1"),
        ("if1", "pool"),
        ("pool", "flat"),
        ("flat", "fc"),
        ("fc", "li"),
        ("li", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), w, fc


def test_conv_pool_flatten_graph_matches_a_direct_computation():
    graph, w, fc = _conv_graph()
    net, rep = import_graph(graph, dt=1e-4)
    assert [L.n_out for L in net.layers] == [144, 10] and isinstance(net.layers[-1].neurons, LI)
    assert rep.layers[1]["linear_nodes"] == ["SumPool2d", "Flatten", "Affine"]
    x = np.random.default_rng(1).random((3, 6, 64)) < 0.4
    # direct: conv (torch) -> IF (dt*r gain) -> sum pool -> flatten -> fc -> LI
    conv = torch.nn.functional.conv2d(
        torch.from_numpy(x.reshape(3 * 6, 1, 8, 8).astype(np.float64)), torch.from_numpy(w)
    )
    drive = 1e-4 * conv.numpy().reshape(3, 6, 144)
    v = np.zeros((3, 144))
    v_out = np.zeros((3, 10))
    beta_out = 1 - 1e-4 / 1e-3
    for t in range(6):
        v = v + drive[:, t]
        z = v > 1.0
        v = np.where(z, 0.0, v)
        pooled = (
            torch.nn.functional.avg_pool2d(torch.from_numpy(z.reshape(3, 4, 6, 6).astype(np.float64)), 2).numpy() * 4
        )
        v_out = beta_out * v_out + (1e-4 / 1e-3) * (pooled.reshape(3, -1) @ fc.T)
    r = simulate_float(net, x, record=True)
    assert np.allclose(r.record[-1]["v"][:, -1], v_out, atol=1e-9)
    assert np.array_equal(r.prediction, v_out.argmax(axis=1))


def test_quantized_model_round_trips_through_nir(tmp_path):
    rng = np.random.default_rng(0)
    net = Network(
        n_inputs=5,
        layers=(
            Dense(rng.normal(size=(4, 5)), np.zeros(4), LIF(np.full(4, 0.9), np.ones(4))),
            Dense(rng.normal(size=(3, 4)), np.zeros(3), LI(np.full(3, 0.8))),
        ),
    )
    q = quantize(net)
    res = CliRunner().invoke(
        app,
        [
            "export",
            str(save_model(q, tmp_path / "q.qsnn")),
            "--format",
            "nir",
            "--out",
            str(tmp_path / "q.nir"),
            "--json",
        ],
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["quantized"]
    g = nir.read(str(tmp_path / "q.nir"))
    assert {type(n).__name__ for n in g.nodes.values()} >= {"LIF", "LI", "Affine"}  # readable by NIR tools
    back = load_model(tmp_path / "q.nir")
    assert back.content_hash == q.content_hash
    res = CliRunner().invoke(app, ["import", str(tmp_path / "q.nir"), "--out", str(tmp_path / "back.nir"), "--json"])
    assert json.loads(res.stdout)["kind"] == "quantized"
    assert load_model(tmp_path / "back.qsnn").content_hash == q.content_hash


def test_unknown_dt_and_bad_graphs_are_named():
    g = lif_graph(tau=1.0)  # r = 1 = tau: no dt follows from snnTorch's convention
    with pytest.raises(ModelFileError, match="edgesnn import FILE.nir --dt SECONDS"):
        import_graph(g)
    net, rep = import_graph(g, dt=0.1)
    assert np.allclose(net.layers[0].neurons.beta, 0.9) and np.allclose(net.layers[0].weight, 0.1)
    with pytest.raises(ModelFileError, match="exceeds tau"):
        import_graph(g, dt=2.0)
