"""Recordings as you have them: the same event-camera recordings written in four native formats
by their own tools (Prophesee RAW by expelliarmus, AEDAT 4 by iniVation's dv-processing; ATIS
.bin and AEDAT 3.1 by their published layouts), imported to identical events, a model trained
straight from the RAW folder (`--dataset FOLDER`); then an SHD-layout HDF5 pair written with h5py,
trained, quantized and streamed to an emulated Cortex-M3 (or the host), held to the simulator.

    python examples/native_recordings.py
"""

import shutil
import tempfile
from pathlib import Path

import dv_processing as dv
import h5py
import numpy as np
from expelliarmus import Wizard

import edgesnn.api as es
from edgesnn.data.aedat3 import write_aedat31
from edgesnn.data.npzfile import read_data_file

SIZE = 16  # a 16 x 16 sensor
rng = np.random.default_rng(0)


def moving_bar(direction: int) -> dict:
    """A vertical bar crossing the sensor left-to-right (0) or right-to-left (1) in 200 ms, with
    jitter and background noise: (t µs, x, y, p) sorted by time."""
    speed = rng.uniform(0.8, 1.2)
    ts, xs, ys, ps = [], [], [], []
    for col in range(SIZE):
        x = col if direction == 0 else SIZE - 1 - col
        t0 = int(col * 12_500 / speed)
        n = int(rng.integers(10, 20))
        ts += list(t0 + rng.integers(0, 12_000, n))
        xs += [x] * n
        ys += list(rng.integers(0, SIZE, n))
        ps += list(rng.integers(0, 2, n))
    noise = 40
    ts += list(rng.integers(0, 200_000, noise))
    xs += list(rng.integers(0, SIZE, noise))
    ys += list(rng.integers(0, SIZE, noise))
    ps += list(rng.integers(0, 2, noise))
    o = np.argsort(ts, kind="stable")
    t = np.asarray(ts, np.int64)[o]
    t -= t[0]  # from the first event (a RAW file whose first time word begins with byte '%' is unreadable)
    return {"t": t, "x": np.asarray(xs)[o], "y": np.asarray(ys)[o], "p": np.asarray(ps)[o]}


def write_raw(path: Path, ev: dict) -> None:
    arr = np.zeros(len(ev["t"]), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for k in "txyp":
        arr[k] = ev[k]
    Wizard(encoding="evt2").save(str(path), arr)


def write_aedat4(path: Path, ev: dict) -> None:
    w = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("example", (SIZE, SIZE)))
    store = dv.EventStore()
    for t, x, y, p in zip(ev["t"], ev["x"], ev["y"], ev["p"]):
        store.push_back(int(t), int(x), int(y), bool(p))
    w.writeEvents(store)
    del w


def write_bin(path: Path, ev: dict) -> None:
    rec = np.zeros((len(ev["t"]), 5), np.uint8)
    t = ev["t"]
    rec[:, 0], rec[:, 1] = ev["x"], ev["y"]
    rec[:, 2] = (ev["p"] << 7) | ((t >> 16) & 0x7F)
    rec[:, 3], rec[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    path.write_bytes(rec.tobytes())


def write_aedat3(path: Path, ev: dict) -> None:
    a = np.zeros(len(ev["t"]), [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
    for k in "txyp":
        a[k] = ev[k]
    write_aedat31(path, a, source="DVS128")  # no cAER/jAER runs here: edgesnn's writer of the spec


WRITERS = {".raw": write_raw, ".aedat4": write_aedat4, ".bin": write_bin, ".aedat": write_aedat3}

with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    recs = {
        (split, cls, k): moving_bar(c)
        for split, n in (("train", 60), ("test", 20))
        for c, cls in enumerate(("left-to-right", "right-to-left"))
        for k in range(n)
    }
    files = {}
    for ext, write in WRITERS.items():
        for (split, cls, k), ev in recs.items():
            f = tmp / ext[1:] / split / cls / f"{k:03d}{ext}"
            f.parent.mkdir(parents=True, exist_ok=True)
            write(f, ev)
        size = (128, 128) if ext == ".aedat" else (SIZE, SIZE)  # an AEDAT 3.1 header names its DVS128
        r = es.data_import(tmp / ext[1:], tmp / f"{ext[1:]}.npz", sensor_size=size)
        files[ext] = read_data_file(tmp / f"{ext[1:]}.npz")
        print(f"{ext:8s} {r['samples_train']} train, {r['samples_test']} test, {r['events_per_sample']} events/sample")
    ref = files[".raw"]
    same = all(
        all(np.array_equal(a.sample(k)[f], b.sample(k)[f]) for f in "xyp" for k in range(len(a)))
        and all(
            np.array_equal(a.sample(k)["t"] - a.sample(k)["t"][0], b.sample(k)["t"] - b.sample(k)["t"][0])
            for k in range(len(a))
        )
        and np.array_equal(a.y, b.y)
        for f2 in files.values()
        for a, b in ((ref.train, f2.train), (ref.test, f2.test))
    )
    print(f"the four formats import to identical events and labels: {same}")
    assert same

    raw = str(tmp / "raw")  # the folder itself is the data set
    es.train(raw, tmp / "bar.nir", epochs=15, hidden=32, seed=0)
    q = es.quantize(tmp / "bar.nir", tmp / "bar.qsnn")
    v = es.verify(tmp / "bar.qsnn", "host", tmp / "build")
    print(
        f"trained from the RAW folder: float accuracy {q['float_accuracy']:.2%}, integer {q['int_accuracy']:.2%}, "
        f"host firmware mismatches {v['mismatches']}"
    )

    # SHD's layout: spikes/times (s), spikes/units, labels, extra/keys; 4 "words" over 64 units
    shd = tmp / "shd"
    shd.mkdir()
    for split, n in (("train", 400), ("test", 100)):
        with h5py.File(shd / f"shd_{split}.h5", "w") as f:
            y = np.arange(n) % 4
            ft = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
            fu = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i, c in enumerate(y):
                t = rng.uniform(0, 0.5, 60)
                u = (c * 8 + t * 60 + rng.normal(0, 4, 60)).astype(int) % 64  # a band sweeping up the units
                noise = rng.uniform(0, 0.5, 30)
                t, u = np.concatenate([t, noise]), np.concatenate([u, rng.integers(0, 64, 30)])
                o = np.argsort(t)
                ft[i], fu[i] = t[o].astype(np.float32), u[o].astype(np.uint16)
            f.create_dataset("labels", data=y.astype(np.uint16))
            f.create_dataset("extra/keys", data=np.array([b"null", b"eins", b"zwei", b"drei"]))
    print("SHD layout:", {k: v for k, v in es.data_info(str(shd)).items() if k != "dataset"})
    es.train(str(shd), tmp / "shd.nir", epochs=20, hidden=64, seed=0)
    q = es.quantize(tmp / "shd.nir", tmp / "shd.qsnn")
    board = "qemu-mps2-an385" if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc") else "host"
    s = es.stream(tmp / "shd.qsnn", board=board, out=tmp / "stream")
    print(
        f"SHD layout on {board}: float accuracy {q['float_accuracy']:.2%}, integer {q['int_accuracy']:.2%}, "
        f"device {s['accuracy']:.2%} over {s['samples']} samples, mismatches {s['mismatches']}"
    )
