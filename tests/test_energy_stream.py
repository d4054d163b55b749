"""Always-on energy: the power model, the stream ANN's detections and gate, the duty crossover,
the board energy tables, the golden count of idle skipping, and the whole report on QEMU."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgesnn.api.energy_stream import crossover
from edgesnn.energy import stream_ann as S
from edgesnn.energy.power import average_power, counting_board
from edgesnn.errors import EmulatorError
from edgesnn.firmware.boards import all_boards, get_board
from edgesnn.fixedpoint.activity import spontaneous
from edgesnn.fixedpoint.continuous import StreamRunner
from edgesnn.fixedpoint.simulate import simulate_int
from tests.test_firmware_boards import digits_like_model


def test_average_power_as_documented():
    b = get_board("nrf52840-dk")  # 52 uA/MHz, 3 V, 64 MHz, sleep 3.16 uA, wake 3 us
    e = b.energy
    r = average_power(b, active_cycles_per_s=640_000, wakeups_per_s=100)
    p_run = e["ua_per_mhz"] * 64 * e["volts"]
    want = 0.01 * p_run + 0.99 * e["sleep_ua"] * e["volts"] + 100 * e["wake_us"] * 1e-6 * p_run
    assert r["active_fraction"] == pytest.approx(0.01)
    assert r["average_power_uw"] == pytest.approx(want, abs=1e-3)
    assert r["energy_mj_per_hour"] == pytest.approx(want * 3.6, abs=1e-2)
    with pytest.raises(EmulatorError, match="cannot keep up"):
        average_power(b, active_cycles_per_s=2 * b.clock_hz, wakeups_per_s=1)


def test_energy_tables_and_stand_ins():
    boards = all_boards()
    for name in ("nrf52840-dk", "nucleo-f446re", "rpi-pico", "hifive1-revb"):
        e = get_board(name).energy
        for key in ("ua_per_mhz", "volts", "sleep_ua", "wake_us", "source", "sleep_source", "wake_source"):
            assert key in e, (name, key)
        emu = counting_board(get_board(name))
        assert emu.kind == "qemu" and emu.name in boards and emu.energy["stands_in_for"] == name
        assert emu.energy["sleep_ua"] == e["sleep_ua"] and emu.energy["ua_per_mhz"] == e["ua_per_mhz"]
        assert e["from_memory"] is True  # said so, and in every source line
        assert "memory" in e["source"] or "estimate" in e["source"]


def _run(logits, events, steps):
    return S.AnnRun(np.asarray(steps, np.int64), np.asarray(logits, np.int8), np.asarray(events, np.int64))


def test_ann_votes_through_the_decision_rule_and_gate():
    from edgesnn.fixedpoint.decision import DecisionRule

    bg = 2
    logits = [[50, 0, 0], [50, 0, 0], [0, 0, 50], [0, 60, 0], [0, 10, 5]]
    run = _run(logits, [9, 9, 1, 9, 0], [4, 9, 14, 19, 24])
    z, ran = S.votes(run, gate=5)
    assert ran.tolist() == [True, True, False, True, False]
    assert z.tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]]
    # one vote (256 after the gain) crosses a threshold of 200; the margin is the lead over the rest
    rule = S.AnnRule(DecisionRule(decay_shift=1, threshold=200, margin=100, refractory=1, background=bg), 5, 0)
    steps, classes, n = S.detections(run, rule)
    assert steps.tolist() == [4, 19] and classes.tolist() == [0, 1] and n == 5  # run 1 is in the cool-down
    # the same, gated: run 2 (background) never ran, the rest as before
    gated = S.AnnRule(rule.decision, 5, 5)
    steps, _, n = S.detections(run, gated)
    assert steps.tolist() == [4, 19] and n == 3


@pytest.mark.parametrize(("window", "bins", "period"), [(30, 1, 5), (100, 10, 10), (17, 4, 3)])
def test_the_ann_over_a_recording_sees_each_window_in_its_time_bins(window, bins, period):
    """run_over's inputs at each run equal window_frames of that window (zeros before the start)."""
    from types import SimpleNamespace

    from edgesnn.energy import ann as A

    rng = np.random.default_rng(window)
    fr = rng.random((4500, 6)) < 0.3
    seen = []
    ann = SimpleNamespace(layers=[SimpleNamespace(weight=np.zeros((4, 6 * bins)))])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "ann_inputs", lambda net, x: seen.append(np.asarray(x)) or x)
        mp.setattr(A, "run_int8", lambda net, x: np.zeros((len(x), 4), np.int8))
        run = S.run_over(ann, lambda a, b: fr[a:b], len(fr), window, period, bins)
    x = np.concatenate(seen)
    padded = np.concatenate([np.zeros((window, 6), bool), fr])
    for k in (0, 1, len(run.steps) // 2, len(run.steps) - 1):
        e = int(run.steps[k]) + window  # in padded timesteps: the window ends at e
        want = S.window_frames(padded[None, e - window + 1 : e + 1], bins)[0]
        assert np.allclose(x[k], want), k
        assert run.events[k] == padded[e - window + 1 : e + 1].sum()


def test_fit_gate_prefers_the_largest_equally_good_gate():
    """Bursts of 4 busy runs vote class 0; quiet runs vote background, a fifth of them class 1
    (false alarms a gate can stop)."""
    rng = np.random.default_rng(0)
    n = 600
    burst = np.zeros(n, bool)
    starts = np.arange(10, n - 10, 30)
    for b in starts:
        burst[b : b + 4] = True
    events = np.where(burst, rng.integers(60, 100, n), rng.integers(0, 40, n))
    logits = np.zeros((n, 3), np.int8)
    logits[burst, 0] = 100
    spurious = ~burst & (rng.random(n) < 0.2)
    logits[spurious, 1] = 100
    logits[~burst & ~spurious, 2] = 100
    run = _run(logits, events, np.arange(n) * 5 + 4)

    def objective(steps, classes):
        k = (steps - 4) // 5
        hit = {int(b) for b in starts if ((k >= b) & (k < b + 8) & (classes == 0)).any()}
        false = int((~burst[k]).sum())
        return len(hit) / len(starts) - 0.01 * false

    rule, tried = S.fit_gate(run, objective, background=2, period=5)
    chosen = objective(*S.detections(run, rule)[:2])
    ungated = S.fit_rule(run, objective, background=2, period=5)[1]
    assert rule.gate > 0 and chosen > ungated  # the gate stops the false alarms
    assert chosen >= max(t["score"] for t in tried) - S.GATE_SLACK
    assert all(t["gate"] <= rule.gate for t in tried if t["score"] >= chosen)  # the largest such gate


def test_crossover_log_interpolated():
    rows = [{"duty_percent": d, "snn": s, "gated_ann": g} for d, s, g in [(1, 1.0, 4.0), (10, 4.0, 2.0), (100, 8, 1)]]
    c = crossover(rows)
    assert 1 < c < 10 and c == pytest.approx(np.exp(np.log(1) + (3 / 5) * np.log(10)), rel=1e-3)
    assert (
        crossover([{"duty_percent": 1, "snn": 1, "gated_ann": 2}, {"duty_percent": 3, "snn": 1, "gated_ann": 3}])
        is None
    )


def test_membrane_updates_chunked_stream_equals_simulate():
    q = digits_like_model(seed=2, hidden=20)
    rng = np.random.default_rng(1)
    x = np.zeros((120, 64), bool)
    x[10:14] = rng.random((4, 64)) < 0.3
    x[80:82] = rng.random((2, 64)) < 0.3
    sim = simulate_int(q, x[None], record=True)
    r = StreamRunner(q)
    parts = [r.run(x[a:b], record=True) for a, b in ((0, 7), (7, 60), (60, 120))]
    assert sum(p.neuron_updates for p in parts) == int(sim.membrane_updates[0])
    per = np.concatenate([p.per_step_updates for p in parts])
    assert per[0] == sum(L.n_out for L in q.layers)  # after the reset every neuron is updated
    assert sum(p.neuron_updates for p in parts) < 120 * sum(L.n_out for L in q.layers)


def test_spontaneous_neurons_are_counted():
    q = digits_like_model(seed=0, hidden=16)
    from dataclasses import replace

    L0 = q.layers[0]
    bias = np.zeros_like(L0.bias)
    bias[:3] = L0.threshold[:3]  # at threshold: fires within a few steps without input
    loud = replace(q, layers=(replace(L0, bias=bias), *q.layers[1:]))
    assert spontaneous(loud.layers, loud.state_bits) == [3, 0]
    quiet = replace(q, layers=(replace(L0, bias=np.zeros_like(L0.bias)), *q.layers[1:]))
    assert spontaneous(quiet.layers, quiet.state_bits) == [0, 0]


def test_training_keeps_biases_quiet():
    torch = pytest.importorskip("torch")
    from edgesnn.train.loop import TrainConfig, bias_limit, clamp_biases

    cfg = TrainConfig(beta=0.9, threshold=1.0)
    lim = bias_limit(cfg)
    assert lim == pytest.approx(0.1 * 0.98)
    assert bias_limit(TrainConfig(quiet=False)) is None
    lin = torch.nn.Linear(4, 3)
    with torch.no_grad():
        lin.bias[:] = torch.tensor([0.5, -0.5, 0.05])

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fcs = torch.nn.ModuleList([lin])

    clamp_biases(M(), lim)
    assert lin.bias.tolist() == pytest.approx([lim, -0.5, 0.05])


def test_plot_energy_stream(tmp_path):
    pytest.importorskip("matplotlib")
    from edgesnn import api

    rows = [{"duty_percent": d, "snn": 10.0 * d, "ann": 500.0, "gated_ann": 5.0 * d} for d in (1, 3, 10, 30, 100)]
    rep = tmp_path / "r.json"
    rep.write_text(
        json.dumps({"board": "qemu-mps2-an386", "duty_sweep": {"rows": rows, "crossover_duty_percent": None}})
    )
    r = api.plot("energy-stream", reports=[str(rep)], out=tmp_path / "e.png")
    assert Path(r["out"]).stat().st_size > 1000 and r["duties"] == 5
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a duty-sweep energy report"):
        api.plot("energy-stream", reports=[str(bad)], out=tmp_path / "x.png")


@pytest.mark.device
def test_stream_energy_report_on_qemu(tmp_path):
    """The whole report on a small spikes stream: SNN streamed bit-exactly under -icount, the
    int8 ANN on CMSIS-NN with its logits checked, the three rows and the idle stream."""
    pytest.importorskip("torch")
    import edgesnn.api as es
    from tests.test_energy import _cmsis_nn
    from tests.test_streams import make_spikes_stream
    from tests.toolchains import need_board_tools

    need_board_tools(get_board("qemu-mps2-an386"))
    cmsis = _cmsis_nn()
    data = str(make_spikes_stream(tmp_path / "s.npz", seconds_train=40, seconds_test=20))
    es.train(data, tmp_path / "m.nir", epochs=4, hidden=16, seed=0)
    es.quantize(tmp_path / "m.nir", tmp_path / "m.qsnn")
    from edgesnn.api.energy_stream import energy_stream

    r = energy_stream(
        tmp_path / "m.qsnn", "nrf52840-dk", tmp_path / "e", cmsis_nn=cmsis, seconds=8, ann_widths=(4, 8), ann_epochs=5
    )
    with pytest.raises(ValueError, match="--duty-sweep needs the built-in saccade-digits-stream"):
        energy_stream(tmp_path / "m.qsnn", "nrf52840-dk", tmp_path / "x", cmsis_nn="/nonexistent", duty_sweep=True)
    assert r["counted_on"] == "qemu-mps2-an386" and r["board"] == "nrf52840-dk"
    assert r["snn"]["mismatches"] == 0 and r["ann_model"]["mismatches"] == 0 and r["seconds"] == 8
    for key in ("snn", "ann", "gated_ann"):
        row = r[key]
        assert row["energy_mj_per_hour"] == pytest.approx(row["average_power_uw"] * 3.6, abs=1e-2)
        assert 0 < row["active_fraction"] < 1 and row["detection_accuracy"] is not None
    assert set(r["ann_rates"]) == {"10", "20", "50"} and r["ann"] == r["ann_rates"]["20"]
    assert r["ratios"]["snn_over_ann"] == pytest.approx(
        r["snn"]["energy_mj_per_hour"] / r["ann"]["energy_mj_per_hour"], rel=1e-2
    )
    assert r["gated_ann"]["inferences_per_second"] <= 20.0
    idle = r["idle_stream"]
    assert idle["instructions_per_idle_step"] is not None and idle["instructions_per_idle_step"] < 60
    assert idle["above_sleep_uw"] < 5.0
