"""NAME:classes=A,B,...: a per-sample data set kept to some of its classes (data.subset)."""

import numpy as np
import pytest

from edgesnn.data.datasets import open_dataset
from tests.cli_helpers import run_json, runner


def test_a_subset_keeps_and_relabels_those_classes_only():
    full = open_dataset("digits")
    sub = open_dataset("digits:classes=7,2")
    assert sub.classes == 2 and sub.class_names == ["7", "2"]
    for split in ("train", "test"):
        f, s = full.split(split), sub.split(split)
        assert np.array_equal(s.x, f.x[(f.y == 7) | (f.y == 2)])
        assert np.array_equal(s.y, np.where(f.y[(f.y == 7) | (f.y == 2)] == 7, 0, 1))
    assert open_dataset("digits:classes=7,2") is sub  # kept beside its base


def test_an_events_subset_keeps_each_samples_events(tmp_path):
    from edgesnn.data.npzfile import EVENT_DTYPE

    rng = np.random.default_rng(0)
    arrays = {"sensor_size": np.array([4, 4, 2])}
    for split, n in (("train", 6), ("test", 4)):
        counts = rng.integers(1, 9, n)
        ev = np.zeros(int(counts.sum()), EVENT_DTYPE)
        ev["x"], ev["y"] = rng.integers(0, 4, len(ev)), rng.integers(0, 4, len(ev))
        ev["t"] = np.concatenate([np.sort(rng.integers(0, 50_000, c)) for c in counts])
        arrays[f"events_{split}"] = ev
        arrays[f"offsets_{split}"] = np.concatenate([[0], np.cumsum(counts)])
        arrays[f"y_{split}"] = np.arange(n) % 3
    np.savez(tmp_path / "e.npz", **arrays)
    full, sub = open_dataset(str(tmp_path / "e.npz")), open_dataset(f"{tmp_path / 'e.npz'}:classes=2,0")
    for split in ("train", "test"):
        f, s = full.split(split), sub.split(split)
        kept = [k for k in range(len(f)) if f.y[k] in (2, 0)]
        assert list(s.y) == [0 if f.y[k] == 2 else 1 for k in kept]
        for j, k in enumerate(kept):
            assert np.array_equal(s.sample(j), f.sample(k))


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("digits:classes=3,3", "class '3' is named twice"),
        ("digits:classes=cat,1", "has no class 'cat'; its classes: 0, 1"),
        ("digits:classes=4", "keep at least two classes"),
        ("digits:classes=", "write BASE:classes=A,B"),
    ],
)
def test_bad_subsets_fail_in_one_line(name, says):
    res = runner.invoke(__import__("edgesnn.cli.app", fromlist=["app"]).app, ["data", "info", name])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1 and says in res.stderr, res.stderr


def test_data_info_on_a_subset():
    r = run_json("data", "info", "digits:classes=0,1,2")
    assert r["classes"] == 3 and r["samples_test"] == int(sum(open_dataset("digits").test.y < 3))
