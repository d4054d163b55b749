"""Folders of per-sample recordings (`edgesnn data import`): N-MNIST / N-Caltech101 ATIS `.bin`
files written here by the format's published layout (40 bits per event: x, y, then polarity in
bit 7 with the top 7 bits of the 23-bit µs time, then its low 16 bits), the folder rules, the
bad-file table and a fuzz of the reader."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.data.npzfile import read_data_file
from edgesnn.data.recordings import import_folder, read_atis_bin
from edgesnn.errors import DatasetError


def atis_bytes(x, y, p, t) -> bytes:
    """Events in the N-MNIST .bin layout (Orchard et al. 2015), one 5-byte record each."""
    x, y, p, t = (np.asarray(a, np.int64) for a in (x, y, p, t))
    rec = np.zeros((len(x), 5), np.uint8)
    rec[:, 0], rec[:, 1] = x, y
    rec[:, 2] = (p << 7) | ((t >> 16) & 0x7F)
    rec[:, 3], rec[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return rec.tobytes()


def read_or_named(read, f, *, within=False):
    """What ``read()`` returns, or None when it refused with a one-line DatasetError naming ``f``
    (its message starts with the path; ``within``: holds it anywhere): what a fuzzed reader may do."""
    try:
        return read()
    except DatasetError as e:
        msg = str(e)
        assert "\n" not in msg and (str(f) in msg if within else msg.startswith(str(f))), msg
        return None


def recording(rng, n=40, size=34):
    t = np.sort(rng.integers(0, 2**23 - 1, n))
    return rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(0, 2, n), t


def make_folder(root: Path, rng, classes=("b", "a", "c"), per_class=(3, 2), train="Train", test="Test") -> dict:
    written = {}
    for split, n in ((train, per_class[0]), (test, per_class[1])):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for k in range(n):
                ev = recording(rng)
                f = root / split / c / f"{k:05d}.bin"
                f.write_bytes(atis_bytes(*ev))
                written[f] = ev
    return written


def test_a_bin_file_reads_as_its_bytes_say(tmp_path):
    rng = np.random.default_rng(0)
    x, y, p, t = recording(rng, 500)
    f = tmp_path / "s.bin"
    f.write_bytes(atis_bytes(x, y, p, t))
    ev = read_atis_bin(f)
    assert len(ev) == 500
    assert (ev["x"] == x).all() and (ev["y"] == y).all() and (ev["t"] == t).all() and (ev["p"] == p.astype(bool)).all()


def test_an_overflow_record_is_no_event_and_later_times_stay_in_order(tmp_path):
    # y = 240 marks the 23-bit timer's overflow in these files: not a pixel; Tonic's reader adds
    # its increment to every later time
    f = tmp_path / "s.bin"
    f.write_bytes(atis_bytes([1, 0, 2], [3, 240, 4], [1, 0, 0], [100, 0, 5]))
    ev = read_atis_bin(f)
    assert list(ev["x"]) == [1, 2] and list(ev["y"]) == [3, 4]
    assert ev["t"][1] > 5 and np.all(np.diff(ev["t"]) >= 0)  # sorted by time within the sample


def test_a_folder_imports_in_class_then_file_order(tmp_path):
    rng = np.random.default_rng(1)
    written = make_folder(tmp_path / "rec", rng)
    res = import_folder(tmp_path / "rec", tmp_path / "out.npz", sensor_size=(34, 34))
    assert res["class_names"] == ["a", "b", "c"] and res["classes"] == 3 and not res["sensor_size_inferred"]
    assert (res["samples_train"], res["samples_test"], res["sensor_size"]) == (9, 6, [34, 34, 2])
    f = read_data_file(tmp_path / "out.npz")
    assert f.kind == "events" and f.sensor_size == (34, 34, 2) and f.classes == 3
    for split, folder in (("train", "Train"), ("test", "Test")):
        s = f.train if split == "train" else f.test
        files = sorted((p for p in written if p.parts[-3] == folder), key=lambda p: (p.parts[-2], p.name))
        assert list(s.y) == [["a", "b", "c"].index(p.parts[-2]) for p in files]
        for k, p in enumerate(files):
            x, y, pol, t = written[p]
            ev = s.sample(k)
            assert (ev["x"] == x).all() and (ev["y"] == y).all() and (ev["t"] == t).all()
            assert (ev["p"] == pol.astype(bool)).all()


def test_lower_case_splits_and_an_inferred_sensor(tmp_path):
    rng = np.random.default_rng(2)
    make_folder(tmp_path / "rec", rng, classes=("x",), per_class=(1, 1), train="train", test="test")
    res = import_folder(tmp_path / "rec", tmp_path / "o.npz")
    assert res["sensor_size_inferred"] and res["sensor_size"][2] == 2 and res["sensor_size"][0] <= 34


def test_cli_import_then_info(tmp_path):
    rng = np.random.default_rng(3)
    make_folder(tmp_path / "rec", rng, classes=("0", "1"), per_class=(2, 1))
    out = tmp_path / "n.npz"
    r = CliRunner().invoke(
        app, ["data", "import", str(tmp_path / "rec"), "--out", str(out), "--sensor-size", "34", "34", "--json"]
    )
    assert r.exit_code == 0, r.stderr
    r = CliRunner().invoke(app, ["data", "info", str(out), "--json"])
    assert r.exit_code == 0 and '"input_shape": [2, 34, 34]' in r.stdout and '"samples_train": 4' in r.stdout


def _bad(root: Path, case: str) -> str:
    rng = np.random.default_rng(4)
    if case == "missing folder":
        return "recordings folder not found"
    make_folder(root, rng, classes=("a", "b"), per_class=(1, 1))
    if case == "truncated":
        f = root / "Train" / "a" / "00000.bin"
        f.write_bytes(f.read_bytes()[:-2])
        return "is not a whole number of 5-byte ATIS events"
    if case == "unknown format":
        (root / "Test" / "b" / "notes.txt").write_text("hi")
        return "unknown recording format '.txt'"
    if case == "no test folder":
        for p in sorted((root / "Test").rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        (root / "Test").rmdir()
        return "no 'test' (or 'Test') folder"
    if case == "test class unseen":
        (root / "Test" / "z").mkdir()
        (root / "Test" / "z" / "0.bin").write_bytes(atis_bytes(*recording(rng)))
        return "class folder 'z' has no training folder"
    if case == "empty split":
        for p in (root / "Test").rglob("*.bin"):
            p.unlink()
        return "no recordings"
    if case == "outside the sensor":
        return "outside the 20 x 20 sensor"
    raise AssertionError(case)


CASES = ["missing folder", "truncated", "unknown format", "no test folder", "test class unseen", "empty split",
         "outside the sensor"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_recordings_stop_in_one_line_naming_the_cause(tmp_path, case):
    root = tmp_path / "rec"
    want = _bad(root, case)
    size = ["--sensor-size", "20", "20"] if case == "outside the sensor" else []
    out = tmp_path / "o.npz"
    r = CliRunner().invoke(app, ["data", "import", str(root), "--out", str(out), *size])
    assert r.exit_code == 1 and want in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: ") and not out.exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_the_bin_reader_takes_any_bytes_or_names_the_file(tmp_path, data):
    f = tmp_path / "r.bin"
    f.write_bytes(data)
    ev = read_or_named(lambda: read_atis_bin(f), f)
    if ev is None:
        return
    assert len(data) % 5 == 0 and len(ev) <= len(data) // 5 and np.all(np.diff(ev["t"]) >= 0)


def _prophesee(path: Path, x, y, p, t) -> None:
    from expelliarmus import Wizard

    arr = np.zeros(len(x), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    arr["t"], arr["x"], arr["y"], arr["p"] = t, x, y, p
    Wizard(encoding="dat" if path.suffix == ".dat" else "evt2").save(str(path), arr)


def test_the_same_recordings_in_three_formats_import_to_the_same_events(tmp_path):
    """.bin in its published layout, Prophesee RAW EVT 2.0 and DAT written by expelliarmus (their
    own writer here): the same events and labels, whatever the format."""
    rng = np.random.default_rng(5)
    recs = {
        (split, c, k): recording(rng, 60) for split, n in (("train", 2), ("test", 1)) for c in "ab" for k in range(n)
    }
    outs = []
    for ext in (".bin", ".raw", ".dat"):
        root = tmp_path / ext[1:]
        for (split, c, k), ev in recs.items():
            f = root / split / c / f"{k}{ext}"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(atis_bytes(*ev)) if ext == ".bin" else _prophesee(f, *ev)
        res = import_folder(root, tmp_path / f"{ext[1:]}.npz", sensor_size=(34, 34))
        assert (res["samples_train"], res["samples_test"]) == (4, 2)
        outs.append(read_data_file(tmp_path / f"{ext[1:]}.npz"))
    for f in outs[1:]:
        for a, b in ((outs[0].train, f.train), (outs[0].test, f.test)):
            assert (a.y == b.y).all() and (a.offsets == b.offsets).all() and (a.events == b.events).all()


def test_a_raw_file_that_ends_in_its_header_is_refused_not_hung_on(tmp_path):
    root = tmp_path / "rec"
    for split in ("train", "test"):
        (root / split / "a").mkdir(parents=True)
        (root / split / "a" / "0.raw").write_bytes(b"% evt 2.0\n% geometry 34x34\n")
    r = CliRunner().invoke(app, ["data", "import", str(root), "--out", str(tmp_path / "o.npz")])
    assert r.exit_code == 1 and "a '%' header and no events after it" in r.stderr, r.stderr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), ext=st.sampled_from([".raw", ".dat"]), header=st.booleans())
def test_the_prophesee_readers_take_damaged_files_or_name_them(tmp_path, data, ext, header):
    from edgesnn.data import sandbox

    f = tmp_path / f"r{ext}"
    f.write_bytes((b"% evt 2.0\n% geometry 34x34\n" if header else b"") + data)
    got = read_or_named(lambda: list(sandbox.read_many([("prophesee", f)], timeout_s=20)), f)
    if got is None:
        return
    [(ev, _)] = got
    assert np.all(np.diff(ev["t"]) >= 0)
