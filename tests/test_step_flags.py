"""STEP flags (a sample without RESET and RESULT round trips) and COBS decoded as bytes arrive."""

import dataclasses
import struct
import time

import numpy as np
import pytest

from edgesnn.device import codec
from edgesnn.device.client import Device, DeviceError
from edgesnn.device.deploy import deploy
from edgesnn.firmware.boards import get_board
from edgesnn.fixedpoint import quantize, simulate_int
from edgesnn.ir import LIF, Dense, Network
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import need_board_tools, need_tools

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def qnet():
    return digits_like_model(seed=7, hidden=24)


@pytest.fixture(scope="module")
def samples(qnet):
    rng = np.random.default_rng(0)
    return rng.random((6, 12, qnet.n_inputs)) < 0.2


def test_flagged_frames_equal_reset_step_result(host_device, qnet, samples):
    dev = host_device.device
    assert dev.info().capabilities & codec.CAP_STEP_FLAGS
    x = samples[0]
    dev.reset()
    plain_outs = codec.parse_outputs(dev.request(codec.STEP_DENSE, Device._bitmaps(x)).payload, qnet.n_outputs)
    plain = dev.result()
    dev.step_dense(samples[1])  # state left over from another sample: FLAG_RESET must clear it
    reply = dev.request(codec.STEP_DENSE, Device._bitmaps(x), flags=codec.FLAG_RESET | codec.FLAG_RESULT).payload
    outs, res = codec.parse_step_reply(reply, qnet.n_outputs, with_result=True)
    assert outs == plain_outs and res == plain
    sim = simulate_int(qnet, x[None])
    assert res.synops == sim.synops[0] and res.counts == tuple(sim.counts[0])


def test_run_sample_is_the_same_with_and_without_flags(host_device, qnet, samples):
    dev = host_device.device
    sim = simulate_int(qnet, samples)
    hello = dev.info()
    for flagged in (True, False):
        dev._hello = dataclasses.replace(
            hello, capabilities=hello.capabilities if flagged else hello.capabilities & ~codec.CAP_STEP_FLAGS
        )
        for spf in (None, 1, 5):  # the last frame a whole one, a single step, a partial one
            before = dev.stats()["frames_ok"]
            outs = [dev.run_sample(s, steps_per_frame=spf) for s in samples]
            frames = dev.stats()["frames_ok"] - before - 1  # less the STATS request itself
            for i, o in enumerate(outs):
                assert np.array_equal(o.spikes, sim.spikes[i]) and o.result.synops == sim.synops[i]
                assert o.result.counts == tuple(sim.counts[i]) and o.result.prediction == sim.prediction[i]
            per_sample = -(-samples.shape[1] // (spf or samples.shape[1]))  # STEP frames of one sample
            assert frames == len(samples) * (per_sample + (0 if flagged else 2))
    dev._hello = hello
    early = dev.run_sample(samples[0], steps_per_frame=None, early_exit=1)  # stops before the end
    cut = simulate_int(qnet, samples[:1, : early.steps])
    assert early.result.synops == cut.synops[0] and early.result.counts == tuple(cut.counts[0])


def test_flags_a_message_does_not_take_are_refused_and_change_nothing(host_device, qnet, samples):
    dev = host_device.device
    dev.reset()
    dev.step_dense(samples[2][:3])
    before = dev.result()
    for type_, payload, flags in (
        (codec.STEP_DENSE, Device._bitmaps(samples[2][:1]), 8),  # an unknown flag (4 is STREAM)
        (codec.RESULT, b"", codec.FLAG_RESET),  # flags on a message other than STEP
        (codec.PING, b"x", codec.FLAG_RESULT),
    ):
        with pytest.raises(DeviceError, match="parameter out of range"):
            dev.request(type_, payload, flags=flags)
    assert dev.result() == before


def test_a_result_that_does_not_fit_the_reply_is_refused(host_device, qnet):
    dev = host_device.device
    room = dev.info().payload_room
    steps = (room - 1 - codec.result_bytes(qnet.n_outputs)) // ((qnet.n_outputs + 7) // 8) + 1  # one too many
    assert not dev._result_fits(steps) and dev._result_fits(steps - 1)
    with pytest.raises(DeviceError, match="too large"):
        dev.request(codec.STEP_SPARSE, codec.sparse_steps([[]] * steps), flags=codec.FLAG_RESULT)
    flags = codec.FLAG_RESET | codec.FLAG_RESULT
    reply = dev.request(codec.STEP_SPARSE, codec.sparse_steps([[]] * (steps - 1)), flags=flags).payload
    assert len(codec.parse_step_reply(reply, qnet.n_outputs, with_result=True)[0]) == steps - 1


@pytest.mark.parametrize("board", ["host", "qemu-mps2-an385"])
def test_cobs_blocks_of_every_shape_decode_on_arrival(board, tmp_path):
    """PING echoes payloads whose COBS encodings have full 254-byte blocks (code 0xff), runs of
    zeros, zeros at both ends, and the largest frame the device takes; one byte more is refused
    as too large, a cut-short block as invalid COBS, and the link works on."""
    b = get_board(board)
    need_tools("cc", what="the host board") if board == "host" else need_board_tools(b)
    rng = np.random.default_rng(1)
    net = Network(
        n_inputs=300, layers=(Dense(rng.normal(0, 0.2, (4, 300)), np.zeros(4), LIF(np.full(4, 0.9), np.ones(4))),)
    )
    with deploy(quantize(net), b, tmp_path) as d:
        dev = d.device
        most = dev.info().payload_room
        assert most > 2 * 254
        nonzero = bytes(rng.integers(1, 256, most, dtype=np.uint8))
        payloads = [
            nonzero,  # blocks of 254 and the largest payload
            nonzero[:254],
            nonzero[:253] + b"\x00",
            b"\x00" + nonzero[:254] + b"\x00" + nonzero[:254],
            bytes(most),  # all zeros: one code byte per byte
            bytes(rng.integers(0, 3, most, dtype=np.uint8)),
            b"",
        ]
        # the largest frame whose last block is a full 254 bytes, CRC included: its final code
        # byte (0x01, an empty block) arrives with the frame buffer already full
        edge = bytearray(nonzero)
        edge[most - 253] = 0
        while 0 in struct.pack("<H", codec.crc16(codec.HEADER.pack(2, codec.PING, 77, 0, most) + bytes(edge))):
            edge[0] = edge[0] % 255 + 1  # another CRC, until neither of its bytes is zero
        wire = codec.encode_frame(codec.Frame(codec.PING, 77, bytes(edge)))
        assert wire[-2:] == b"\x01\x00" and wire[-3 - 254] == 0xFF
        dev._write(wire)
        f = dev._next_frame(time.monotonic() + 2)
        assert f is not None and (f.type, f.seq, f.payload) == (codec.PING | codec.REPLY, 77, bytes(edge))
        for p in payloads:
            assert dev.request(codec.PING, p).payload == p
        too_big = codec.encode_frame(codec.Frame(codec.PING, 200, nonzero + b"\x01"))
        cut = codec.encode_frame(codec.Frame(codec.PING, 201, nonzero[:40]))[:-10] + b"\x00"
        for wire, code in ((too_big, 5), (cut, 7)):
            dev._write(wire)
            f = dev._next_frame(time.monotonic() + 2)
            assert f is not None and f.seq == 0 and codec.parse_error(f.payload)[0] == code
        assert dev.request(codec.PING, nonzero[:300]).payload == nonzero[:300]
