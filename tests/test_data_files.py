"""Users' own data files: the three kinds, Tonic-exact binning, bad input as one line."""

import numpy as np
import pytest

from edgesnn.cli.app import app
from edgesnn.data.datasets import open_dataset
from edgesnn.data.events import bin_split
from edgesnn.data.npzfile import EVENT_DTYPE, EventSplit, write_events
from edgesnn.errors import DatasetError
from tests.cli_helpers import run_json, runner


def random_events(rng, n_samples, sensor=(7, 5, 2), max_events=300):
    W, H, P = sensor
    out = []
    for _ in range(n_samples):
        n = int(rng.integers(0, max_events))
        ev = np.empty(n, EVENT_DTYPE)
        ev["x"], ev["y"] = rng.integers(0, W, n), rng.integers(0, H, n)
        ev["p"] = rng.integers(0, P, n).astype(bool)
        ev["t"] = np.sort(rng.integers(0, int(rng.integers(1, 10**6)), n))
        out.append(ev)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer

    d = tmp_path_factory.mktemp("data")
    bc = load_breast_cancer()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(bc.target))
    tr, te = idx[:420], idx[420:]
    np.savez(d / "features.npz", x_train=bc.data[tr], y_train=bc.target[tr], x_test=bc.data[te], y_test=bc.target[te])
    sp = rng.random((60, 12, 9)) < 0.2
    np.savez(
        d / "spikes.npz",
        x_train=sp[:40].astype(np.uint8),
        y_train=rng.integers(0, 3, 40),
        x_test=sp[40:],
        y_test=rng.integers(0, 3, 20),
    )
    write_events(
        d / "events.npz",
        (random_events(rng, 30), rng.integers(0, 4, 30)),
        (random_events(rng, 10), rng.integers(0, 4, 10)),
        (7, 5, 2),
    )
    return d


def test_data_info_reports_each_kind(files):
    f = run_json("data", "info", str(files / "features.npz"))
    assert (f["kind"], f["samples_train"], f["samples_test"], f["input_shape"], f["classes"]) == (
        "features",
        420,
        149,
        [30],
        2,
    )
    s = run_json("data", "info", str(files / "spikes.npz"))
    assert (s["kind"], s["input_shape"], s["timesteps"], s["classes"]) == ("spikes", [9], 12, 3)
    e = run_json("data", "info", str(files / "events.npz"))
    assert (e["kind"], e["input_shape"], e["sensor_size"]) == ("events", [2, 5, 7], [7, 5, 2])
    d = run_json("data", "info", "digits")
    assert (d["kind"], d["samples_train"], d["samples_test"], d["input_shape"], d["classes"]) == (
        "features",
        1347,
        450,
        [64],
        10,
    )


def test_features_are_scaled_by_the_training_split(files):
    ds = open_dataset(str(files / "features.npz"))
    assert ds.train.x.min() == 0.0 and ds.train.x.max() == 1.0
    assert ds.test.x.min() >= 0.0 and ds.test.x.max() <= 1.0
    x, y = ds.spikes("test", {"timesteps": 7, "encoding": "latency"})
    assert x.shape == (149, 7, 30) and x.dtype == bool and (x.sum(axis=1) <= 1).all()


def test_spikes_are_used_as_they_are(files):
    ds = open_dataset(str(files / "spikes.npz"))
    z = np.load(files / "spikes.npz")
    x, y = ds.spikes("train")
    assert np.array_equal(x, z["x_train"].astype(bool)) and np.array_equal(y, z["y_train"])
    with pytest.raises(DatasetError, match="holds spikes of 12 timesteps"):
        ds.resolve({"timesteps": 25})
    with pytest.raises(DatasetError, match="encoding 'rate' does not apply"):
        ds.resolve({"encoding": "rate"})


@pytest.mark.parametrize("T", [1, 3, 25, 100])
def test_binning_equals_tonic_to_frame_clipped_to_one(T):
    from tonic.functional import to_frame_numpy  # the `events` extra, installed by tools/install.sh

    rng = np.random.default_rng(T)
    samples = [s for s in random_events(rng, 40) if len(s)]
    off = np.concatenate([[0], np.cumsum([len(s) for s in samples])])
    split = EventSplit(np.concatenate(samples), off, np.zeros(len(samples), np.int64))
    ours = bin_split(split, (7, 5, 2), T)
    for k, s in enumerate(samples):
        ref = to_frame_numpy(s.copy(), (7, 5, 2), n_time_bins=T) > 0  # (T, P, H, W) counts -> 0/1
        assert np.array_equal(ref.reshape(T, -1), ours[k]), (T, k)


def test_downsample_and_channel_order():
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"], ev["t"] = [6, 3, 0], [4, 1, 0], [True, False, True], [0, 10, 20]
    split = EventSplit(ev, np.array([0, 3]), np.zeros(1, np.int64))
    x = bin_split(split, (7, 5, 2), 1)  # one bin [0, 20): the last event (t=20) falls outside, as in Tonic
    H, W = 5, 7
    assert set(np.flatnonzero(x[0, 0])) == {1 * H * W + 4 * W + 6, 0 * H * W + 1 * W + 3}
    x2 = bin_split(split, (7, 5, 2), 1, downsample=2)  # sensor (4, 3, 2)
    assert x2.shape == (1, 1, 2 * 3 * 4) and set(np.flatnonzero(x2[0, 0])) == {1 * 12 + 2 * 4 + 3, 0 * 12 + 0 * 4 + 1}


def test_denoise_uses_tonic(files):
    ds = open_dataset(str(files / "events.npz"))
    a, _ = ds.spikes("train", {"timesteps": 5})
    b, _ = ds.spikes("train", {"timesteps": 5, "denoise_us": 1})
    assert b.sum() < a.sum() and not (b & ~a).any()  # only removes


def _bad(tmp_path, name, **arrays):
    p = tmp_path / f"{name}.npz"
    np.savez(p, **arrays)
    return p


def _good_features():
    rng = np.random.default_rng(0)
    return dict(
        x_train=rng.random((10, 4)), y_train=np.arange(10) % 3, x_test=rng.random((5, 4)), y_test=np.arange(5) % 3
    )


def _good_events():
    rng = np.random.default_rng(1)
    tr, te = random_events(rng, 4, max_events=50), random_events(rng, 2, max_events=50)
    return dict(
        events_train=np.concatenate(tr),
        offsets_train=np.r_[0, np.cumsum([len(e) for e in tr])],
        y_train=np.arange(4) % 2,
        events_test=np.concatenate(te),
        offsets_test=np.r_[0, np.cumsum([len(e) for e in te])],
        y_test=np.arange(2) % 2,
        sensor_size=np.array([7, 5, 2]),
    )


def _cases():
    f, e = _good_features(), _good_events()
    nan = {**f, "x_train": f["x_train"].copy()}
    nan["x_train"][3, 2] = np.nan
    unsorted = {**e, "events_train": e["events_train"].copy()}
    k0 = slice(e["offsets_train"][0], e["offsets_train"][1])
    unsorted["events_train"]["t"][k0] = unsorted["events_train"]["t"][k0][::-1] + 0
    if len(unsorted["events_train"][k0]) < 2 or (np.diff(unsorted["events_train"]["t"][k0]) >= 0).all():
        unsorted["events_train"]["t"][0], unsorted["events_train"]["t"][1] = 5, 1
    float_xy = np.zeros(3, [("x", "<f4"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    return [
        ("missing", {k: v for k, v in f.items() if k != "y_test"}, "'y_test' missing"),
        ("nokeys", {"a": np.zeros(3)}, "neither 'x_train'"),
        ("floatlabels", {**f, "y_train": f["y_train"].astype(float)}, "'y_train' must hold integer"),
        ("strings", {**f, "x_train": np.array([["a"] * 4] * 10)}, "'x_train' must be real numbers"),
        ("nan", nan, "'x_train' holds 1 NaN"),
        ("negative", {**f, "y_train": f["y_train"] - 1}, "'y_train' holds a negative label"),
        ("range", {**f, "y_test": np.array([0, 1, 2, 3, 0])}, "'y_test' holds label 3"),
        ("classes", {**f, "classes": np.array(2)}, "out of range for classes = 2"),
        ("labelshape", {**f, "y_train": np.arange(9) % 3}, "'y_train' has shape (9,)"),
        (
            "spikevals",
            {**f, "x_train": np.full((10, 3, 4), 2), "x_test": np.zeros((5, 3, 4))},
            "must hold only 0 and 1",
        ),
        ("offsets", {**e, "offsets_train": e["offsets_train"] + 1}, "'offsets_train' does not match"),
        (
            "eventdtype",
            {**e, "events_train": float_xy, "offsets_train": np.array([0, 3, 3, 3, 3])},
            "field 'x' must be an integer",
        ),
        ("nofield", {**e, "events_test": np.zeros(3, [("x", "<i2"), ("t", "<i8")])}, "fields x, y, t, p"),
        ("sensor", {**e, "sensor_size": np.array([2, 2, 2])}, "outside 0..1 of sensor_size"),
        ("unsorted", unsorted, "is not sorted by t"),
    ]


@pytest.mark.parametrize("name,arrays,message", _cases(), ids=[c[0] for c in _cases()])
def test_bad_files_give_one_line_naming_the_key(tmp_path, name, arrays, message):
    p = _bad(tmp_path, name, **arrays)
    res = runner.invoke(app, ["data", "info", str(p)])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr


def test_pickle_and_corrupt_files_are_refused(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match="pickle"):
        open_dataset(str(p))
    q = tmp_path / "junk.npz"
    q.write_bytes(b"PK\x03\x04 not really a zip")
    res = runner.invoke(app, ["data", "info", str(q)])
    assert res.exit_code == 1 and "not a readable .npz" in res.stderr
    res = runner.invoke(app, ["train", "--dataset", str(tmp_path / "absent.npz")])
    assert res.exit_code == 1 and "unknown data set" in res.stderr


def test_model_and_data_set_that_disagree_name_both_shapes(files, tmp_path):
    from edgesnn.fixedpoint import quantize
    from edgesnn.formats import save_model
    from edgesnn.ir import LIF, Dense, Network

    net = Network(
        n_inputs=64,
        layers=(Dense(np.ones((10, 64)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),),
        input_spec={"dataset": "digits", "encoding": "rate", "timesteps": 5, "seed": 0},
    )
    q = save_model(quantize(net), tmp_path / "q.qsnn")
    for cmd in (["simulate", str(q)], ["verify", str(q)], ["quantize", str(save_model(net, tmp_path / "f.nir"))]):
        res = runner.invoke(app, [*cmd, "--dataset", str(files / "events.npz")])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1, res.stderr
        assert "gives inputs of shape (2, 5, 7) (70 channels)" in lines[0] and "takes 64 inputs" in lines[0]
