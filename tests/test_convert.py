"""ANN -> SNN conversion from torch modules and int8 TFLite files the tests build themselves."""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.convert.ann2snn import Stage, ann_forward, convert
from edgesnn.data.datasets import load
from edgesnn.errors import ModelFileError
from tests.toolchains import import_or_skip

torch = import_or_skip("torch")


def _train(model, x, y, epochs=80, shape=(-1, 64)):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    X, Y = torch.tensor(x, dtype=torch.float32).reshape(shape), torch.tensor(y)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), Y).backward()
        opt.step()
    return model.eval()


def test_percentile_normalisation_scales_each_layer():
    rng = np.random.default_rng(0)
    stages = [Stage(rng.normal(size=(5, 4)), np.zeros(5), True), Stage(rng.normal(size=(3, 5)), np.zeros(3), False)]
    x = rng.random((200, 4))
    net, lams = convert(stages, x, percentile=100.0)
    a1 = np.maximum(x @ stages[0].weight.T, 0)
    assert lams[0] == pytest.approx(a1.max())
    assert np.allclose(net.layers[1].weight, stages[1].weight * lams[0] / lams[1])
    assert all(L.neurons.reset == "subtract" for L in net.layers)


def test_torch_conv_network_converts_within_two_points(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train, _ = load("digits")
    m = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * 16, 48),
        torch.nn.ReLU(),
        torch.nn.Linear(48, 10),
    )
    _train(m, train.x, train.y, shape=(-1, 1, 8, 8))
    before = [p.detach().clone() for p in m.parameters()]
    torch.save(m, tmp_path / "ann.pt")
    res = CliRunner().invoke(
        app,
        [
            "convert",
            str(tmp_path / "ann.pt"),
            "--out",
            str(tmp_path / "snn.nir"),
            "--timesteps",
            "100",
            "--sweep",
            "25",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["ann_runtime"] == "torch" and r["ann_accuracy"] > 0.9
    assert r["ann_float_accuracy"] == pytest.approx(r["ann_accuracy"])  # the composed dense stages are exact
    assert abs(r["snn_accuracy"] - r["ann_accuracy"]) <= 0.02
    assert set(r["snn_accuracy_by_timesteps"]) == {"25", "100"}
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))  # the module is untouched


def test_int8_tflite_converts_within_two_points(tmp_path):
    import_or_skip("ai_edge_litert")
    from edgesnn.convert.tflite_write import quantize_mlp

    torch.manual_seed(0)
    torch.set_num_threads(1)
    train, test = load("digits")
    m = _train(
        torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)), train.x, train.y, 60
    )
    ws = [m[0].weight.detach().double().numpy(), m[2].weight.detach().double().numpy()]
    bs = [m[0].bias.detach().double().numpy(), m[2].bias.detach().double().numpy()]
    path = tmp_path / "digits_int8.tflite"
    path.write_bytes(quantize_mlp(ws, bs, train.x))
    from edgesnn.convert.tflite_ann import dequantized_input, read_tflite, run_reference

    ann = read_tflite(path)
    assert ann.input_zero_point == -128 and ann.input_scale == pytest.approx(1 / 255)
    ref = run_reference(path, ann, test.x)
    ours = ann_forward(ann.stages, dequantized_input(ann, test.x)).argmax(1)
    assert np.mean(ours == ref) > 0.99  # dequantized float forward vs the integer interpreter
    res = CliRunner().invoke(app, ["convert", str(path), "--out", str(tmp_path / "snn.nir"), "--sweep", "", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["ann_runtime"] == "ai-edge-litert interpreter" and r["ann_accuracy"] == pytest.approx(
        np.mean(ref == test.y)
    )
    assert abs(r["snn_accuracy"] - r["ann_accuracy"]) <= 0.02


def test_unsupported_layers_and_files_are_named(tmp_path):
    from edgesnn.convert.torch_ann import stages_from_torch

    with pytest.raises(ModelFileError, match="layer type Sigmoid cannot be converted"):
        stages_from_torch(torch.nn.Sequential(torch.nn.Linear(64, 10), torch.nn.Sigmoid()), 64)
    (tmp_path / "x.pt").write_bytes(b"not a model")
    res = CliRunner().invoke(app, ["convert", str(tmp_path / "x.pt"), "--json"])
    assert res.exit_code != 0 and "not a torch model file" in res.stderr


class _CustomNet(torch.nn.Module):
    """A user's own module class: its pickle names a class outside torch.nn."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(64, 16), torch.nn.Linear(16, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def test_pickled_torch_files_load_without_running_code_unless_trusted(tmp_path):
    torch.manual_seed(0)
    std = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    torch.save(std, tmp_path / "std.pt")  # standard layers only: loads with weights_only=True
    r = CliRunner().invoke(
        app,
        [
            "convert",
            str(tmp_path / "std.pt"),
            "--out",
            str(tmp_path / "a.nir"),
            "--timesteps",
            "10",
            "--sweep",
            "",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    torch.save(_CustomNet(), tmp_path / "custom.pt")
    r = CliRunner().invoke(app, ["convert", str(tmp_path / "custom.pt"), "--out", str(tmp_path / "b.nir"), "--json"])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == 1 and "_CustomNet" in lines[0] and "--trust-pickle" in lines[0]
    evil = tmp_path / "evil.pt"  # a pickle whose loading would run a command
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    with open(evil, "wb") as f:
        pickle.dump(Boom(), f)
    r = CliRunner().invoke(app, ["convert", str(evil), "--out", str(tmp_path / "c.nir"), "--json"])
    assert r.exit_code == 1 and not (tmp_path / "pwned").exists()
    r = CliRunner().invoke(
        app,
        [
            "convert",
            str(tmp_path / "custom.pt"),
            "--trust-pickle",
            "--out",
            str(tmp_path / "d.nir"),
            "--timesteps",
            "10",
            "--sweep",
            "",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output


def test_a_model_and_a_data_set_that_disagree_name_both_shapes(tmp_path):
    torch.save(torch.nn.Sequential(torch.nn.Linear(30, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)), tmp_path / "a.pt")
    r = CliRunner().invoke(
        app, ["convert", str(tmp_path / "a.pt"), "--dataset", "digits", "--out", str(tmp_path / "s.nir")]
    )
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == 1
    assert "the model takes 30 inputs but data set 'digits' gives inputs of shape (64,) (64 channels)" in lines[0]
