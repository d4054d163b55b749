"""The device link end to end: host process on a pty and emulated boards over loopback TCP."""

import json
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.data.datasets import encoded
from edgesnn.device import codec
from edgesnn.device.client import DeviceError
from edgesnn.device.deploy import connect_port, deploy
from edgesnn.firmware.boards import get_board
from edgesnn.fixedpoint import simulate_int
from edgesnn.formats import save_model
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import need_board_tools

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def qnet():
    return digits_like_model(seed=3, hidden=40, cuba=True)


@pytest.fixture(scope="module")
def data(qnet):
    x, y = encoded("digits", "test", qnet.input_spec)
    return x[:30], y[:30]


def _stream_and_compare(dev, qnet, x):
    sim = simulate_int(qnet, x)
    outs = list(dev.stream(x))
    bad = sum(
        not (
            np.array_equal(o.spikes, sim.spikes[i])
            and o.result.prediction == sim.prediction[i]
            and o.result.synops == sim.synops[i]
            and o.result.counts == tuple(sim.counts[i])
        )
        for i, o in enumerate(outs)
    )
    return outs, bad


def test_host_device_equals_simulator(host_device, qnet, data):
    outs, bad = _stream_and_compare(host_device.device, qnet, data[0])
    assert len(outs) == 30 and bad == 0
    assert host_device.hello.hash32 == qnet.hash32


def test_multi_step_frames_and_dense_steps_give_the_same_outputs(host_device, qnet, data):
    dev = host_device.device
    x = data[0][0]
    one = dev.run_sample(x, steps_per_frame=1)
    many = dev.run_sample(x, steps_per_frame=8)
    assert np.array_equal(one.spikes, many.spikes) and one.result == many.result
    dev.reset()
    bitmaps = [np.packbits(row, bitorder="little").tobytes() for row in x]
    reply = dev.request(codec.STEP_DENSE, codec.dense_steps(bitmaps[:5])).payload
    assert [np.flatnonzero(r).tolist() for r in one.spikes[:5]] == codec.parse_outputs(reply, qnet.n_outputs)


def test_garbage_and_bad_frames_get_errors_and_the_link_recovers(host_device, qnet, data):
    dev = host_device.device
    before = dev.stats()
    dev._write(b"\x55\xaa\x13garbage without delimiter")  # noise, then a frame: the noise is one bad frame
    dev._write(b"\x00")
    with pytest.raises(DeviceError, match="input index out of range"):
        dev.step([[qnet.n_inputs + 5]])
    with pytest.raises(DeviceError, match="malformed"):
        dev.request(codec.STEP_SPARSE, b"\x01\x05\x00\x01")  # says 5 events, carries none
    with pytest.raises(DeviceError, match="unknown message type"):
        dev.request(0x42)
    huge = codec.encode_frame(codec.Frame(type=codec.PING, seq=9, payload=bytes(range(1, 200)) * 20))
    dev._write(huge)  # larger than the device's frame buffer
    deadline = time.monotonic() + 2
    err = None
    while err is None and time.monotonic() < deadline:
        f = dev._next_frame(deadline)
        if f is not None and f.type == codec.ERROR | codec.REPLY:
            err = codec.parse_error(f.payload)
    assert err is not None and err[0] == 5  # too large
    outs, bad = _stream_and_compare(dev, qnet, data[0][:3])  # and the link still works exactly
    assert bad == 0
    after = dev.stats()
    assert after["frames_bad"] >= before["frames_bad"] + 2


def test_wrong_model_is_refused_by_the_handshake(host_device, tmp_path):
    other = digits_like_model(seed=9)
    with pytest.raises(DeviceError, match="model hash mismatch"):
        connect_port(other, host_device.port)


def test_device_that_disappears_raises_within_the_timeout(qnet, data, tmp_path):
    d = deploy(qnet, get_board("host"), tmp_path, timeout=1.0)
    try:
        d.device.run_sample(data[0][0])
        d.launched.proc.kill()
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match="disappeared|no reply"):
            d.device.run_sample(data[0][1])
        assert time.monotonic() - t0 < 3.0
    finally:
        d.close()


@pytest.mark.parametrize("name,n", [("qemu-mps2-an385", 12), ("qemu-microbit", 6), ("qemu-sifive-e", 6)])
def test_emulated_device_equals_simulator(name, n, qnet, data, tmp_path):
    board = get_board(name)
    need_board_tools(board)
    with deploy(qnet, board, tmp_path) as d:
        outs, bad = _stream_and_compare(d.device, qnet, data[0][:n])
        assert bad == 0
        if name == "qemu-mps2-an385":
            assert d.hello.capabilities & codec.CAP_ICOUNT and d.hello.ticks_per_instruction == 3.2
            assert all(o.result.ticks > 0 for o in outs)
            # link ticks: everything the device ran for received bytes, the timesteps included;
            # the same samples again cost the same, up to the sequence numbers' CRC and COBS bytes
            x, dev = data[0][:4], d.device
            s0 = dev.stats()
            model = sum(o.result.ticks for o in dev.stream(x))
            s1 = dev.stats()
            list(dev.stream(x))
            s2 = dev.stats()
            a, b = s1["link_ticks"] - s0["link_ticks"], s2["link_ticks"] - s1["link_ticks"]
            assert 0 < model < a and abs(a - b) < 0.01 * a, (model, a, b)
        d.launched.proc.kill()  # the emulator goes away mid-session
        with pytest.raises(DeviceError):
            d.device.run_sample(data[0][0])


def test_stream_summary_counts_the_whole_link_on_a_counting_board(qnet, tmp_path):
    """On a board that counts instructions the summary has the model's count (esnn_step) and the
    whole link's (STATS' link ticks), the latter larger: frames, checks and replies."""
    from edgesnn import api

    board = get_board("qemu-mps2-an385")
    need_board_tools(board)
    s = api.stream(qnet, board=board.name, dataset="digits", limit=4, out=tmp_path)
    assert s["complete"] and s["mismatches"] == 0
    assert s["end_to_end_instructions_per_inference"] > s["instructions_per_inference"] > 0
    ratio = s["end_to_end_instructions_per_synaptic_event"] / s["instructions_per_synaptic_event"]
    assert ratio == pytest.approx(s["end_to_end_instructions_per_inference"] / s["instructions_per_inference"])


def test_stream_cli_json_lines_and_summary(qnet, data, tmp_path):
    m = save_model(qnet, tmp_path / "m.qsnn")
    res = CliRunner().invoke(
        app, ["stream", str(m), "--board", "host", "--limit", "15", "--out", str(tmp_path / "b"), "--json"]
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(ln) for ln in res.stdout.splitlines()]
    assert len(lines) == 16 and all("prediction" in ln for ln in lines[:15])
    s = lines[-1]
    assert s["summary"] and s["samples"] == 15 and s["mismatches"] == 0 and s["complete"]
    assert s["accuracy"] == s["simulator_accuracy"] and s["latency_ms_median"] > 0


def test_stream_needs_a_board_or_port(qnet, tmp_path):
    m = save_model(qnet, tmp_path / "m.qsnn")
    res = CliRunner().invoke(app, ["stream", str(m), "--json"])
    assert res.exit_code != 0 and "give --board" in res.stderr


def test_dense_step_wrong_length_is_malformed(host_device):
    with pytest.raises(DeviceError, match="malformed"):
        host_device.device.request(codec.STEP_DENSE, b"\x02" + bytes(3))  # 2 steps need 2 x 8 bytes


def test_deploy_command_serves_until_stopped_and_ports_lists(qnet, data, tmp_path):
    """`edgesnn deploy` prints its port, keeps serving for other tools, and stops on SIGTERM."""
    import subprocess
    import sys

    m = save_model(qnet, tmp_path / "m.qsnn")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgesnn.cli.app",
            "deploy",
            str(m),
            "--board",
            "host",
            "--out",
            str(tmp_path / "b"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert info["serving"] and info["hash32"] == f"{qnet.hash32:08x}"
        res = CliRunner().invoke(app, ["stream", str(m), "--port", info["port"], "--limit", "5", "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout.splitlines()[-1])["mismatches"] == 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    ports = CliRunner().invoke(app, ["ports", "--json"])
    assert ports.exit_code == 0 and isinstance(json.loads(ports.stdout)["ports"], list)


def _one_winner_model():
    """Output 0 spikes at every step (a large bias), the others never: settled after k steps when
    k > T - k (exact), or at a lead of `margin` spikes."""
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

    rng = np.random.default_rng(3)
    bias = np.full(4, -1000, np.int64)
    bias[0] = 10**6
    layer = QuantLayer(
        weight=rng.integers(-5, 6, (4, 8)),
        bias=bias,
        shift=4,
        alpha_mem=np.full(4, 58982),
        threshold=np.full(4, 1000),
    )
    return QuantNetwork(n_inputs=8, layers=(layer,), name="winner")


def test_stream_early_exit_stops_once_settled_and_stays_bit_exact(tmp_path):
    need_board_tools(get_board("host"))
    from edgesnn import api
    from edgesnn.fixedpoint.simulate import cut_at_exit

    q = _one_winner_model()
    x = np.random.default_rng(0).random((5, 25, 8)) < 0.3
    np.save(tmp_path / "x.npy", x)
    for margin, steps in ((0, 13), (2, 2)):
        d = deploy(q, get_board("host"), tmp_path / f"b{margin}")
        sim = cut_at_exit(q, x, simulate_int(q, x), margin)[0]
        rows: list = []
        err = api.device.stream_rows(d, x, np.zeros(5, np.int64), sim, 1, rows, early_exit=margin)
        assert err is None and [r["steps"] for r in rows] == [steps] * 5
        assert all(r["match"] and r["prediction"] == 0 for r in rows)
        assert [r["synops"] for r in rows] == list(sim.synops)  # the steps run only, as the simulator cut them
        assert sim.synops[0] == simulate_int(q, x[:1, :steps]).synops[0]


def test_early_exit_rule_never_changes_an_exact_prediction():
    from edgesnn.fixedpoint import contract as C

    rng = np.random.default_rng(1)
    for _ in range(200):
        t, c = int(rng.integers(1, 12)), int(rng.integers(2, 5))
        sp = rng.random((1, t, c)) < rng.random()
        steps, pred = C.exit_steps(sp, 0)
        counts = sp[0].sum(axis=0)
        if pred[0] >= 0:  # settled: the winner at exit is the winner at the end, by a strict lead
            assert pred[0] == np.argmax(counts) and np.sort(counts)[-1] > np.sort(counts)[-2]
            assert all(not C.settled(sp[0, :k].sum(axis=0), t - k, 0) for k in range(1, steps[0]))
        else:
            assert steps[0] == t
    assert C.settled(np.array([5, 1, 0]), 3) and not C.settled(np.array([5, 2, 0]), 3)
    assert C.settled(np.array([5, 3, 0]), 10, margin=2) and not C.settled(np.array([5, 4]), 10, margin=2)


def test_simulate_early_exit_reports_steps_and_accuracy(tmp_path):
    m = save_model(_one_winner_model(), tmp_path / "w.qsnn")
    x = np.random.default_rng(0).random((6, 25, 8)) < 0.3
    np.save(tmp_path / "x.npy", x)
    for margin, steps in (("0", 13.0), ("2", 2.0)):
        res = CliRunner().invoke(
            app, ["simulate", str(m), "--input", str(tmp_path / "x.npy"), "--early-exit", margin, "--json"]
        )
        assert res.exit_code == 0, res.output
        e = json.loads(res.stdout)["early_exit"]
        assert e["steps_mean"] == steps and e["predictions_changed"] == 0 and e["margin"] == int(margin)
