"""The integer audio front end: the numpy golden model against an independent scalar model
written from docs/fixed-point.md, its design (no saturation, band selectivity, loudness), and
audio files (good and bad) through `events from-audio`."""

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.errors import DatasetError
from edgesnn.fixedpoint import audio as A
from tests.test_recordings import read_or_named
from tests.toolchains import import_or_skip

runner = CliRunner()


def scalar_front_end(fe, x):
    """docs/fixed-point.md, "Audio front end", one Python int at a time; also the largest |W|."""
    N, D = fe.channels, fe.samples_per_step
    w1, w2, m, u = [0] * N, [0] * N, [0] * N, [0] * N
    T = len(x) // D
    out = [[False] * N for _ in range(T)]
    top = 0
    for t in range(T):
        R = [0] * N
        for n in range(t * D, (t + 1) * D):
            for k in range(N):  # Python's >> floors, as the contract's arithmetic shift
                w = (int(x[n]) << fe.g[k]) + ((fe.c1[k] * w1[k]) >> 14) + ((fe.c2[k] * w2[k]) >> 14)
                top = max(top, abs(w))
                R[k] += abs(w - w2[k]) >> A.FRAC_BITS
                w2[k], w1[k] = w1[k], w
        theta = max(max(mj >> fe.envelope_shift for mj in m), fe.eps) if fe.mode == "adaptive" else fe.eps
        theta <<= fe.spike_shift
        for k in range(N):
            m[k] = min(m[k] - (m[k] >> fe.envelope_shift) + R[k], 2**31 - 1)
            u[k] = min(u[k] - (u[k] >> fe.envelope_shift) + R[k], 2**31 - 1)
            out[t][k] = u[k] >= theta
            u[k] %= theta
    return np.array(out, bool).reshape(T, N), top


def random_case(seed, rate, channels, mode, eps, dt_ms, loud, samples, clicks):
    """A front end and int16 audio of ``samples`` around ``loud``, with full-scale ``clicks``
    (the cases the golden model is held to the scalar model and the C runtime on)."""
    fe = A.design_front_end(rate, channels, dt_ms=dt_ms, envelope_ms=4 * dt_ms, mode=mode, eps=eps)
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(0, loud, samples).round(), -32768, 32767).astype(np.int16)
    x[rng.integers(0, samples, clicks)] = rng.choice([-32768, 32767], clicks)
    return fe, x


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    rate=st.sampled_from(A.SAMPLE_RATES),
    channels=st.integers(8, 12),
    mode=st.sampled_from(A.MODES),
    eps=st.integers(1, 5000),
    dt_ms=st.sampled_from([1.0, 2.0, 5.0]),
    loud=st.sampled_from([1, 300, 32767]),
)
def test_golden_front_end_equals_the_scalar_model(seed, rate, channels, mode, eps, dt_ms, loud):
    fe, x = random_case(seed, rate, channels, mode, eps, dt_ms, loud, 600, 20)
    got = A.front_end_spikes(fe, x)
    want, _ = scalar_front_end(fe, x)
    assert got.shape == want.shape and np.array_equal(got, want)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    piece=st.integers(2, 9),
    mode=st.sampled_from(A.MODES),
    silence=st.booleans(),
    extra=st.integers(0, 79),
)
def test_a_long_recording_in_pieces_equals_one_pass(seed, piece, mode, silence, extra):
    """The pieces run side by side (fixedpoint.audio._long) give one pass's integers: with
    noise, where the pieces' states merge, and with digital silence after a sound, where
    they never do (limit cycles) and every piece needs a pass of its own."""
    fe, x = random_case(seed, 8000, 8, mode, 40, 10.0, 300, 80 * 9 * piece + extra, 5)
    if silence:
        x[len(x) // 3 :] = 0
    one = A._run(fe, A.pcm_int16(x[: len(x) // 80 * 80])[None], A.zero_state(fe, 1))[0][0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "LONG_PIECE_STEPS", piece)
        got = A.front_end_spikes(fe, x)
    assert got.shape == one.shape == (len(x) // 80, 8) and np.array_equal(got, one)


@pytest.mark.parametrize("rate, channels", [(8000, 8), (16000, 16), (16000, 64)])
def test_the_state_stays_under_its_bound_at_full_scale_worst_case(rate, channels):
    """Each band's worst int16 input: full scale with the sign of its time-reversed AR impulse
    response, which drives |W| to its largest; it stays under the design's bound and 2^29."""
    fe = A.design_front_end(rate, channels)
    for k in (0, channels // 2, channels - 1):
        c1, c2 = fe.c1[k] / 2**14, fe.c2[k] / 2**14
        h = [1.0, c1]
        while len(h) < 6000:
            h.append(c1 * h[-1] + c2 * h[-2])
        x = np.where(np.array(h[::-1]) >= 0, 32767, -32768).astype(np.int16)
        one = A.AudioFrontEnd(rate, (fe.c1[k],) * 8, (fe.c2[k],) * 8, (fe.g[k],) * 8, 4, 2, 1, 1000)
        _, top = scalar_front_end(one, x)
        assert 2**15 * 2 ** fe.g[k] < top < A.worst_state(fe.c1[k], fe.c2[k], fe.g[k]) < A.W_LIMIT, (k, top)


def tone(f, amp, rate=16000, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_a_tone_excites_its_band_most_at_any_loudness():
    fe = A.design_front_end(16000, 16)
    for k in (2, 7, 12):
        counts = A.front_end_spikes(fe, tone(fe.centers_hz[k], 0.5)).sum(axis=0)
        assert k in np.argsort(counts)[-2:], (k, counts)
        quiet = A.front_end_spikes(fe, tone(fe.centers_hz[k], 0.02)).sum(axis=0)
        assert np.abs(counts - quiet).max() <= 3  # -6 dBFS and -34 dBFS: the same code
    assert not A.front_end_spikes(fe, np.zeros(16000, np.int16)).any()
    fixed = A.design_front_end(16000, 16, mode="fixed", eps=60000, spike_shift=3)
    loud, quiet = (A.front_end_spikes(fixed, tone(1000, a)).sum() for a in (0.5, 0.02))
    assert loud > 5 * quiet  # fixed mode keeps the level


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"c1": (40000,) * 8}, "not a stable band-pass"),
        ({"c2": (-16384,) * 8}, "not a stable band-pass"),
        ({"g": (13,) * 8}, "reach"),
        ({"sample_rate": 44100}, "8000 or 16000"),
        ({"c1": (0,) * 7, "c2": (0,) * 7, "g": (0,) * 7}, "7 channels"),
        ({"spike_shift": 9}, "spike_shift 9"),
        ({"mode": "loud"}, "mode 'loud'"),
    ],
)
def test_bad_front_ends_are_refused_naming_the_value(kwargs, says):
    good = {"sample_rate": 16000, "c1": (30000,) * 8, "c2": (-15000,) * 8, "g": (4,) * 8}
    args = {**good, "envelope_shift": 8, "spike_shift": 4, "eps": 8, "samples_per_step": 160, **kwargs}
    with pytest.raises(ValueError, match=says):
        A.AudioFrontEnd(**args)


def test_from_audio_writes_spikes_a_data_set_reads_and_a_plot(tmp_path):
    sf = import_or_skip("soundfile", "reading audio files")
    from edgesnn.data.datasets import open_dataset

    x = np.concatenate([tone(440, 0.3, 8000, 0.5), np.zeros(4000, np.float32), tone(2000, 0.3, 8000, 0.5)])
    stereo = np.stack([x, x], axis=1)
    sf.write(tmp_path / "a.wav", (stereo * 32767).astype(np.int16), 8000, subtype="PCM_16")
    r = runner.invoke(app, ["events", "from-audio", str(tmp_path / "a.wav"), "--out", str(tmp_path / "a.npz"),
                            "--channels", "12", "--plot", str(tmp_path / "a.png"), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["sample_rate"] == 8000 and res["timesteps"] == 150 and res["channels"] == 12
    ds = open_dataset(str(tmp_path / "a.npz"))
    s = ds.arrays("test").x[0]
    assert ds.kind == "spikes" and s.shape == (150, 12) and int(s.sum()) == res["spikes"]
    assert not s[60:100].any() and s[:50].any() and s[100:].any()  # silent from 100 ms after the tone
    fe = A.design_front_end(8000, 12)
    mono = np.floor((stereo * 32767).astype(np.int16).astype(np.float64).mean(axis=1) + 0.5).astype(np.int16)
    assert np.array_equal(s, A.front_end_spikes(fe, mono))  # stereo mixed to its mean, then the contract
    assert (tmp_path / "a.png").stat().st_size > 5000


def test_bad_audio_fails_in_one_line(tmp_path):
    sf = import_or_skip("soundfile", "reading audio files")
    cases = {
        "missing.wav": None,
        "garbage.wav": b"RIFF\x00\x00\x00\x00WAVEjunk" * 3,
        "zero.wav": b"",
    }
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.int16), 16000, subtype="PCM_16")
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, subtype="FLOAT")
    sf.write(tmp_path / "hot.wav", np.array([0.1, 2.5] * 100, np.float32), 16000, subtype="FLOAT")
    sf.write(tmp_path / "cd.wav", np.zeros(4410, np.int16), 44100, subtype="PCM_16")
    sf.write(tmp_path / "short.flac", np.zeros(50, np.int16), 16000)
    says = {
        "missing.wav": "not found", "garbage.wav": "not an audio file", "zero.wav": "not an audio file",
        "empty.wav": "no audio samples", "nan.wav": "NaN", "hot.wav": "[-1, 1]", "cd.wav": "44100 Hz",
        "short.flac": "shorter than one timestep",
    }  # fmt: skip
    for name, want in says.items():
        r = runner.invoke(app, ["events", "from-audio", str(tmp_path / name), "--out", str(tmp_path / "o.npz")])
        assert r.exit_code == 1 and want in r.output and len(r.output.strip().splitlines()) == 1, (name, r.output)
    assert not (tmp_path / "o.npz").exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 400), flips=st.lists(st.tuples(st.integers(0, 399), st.integers(0, 255)), max_size=12))
def test_damaged_audio_files_are_read_or_refused_naming_the_file(tmp_path, cut, flips):
    sf = import_or_skip("soundfile", "reading audio files")
    from edgesnn.data.audio import read_audio

    good = tmp_path / "good.wav"
    if not good.exists():
        sf.write(good, (np.sin(np.arange(200) / 5) * 9000).astype(np.int16), 16000, subtype="PCM_16")
    data = bytearray(good.read_bytes()[: max(cut, 1)])
    for i, v in flips:
        if i < len(data):
            data[i] = v
    f = tmp_path / "bad.wav"
    f.write_bytes(bytes(data))
    got = read_or_named(lambda: read_audio(f), f)
    if got is not None:
        samples, rate = got
        assert samples.ndim == 1 and len(samples) > 0 and rate > 0
        assert samples.dtype == np.int16 or np.isfinite(samples).all()


def tones_file(path, n=60, rate=8000, samples=2400, dtype=np.float32, seed=0):
    """Three classes of tones (300, 900, 2500 Hz) at random loudness over a little noise."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for i in range(n):
        c = i % 3
        a = tone([300, 900, 2500][c] * (1 + 0.05 * rng.normal()), 0.05 + 0.4 * rng.random(), rate, samples / rate)
        x.append(np.clip(a + rng.normal(0, 0.003, samples), -1, 1).astype(np.float32))
        y.append(c)
    x = np.stack(x) if dtype == np.float32 else (np.stack(x) * 32767).astype(np.int16)
    lengths = rng.integers(samples // 2, samples + 1, n)
    k = n * 3 // 4
    np.savez(path, audio_train=x[:k], y_train=np.array(y[:k]), lengths_train=lengths[:k], audio_test=x[k:],
             y_test=np.array(y[k:]), lengths_test=lengths[k:], sample_rate=np.array(rate),
             class_names=np.array(["low", "mid", "high"]))  # fmt: skip
    return path, x, lengths, k


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_an_audio_data_file_goes_through_the_front_end(tmp_path, dtype):
    from edgesnn.data.datasets import open_dataset

    path, x, lengths, k = tones_file(tmp_path / "tones.npz", dtype=dtype)
    ds = open_dataset(str(path))
    info = ds.info()
    assert info["kind"] == "audio" and info["sample_rate"] == 8000 and info["timesteps"] == 30
    assert ds.class_names == ["low", "mid", "high"] and ds.input_shape() == (16,)
    spec = ds.resolve({"channels": 12, "dt_ms": 5.0})
    s, y = ds.spikes("test", spec)
    assert s.shape == (len(x) - k, 60, 12) and s.dtype == bool
    fe = A.design_front_end(8000, 12, dt_ms=5.0)
    for i in (0, 7):
        row = x[k + i].copy()
        row[lengths[k + i] :] = 0  # past its length a sample is silence
        assert np.array_equal(s[i], A.front_end_spikes(fe, row))
    with pytest.raises(DatasetError, match="timesteps 10 does not apply"):
        ds.resolve({"timesteps": 10})


def test_train_simulate_on_audio_records_the_front_end(tmp_path):
    pytest.importorskip("torch")
    import edgesnn.api as es

    path, *_ = tones_file(tmp_path / "tones.npz", n=90)
    r = es.train(str(path), tmp_path / "t.nir", epochs=15, seed=0)
    assert r["input_spec"]["encoding"] == "audio" and r["input_spec"]["channels"] == 16
    q = es.quantize(tmp_path / "t.nir", tmp_path / "t.qsnn")
    assert q["int_accuracy"] >= 0.9
    s = es.simulate(tmp_path / "t.qsnn")
    assert s["accuracy"] == q["int_accuracy"] and s["timesteps"] == 30


@pytest.mark.parametrize(
    "change, says",
    [
        ({"sample_rate": np.array(44100)}, "44100 Hz"),
        ({"audio_train": np.zeros((3, 100), np.float64)}, "int16 or float32"),
        ({"audio_train": np.full((3, 100), np.nan, np.float32)}, "NaN"),
        ({"audio_train": np.full((3, 100), 1.5, np.float32)}, "[-1, 1]"),
        ({"lengths_train": np.array([0, 50, 50])}, "lengths_train"),
        ({"sample_rate": np.array([8000, 8000])}, "sample_rate"),
    ],
)
def test_bad_audio_data_files_are_refused_naming_the_key(tmp_path, change, says):
    from edgesnn.data.datasets import open_dataset

    good = {"audio_train": np.zeros((3, 100), np.int16), "y_train": np.array([0, 1, 0]),
            "lengths_train": np.array([100, 50, 80]), "audio_test": np.zeros((2, 100), np.int16),
            "y_test": np.array([1, 0]), "sample_rate": np.array(8000)}  # fmt: skip
    np.savez(tmp_path / "bad.npz", **{**good, **change})
    with pytest.raises(DatasetError, match=re.escape(says)):
        ds = open_dataset(str(tmp_path / "bad.npz"))
        ds.spikes("train")
