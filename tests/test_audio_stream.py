"""Audio streams: a long recording through the front end, training on its windows, continuous
inference on the host and on a device that runs the front end on PCM sent over the link."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.errors import DatasetError
from edgesnn.fixedpoint import audio as A
from tests import toolchains
from tests.cli_helpers import run_json

RATE = 8000
TONES = {0: 300.0, 1: 2000.0}


def make_tones_stream(path, seconds_train=50, seconds_test=20, seed=0, dtype=np.int16):
    """An audio stream: tones of 300 Hz (class "low") or 2 kHz ("high"), 0.3 s each, over a
    noise floor, one or two seconds apart."""
    rng = np.random.default_rng(seed)
    out = {"sample_rate": np.asarray(RATE), "class_names": np.array(["low", "high"])}
    for split, secs in (("train", seconds_train), ("test", seconds_test)):
        n = secs * RATE
        x = rng.normal(0, 0.002, n)
        segs, t = [], int(0.5 * RATE)
        while t + int(0.4 * RATE) < n:
            c, m = int(rng.integers(0, 2)), int(0.3 * RATE)
            x[t : t + m] += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * TONES[c] * np.arange(m) / RATE)
            segs.append([t * 1_000_000 // RATE, (t + m) * 1_000_000 // RATE, c])
            t += m + int(rng.uniform(1.0, 2.0) * RATE)
        pcm = np.clip(np.floor(x * 32767 + 0.5), -32768, 32767).astype(np.int16)
        out[f"audio_{split}"] = pcm if dtype == np.int16 else (pcm / 32767).astype(np.float32)
        out[f"segments_{split}"] = np.array(segs, np.int64)
    np.savez(path, **out)
    return path


def test_an_audio_stream_goes_through_the_front_end(tmp_path):
    from edgesnn.data.datasets import open_stream

    ds = open_stream(str(make_tones_stream(tmp_path / "t.npz", 6, 4)))
    spec = ds.resolve({"channels": 12})
    fe = A.AudioFrontEnd.from_dict(spec["front_end"])
    assert fe == A.design_front_end(RATE, 12, dt_ms=10.0) and spec["dt_us"] == 10_000
    assert ds.n_inputs(spec) == 12 and (spec["window"], spec["stride"], spec["min_overlap"]) == (100, 10, 100)
    T = ds.steps("test", spec)
    whole = A.front_end_spikes(fe, ds.recording("test").audio)
    assert T == 400 and np.array_equal(ds.frames("test", spec, 0, T), whole)
    assert np.array_equal(ds.frames("test", spec, 123, 171), whole[123:171])
    pcm = ds.pcm("test", spec, 10, 12)
    assert pcm.dtype == np.int16 and np.array_equal(pcm.reshape(-1), ds.recording("test").audio[800:960])
    # a model's front end is held to the data: the same integers, or a refusal naming the fix
    assert ds.model_spec({"front_end": spec["front_end"]})["front_end"] == spec["front_end"]
    other = A.design_front_end(16000, 12).as_dict()
    with pytest.raises(DatasetError, match="takes 16000 Hz.*8000 Hz.*sox"):
        ds.model_spec({"front_end": other})
    with pytest.raises(DatasetError, match="dt_us 5000 differs"):
        ds.resolve({"front_end": spec["front_end"], "dt_us": 5000})


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory):
    pytest.importorskip("torch")
    import edgesnn.api as es

    d = tmp_path_factory.mktemp("tones")
    data = str(make_tones_stream(d / "t.npz"))
    r = es.train(data, d / "m.nir", epochs=15, hidden=24, seed=0, channels=8, threads=1)
    assert r["input_spec"]["front_end"]["sample_rate"] == RATE and len(r["input_spec"]["front_end"]["c1"]) == 8
    q = es.quantize(d / "m.nir", d / "m.qsnn")
    return d / "m.qsnn", data, q


def test_train_quantize_simulate_an_audio_stream(tone_model):
    qpath, data, q = tone_model
    assert q["stream_test"]["detection_accuracy"] >= 0.8, q["stream_test"]
    r = run_json("simulate", str(qpath))
    assert r["kind"] == "stream" and r["detection_accuracy"] == q["stream_test"]["detection_accuracy"]
    assert r["seconds"] == pytest.approx(20.0) and set(r["per_class"]) == {"low", "high"}


def test_audio_stream_on_host_board_sends_pcm_bit_exact(tone_model, tmp_path, monkeypatch):
    from edgesnn.api import stream_device
    from edgesnn.data import datasets
    from tests.test_streams import host_stream_equals_simulate

    qpath, data, q = tone_model
    lines = host_stream_equals_simulate(qpath, tmp_path / "b")
    s = lines[-1]
    assert s["input"] == "pcm" and s["timesteps"] == 2000
    assert sum(r["input_events"] for r in lines[:-1]) > 0
    # the device's front end is compared too: one golden front-end spike moved makes mismatches
    real = A.front_end_spikes

    def moved(fe, audio):
        out = real(fe, audio).copy()
        out[40, 0] = not out[40, 0]
        return out

    datasets._STREAMS.clear()
    monkeypatch.setattr(A, "front_end_spikes", moved)
    bad = stream_device.stream_recording(qpath, board="host", out=tmp_path / "b2", seconds=2)
    datasets._STREAMS.clear()
    assert bad["mismatches"] > 0 and bad["first_mismatch_step"] <= 40


def test_audio_stream_on_qemu_an386(tone_model, tmp_path):
    toolchains.need_tools("arm-none-eabi-gcc", "qemu-system-arm", what="qemu-mps2-an386")
    from edgesnn.api import stream_device

    s = stream_device.stream_recording(tone_model[0], board="qemu-mps2-an386", out=tmp_path / "q", seconds=4)
    assert s["complete"] and s["mismatches"] == 0 and s["timesteps"] == 400 and s["input"] == "pcm"
    # the front end runs for every sample: 8 channels x 80 samples a timestep, ~10 instructions each
    assert s["instructions_per_timestep"] > 8 * 80 * 5 and s["instructions_include_front_end"]


def test_pcm_to_a_device_without_a_front_end_is_refused():
    from edgesnn.device import codec
    from edgesnn.device.continuous import stream_frames
    from edgesnn.errors import DeviceError

    class NoAudio:
        def info(self):
            return codec.Hello("3.0", 1, 3, 0, 8, 2, 1, codec.CAP_STREAM, 255, 0.0, None, "test")

    with pytest.raises(DeviceError, match="no audio front end"):
        next(stream_frames(NoAudio(), iter([np.zeros((2, 80), np.int16)])))
