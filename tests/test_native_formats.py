"""Recordings in their native formats: AEDAT 4 (written by dv-processing, read by `aedat` in a reader
process), AEDAT 3.1 (written by its published layout: no cAER/jAER runs here), SHD/SSC HDF5
(written with h5py in the published layout), DVS128 Gesture's labelled folders, and
`--dataset PATH` on any of them through the import cache."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.data import sandbox
from edgesnn.data.aedat3 import read_aedat31, write_aedat31
from edgesnn.data.npzfile import EVENT_DTYPE, read_data_file
from edgesnn.data.recordings import import_folder
from edgesnn.errors import DatasetError
from tests.test_recordings import _prophesee, atis_bytes, read_or_named, recording


def events_of(x, y, p, t) -> np.ndarray:
    ev = np.empty(len(x), EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"], ev["t"] = x, y, np.asarray(p) != 0, t
    return ev


def write_aedat4(path: Path, ev: np.ndarray, size=(34, 34)) -> None:
    """AEDAT 4 by iniVation's own library (dv-processing's MonoCameraWriter)."""
    import dv_processing as dv

    w = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("DVXplorer_test", size))
    store = dv.EventStore()
    for e in ev:
        store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
    w.writeEvents(store)
    del w  # closes the file


def write_one(path: Path, ev: np.ndarray) -> None:
    ext = path.suffix
    if ext == ".bin":
        path.write_bytes(atis_bytes(ev["x"], ev["y"], ev["p"], ev["t"]))
    elif ext in (".raw", ".dat"):
        _prophesee(path, ev["x"], ev["y"], ev["p"], ev["t"])
    elif ext == ".aedat4":
        write_aedat4(path, ev)
    else:
        write_aedat31(path, ev, source="DVS128")


def test_aedat4_written_by_dv_processing_reads_back_exactly(tmp_path):
    ev = events_of(*recording(np.random.default_rng(1), 300))
    ev["t"] += 1_000_000  # dv-processing keeps absolute times
    f = tmp_path / "r.aedat4"
    write_aedat4(f, ev, size=(40, 30))
    [(got, sensor)] = list(sandbox.read_many([("aedat4", f)]))
    assert sensor == (40, 30)
    assert (got == ev).all()


def test_a_damaged_aedat4_file_is_named_and_the_process_survives(tmp_path):
    ev = events_of(*recording(np.random.default_rng(2), 2000))
    good = tmp_path / "good.aedat4"
    write_aedat4(good, ev)
    data = good.read_bytes()
    cases = {
        "truncated.aedat4": data[: len(data) // 2],
        "random.aedat4": np.random.default_rng(3).bytes(4000),
        "empty.aedat4": b"",
        "flipped.aedat4": data[:200] + bytes(b ^ 0x5A for b in data[200:400]) + data[400:],
    }
    for name, content in cases.items():
        f = tmp_path / name
        f.write_bytes(content)
        with pytest.raises(DatasetError) as e:
            list(sandbox.read_many([("aedat4", good), ("aedat4", f)]))
        msg = str(e.value)
        assert msg.startswith(str(f)) and "\n" not in msg, msg
    assert len(list(sandbox.read_many([("aedat4", good)]))) == 1  # and this process is still here


def test_a_reader_process_that_dies_is_named(tmp_path, monkeypatch):
    # a 64 MiB address space: the reader process cannot even import numpy and dies, as it does when
    # the decoder panics (exit 134 / 1) on a damaged file
    f = tmp_path / "r.aedat4"
    write_aedat4(f, events_of(*recording(np.random.default_rng(1), 10)))
    monkeypatch.setattr(sandbox, "MEMORY_LIMIT", 64 << 20)
    with pytest.raises(DatasetError, match=r"the AEDAT 4 decoder crashed on it \(exit status \d+\): damaged file\?"):
        list(sandbox.read_many([("aedat4", f)]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=4),
    keep=st.floats(0.05, 1),
)
def test_the_aedat4_reader_takes_damaged_files_or_names_them(tmp_path, flips, keep):
    good = tmp_path / "g.aedat4"
    if not good.exists():
        write_aedat4(good, events_of(*recording(np.random.default_rng(7), 500)))
    b = bytearray(good.read_bytes())
    for at, x in flips:
        b[int(at * len(b))] ^= x
    f = tmp_path / "f.aedat4"
    f.write_bytes(bytes(b[: max(1, int(keep * len(b)))]))
    got = read_or_named(lambda: list(sandbox.read_many([("aedat4", f)], timeout_s=30)), f)
    if got is None:
        return
    [(ev, _)] = got
    assert np.all(np.diff(ev["t"]) >= 0)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a POSIX named pipe")
def test_a_reader_that_never_returns_is_killed_and_named(tmp_path):
    # a named pipe nobody writes to: opening it blocks the decoder forever, as a hanging read would
    f = tmp_path / "stuck.aedat4"
    os.mkfifo(f)
    t0 = time.monotonic()
    with pytest.raises(DatasetError, match="did not finish within 2 s"):
        list(sandbox.read_many([("aedat4", f)], timeout_s=2))
    assert time.monotonic() - t0 < 10


def test_a_raw_file_whose_first_word_reads_as_header_text_is_refused_not_misread(tmp_path):
    from tests.test_recordings import _prophesee

    for n in (3, 300):  # expelliarmus never returns on the short one, misreads the long one
        f = tmp_path / f"first{n}.raw"
        t = np.arange(n) * 10 + 2371  # the first EVT 2.0 time-high word is 0x80000025: bytes 25 00 00 80
        _prophesee(f, np.zeros(n, int), np.zeros(n, int), np.ones(n, int), t)
        assert f.read_bytes().find(b"\n%\x00\x00\x80") > 0
        t0 = time.monotonic()
        with pytest.raises(DatasetError, match="first event word starts with the byte '%'"):
            list(sandbox.read_many([("prophesee", f)], timeout_s=20))
        assert time.monotonic() - t0 < 10


def test_aedat31_by_its_layout_reads_back_with_overflow_types_and_valid_bits(tmp_path):
    ev = events_of(*recording(np.random.default_rng(4), 500, size=128))
    ev["t"][250:] += 1 << 31  # past one 31-bit timestamp overflow: a packet of its own
    f = tmp_path / "r.aedat"
    write_aedat31(f, ev[:250], packet=100)
    tail = tmp_path / "tail.aedat"
    write_aedat31(tail, ev[250:], packet=100)
    body = tail.read_bytes().split(b"#!END-HEADER\r\n", 1)[1]
    # a special-event packet (type 0) in between, and one invalid polarity event: both skipped
    special = np.zeros(1, [("h", "<i2", 2), ("i", "<i4", 6)])
    special[0] = ((0, 1), (8, 4, 0, 2, 2, 2))
    bad = np.zeros(1, [("h", "<i2", 2), ("i", "<i4", 6)])
    bad[0] = ((1, 1), (8, 4, 0, 1, 1, 0))
    invalid = np.array([(5 << 17) | (5 << 2), 7], "<u4")  # valid bit clear
    f.write_bytes(f.read_bytes() + special.tobytes() + bytes(16) + bad.tobytes() + invalid.tobytes() + body)
    got, sensor = read_aedat31(f)
    assert sensor == (128, 128)
    assert (got == ev).all()


def packet_header(kind=1, size=8, capacity=1, number=1, overflow=0) -> bytes:
    from edgesnn.data.aedat3 import PACKET_HEADER

    h = np.zeros(1, PACKET_HEADER)
    h[0] = (kind, 1, size, 4, overflow, capacity, number, number)
    return h.tobytes()


HEAD = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "not an AEDAT 3 file"),
        (b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n", "no '#!END-HEADER'"),
        (b"#!AER-DAT3.1\r\n#!END-HEADER", "ends inside its header"),
        (HEAD + bytes(10), "ends inside the header of packet 0"),
        (HEAD + packet_header(capacity=100, number=100) + bytes(8), "needs 800 bytes of events, 8 are left"),
        (HEAD + packet_header(capacity=1, number=5), "capacity 1, number 5: damaged"),
        (HEAD + packet_header(size=0), "event size 0"),
        (HEAD + packet_header(size=12) + bytes(12), "has 12-byte events, not 8"),
        (HEAD + packet_header(overflow=-1) + np.array([3, 0], "<u4").tobytes(), "negative timestamp overflow"),
        (HEAD + packet_header() + np.array([3, 2**31], "<u4").tobytes(), "negative timestamp"),
    ],
)
def test_bad_aedat31_files_are_named_in_one_line(tmp_path, content, says):
    f = tmp_path / "bad.aedat"
    f.write_bytes(content)
    with pytest.raises(DatasetError, match=says) as e:
        read_aedat31(f)
    assert str(e.value).startswith(str(f)) and "\n" not in str(e.value)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), cut=st.integers(0, 4000))
def test_the_aedat31_reader_takes_any_bytes_or_names_the_file(tmp_path, data, cut):
    good = tmp_path / "g.aedat"
    write_aedat31(good, events_of(*recording(np.random.default_rng(0), 200, size=128)), packet=64)
    f = tmp_path / "f.aedat"
    raw = good.read_bytes()
    f.write_bytes(raw[: min(cut, len(raw))] + data)
    got = read_or_named(lambda: read_aedat31(f), f)
    if got is None:
        return
    ev, _ = got
    assert np.all(np.diff(ev["t"]) >= 0) and len(ev) <= len(raw + data) // 8


def test_the_same_recordings_in_five_formats_import_to_the_same_events(tmp_path):
    """.bin and AEDAT 3.1 by their published layouts, RAW and DAT by expelliarmus, AEDAT 4 by
    dv-processing: the same events (times from each sample's first event) and labels."""
    rng = np.random.default_rng(6)
    recs = {
        (s, c, k): events_of(*recording(rng, 50))
        for s, n in (("train", 2), ("test", 1))
        for c in "ab"
        for k in range(n)
    }
    outs = {}
    for ext in (".bin", ".raw", ".dat", ".aedat4", ".aedat"):
        root = tmp_path / ext[1:]
        for (s, c, k), ev in recs.items():
            f = root / s / c / f"{k}{ext}"
            f.parent.mkdir(parents=True, exist_ok=True)
            write_one(f, ev)
        size = (128, 128) if ext == ".aedat" else (34, 34)  # AEDAT 3.1's header names a DVS128
        import_folder(root, tmp_path / f"{ext[1:]}.npz", sensor_size=size)
        outs[ext] = read_data_file(tmp_path / f"{ext[1:]}.npz")
    first = outs[".bin"]
    for ext, f in outs.items():
        for a, b in ((first.train, f.train), (first.test, f.test)):
            assert (a.y == b.y).all() and (a.offsets == b.offsets).all(), ext
            for k in range(len(a)):
                ea, eb = a.sample(k), b.sample(k)
                for fld in "xyp":
                    assert (ea[fld] == eb[fld]).all(), (ext, k, fld)
                assert (ea["t"] - ea["t"][0] == eb["t"] - eb["t"][0]).all(), (ext, k)
