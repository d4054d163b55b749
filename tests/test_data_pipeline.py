"""A user's own data through the whole pipeline on the host board, plots, and torchrun training."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgesnn.cli.app import app
from tests.cli_helpers import run_json, runner
from tests.toolchains import need_tools

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """scikit-learn's wine data (13 features, 3 classes) as a user's features file, trained."""
    from sklearn.datasets import load_wine

    d = tmp_path_factory.mktemp("wine")
    w = load_wine()
    idx = np.random.default_rng(0).permutation(len(w.target))
    tr, te = idx[:130], idx[130:]
    np.savez(d / "wine.npz", x_train=w.data[tr], y_train=w.target[tr], x_test=w.data[te], y_test=w.target[te])
    r = run_json(
        "train",
        "--dataset",
        str(d / "wine.npz"),
        "--epochs",
        "30",
        "--hidden",
        "32",
        "--timesteps",
        "15",
        "--out",
        str(d / "wine.nir"),
    )
    assert r["test_accuracy"] > 0.8  # chance is about 0.4
    q = run_json("quantize", str(d / "wine.nir"), "--out", str(d / "wine.qsnn"))
    assert abs(q["int_accuracy"] - q["float_accuracy"]) <= 0.05
    return d


def test_features_file_train_quantize_simulate_verify_stream(wine):
    need_tools("cc", what="the host board")
    sim = run_json("simulate", str(wine / "wine.qsnn"), "--dataset", str(wine / "wine.npz"))
    assert sim["samples"] == 48 and sim["timesteps"] == 15
    v = run_json("verify", str(wine / "wine.qsnn"), "--board", "host", "--out", str(wine / "build"))
    assert v["mismatches"] == 0 and v["samples"] == 48
    res = runner.invoke(
        app,
        [
            "stream",
            str(wine / "wine.qsnn"),
            "--board",
            "host",
            "--out",
            str(wine / "bs"),
            "--save-output",
            str(wine / "dev.npz"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["samples"] == 48 and summary["mismatches"] == 0
    assert summary["accuracy"] == pytest.approx(sim["accuracy"])
    z = np.load(wine / "dev.npz")
    assert z["spikes"].shape == (48, 15, 3) and z["inputs"].shape == (48, 15, 13)
    assert list(z["prediction"]) == [json.loads(line)["prediction"] for line in res.stdout.strip().splitlines()[:-1]]
    r = run_json(
        "plot", "raster", "--from-stream", str(wine / "dev.npz"), "--sample", "2", "--out", str(wine / "r.png")
    )
    assert r["source"] == "device stream" and (wine / "r.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("kind", ["raster", "confusion", "quantization", "timesteps"])
def test_plots_of_a_model(wine, kind):
    out = wine / f"{kind}.png"
    r = run_json("plot", kind, str(wine / "wine.qsnn"), "--out", str(out), "--timesteps", "5,15")
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 5000
    if kind == "confusion":
        assert r["samples"] == 48
    if kind == "timesteps":
        assert set(r["accuracy_by_timesteps"]) == {"5", "15"}
    if kind == "quantization":
        assert len(r["saturations"]) == 2


def test_bad_plot_requests(wine):
    res = runner.invoke(app, ["plot", "nope", str(wine / "wine.qsnn")])
    assert res.exit_code == 1 and "unknown plot 'nope'" in res.stderr
    res = runner.invoke(app, ["plot", "raster", str(wine / "wine.qsnn"), "--sample", "99"])
    assert res.exit_code == 1 and "sample 99 is out of range" in res.stderr
    res = runner.invoke(app, ["plot", "events", "--dataset", str(wine / "wine.npz")])
    assert res.exit_code == 1 and "holds features, not events" in res.stderr


def test_spikes_file_pipeline_on_host(tmp_path):
    need_tools("cc", what="the host board")
    from edgesnn.fixedpoint import quantize
    from edgesnn.formats import save_model
    from edgesnn.ir import LIF, Dense, Network

    rng = np.random.default_rng(2)
    x = rng.random((30, 11, 9)) < 0.3
    np.savez(tmp_path / "sp.npz", x_train=x[:20], y_train=np.arange(20) % 4, x_test=x[20:], y_test=np.arange(10) % 4)
    net = Network(
        n_inputs=9,
        layers=(
            Dense(rng.normal(0, 0.6, (12, 9)), np.zeros(12), LIF(np.full(12, 0.9), np.ones(12))),
            Dense(rng.normal(0, 0.6, (4, 12)), np.zeros(4), LIF(np.full(4, 0.9), np.ones(4))),
        ),
        input_spec={"dataset": str(tmp_path / "sp.npz"), "encoding": "spikes", "timesteps": 11, "seed": 0},
    )
    q = save_model(quantize(net), tmp_path / "sp.qsnn")
    s = run_json("simulate", str(q))
    assert s["samples"] == 10 and s["timesteps"] == 11
    v = run_json("verify", str(q), "--board", "host", "--out", str(tmp_path / "b"))
    assert v["mismatches"] == 0 and v["samples"] == 10


# one training run, the same for 1 process and for 2 under torchrun
TRAIN = ["train", "--dataset", "digits", "--epochs", "1", "--hidden", "48", "--timesteps", "10", "--no-qat"]


def _torchrun_train(tmp_path, nproc: int, name: str) -> dict:
    torchrun = shutil.which("torchrun") or [sys.executable, "-m", "torch.distributed.run"]
    cmd = ([torchrun] if isinstance(torchrun, str) else torchrun) + [
        "--standalone", f"--nproc-per-node={nproc}", "-m", "edgesnn", *TRAIN, "--out", str(tmp_path / name), "--json",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, p.stdout  # rank 0 alone reports
    return json.loads(lines[0])


def test_torchrun_two_processes_match_one(tmp_path):
    """Same seed and global batch: 2 data-parallel processes follow 1 process's training up to
    float32 summation order (one epoch, 43 optimizer steps)."""
    from edgesnn.formats import load_model

    one = run_json(*TRAIN, "--out", str(tmp_path / "one.nir"))
    two = _torchrun_train(tmp_path, 2, "two.nir")
    assert two["world_size"] == 2 and one["world_size"] == 1
    a, b = load_model(tmp_path / "one.nir"), load_model(tmp_path / "two.nir")
    diff = max(float(np.abs(x.weight - y.weight).max()) for x, y in zip(a.layers, b.layers))
    print(
        f"1 process: accuracy {one['test_accuracy']:.4f}; 2 processes: {two['test_accuracy']:.4f}; "
        f"largest weight difference {diff:.3g}"
    )
    assert diff < 1e-5
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 0.01
