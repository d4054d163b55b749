"""The audio front end as part of the model: stored and hashed, applied by every command, run by
the device on PCM sent over the link (STEP_PCM), and held to the golden model by verify."""

import json
from dataclasses import replace

import numpy as np
import pytest

from edgesnn.errors import DatasetError, ModelFileError
from edgesnn.fixedpoint import audio as A
from tests.test_audio_front_end import tones_file


@pytest.fixture(scope="module")
def tones_model(tmp_path_factory):
    """A small model trained on three tones (8 kHz, 16 channels, 30 timesteps of 10 ms)."""
    pytest.importorskip("torch")
    import edgesnn.api as es

    d = tmp_path_factory.mktemp("tones")
    path, *_ = tones_file(d / "tones.npz", n=90)
    es.train(str(path), d / "t.nir", epochs=15, seed=0, hidden=32)
    es.quantize(d / "t.nir", d / "t.qsnn")
    return d / "t.qsnn", path


def test_the_front_end_is_in_the_model_file_and_its_hash(tones_model):
    from edgesnn.formats.qmodel import from_bytes, to_bytes

    qpath, data = tones_model
    q = from_bytes(qpath.read_bytes())
    fe = q.front_end
    assert fe == A.design_front_end(8000, 16) and q.n_inputs == fe.channels
    # every integer the device computes with is in the hash; the design notes are not
    other = replace(fe, c1=(fe.c1[0] + 1, *fe.c1[1:]))
    changed = replace(q, input_spec={**q.input_spec, "front_end": other.as_dict()})
    assert changed.content_hash != q.content_hash
    renamed = replace(q, input_spec={**q.input_spec, "front_end": replace(fe, centers_hz=()).as_dict()})
    assert renamed.content_hash == q.content_hash
    assert from_bytes(to_bytes(changed)).front_end == other
    with pytest.raises(ValueError, match="8 channels but the network 16 inputs"):
        replace(q, input_spec={**q.input_spec, "front_end": A.design_front_end(8000, 8).as_dict()})
    for bad, says in [
        ({"c1": "x"}, "c1 must be a list"),
        ({"eps": 1.5}, "eps must be an integer"),
        ({"k": 1}, "unknown"),
    ]:
        with pytest.raises(ValueError, match=says):
            A.AudioFrontEnd.from_dict({**fe.as_dict(), **bad})


def test_an_edited_front_end_in_a_model_file_is_refused(tones_model, tmp_path):
    import io
    import zipfile

    qpath, _ = tones_model
    with np.load(qpath) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays["header"]).decode())
    header["input_spec"]["front_end"]["g"][0] += 1  # a gain changed by hand: the tables no longer match
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (tmp_path / "edited.qsnn").write_bytes(buf.getvalue())
    from edgesnn.formats.qmodel import from_bytes

    with pytest.raises(ModelFileError, match="content hash mismatch"):
        from_bytes((tmp_path / "edited.qsnn").read_bytes(), "edited.qsnn")
    assert zipfile.is_zipfile(qpath)


def test_a_models_front_end_is_applied_to_other_data_and_refuses_another_rate(tones_model, tmp_path):
    import edgesnn.api as es
    from edgesnn.data.datasets import open_dataset

    qpath, data = tones_model
    q = es.load(qpath)
    ds = open_dataset(str(data))
    spec = ds.model_spec(q.input_spec)
    assert ds.front_end(spec) == q.front_end
    # the model's own integers, even where its options would design another front end
    odd = replace(q.front_end, eps=q.front_end.eps + 7)
    s = ds.resolve({**spec, "front_end": odd.as_dict(), "channels": 99})
    assert A.AudioFrontEnd.from_dict(s["front_end"]) == odd and s["channels"] == 16
    x16, *_ = tones_file(tmp_path / "t16.npz", n=12, rate=16000, samples=4800)
    with pytest.raises(DatasetError, match="takes 8000 Hz.*16000 Hz audio.*sox"):
        es.simulate(qpath, dataset=str(x16))


@pytest.mark.device
@pytest.mark.parametrize("board", ["host", "qemu-mps2-an386", "qemu-sifive-e"])
def test_verify_runs_the_front_end_on_the_device(tones_model, tmp_path, board):
    import edgesnn.api as es
    from edgesnn.firmware.boards import get_board
    from tests.toolchains import need_board_tools

    need_board_tools(get_board(board))
    qpath, _ = tones_model
    r = es.verify(qpath, board, tmp_path / "v", limit=6)
    assert r["mismatches"] == 0 and r["front_end_mismatches"] == 0
    assert "front end" in r["method"]


@pytest.mark.device
@pytest.mark.parametrize("board", ["host", "qemu-mps2-an385"])
def test_verify_catches_a_front_end_that_differs(tones_model, tmp_path, board, monkeypatch):
    """The check can fail: a golden front end with one spike moved must be reported."""
    import edgesnn.api as es
    from edgesnn.firmware import verify as V
    from edgesnn.firmware.boards import get_board
    from tests.toolchains import need_board_tools

    need_board_tools(get_board(board))
    real = V.front_end_spikes

    def off_by_one(fe, pcm):
        s = real(fe, pcm).copy()
        s[1, 3, 2] = ~s[1, 3, 2]  # sample 1, timestep 3, channel 2
        return s

    monkeypatch.setattr(V, "front_end_spikes", off_by_one)
    r = es.verify(tones_model[0], board, tmp_path / "v", limit=4)
    assert r["front_end_mismatches"] == 1 and r["mismatches"] >= 1


@pytest.mark.device
@pytest.mark.parametrize("board", ["host", "qemu-mps2-an386"])
def test_stream_sends_pcm_and_the_device_front_end_matches(tones_model, board):
    import edgesnn.api as es
    from edgesnn.firmware.boards import get_board
    from tests.toolchains import need_board_tools

    need_board_tools(get_board(board))
    s = es.stream(tones_model[0], board=board, limit=8)
    assert s["input"] == "pcm" and s["complete"] and s["samples"] == 8 and s["mismatches"] == 0
    assert s["accuracy"] == s["simulator_accuracy"]


@pytest.mark.device
def test_step_pcm_is_checked_before_it_runs(tones_model, tmp_path):
    """Malformed PCM frames change nothing; a device without a front end refuses STEP_PCM."""
    import edgesnn.api as es
    from edgesnn.data.datasets import model_audio, model_inputs
    from edgesnn.device import codec
    from edgesnn.errors import DeviceError
    from edgesnn.fixedpoint import simulate_int

    qpath, _ = tones_model
    q = es.load(qpath)
    with es.deploy(qpath, board="host", out=tmp_path / "h") as d:
        dev = d.device
        hello = dev.info()
        assert hello.capabilities & codec.CAP_AUDIO and hello.pcm_per_step == 80 and hello.sample_rate == 8000
        with pytest.raises(DeviceError, match="malformed"):
            dev.request(codec.STEP_PCM, bytes([1]) + bytes(2 * 80 - 2))  # one sample short
        with pytest.raises(DeviceError, match="whole timesteps of 80"):
            dev.run_sample(np.zeros(81, np.int16))
        pcm, y, _ = model_audio(q, None, "test", 1)
        x, *_ = model_inputs(q, None, "test", 1)
        got = dev.run_sample(pcm[0], steps_per_frame=None)
        sim = simulate_int(q, x)
        assert np.array_equal(got.spikes, sim.spikes[0]) and got.result.synops == sim.synops[0]


def test_hello_carries_the_front_ends_rates_only_with_the_capability():
    import struct

    from edgesnn.device import codec
    from edgesnn.errors import ProtocolError

    head = struct.pack("<BBBBIHHBHHHB", 0, 1, 4, 1, 7, 16, 3, 2, codec.CAP_AUDIO, 100, 32, 0xFF)
    h = codec.parse_hello(head + bytes([4]) + b"host" + struct.pack("<HH", 160, 16000))
    assert (h.pcm_per_step, h.sample_rate, h.board) == (160, 16000, "host")
    with pytest.raises(ProtocolError):
        codec.parse_hello(head + bytes([4]) + b"host")  # the capability promises the rates
    plain = struct.pack("<BBBBIHHBHHHB", 0, 1, 4, 1, 7, 16, 3, 2, 0, 100, 32, 0xFF) + bytes([4]) + b"host"
    assert codec.parse_hello(plain).pcm_per_step == 0
    with pytest.raises(ValueError, match="int16"):
        codec.pcm_steps(np.zeros((1, 8), np.float32))


def test_verify_embeds_only_as_much_pcm_as_half_the_flash_holds(tones_model):
    import edgesnn.api as es
    from edgesnn.api.firmware import default_limit
    from edgesnn.firmware.boards import get_board

    q = es.load(tones_model[0])  # 30 timesteps of 80 samples: 4,800 bytes of PCM a sample
    assert default_limit(q, get_board("qemu-mps2-an386")) == 4194304 // 2 // 4800
    assert default_limit(q, get_board("qemu-microbit")) == 253952 // 2 // 4800
    assert default_limit(q, get_board("host")) == 450
    assert default_limit(replace(q, input_spec={}), get_board("qemu-microbit")) == 450
