"""Every command through typer's CliRunner: --json output, errors as one line, no torch unless training."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.fixedpoint import quantize
from edgesnn.formats import save_model
from edgesnn.ir import LIF, Dense, Network

runner = CliRunner()


def run_json(*args):
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    net = Network(
        n_inputs=64,
        layers=(
            Dense(rng.normal(0, 0.3, (32, 64)), np.zeros(32), LIF(np.full(32, 0.9), np.ones(32))),
            Dense(rng.normal(0, 0.3, (10, 32)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),
        ),
        input_spec={"dataset": "digits", "encoding": "rate", "timesteps": 10, "seed": 0},
    )
    return save_model(net, d / "f.nir"), save_model(quantize(net), d / "q.qsnn"), d


def test_trained_pipeline_train_quantize_simulate_info(tmp_path):
    """The README's main path on a tiny budget: 2 epochs of QAT, then the integer model."""
    f = tmp_path / "m.nir"
    r = run_json(
        "train", "--dataset", "digits", "--out", str(f), "--epochs", "2", "--hidden", "32", "--timesteps", "10"
    )
    assert r["test_accuracy"] > 0.5  # far above chance (0.1) after two epochs
    q = tmp_path / "m.qsnn"
    r = run_json("quantize", str(f), "--dataset", "digits", "--out", str(q))
    assert r["int_accuracy"] > 0.5 and abs(r["int_accuracy"] - r["float_accuracy"]) < 0.05
    out = tmp_path / "o.npz"
    r = run_json("simulate", str(q), "--dataset", "digits", "--save-output", str(out))
    assert r["accuracy"] == pytest.approx(
        json.loads(runner.invoke(app, ["quantize", str(f), "--out", str(q), "--json"]).stdout)["int_accuracy"]
    )
    z = np.load(out)
    assert z["spikes"].shape == (450, 10, 10) and z["prediction"].shape == (450,)
    info = run_json("info", str(q))
    assert info["kind"] == "quantized" and len(info["hash"]) == 64 and info["weight_bits"] == 8


def test_simulate_input_file_matches_python_api(models, tmp_path):
    f, q, _ = models
    x = np.random.default_rng(1).random((5, 7, 64)) < 0.3
    np.save(tmp_path / "x.npy", x.astype(np.uint8))
    r = run_json("simulate", str(q), "--input", str(tmp_path / "x.npy"), "--save-output", str(tmp_path / "o.npz"))
    from edgesnn.fixedpoint import simulate
    from edgesnn.formats import load_model

    ref = simulate(load_model(q), x)
    assert r["synops_per_sample"] == pytest.approx(ref.synops.mean())
    assert "accuracy" not in r
    assert np.array_equal(np.load(tmp_path / "o.npz")["spikes"], ref.spikes)
    r = run_json("simulate", str(f), "--input", str(tmp_path / "x.npy"))
    assert r["kind"] == "float"


@pytest.mark.parametrize(
    "make_args,match",
    [
        (lambda f, q, d: ["info", str(d / "missing.qsnn")], "model file not found"),
        (lambda f, q, d: ["simulate", str(q), "--dataset", "mnist-nope"], "unknown data set 'mnist-nope'"),
        (lambda f, q, d: ["simulate", str(q), "--dataset", "digits", "--input", str(d / "x.npy")], "not both"),
        (lambda f, q, d: ["simulate", str(q), "--input", str(d / "bad_shape.npy")], "must have shape"),
        (lambda f, q, d: ["simulate", str(q), "--input", str(d / "bad_values.npy")], "must be 0 or 1"),
        (lambda f, q, d: ["simulate", str(q), "--input", str(d / "corrupt.npy")], "not a readable .npy"),
        (lambda f, q, d: ["info", str(d / "corrupt.npy")], "not an edgesnn model"),
        (lambda f, q, d: ["quantize", str(q), "--out", str(d / "x.qsnn")], "already quantized"),
        (lambda f, q, d: ["quantize", str(d / "nan.nir"), "--out", str(d / "x.qsnn")], "non-finite value nan"),
        (lambda f, q, d: ["train", "--dataset", "nope", "--out", str(d / "x.nir")], "unknown data set 'nope'"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(models, make_args, match):
    f, q, d = models
    np.save(d / "bad_shape.npy", np.zeros((2, 3, 5)))
    np.save(d / "bad_values.npy", np.full((2, 3, 64), 2))
    (d / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    import shutil

    import h5py

    shutil.copy(f, d / "nan.nir")
    with h5py.File(d / "nan.nir", "r+") as h:  # poison one weight in the NIR file
        w = h["node/nodes/fc0/weight"]
        arr = w[()]
        arr[0, 0] = np.nan
        w[...] = arr
    res = runner.invoke(app, [*make_args(f, q, d), "--json"])
    assert res.exit_code != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], res.stderr
    assert "Traceback" not in res.output and res.stdout == ""


def test_commands_that_do_not_train_never_import_torch(models):
    f, q, _ = models
    code = (
        "import sys; from typer.testing import CliRunner; from edgesnn.cli.app import app; r = CliRunner();"
        f"assert r.invoke(app, ['simulate', {str(q)!r}, '--dataset', 'digits', '--limit', '5', '--json']).exit_code == 0;"
        f"assert r.invoke(app, ['info', {str(f)!r}, '--json']).exit_code == 0;"
        f"assert r.invoke(app, ['quantize', {str(f)!r}, '--out', {str(q) + '.2'!r}, '--json']).exit_code == 0;"
        "assert r.invoke(app, ['data', 'info', 'digits', '--json']).exit_code == 0;"
        f"assert r.invoke(app, ['plot', 'confusion', {str(q)!r}, '--out', {str(q) + '.png'!r}, '--json']).exit_code == 0;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_version_json():
    r = run_json("version")
    assert r["contract_version"] == 1


def test_boards_build_verify_commands(models, tmp_path):
    f, q, _ = models
    boards = run_json("boards")["boards"]
    assert {"host", "qemu-mps2-an385", "nucleo-f446re"} <= {b["name"] for b in boards}
    r = run_json("build", str(q), "--board", "host", "--out", str(tmp_path / "h"))
    assert r["board"] == "host" and r["hash"] and Path(r["elf"]).is_file()
    r = run_json("verify", str(q), "--board", "host", "--out", str(tmp_path / "v"), "--limit", "20")
    assert r["mismatches"] == 0 and r["samples"] == 20 and r["values_compared"] > 0
    r = run_json("build", str(q), "--board", "rpi-pico", "--out", str(tmp_path / "pico"))
    assert Path(r["elf"]).is_file() and set(r["images"]) == {"bin", "uf2"} and r["flash_bytes"] > 0
    r = run_json("build", str(q), "--board", "rpi-pico", "--platformio", "--out", str(tmp_path / "pio"))
    assert r["elf"] is None and (Path(r["project"]) / "platformio.ini").is_file()
    res = runner.invoke(app, ["build", str(q), "--board", "host", "--platformio", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and res.stderr == "error: board host has no PlatformIO settings\n"


def test_build_errors_are_one_line(models, tmp_path):
    f, q, _ = models
    for args, match in (
        (["build", str(q), "--board", "nope", "--out", str(tmp_path)], "unknown board 'nope'"),
        (["build", str(f), "--board", "host", "--out", str(tmp_path)], "a float model; run `edgesnn quantize` first"),
    ):
        res = runner.invoke(app, [*args, "--json"])
        assert res.exit_code != 0 and res.stderr.count("\n") == 1 and match in res.stderr, res.stderr


def test_demo_main_job_runs_end_to_end_on_a_tiny_budget(tmp_path):
    """The README's main job (`edgesnn demo`), one epoch, on the host board to keep CI short."""
    r = run_json("demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--board", "host")
    assert r["board"] == "host" and r["samples"] == 450 and r["streamed"] == 450
    assert r["selfcheck_mismatches"] == 0 and r["stream_mismatches"] == 0
    assert r["device_accuracy"] == r["int_accuracy"] > 0.5
    again = run_json("demo", "--out", str(tmp_path / "demo"), "--board", "host")  # reuses the model
    assert again["train"]["reused"] and again["quantize"]["hash"] == r["quantize"]["hash"]


def test_demo_falls_back_to_host_when_the_board_toolchain_is_missing(tmp_path, monkeypatch):
    import edgesnn.api.mainjob as demo_cmd

    said = []
    real_which = demo_cmd.shutil.which
    monkeypatch.setattr(demo_cmd.shutil, "which", lambda t: None if "arm-none-eabi" in t else real_which(t))
    assert demo_cmd.pick_board("qemu-mps2-an385", said.append) == "host"
    assert "falling back to the host board" in said[0] and "arm-none-eabi-gcc" in said[0]


def test_simulate_writes_golden_vectors(models, tmp_path):
    f, q, _ = models
    r = run_json("simulate", str(q), "--dataset", "digits", "--limit", "6", "--golden", str(tmp_path / "g.npz"))
    z = np.load(tmp_path / "g.npz")
    assert (
        z["inputs"].shape == (6, 10, 64)
        and z["layer0_v"].shape == (6, 10, 32)
        and z["layer1_spikes"].shape == (6, 10, 10)
    )
    from edgesnn.fixedpoint import simulate_int
    from edgesnn.formats import load_model

    ref = simulate_int(load_model(q), z["inputs"], record=True)
    assert np.array_equal(ref.record[0]["v"], z["layer0_v"]) and r["golden"] == str(tmp_path / "g.npz")


def test_json_has_no_infinity_for_non_spiking_layers(tmp_path):
    from edgesnn.ir import LI

    net = Network(n_inputs=4, layers=(Dense(np.ones((2, 4)), np.zeros(2), LI(np.full(2, 0.9))),))
    res = runner.invoke(app, ["info", str(save_model(net, tmp_path / "li.nir")), "--json"])
    assert "Infinity" not in res.stdout and json.loads(res.stdout)["layers"][0]["threshold_range"] == [None, None]


def test_every_command_shows_examples_in_its_help():
    from edgesnn.cli.app import COMMANDS

    names = [c[0] for c in COMMANDS] + ["data", "events", "version"]
    for name in names:
        res = runner.invoke(app, [name, "--help"])
        assert res.exit_code == 0 and "Examples:" in res.output and "$ " in res.output, name


def test_info_prints_a_table(models):
    f, q, _ = models
    res = runner.invoke(app, ["info", str(q)])
    assert res.exit_code == 0 and "quantized model" in res.output and "32 × 64" in res.output
