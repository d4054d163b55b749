"""SHD/SSC HDF5 files (written with h5py in the published layout) binned to spikes, DVS128
Gesture's labelled folders to streams, and `--dataset PATH` on a folder through the cache."""

import json
import os
import re
from pathlib import Path

import h5py  # noqa: E402  (the events extra; tools/install.sh installs it)
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.data import importing, shd
from edgesnn.data.aedat3 import write_aedat31
from edgesnn.data.datasets import open_any
from edgesnn.data.npzfile import read_data_file
from edgesnn.data.streams import read_stream_file
from tests.test_native_formats import events_of
from tests.test_recordings import atis_bytes, read_or_named, recording


def write_shd(path: Path, times, units, labels, keys=None, dtype=np.float32) -> None:
    """One split in SHD's layout: vlen float seconds, vlen uint16 units, labels, extra/keys."""
    n = len(labels)
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(dtype))
        u = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            t[i], u[i] = np.asarray(times[i], dtype), np.asarray(units[i], np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        if keys is not None:
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))


def shd_pair(root: Path, rng, n=(12, 6), classes=3, units=20, spikes=15) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    made = {}
    for split, count in zip(("train", "test"), n):
        times = [np.sort(rng.uniform(0, 0.3, spikes)) for _ in range(count)]
        us = [rng.integers(0, units, spikes) for _ in range(count)]
        ys = np.arange(count) % classes
        write_shd(root / f"shd_{split}.h5", times, us, ys, keys=[f"w{c}" for c in range(classes)])
        made[split] = (times, us, ys)
    return made


def test_shd_bins_as_documented(tmp_path):
    made = shd_pair(tmp_path / "shd", np.random.default_rng(0))
    d = shd.load(tmp_path / "shd" / "shd_test.h5", dt_ms=5)  # either split's file finds its pair
    t_max = max(float(np.float32(t).max()) for s in made.values() for t in s[0])
    steps = int(np.floor(t_max * 1e3 / 5)) + 1
    assert d["x_train"].shape == (12, steps, d["channels"]) and d["class_names"] == ["w0", "w1", "w2"]
    for split in ("train", "test"):
        times, us, ys = made[split]
        assert (d[f"y_{split}"] == ys).all()
        for k in range(len(ys)):
            want = np.zeros((steps, d["channels"]), bool)
            want[np.floor(np.float32(times[k]).astype(np.float64) * 1e3 / 5).astype(int), us[k]] = True
            assert (d[f"x_{split}"][k] == want).all(), (split, k)


def test_cli_imports_shd_and_every_command_takes_its_folder(tmp_path):
    shd_pair(tmp_path / "shd", np.random.default_rng(1))
    r = CliRunner().invoke(app, ["data", "import", str(tmp_path / "shd"), "--out", str(tmp_path / "s.npz"), "--json"])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert (res["kind"], res["samples_train"], res["samples_test"], res["timesteps"]) == ("spikes", 12, 6, 30)
    f = read_data_file(tmp_path / "s.npz")
    assert f.kind == "spikes" and f.classes == 3
    r = CliRunner().invoke(app, ["data", "info", str(tmp_path / "shd"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["input_shape"] == [res["input_shape"][0]], r.stderr


def _bad_shd(tmp_path: Path, case: str) -> tuple[Path, str]:
    root = tmp_path / "shd"
    shd_pair(root, np.random.default_rng(2))
    f = root / "shd_train.h5"
    if case == "not hdf5":
        f.write_bytes(b"hello")
        return root, "not a readable HDF5 file"
    if case == "no test":
        (root / "shd_test.h5").unlink()
        return f, "its other split shd_test.h5 is not beside it"
    if case == "nan":
        write_shd(f, [[0.1, np.nan]], [[1, 2]], [0])
        return root, "sample 0 has a spike time of nan s"
    if case == "negative time":
        write_shd(f, [[-0.5]], [[1]], [0])
        return root, "spike time of -0.5 s"
    if case == "lengths":
        write_shd(f, [[0.1, 0.2]], [[1]], [0])
        return root, "sample 0 has 2 spike times but 1 units"
    if case == "no labels":
        with h5py.File(f, "a") as h:
            del h["labels"]
        return root, "no 'labels' data set"
    if case == "label count":
        with h5py.File(f, "a") as h:
            del h["labels"]
            h.create_dataset("labels", data=np.zeros(3, np.uint16))
        return root, "holds 12 samples where 'labels' has 3"
    if case == "channels":
        return root, "outside --channels 4"
    if case == "absurd time":
        write_shd(f, [[1e7]], [[1]], [0], dtype=np.float64)
        return root, "would take .* GiB .*; raise --dt-ms"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["not hdf5", "no test", "nan", "negative time", "lengths", "no labels", "label count", "channels", "absurd time"],
)
def test_bad_shd_files_stop_in_one_line(tmp_path, case):
    path, says = _bad_shd(tmp_path, case)
    extra = ["--channels", "4"] if case == "channels" else []
    r = CliRunner().invoke(app, ["data", "import", str(path), "--out", str(tmp_path / "o.npz"), *extra])
    assert r.exit_code == 1 and not (tmp_path / "o.npz").exists(), r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    assert re.search(says, line), line


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 1), flip=st.integers(0, 10**6), junk=st.binary(max_size=64))
def test_the_shd_reader_takes_damaged_files_or_names_them(tmp_path, cut, flip, junk):
    root = tmp_path / "shd"
    if not root.exists():
        shd_pair(root, np.random.default_rng(3))
        os.rename(root / "shd_train.h5", root / "good.h5.orig")
    b = bytearray((root / "good.h5.orig").read_bytes())
    b[flip % len(b)] ^= 0xA5
    (root / "shd_train.h5").write_bytes(bytes(b[: int(cut * len(b))]) + junk)
    d = read_or_named(lambda: shd.load(root), root, within=True)
    if d is None:
        return
    assert d["x_train"].dtype == bool


def gesture_folder(root: Path, rng, published=True) -> dict:
    """DVS128 Gesture's layout: userNN_light.aedat (AEDAT 3.1) with _labels.csv, trial lists,
    gesture_mapping.csv; or train/ and test/ folders of the same files."""
    made = {}
    names = {"train": ["user01_led", "user02_lab"], "test": ["user03_led"]}
    for split, stems in names.items():
        d = root if published else root / split
        d.mkdir(parents=True, exist_ok=True)
        for i, stem in enumerate(stems):
            t0 = 5_000_000 * (i + 1)  # recordings start at their own clock's time
            ev = events_of(*recording(rng, 300, size=128))
            ev["t"] = np.sort(rng.integers(t0, t0 + 3_000_000, 300))
            write_aedat31(d / f"{stem}.aedat", ev)
            rows = [(3, t0 + 200_000, t0 + 900_000), (1, t0 + 1_200_000, t0 + 2_000_000)]
            (d / f"{stem}_labels.csv").write_text(
                "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in rows)
            )
            made[stem] = (ev, rows)
    if published:
        for split, stems in names.items():
            (root / f"trials_to_{split}.txt").write_text("".join(f"{s}.aedat\n" for s in stems))
        (root / "gesture_mapping.csv").write_text(
            "action,label\nhand_clapping,1\nright_hand_wave,2\nleft_hand_wave,3\n"
        )
    return made


@pytest.mark.parametrize("published", [True, False])
def test_a_gesture_folder_becomes_a_stream_with_its_segments(tmp_path, published):
    made = gesture_folder(tmp_path / "g", np.random.default_rng(4), published)
    res = importing.import_path(tmp_path / "g", tmp_path / "g.npz")
    assert res["kind"] == "stream" and res["segments_train"] == 4 and res["sensor_size"] == [128, 128, 2]
    s = read_stream_file(tmp_path / "g.npz")
    names = ["hand_clapping", "right_hand_wave", "left_hand_wave"] if published else ["1", "3"]
    assert list(s.class_names) == names
    rec = s.split("train")
    # user01 first (file-name order): it starts at its first event; user02 right after it ends
    ev1, rows1 = made["user01_led"]
    t0 = int(ev1["t"][0])
    span1 = max(int(ev1["t"][-1]), rows1[1][2]) + 1 - t0
    idx = {
        1: names.index("hand_clapping" if published else "1"),
        3: names.index("left_hand_wave" if published else "3"),
    }
    want = [[a - t0, b - t0, idx[c]] for c, a, b in rows1]
    ev2, rows2 = made["user02_lab"]
    t2 = int(ev2["t"][0])
    want += [[a - t2 + span1, b - t2 + span1, idx[c]] for c, a, b in rows2]
    assert rec.segments.tolist() == want
    assert (rec.events["t"][:300] == ev1["t"] - t0).all() and (rec.events["t"][300:] == ev2["t"] - t2 + span1).all()
    assert (rec.events["x"][:300] == ev1["x"]).all()


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda g: (g / "user02_lab_labels.csv").unlink(), "no label file user02_lab_labels.csv beside it"),
        (
            lambda g: (g / "user01_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,500,400\n"),
            "row 1 runs from 500 to 400",
        ),
        (lambda g: (g / "user01_led_labels.csv").write_text("1,100,400\n2,300,500\n"), "overlap"),
        (lambda g: (g / "user01_led_labels.csv").write_text("a,b\n1,x,4\n"), "is not 'class,startTime_usec"),
        (lambda g: (g / "trials_to_test.txt").write_text("user09_x.aedat\n"), "listed for test but not found"),
        (lambda g: (g / "trials_to_test.txt").unlink(), "no trials_to_test.txt"),
        (lambda g: (g / "gesture_mapping.csv").write_text("action,label\nclap,1\n"), "has no action for label 3"),
        (lambda g: (g / "user03_led.aedat").write_bytes(b"#!AER-DAT3.1\r\n"), "no '#!END-HEADER'"),
    ],
)
def test_bad_gesture_folders_stop_in_one_line(tmp_path, damage, says):
    gesture_folder(tmp_path / "g", np.random.default_rng(5))
    damage(tmp_path / "g")
    r = CliRunner().invoke(app, ["data", "import", str(tmp_path / "g"), "--out", str(tmp_path / "o.npz")])
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]  # beside the progress bar
    assert r.exit_code == 1 and len(errors) == 1 and says in errors[0], r.stderr
    assert not (tmp_path / "o.npz").exists()


def test_dataset_folder_imports_once_and_again_when_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "rec"
    rng = np.random.default_rng(6)
    for split in ("train", "test"):
        for c in "ab":
            (root / split / c).mkdir(parents=True)
            (root / split / c / "0.bin").write_bytes(atis_bytes(*recording(rng, 30)))
    first = importing.cached(root)
    assert open_any(str(root)).kind == "events" and len(open_any(str(root)).train) == 2
    mtime = first.stat().st_mtime_ns
    assert importing.cached(root) == first and first.stat().st_mtime_ns == mtime  # read, not re-imported
    (root / "train" / "a" / "1.bin").write_bytes(atis_bytes(*recording(rng, 30)))
    second = importing.cached(root)
    assert second != first and not first.exists() and len(open_any(str(root)).train) == 3
    r = CliRunner().invoke(app, ["data", "info", str(root), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["samples_train"] == 3, r.stderr


def test_dataset_gesture_folder_is_a_stream_everywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path / "cache"))
    gesture_folder(tmp_path / "g", np.random.default_rng(7))
    r = CliRunner().invoke(app, ["data", "info", str(tmp_path / "g"), "--json"])
    info = json.loads(r.stdout)
    assert r.exit_code == 0 and info["kind"] == "stream" and info["segments_train"] == 4, r.stderr


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("0123456789,-\n abc\r")), max_size=200))
def test_the_label_reader_takes_any_text_or_names_the_file(tmp_path, text):
    from edgesnn.data.gesture import read_labels

    f = tmp_path / "x_labels.csv"
    f.write_text(text)
    seg = read_or_named(lambda: read_labels(f), f)
    if seg is None:
        return
    assert len(seg) and (seg[:, 1] < seg[:, 2]).all() and (seg[1:, 1] >= seg[:-1, 2]).all()
