"""Evolution in the integer domain: simulator fitness, device fitness, checkpoints."""

import json

import numpy as np
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.data.datasets import encoded
from edgesnn.device.deploy import deploy
from edgesnn.firmware.boards import get_board
from edgesnn.fixedpoint import simulate_int
from edgesnn.formats import load_model
from edgesnn.train.evolve import EvolveConfig, evolve, template


def test_evolution_learns_digits_and_checkpoints(tmp_path):
    spec = {"timesteps": 10}
    x, y = encoded("digits", "train", spec)
    xt, yt = encoded("digits", "test", spec)
    saved = []
    res = evolve(EvolveConfig(generations=80, checkpoint_every=20), x, y, checkpoint=saved.append)
    assert 1 <= len(saved) <= 4 and len(res.history) == 4
    fits = [h["best_fitness"] for h in res.history]
    assert fits == sorted(fits)  # best so far never gets worse, and only improvements are checkpointed
    assert saved[-1] is res.network
    acc = simulate_int(res.network, xt).accuracy(yt)
    assert acc > 0.6  # far above chance after 80 generations (the CLI default of 300 reaches ~0.89)
    q = 2 ** (res.network.weight_bits - 1) - 1
    assert np.abs(res.network.layers[0].weight).max() <= q  # every candidate is a valid integer network


def test_same_seed_same_result():
    x, y = encoded("digits", "train", {"timesteps": 5})
    cfg = EvolveConfig(generations=5, population=4, batch=50, checkpoint_every=5)
    a, b = evolve(cfg, x, y), evolve(cfg, x, y)
    assert np.array_equal(a.network.layers[0].weight, b.network.layers[0].weight)


def test_device_fitness_equals_simulator_fitness(tmp_path):
    """Hardware in the loop scores a candidate exactly as the simulator does."""
    x, y = encoded("digits", "train", {"timesteps": 8})
    base = template(64, 10, 0)
    rng = np.random.default_rng(0)
    cand = base.layers[0].weight + rng.integers(-30, 31, base.layers[0].weight.shape)
    with deploy(base, get_board("host"), tmp_path, learn_layer=0) as d:
        d.device.write_weights(cand)
        dev_pred = [o.result.prediction for o in d.device.stream(x[:40])]
    from dataclasses import replace

    sim = simulate_int(replace(base, layers=(replace(base.layers[0], weight=cand),)), x[:40])
    assert dev_pred == sim.prediction.tolist()


def test_evolve_cli(tmp_path):
    res = CliRunner().invoke(app, ["evolve", "--out", str(tmp_path / "e.qsnn"), "--generations", "30", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["fitness_from"] == "simulator" and r["test_accuracy"] > 0.3 and r["seconds"] > 0
    assert load_model(tmp_path / "e.qsnn").n_outputs == 10
