"""Training graphs from architecture files (inputs = [...]): the QAT forward equals the golden
simulator bit for bit, the float forward the float simulator; bad files are named; trained on
digits, the graph quantizes and runs on the device."""

import json

import pytest
from typer.testing import CliRunner

from edgesnn.errors import ArchitectureError
from tests.toolchains import import_or_skip

torch = import_or_skip("torch")

from edgesnn.cli.app import app  # noqa: E402
from edgesnn.train.arch import resolve  # noqa: E402
from edgesnn.train.loop import TrainConfig  # noqa: E402
from tests.qat_check import trains_as_simulated  # noqa: E402

SKIPS = [
    {"type": "dense", "units": 20},
    {"type": "dense", "units": 16, "inputs": ["h1", "input"]},
    {"type": "dense", "units": 12, "recurrent": True, "inputs": ["h2", "h1"]},
    {"type": "dense", "units": "classes", "inputs": ["h3", "input", "h1"]},
]


@pytest.mark.parametrize("qat", [None, {"weight_bits": 6, "state_bits": 16, "per_channel": True}])
def test_a_graph_trains_as_the_simulator_computes(qat):
    cfg = TrainConfig(weight_bits=6, state_bits=16)
    net, _, _ = trains_as_simulated(SKIPS, (10,), 4, qat, scale=3, steps=16, cfg=cfg)
    assert [(c.source, c.target) for c in net.connections] == [(-1, 1), (0, 2), (-1, 3), (0, 3)]
    assert net.sources == () and net.layers[2].recurrent is not None


RESIDUAL = [
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1, "name": "stem"},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1, "inputs": ["h2", "stem"]},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1},
    {"type": "conv", "channels": 3, "kernel": 3, "padding": 1, "inputs": ["h4", "h3"]},
    {"type": "pool", "kind": "sum", "kernel": 2},
    {"type": "dense", "units": "classes"},
]


@pytest.mark.parametrize("qat", [None, {"weight_bits": 8, "state_bits": 24, "per_channel": True}])
def test_a_residual_conv_graph_trains_as_the_simulator_computes(qat):
    """Convolutions with residual inputs (one to one per channel from a map of the layer's shape):
    QAT forward = golden simulator on every output spike and the final membrane."""
    net, _, rec = trains_as_simulated(RESIDUAL, (1, 6, 6), 4, qat, seed=1, scale=2, samples=5)
    assert [(c.source, c.target) for c in net.connections] == [(0, 2), (2, 4)]
    assert all(c.conv is not None and c.conv.kernel == (1, 1) for c in net.connections)
    assert rec[4]["spikes"].any()  # the second block's population fires


@pytest.mark.parametrize(
    "layers, match",
    [
        (
            [{"type": "dense", "units": 8, "inputs": ["h2"]}, {"type": "dense", "units": 8}],
            r"input 'h2' is not the input or an earlier layer",
        ),
        ([{"type": "dense", "units": 8, "inputs": "input"}], "inputs must be a list"),
        ([{"type": "dense", "units": 8, "name": "input"}], "name 'input' must be a new word"),
        (
            [{"type": "dense", "units": 8}, {"type": "dense", "units": 8, "inputs": ["h1", "h1"]}],
            "name one source twice",
        ),
    ],
)
def test_bad_graph_architectures_name_the_layer(layers, match):
    with pytest.raises(ArchitectureError, match=match):
        resolve(layers, (10,), 4)


def test_a_trained_skip_network_quantizes_and_runs_on_the_device(tmp_path):
    """edgesnn train with an architecture file that names inputs -> quantize -> verify on host C
    and qemu-mps2-an385 with 0 mismatches."""
    from tests.toolchains import need_board_tools

    arch = tmp_path / "skips.toml"
    arch.write_text(
        '[[layer]]\ntype = "dense"\nunits = 48\n\n'
        '[[layer]]\ntype = "dense"\nunits = 32\ninputs = ["h1", "input"]\n\n'
        '[[layer]]\ntype = "dense"\nunits = "classes"\ninputs = ["h2", "h1"]\n'
    )
    run = CliRunner().invoke
    res = run(
        app,
        [
            "train",
            "--model",
            str(arch),
            "--epochs",
            "3",
            "--timesteps",
            "10",
            "--out",
            str(tmp_path / "s.nir"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    res = run(app, ["quantize", str(tmp_path / "s.nir"), "--out", str(tmp_path / "s.qsnn"), "--json"])
    assert res.exit_code == 0, res.output
    q = json.loads(res.stdout)
    assert q["graph_connections"] == 2 and q["int_accuracy"] > 0.8 and "firmware_refuses" not in q
    from edgesnn.firmware.boards import get_board

    need_board_tools(get_board("qemu-mps2-an385"))
    for board in ("host", "qemu-mps2-an385"):
        res = run(app, ["verify", str(tmp_path / "s.qsnn"), "--board", board, "--limit", "100", "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["mismatches"] == 0


def _conv(**kw):
    return {"type": "conv", "channels": 2, "kernel": 3, **kw}


@pytest.mark.parametrize(
    "layers, match",
    [
        ([_conv(), _conv(padding=1, inputs=["h1", "input"])], "further inputs are layers, not the input"),
        ([_conv(), _conv(inputs=["h1", "h1"])], "name one source twice"),
        (
            [_conv(), _conv(), _conv(kernel=1, inputs=["h2", "h1"])],
            r"input 'h1' makes \(2, 6, 6\) but the layer makes \(2, 4, 4\)",
        ),
    ],
)
def test_bad_residual_architectures_name_the_layer_and_the_shapes(layers, match):
    with pytest.raises(ArchitectureError, match=match):
        resolve(layers, (1, 8, 8), 4)
