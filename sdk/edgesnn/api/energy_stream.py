"""``edgesnn energy --dataset STREAM``: an always-on stream's energy per hour, the SNN against the
int8 ANN run at a fixed rate and the same ANN gated by input activity (docs/energy.md, "Streams").

Every side is measured on the same emulated core: the SNN's firmware streams the test recording
under QEMU ``-icount`` (every frame held to the golden model: instructions of the model and its
decision rule), the ANN runs with CMSIS-NN on that core (instructions per inference, its logits
compared byte for byte with the numpy model of CMSIS-NN), and ``energy.power`` turns active
cycles (the cycle table of ``energy.cycles`` on a traced run), sleep and wake-ups into energy.
Input binning costs the same per event on every side; every side wakes once per timestep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesnn.api.model import quantized
from edgesnn.api.streams import detection_objective, score_detections, stream_of
from edgesnn.data.scoring import DEFAULT_TOLERANCE_MS
from edgesnn.errors import EmulatorError
from edgesnn.fixedpoint.qnetwork import QuantNetwork

if TYPE_CHECKING:
    from edgesnn.data.stream_set import StreamSet
    from edgesnn.energy.stream_ann import AnnRun
    from edgesnn.firmware.boards import Board

DUTIES = (1.0, 3.0, 10.0, 30.0, 100.0)
RATES = (10.0, 20.0, 50.0)
KEYS = ("detection_accuracy", "false_alarms_per_hour", "latency_ms_median")


def _events_per_second(ds: StreamSet, split: str, T: int, dt: int) -> float:
    """Sensor events a second over the first T timesteps (what the binning takes in)."""
    rec = ds.recording(split)
    dur = min(T * dt, rec.duration_us)
    if rec.events is not None:
        return float(np.count_nonzero(rec.events["t"] < dur)) / (dur / 1e6)
    if rec.x is not None:  # a spikes recording: its input spikes are the events
        return float(np.count_nonzero(rec.x[:T])) / (dur / 1e6)
    return 0.0


class _Ann:
    """The stream ANN trained on the model's recording, its rules fitted on the train split."""

    def __init__(
        self,
        qnet: QuantNetwork,
        ds: StreamSet,
        spec: dict,
        rates: tuple[float, ...],
        default_rate: float,
        widths: tuple[int, ...],
        epochs: int,
    ):
        from edgesnn.api.streams import rule_grid
        from edgesnn.energy import ann as A
        from edgesnn.energy import stream_ann as S
        from edgesnn.fixedpoint import simulate_int

        self.S, self.spec, self.dt, self.W = S, spec, spec["dt_us"], spec["window"]
        self.bins = S.AUDIO_BINS if "front_end" in spec else 1
        refr = rule_grid(self.W)["refractories"]
        x_tr, y_tr = ds.spikes("train", spec)
        x_te, y_te = ds.spikes("test", spec)
        snn_acc = simulate_int(qnet, x_te).accuracy(y_te)
        self.net, self.window_accuracy, self.tried = A.smallest_matching_ann(
            S.window_frames(x_tr, self.bins),
            y_tr,
            S.window_frames(x_te, self.bins),
            y_te,
            qnet.n_outputs,
            snn_acc,
            widths=widths,
            epochs=epochs,
        )
        self.snn_window_accuracy = snn_acc
        self.xq = A.ann_inputs(self.net, S.window_frames(x_te[:64], self.bins))
        T = ds.steps("train", spec)
        obj = detection_objective(ds, "train", spec, T)
        bg = spec["background"]
        self.rules = {}
        for rate in sorted(set(rates) | {default_rate}):
            run = self.run(ds, "train", T, rate)
            self.rules[rate] = S.fit_rule(run, obj, bg, self.period(rate), 0, refr)[0]
            if rate == default_rate:
                self.gated, self.gates_tried = S.fit_gate(run, obj, bg, self.period(rate), refr)

    def period(self, rate: float) -> int:
        return max(1, int(round(1e6 / (rate * self.dt))))

    def run(self, ds: StreamSet, split: str, T: int, rate: float) -> AnnRun:
        return self.S.run_over(
            self.net, lambda a, b: ds.frames(split, self.spec, a, b), T, self.W, self.period(rate), self.bins
        )


def _row(
    board: Board,
    metrics: dict,
    instr_per_s: float,
    cpi: float,
    events_per_s: float,
    wake_hz: float,
    front_end_cycles: float = 0.0,
    **extra: Any,
) -> dict:
    """One side's power; ``front_end_cycles`` a second: an ANN's share of the audio front end
    (the SNN's stream instructions already hold it)."""
    from edgesnn.energy.power import BIN_CYCLES_PER_EVENT, average_power

    cycles = instr_per_s * cpi + events_per_s * BIN_CYCLES_PER_EVENT + front_end_cycles
    out = {**average_power(board, cycles, wake_hz), **{k: metrics.get(k) for k in KEYS}}
    out.update(instructions_per_second=round(instr_per_s, 1), cycles_per_instruction=round(cpi, 3), **extra)
    return out


def _ratios(snn: dict, other: dict) -> float | None:
    a, b = snn["energy_mj_per_hour"], other["energy_mj_per_hour"]
    return round(a / b, 3) if b else None


def energy_stream(
    model: QuantNetwork | Any,
    board: str = "qemu-mps2-an386",
    out: Any = "build/energy",
    *,
    dataset: str | None = None,
    cmsis_nn: str | None = None,
    seconds: float | None = None,
    ann_rate: float = 20.0,
    duty_sweep: bool = False,
    ann_widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128),
    ann_epochs: int = 150,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Energy per hour and average power of ``snn``, ``ann`` (at ``ann_rate``; ``ann_rates``: 10,
    20 and 50 Hz) and ``gated_ann`` on the stream data set's test recording (its first
    ``seconds``), each with ``energy_mj_per_hour``, ``average_power_uw``, ``active_fraction``,
    ``detection_accuracy``, ``false_alarms_per_hour``, ``latency_ms_median``; ``ratios`` (SNN /
    each); ``idle_stream`` (no input: the network and rule at rest) and, with ``duty_sweep``,
    ``duty_sweep`` over the built-in recordings at 1, 3, 10, 30 and 100 % duty with the duty
    where the gated ANN becomes cheaper (``crossover_duty_percent``). The ANN is the narrowest of
    ``ann_widths`` hidden units (``ann_epochs`` of training) within a point of the SNN's window
    accuracy."""
    from edgesnn.energy.cmsisnn import cmsis_nn_dir
    from edgesnn.energy.power import average_power, counting_board, energy_figures
    from edgesnn.energy.report import measure_ann, measure_snn
    from edgesnn.firmware.boards import get_board

    say = progress or (lambda _msg: None)
    if not ann_rate > 0:
        raise ValueError(f"ann_rate must be > 0 Hz, got {ann_rate}")
    qnet = quantized(model)
    _, _, ds, spec = stream_of(qnet, dataset)
    if duty_sweep:  # before the long work
        sweep_base(spec)
    b = get_board(board)
    figures = energy_figures(b)
    emu = counting_board(b)
    if emu.family != "cortex-m":
        raise EmulatorError(f"the stream energy report runs CMSIS-NN: it needs a Cortex-M board, not {emu.name}")
    cmsis = cmsis_nn_dir(cmsis_nn)  # before the long work: a missing CMSIS-NN stops here
    out = Path(out)
    dt = spec["dt_us"]
    wake_hz = 1e6 / dt
    # the SNN's cycles per instruction and its idle step, from a self-check on test windows
    fe = qnet.front_end
    if fe is None:
        check_in = ds.spikes("test", spec)[0][:8]
    else:  # an audio model is checked on PCM: its front end runs on the device, and is counted
        starts = ds.window_index("test", spec)[0][:8]
        check_in = np.stack([ds.pcm("test", spec, int(a), int(a) + spec["window"]).reshape(-1) for a in starts])
    chk, snn_cpi = measure_snn(qnet, emu, check_in, out / "snn-check")
    # the front end a second (instructions), run alike for every side: the ANN takes its spikes too
    fe_ips = 0.0
    if fe is not None:
        fe_ips = chk["front_end_instructions_per_sample"] / (spec["window"] * dt / 1e6)
    say("training the int8 ANN on the train recording")
    ann = _Ann(qnet, ds, spec, RATES, ann_rate, ann_widths, ann_epochs)
    ann_instr, ann_cpi, ann_bad = measure_ann(ann.net, ann.xq, emu, cmsis, out)

    def measure(name: str | None, secs: float | None) -> dict[str, Any]:
        from edgesnn.api.stream_device import stream_recording

        _, _, dsx, specx = stream_of(qnet, name)
        T = dsx.steps("test", specx, secs)
        say(f"streaming {T * dt / 1e6:.0f} s of {dsx.name} to {emu.name}")
        s = stream_recording(qnet, board=emu.name, dataset=name, seconds=secs, out=out / "snn-stream")
        if s["mismatches"] or not s["complete"] or "instructions_per_second" not in s:
            raise EmulatorError(f"{emu.name}: the stream did not complete bit-exactly: {s.get('error', '')}")
        ev = _events_per_second(dsx, "test", T, dt)
        rows: dict[str, Any] = {
            "snn": _row(b, s, s["instructions_per_second"], snn_cpi, ev, wake_hz, mismatches=0, timesteps=T),
        }
        rate_rows: dict[str, Any] = {}
        runs = {rate: ann.run(dsx, "test", T, rate) for rate in ann.rules}
        for rate, rule in ann.rules.items():
            steps, classes, ran = ann.S.detections(runs[rate], rule)
            m = score_detections(dsx, "test", specx, steps, classes, T, DEFAULT_TOLERANCE_MS)
            per_s = ran / (T * dt / 1e6)
            rate_rows[f"{rate:g}"] = _row(
                b, m, per_s * ann_instr, ann_cpi, ev, wake_hz, fe_ips * snn_cpi, rate_hz=rate, rule=rule.as_dict()
            )
        rows["ann"] = rate_rows[f"{ann_rate:g}"]
        rows["ann_rates"] = rate_rows
        steps, classes, ran = ann.S.detections(runs[ann_rate], ann.gated)  # the same runs, gated
        m = score_detections(dsx, "test", specx, steps, classes, T, DEFAULT_TOLERANCE_MS)
        rows["gated_ann"] = _row(
            b,
            m,
            ran / (T * dt / 1e6) * ann_instr,
            ann_cpi,
            ev,
            wake_hz,
            fe_ips * snn_cpi,
            rate_hz=ann_rate,
            inferences_per_second=round(ran / (T * dt / 1e6), 3),
            rule=ann.gated.as_dict(),
        )
        rows["seconds"] = T * dt / 1e6
        rows["input_events_per_second"] = round(ev, 1)
        rows["ratios"] = {
            "snn_over_ann": _ratios(rows["snn"], rows["ann"]),
            "snn_over_gated_ann": _ratios(rows["snn"], rows["gated_ann"]),
        }
        return rows

    res: dict[str, Any] = {"board": b.name, "counted_on": emu.name, "cpu": emu.cpu, "clock_hz": b.clock_hz}
    res.update(measure(dataset, seconds))
    idle_instr = chk.get("instructions_per_idle_step")
    if idle_instr is not None and fe is not None:  # a microphone never stops: its front end runs on
        idle_instr += fe_ips * dt / 1e6
    idle: dict[str, Any] = {"instructions_per_idle_step": idle_instr}
    if idle_instr is not None:  # no events: the network and the rule at rest, woken each timestep
        idle.update(average_power(b, idle_instr * snn_cpi * wake_hz, wake_hz))
        idle["above_sleep_uw"] = round(idle["average_power_uw"] - idle["sleep_power_uw"], 3)
    res["idle_stream"] = idle
    res["ann_model"] = {
        "hidden": list(ann.net.hidden),
        "macs": ann.net.macs,
        "instructions_per_inference": round(ann_instr, 1),
        "window_accuracy": ann.window_accuracy,
        "snn_window_accuracy": ann.snn_window_accuracy,
        "widths_tried": ann.tried,
        "gates_tried": ann.gates_tried,
        "mismatches": ann_bad,
        "kernel": "CMSIS-NN arm_fully_connected_s8",
        "time_bins": ann.bins,
    }
    if fe is not None:
        res["front_end"] = {
            "instructions_per_second": round(fe_ips, 1),
            "instructions_per_channel_sample": chk.get("front_end_instructions_per_channel_sample"),
            "counted_for": "every side (the SNN's stream instructions include it; each ANN row adds it)",
        }
    res["energy_source"] = figures.get("source")
    res["sleep_source"] = figures.get("sleep_source")
    res["figures_from_memory"] = bool(figures.get("from_memory"))
    if duty_sweep:
        res["duty_sweep"] = sweep(measure, spec, seconds)
    e = res["ratios"]
    res["verdict"] = (
        f"per hour of stream the SNN uses {e['snn_over_ann']}x the energy of the {ann_rate:g} Hz int8 ANN "
        f"and {e['snn_over_gated_ann']}x that of the gated one on {emu.cpu}"
    )
    return res


def sweep_base(spec: dict) -> str:
    """The built-in stream a duty sweep regenerates at each duty; ValueError for any other."""
    from edgesnn.data import saccade_stream

    base = str(spec.get("dataset", "")).split(":")[0]
    if base != saccade_stream.NAME:
        raise ValueError(
            f"--duty-sweep needs the built-in {saccade_stream.NAME} (it takes a duty option), not {base!r}"
        )
    return base


def sweep(measure: Callable[[str | None, float | None], dict], spec: dict, seconds: float | None) -> dict:
    """The three at each built-in duty, and where the gated ANN becomes cheaper than the SNN."""
    base = sweep_base(spec)
    rows = []
    for duty in DUTIES:
        r = measure(f"{base}:duty={duty:g}", seconds)
        rows.append(
            {
                "duty_percent": duty,
                **{k: r[k]["energy_mj_per_hour"] for k in ("snn", "ann", "gated_ann")},
                "detection_accuracy": {k: r[k]["detection_accuracy"] for k in ("snn", "ann", "gated_ann")},
            }
        )
    return {"rows": rows, "crossover_duty_percent": crossover(rows)}


def crossover(rows: list[dict]) -> float | None:
    """The duty (log-interpolated) where gated ANN energy - SNN energy changes sign, or None."""
    d = [(r["duty_percent"], r["gated_ann"] - r["snn"]) for r in rows]
    for (d0, g0), (d1, g1) in zip(d, d[1:]):
        if g0 == 0:
            return d0
        if (g0 > 0) != (g1 > 0):
            f = g0 / (g0 - g1)
            return round(math.exp(math.log(d0) + f * (math.log(d1) - math.log(d0))), 2)
    return None
