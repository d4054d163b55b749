"""Stream files, training on streams, continuous inference on the host and on devices."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesnn.data.npzfile import EVENT_DTYPE
from tests import toolchains
from tests.cli_helpers import run_json, runner

DT = 10_000  # µs


def make_spikes_stream(path, seconds_train=60, seconds_test=30, seed=0):
    """A spikes stream: class 0 lights channels 0-3, class 1 channels 4-7, over sparse noise."""
    rng = np.random.default_rng(seed)
    out = {"dt_us": np.asarray(DT)}
    for split, secs in (("train", seconds_train), ("test", seconds_test)):
        T = secs * 100
        x = rng.random((T, 8)) < 0.01
        segs, t = [], 50
        while t + 40 < T:
            c = int(rng.integers(0, 2))
            x[t : t + 30, 4 * c : 4 * c + 4] |= rng.random((30, 4)) < 0.6
            segs.append([t * DT, (t + 30) * DT, c])
            t += 30 + int(rng.integers(60, 120))
        out[f"x_{split}"] = x
        out[f"segments_{split}"] = np.array(segs, np.int64)
    out["class_names"] = np.array(["left", "right"])
    np.savez(path, **out)
    return path


def make_events_stream(path, **over):
    ev = np.zeros(5, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = (
        [0, 1, 2, 3, 0],
        [0, 1, 1, 0, 3],
        [10, 500, 20_000, 25_000, 90_000],
        [1, 0, 1, 1, 0],
    )
    arrays = {
        "sensor_size": np.array([4, 4, 2]),
        "events_train": ev,
        "events_test": ev,
        "segments_train": np.array([[0, 30_000, 1], [40_000, 60_000, 0]]),
        "segments_test": np.array([[5_000, 30_000, 0]]),
        "duration_us_train": np.asarray(100_000),
        "duration_us_test": np.asarray(100_000),
    }
    arrays.update(over)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_stream_info_events(tmp_path):
    r = run_json("data", "info", str(make_events_stream(tmp_path / "s.npz")))
    assert r["kind"] == "stream" and r["modality"] == "events" and r["classes"] == 2
    assert r["duration_s_train"] == pytest.approx(0.1) and r["segments_train"] == 2
    assert r["duty_cycle_train"] == pytest.approx(0.5) and r["duty_cycle_test"] == pytest.approx(0.25)
    # train: 4 events inside segments ([0, 30 ms) holds 10, 500, 20000, 25000 µs), 1 outside
    assert r["events_per_s_inside_train"] == pytest.approx(4 / 0.05)
    assert r["events_per_s_outside_train"] == pytest.approx(1 / 0.05)


def test_stream_info_spikes_and_audio(tmp_path):
    r = run_json("data", "info", str(make_spikes_stream(tmp_path / "s.npz")))
    assert r["modality"] == "spikes" and r["class_names"] == ["left", "right"] and r["dt_us"] == DT
    audio = {
        "audio_train": np.zeros(16000, np.int16),
        "audio_test": np.zeros(8000, np.float32),
        "sample_rate": np.asarray(16000),
        "segments_train": np.array([[0, 500_000, 0]]),
        "segments_test": np.array([[0, 400_000, 0]]),
    }
    np.savez(tmp_path / "a.npz", **audio)
    r = run_json("data", "info", str(tmp_path / "a.npz"))
    assert r["modality"] == "audio" and r["duration_s_test"] == pytest.approx(0.5) and r["sample_rate"] == 16000


BAD = {
    "overlapping": ({"segments_train": np.array([[0, 30_000, 1], [20_000, 60_000, 0]])}, "overlap"),
    "unsorted": ({"segments_train": np.array([[40_000, 60_000, 0], [0, 30_000, 1]])}, "not sorted by onset"),
    "empty segment": ({"segments_test": np.array([[30_000, 30_000, 0]])}, "is not before offset"),
    "class out of range": (
        {"segments_test": np.array([[0, 1000, 2]]), "class_names": np.array(["a", "b"])},
        "class 2 out of range",
    ),
    "past the end": ({"segments_test": np.array([[0, 200_000, 0]])}, "past the recording's end"),
    "events unsorted": (
        {"events_test": np.array([(0, 0, 50, True), (1, 1, 10, False)], EVENT_DTYPE)},
        "'events_test' is not sorted by t",
    ),
    "offsets": ({"offsets_train": np.array([0, 5])}, "remove the 'offsets_*' keys"),
    "segments shape": ({"segments_train": np.array([1, 2, 3])}, "shape (K, 3)"),
    "no sensor": ({"sensor_size": None}, "'sensor_size' missing"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_stream_files_one_line(tmp_path, case):
    over, msg = BAD[case]
    path = make_events_stream(tmp_path / "bad.npz", **over)
    res = runner.invoke(__import__("edgesnn.cli.app", fromlist=["app"]).app, ["data", "info", str(path)])
    assert res.exit_code != 0
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and msg in err[0], res.stderr


def test_windows_label_and_background(tmp_path):
    from edgesnn.data.datasets import open_stream

    ds = open_stream(str(make_spikes_stream(tmp_path / "s.npz")))
    spec = ds.resolve({"window": 30, "stride": 5, "min_overlap": 5})
    starts, labels = ds.window_index("train", spec)
    seg = ds.segment_steps("train", spec)
    for s, lab in zip(starts, labels):
        ov = np.minimum(s + 30, seg[:, 1]) - np.maximum(s, seg[:, 0])
        if lab == 2:
            assert (ov <= 0).all()  # background windows touch no segment
        else:
            k = int(np.argmax(ov))
            assert seg[k, 2] == lab and ov[k] >= 5 and (ov > 0).sum() == 1
    n_bg, n_lab = int((labels == 2).sum()), int((labels != 2).sum())
    assert n_bg == n_lab  # background_ratio 1
    x, y = ds.spikes("train", spec)
    assert x.shape == (len(starts), 30, 8) and np.array_equal(y, labels)
    assert np.array_equal(x[3], ds.frames("train", spec, int(starts[3]), int(starts[3]) + 30))


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory):
    """A small dense model trained on the spikes stream, quantized with its decision rule."""
    pytest.importorskip("torch")
    import edgesnn.api as es

    d = tmp_path_factory.mktemp("stream")
    data = str(make_spikes_stream(d / "s.npz"))
    r = es.train(data, d / "m.nir", epochs=6, hidden=24, model="rnn", seed=0)
    assert r["input_spec"]["decision"]["background"] == 2
    q = es.quantize(d / "m.nir", d / "m.qsnn")
    return d / "m.qsnn", data, q


def test_train_quantize_simulate_stream(stream_model):
    qpath, data, q = stream_model
    assert q["stream_test"]["detection_accuracy"] > 0.8
    r = run_json("simulate", str(qpath))
    assert r["kind"] == "stream" and r["segments"] == q["stream_test"]["segments"]
    assert r["detection_accuracy"] == q["stream_test"]["detection_accuracy"]
    for key in ("false_alarms_per_hour", "latency_ms_median", "latency_ms_p90", "activation_sparsity"):
        assert r[key] is not None
    assert set(r["per_class"]) == {"left", "right"}
    assert r["synaptic_operations"]["effective_acs"] > 0 and r["membrane_updates"]["total"] == r["timesteps"] * (24 + 3)
    human = runner.invoke(__import__("edgesnn.cli.app", fromlist=["app"]).app, ["simulate", str(qpath)])
    assert human.exit_code == 0 and "detection accuracy" in human.stdout and "right" in human.stdout
    part = run_json("simulate", str(qpath), "--seconds", "10")
    assert part["seconds"] == pytest.approx(10.0) and part["segments"] < r["segments"]


def test_decision_rule_changes_the_hash(stream_model):
    from dataclasses import replace

    import edgesnn.api as es

    qnet = es.load(stream_model[0])
    rule = dict(qnet.input_spec["decision"], threshold=qnet.input_spec["decision"]["threshold"] + 1)
    assert replace(qnet, input_spec={**qnet.input_spec, "decision": rule}).content_hash != qnet.content_hash


def host_stream_equals_simulate(qpath, out) -> list[dict]:
    """`edgesnn stream MODEL --board host --json`: its JSON lines, the summary last, after
    checking that it completed with 0 mismatches and scores as `simulate` does."""
    toolchains.need_tools("cc", what="the host board")
    res = runner.invoke(
        __import__("edgesnn.cli.app", fromlist=["app"]).app,
        ["stream", str(qpath), "--board", "host", "--out", str(out), "--json"],
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    s = lines[-1]
    assert s["summary"] and s["complete"] and s["mismatches"] == 0 and s["frames"] == len(lines) - 1
    sim = run_json("simulate", str(qpath))
    for key in ("detection_accuracy", "false_alarms_per_hour", "latency_ms_median", "detections"):
        assert s[key] == sim[key], key
    return lines


def test_stream_on_host_board_bit_exact(stream_model, tmp_path, monkeypatch):
    from edgesnn.api import stream_device

    qpath, data, q = stream_model
    host_stream_equals_simulate(qpath, tmp_path / "b")
    # the comparison can fail: a golden digest off by one makes every frame a mismatch
    real = stream_device.GoldenCursor.until

    def off(self, end):
        crc, syn, outs, dets = real(self, end)
        return crc ^ 1, syn, outs, dets

    monkeypatch.setattr(stream_device.GoldenCursor, "until", off)
    bad = stream_device.stream_recording(qpath, board="host", out=tmp_path / "b2", seconds=5)
    assert bad["mismatches"] == bad["frames"] > 0


def test_stream_on_qemu_an385(stream_model, tmp_path):
    toolchains.need_tools("arm-none-eabi-gcc", "qemu-system-arm", what="qemu-mps2-an385")
    from edgesnn.api import stream_device

    s = stream_device.stream_recording(stream_model[0], board="qemu-mps2-an385", out=tmp_path / "q", seconds=8)
    assert s["complete"] and s["mismatches"] == 0 and s["timesteps"] == 800
    assert s["instructions_per_timestep"] > 0


def test_older_peer_refused_naming_versions():
    from edgesnn.device import codec
    from edgesnn.device.client import Device
    from edgesnn.errors import DeviceError

    class OldDevice:
        """Answers every request with an intact protocol-2 frame."""

        in_waiting = 0

        def __init__(self):
            self.pending = b""

        def write(self, data):
            f = codec.decode_frame(data[:-1])
            self.pending += codec.encode_frame(
                codec.Frame(type=f.type | codec.REPLY, seq=f.seq, payload=b"", version=2)
            )

        def flush(self):
            pass

        def read(self, n):
            out, self.pending = self.pending, b""
            return out

        def close(self):
            pass

    dev = Device(OldDevice(), timeout=1.0)
    with pytest.raises(DeviceError, match="speaks protocol version 2, this edgesnn speaks 3"):
        dev.info()


def test_stream_reply_codec():
    from edgesnn.device import codec

    bits = bytes([0b101, 0]) + bytes([0, 1])
    tail = (0xDEADBEEF).to_bytes(4, "little") + (7).to_bytes(4, "little") + (99).to_bytes(4, "little") + b"\x01"
    p = b"\x02" + bits + tail + b"\x01\x09"
    outs, t = codec.parse_stream_reply(p, 10)
    assert outs == [[0, 2], [8]] and t.digest == 0xDEADBEEF and t.synops == 7 and t.detections == ((1, 9),)
    for bad in (p[:-1], p + b"\x00", b"\x02" + bits + tail + b"\x05\x09", b""):
        with pytest.raises(codec.ProtocolError):
            codec.parse_stream_reply(bad, 10)


def test_plot_stream(stream_model, tmp_path):
    pytest.importorskip("matplotlib")
    r = run_json(
        "plot", "stream", str(stream_model[0]), "--start", "5", "--seconds", "10", "--out", str(tmp_path / "s.png")
    )
    assert r["start_s"] == pytest.approx(5.0) and r["seconds"] == pytest.approx(10.0) and r["segments"] >= 1
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_verify_stream_on_host(stream_model, tmp_path):
    toolchains.need_tools("cc", what="the host board")
    r = run_json("verify", str(stream_model[0]), "--board", "host", "--seconds", "5", "--out", str(tmp_path / "v"))
    assert r["mismatches"] == 0 and r["timesteps"] == 500 and "running CRC-32" in r["method"]


def test_stream_soak_short(stream_model, capsys):
    """The long-run tool, short: golden and host C runtime agree, 0 mismatches, exit 0."""
    import importlib.util
    from pathlib import Path

    toolchains.need_tools("cc", what="the host board")
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("stream_soak", root / "tools" / "stream_soak.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(stream_model[0]), "--seconds", "20", "--board", "host", "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["mismatches"] == 0 and r["golden_and_device_agree"] and r["timesteps"] == 2000


def test_saccade_stream_recipe_short():
    """The built-in recipe on a one-minute recording: duty near the target, segments apart and
    sorted, noise at the documented rate outside segments, deterministic."""
    from edgesnn.data import saccade_stream as S
    from edgesnn.data.datasets import digits_splits
    from edgesnn.data.streams import Recording

    _, test = digits_splits()
    imgs = test.x.reshape(-1, 8, 8)
    ev, seg, dur = S.record(imgs, test.y, 60_000_000, 10.0, seed=5)
    again = S.record(imgs, test.y, 60_000_000, 10.0, seed=5)
    assert np.array_equal(ev, again[0]) and np.array_equal(seg, again[1])
    assert (np.diff(ev["t"]) >= 0).all() and (seg[1:, 0] >= seg[:-1, 1] + S.MIN_GAP_US).all()
    assert (seg[:, 1] - seg[:, 0] == S.EPISODE_US).all() and seg[-1, 1] <= dur
    rec = Recording("events", dur, seg, events=ev)
    assert 0.07 < rec.duty_cycle < 0.13
    outside = (~rec.inside(ev["t"])).sum() / ((dur - (seg[:, 1] - seg[:, 0]).sum()) * 1e-6)
    assert outside == pytest.approx(S.NOISE_HZ * 32 * 32, rel=0.1)
    with pytest.raises(Exception, match="duty must be between"):
        S.parse("saccade-digits-stream:duty=0")
    assert S.parse("saccade-digits-stream:duty=3") == {"duty": 3.0} and S.parse("digits") is None


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 2000), st.integers(0, 5000))
def test_activity_filter_equals_tonic_denoise(seed, n, filter_us):
    """streams.activity_filter is Tonic's denoise_numpy, vectorized: the same events, in order."""
    tonic_f = pytest.importorskip("tonic.functional")
    from edgesnn.data.streams import activity_filter

    rng = np.random.default_rng(seed)
    dt = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "u1")])
    e = np.zeros(n, dt)
    e["x"], e["y"] = rng.integers(0, 9, n), rng.integers(0, 7, n)
    e["x"][0], e["y"][0] = 8, 6  # Tonic sizes its map by the largest coordinates: the sensor's here
    e["t"] = np.sort(rng.integers(0, 100 * max(filter_us, 1), n))
    e["p"] = rng.integers(0, 2, n)
    want = tonic_f.denoise_numpy(e.copy(), filter_time=filter_us) if filter_us else e
    assert np.array_equal(activity_filter(e, (9, 7, 2), filter_us), want)
