"""A link that survives a noisy wire: idempotent requests, retransmission, duplicate indices."""

import struct
import time

import numpy as np
import pytest

from edgesnn.data.datasets import encoded
from edgesnn.device import codec
from edgesnn.device.client import DeviceError
from edgesnn.device.deploy import connect_port, deploy
from edgesnn.device.faults import FaultRates, FaultyLink, FaultyProxy
from edgesnn.firmware.boards import get_board
from edgesnn.fixedpoint import simulate_int
from tests.test_device import _stream_and_compare
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import need_board_tools, need_tools

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def qnet():
    return digits_like_model(seed=5, hidden=32)


@pytest.fixture(scope="module")
def data(qnet):
    x, y = encoded("digits", "test", qnet.input_spec)
    return x[:40], y[:40]


def _stream_equals_simulator(dev, qnet, x):
    return _stream_and_compare(dev, qnet, x)[1]


def test_repeated_request_is_answered_from_the_stored_reply_not_run_twice(qnet, tmp_path):
    need_tools("cc", what="the host board")
    with deploy(qnet, get_board("host"), tmp_path) as d:
        dev = d.device
        dev.reset()
        before = dev.stats()
        wire = codec.encode_frame(codec.Frame(type=codec.STEP_SPARSE, seq=200, payload=codec.sparse_steps([[1, 5, 9]])))
        replies = []
        for _ in range(3):  # the host lost the reply twice and sends the same frame again
            dev._write(wire)
            f = dev._next_frame(time.monotonic() + 2)
            assert f is not None and f.seq == 200
            replies.append(f)
        after = dev.stats()
        assert replies[0] == replies[1] == replies[2]
        assert after["steps"] == before["steps"] + 1  # one timestep ran, not three
        assert after["replays"] == before["replays"] + 2
        replayed = dev.result()
        dev.reset()
        dev.step([[1, 5, 9]])  # the same timestep, sent once
        assert dev.result() == replayed  # same counts, synaptic events, prediction: it ran once


def test_duplicate_or_unordered_sparse_indices_are_refused(qnet, tmp_path):
    need_tools("cc", what="the host board")
    with deploy(qnet, get_board("host"), tmp_path) as d:
        dev = d.device
        dev.reset()
        before = dev.stats()
        for bad in ([3, 3], [7, 2]):
            payload = bytes([1]) + struct.pack("<H", len(bad)) + b"".join(struct.pack("<H", i) for i in bad)
            with pytest.raises(DeviceError, match=r"device error 11 \(sparse input indices not strictly increasing"):
                dev.request(codec.STEP_SPARSE, payload)
        assert dev.stats()["steps"] == before["steps"]  # refused frames change no state
        assert dev.step([[2, 7]]) is not None  # ordered indices still work


@pytest.mark.parametrize("seed", [0, 1])
def test_host_device_through_a_faulty_wire_equals_the_simulator(qnet, data, tmp_path, seed):
    need_tools("cc", what="the host board")
    noisy = FaultRates(flip=1 / 300, drop=1 / 1000, duplicate=1 / 1000, delay=1 / 500, delay_s=0.002)
    with deploy(qnet, get_board("host"), tmp_path) as d:
        dev = d.device
        dev.link = FaultyLink(dev.link, tx=noisy, rx=noisy, seed=seed)
        bad = _stream_equals_simulator(dev, qnet, data[0])
        dev.link = dev.link.link  # a clean wire to read the counters
        stats = dev.stats()
    assert bad == 0
    assert dev.retransmissions > 0 and stats["replays"] > 0 and stats["frames_bad"] > 0


def test_frames_of_many_timesteps_shrink_on_a_noisy_wire_and_stay_exact(qnet, data, tmp_path):
    """steps_per_frame=None sends as many timesteps per frame as fit and halves that once a frame
    arrives damaged; every output still equals the simulator."""
    need_tools("cc", what="the host board")
    noisy = FaultRates(flip=1 / 2000, drop=1 / 5000)
    with deploy(qnet, get_board("host"), tmp_path) as d:
        dev = d.device
        dev.link = FaultyLink(dev.link, tx=noisy, rx=noisy, seed=4)
        sim = simulate_int(qnet, data[0])
        outs = list(dev.stream(data[0], steps_per_frame=None))
        dev.link = dev.link.link
    assert all(np.array_equal(o.spikes, sim.spikes[i]) and o.result.synops == sim.synops[i] for i, o in enumerate(outs))
    assert dev.retransmissions > 0 and dev._auto_steps < dev._steps_that_fit(data[0][0])
    assert dev.damage_seen() > 0


def test_late_but_intact_replies_keep_the_frame_size(qnet, data, tmp_path):
    """A reply that only comes late (a busy host) is retransmitted for, but nothing was damaged:
    the frames keep their size, and the outputs still equal the simulator."""
    need_tools("cc", what="the host board")
    slow = FaultRates(delay=1 / 50, delay_s=0.03)  # a few bytes of a reply wait longer than a try
    with deploy(qnet, get_board("host"), tmp_path) as d:
        dev = d.device
        dev.retry_timeout = 0.02
        dev.link = FaultyLink(dev.link, rx=slow, seed=2)
        sim = simulate_int(qnet, data[0][:10])
        outs = list(dev.stream(data[0][:10], steps_per_frame=None))
        dev.link = dev.link.link
    assert all(np.array_equal(o.spikes, sim.spikes[i]) and o.result.synops == sim.synops[i] for i, o in enumerate(outs))
    assert dev.retransmissions > 0 and dev.damage_seen() == 0
    assert dev._auto_steps == 255  # never halved: min(255, what fits) stays what fits


def test_emulated_board_through_a_faulty_tcp_proxy(qnet, data, tmp_path):
    """QEMU's serial port behind a loopback proxy that damages bytes both ways."""
    board = get_board("qemu-mps2-an385")
    need_board_tools(board)
    d = deploy(qnet, board, tmp_path)
    try:
        d.device.close()  # QEMU serves one client: the proxy's
        host, port = d.port.removeprefix("socket://").rsplit(":", 1)
        rates = FaultRates(flip=1 / 1000, drop=1 / 5000)
        with FaultyProxy((host, int(port)), rates, rates, seed=3) as proxy:
            c = connect_port(qnet, f"socket://127.0.0.1:{proxy.port}")
            try:
                bad = _stream_equals_simulator(c.device, qnet, data[0][:25])
            finally:
                c.close()
            damaged = (
                proxy.down.counts.flipped
                + proxy.down.counts.dropped
                + proxy.up.counts.flipped
                + proxy.up.counts.dropped
            )
    finally:
        d.close()
    assert bad == 0
    assert damaged > 0 and c.device.retransmissions > 0


def test_fault_rates_are_validated_and_counted():
    with pytest.raises(ValueError, match="flip must be a probability"):
        FaultRates(flip=2)
    from edgesnn.device.faults import Mangler

    m = Mangler(FaultRates(drop=1.0), np.random.default_rng(0))
    assert m(b"abc") == [] and m.counts.dropped == 3
    m = Mangler(FaultRates(duplicate=1.0), np.random.default_rng(0))
    assert m(b"ab") == [(b"aabb", 0.0)]
    m = Mangler(FaultRates(flip=1.0), np.random.default_rng(0))
    out = m(b"\x00" * 50)[0][0]
    assert all(bin(b).count("1") == 1 for b in out)
    with pytest.raises(ValueError, match="loopback"):
        FaultyProxy(("10.0.0.1", 80), FaultRates(), FaultRates())
