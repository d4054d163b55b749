"""edgesnn.testing: users hold the generated firmware to the simulator in their own tests."""

import numpy as np
import pytest

from edgesnn.firmware import hostbuild
from edgesnn.testing import FirmwareMismatch, assert_firmware_matches
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import need_board_tools, need_tools

pytestmark = pytest.mark.device


def test_fixture_passes_for_the_real_firmware(edgesnn_firmware):
    need_tools("cc", what="the host firmware build")
    qnet = digits_like_model(seed=8, hidden=20, cuba=True)
    x = np.random.default_rng(0).random((6, 9, 64)) < 0.25
    counts = edgesnn_firmware.check(qnet, x)
    assert counts["mismatched_values"] == 0 and counts["values_compared"] > 1000


def test_a_difference_is_named_by_sample_step_layer_neuron_and_both_values(monkeypatch, tmp_path):
    need_tools("cc", what="the host firmware build")
    qnet = digits_like_model(seed=8, hidden=20)
    x = np.random.default_rng(1).random((4, 8, 64)) < 0.25
    real = hostbuild.run_host

    def off_by_one(*a, **k):  # a firmware whose layer-0 membrane is one LSB off at one point
        run = real(*a, **k)
        run.record[0]["v"][2, 5, 7] += 1
        return run

    monkeypatch.setattr(hostbuild, "run_host", off_by_one)
    with pytest.raises(FirmwareMismatch) as e:
        assert_firmware_matches(qnet, x, build_dir=tmp_path / "b", sanitize=False)
    msg = str(e.value)
    want = int(real(qnet, tmp_path / "b" / "golden_host", x).record[0]["v"][2, 5, 7])
    assert msg.startswith(
        "firmware differs from the golden simulator at sample 2, timestep 5, layer 0, neuron 7: "
        f"membrane v: simulator {want}, firmware {want + 1}"
    ), msg
    assert "1 of" in msg and "values differ in 1 of 4 samples" in msg


def test_emulated_board(tmp_path):
    from edgesnn.firmware.boards import get_board

    need_board_tools(get_board("qemu-microbit"))
    qnet = digits_like_model(seed=9, hidden=16)
    x = np.random.default_rng(2).random((5, 6, 64)) < 0.3
    assert assert_firmware_matches(qnet, x, board="qemu-microbit", build_dir=tmp_path)["mismatches"] == 0
