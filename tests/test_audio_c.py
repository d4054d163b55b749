"""The audio front end's C runtime (firmware_templates/runtime/esnn_audio.c) against the golden
model, bit for bit, on the host under ASan/UBSan and with the strict warnings."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.firmware.hostbuild import build_afe_host, run_afe_host
from edgesnn.fixedpoint import audio as A
from tests.test_audio_front_end import random_case
from tests.toolchains import need_tools

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    need_tools("cc", what="the audio front end's C runtime")
    return build_afe_host(tmp_path_factory.mktemp("afe"))


def run_c(exe, fe, pcm):
    return run_afe_host(exe, fe, pcm)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31),
    rate=st.sampled_from(A.SAMPLE_RATES),
    channels=st.integers(8, 64),
    mode=st.sampled_from(A.MODES),
    eps=st.integers(1, 5000),
    dt_ms=st.sampled_from([0.5, 1.0, 10.0]),
    loud=st.sampled_from([3, 500, 32767]),
)
def test_c_front_end_equals_the_golden_model(harness, seed, rate, channels, mode, eps, dt_ms, loud):
    fe, pcm = random_case(seed, rate, channels, mode, eps, dt_ms, loud, 3000, 30)
    want = A.front_end_spikes(fe, pcm)
    got = run_c(harness, fe, pcm)
    assert got.shape == want.shape and np.array_equal(got, want)


def test_c_front_end_on_speech_like_audio_and_silence(harness):
    fe = A.design_front_end(16000, 32)
    t = np.arange(32000) / 16000
    chirp = (0.6 * np.sin(2 * np.pi * (200 + 3000 * t) * t) * (t % 0.5 < 0.3)).astype(np.float32)
    pcm = A.pcm_int16(chirp).astype(np.int16)
    want = A.front_end_spikes(fe, pcm)
    assert want.sum() > 500
    assert np.array_equal(run_c(harness, fe, pcm), want)
    assert not run_c(harness, fe, np.zeros(8000, np.int16)).any()


@pytest.mark.parametrize("board", ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-sifive-e", "qemu-microbit"])
def test_the_front_end_on_emulated_cores_equals_the_golden_model(board):
    """tools/bench/audio.py's firmware: every timestep's spikes from the core, against the golden
    model (the M4 takes the SMLAWB path, the others the 64-bit product)."""
    import importlib.util
    from pathlib import Path

    from edgesnn.firmware.boards import get_board
    from tests.toolchains import need_board_tools

    need_board_tools(get_board(board))
    path = Path(__file__).resolve().parents[1] / "tools" / "bench" / "audio.py"
    spec = importlib.util.spec_from_file_location("edgesnn_bench_audio", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    fe = A.design_front_end(8000, 24, dt_ms=5.0)
    r = bench.run(board, fe, bench.signal(8000, seconds=0.1, seed=1))
    assert r["timesteps"] == 20 and r["mismatched_timesteps"] == 0
    assert r["instructions_per_channel_sample"] > 1
