"""Devices: deploy or connect, stream a data set with live results, list serial ports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesnn.api.deploying import (  # noqa: F401  (the API's names)
    connect,
    deploy,
    device_session,
    flash_plan,
    identity,
    open_device,
)
from edgesnn.api.model import PathLike, quantized
from edgesnn.errors import ArgumentError
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.fixedpoint.simulate import SimResult

if TYPE_CHECKING:  # the device stack (pyserial, board files) loads only when a device is used
    from edgesnn.device.deploy import Deployment


def stream_rows(
    d: Deployment,
    x: np.ndarray,
    y: np.ndarray,
    sim: SimResult,
    steps_per_frame: int | None,
    rows: list,
    on_row: Callable[[dict], None] | None = None,
    spikes_out: list | None = None,
    early_exit: int | None = None,
    link: dict | None = None,
    row_spikes: bool = False,
    wire: np.ndarray | None = None,
) -> str | None:
    """Stream samples to a deployed device, appending a row per sample; closes the deployment.
    ``wire``: what goes over the link instead of the spikes ``x``, one per sample (an audio
    model's int16 PCM, which the device's front end turns into ``x`` itself).

    Returns the error that ended the stream early, or None. Rows received are always kept.
    ``link``, where the device counts instructions, gets ``instructions``: everything the device
    executed for the stream (the link ticks of STATS before and after: receiving, decoding and
    checking frames, timesteps, replies; one STATS exchange more than the samples need).
    Each row carries the link's counters so far (``retransmissions``, ``damaged_frames``) and,
    with ``row_spikes``, the output spikes as ``[timestep, neuron]`` pairs (``output_spikes``).
    """
    hello = d.hello
    tpi = hello.ticks_per_instruction if hello.capabilities & 2 else 0.0
    with device_session(d) as session:
        before = d.device.stats() if tpi and link is not None else {}
        for i, so in enumerate(d.device.stream(x if wire is None else wire, steps_per_frame, early_exit)):
            match = (
                np.array_equal(so.spikes, sim.spikes[i])
                and so.result.prediction == sim.prediction[i]
                and so.result.synops == sim.synops[i]
            )
            row = {
                "sample": i,
                "total": len(x),  # samples this stream sends (progress bars know their end)
                "prediction": so.result.prediction,
                "label": int(y[i]),
                "correct": so.result.prediction == int(y[i]),
                "match": bool(match),
                "counts": list(so.result.counts),
                "synops": so.result.synops,
                "steps": so.steps,
                "latency_ms": round(so.seconds * 1e3, 3),
                "input_events": int(np.count_nonzero(x[i])),
                "retransmissions": d.device.retransmissions,
                "damaged_frames": d.device.damage_seen(),
            }
            if row_spikes:
                row["output_spikes"] = np.argwhere(so.spikes).tolist()
            if tpi:
                row["instructions"] = so.result.ticks / tpi
            rows.append(row)
            if spikes_out is not None:
                spikes_out.append(np.asarray(so.spikes, bool))
            if on_row is not None:
                on_row(row)
        if "link_ticks" in before and link is not None:
            link["instructions"] = (d.device.stats()["link_ticks"] - before["link_ticks"]) / tpi
    return session.error


def save_device_output(
    path: PathLike, x: np.ndarray, y: np.ndarray, rows: list[dict], spikes: list[np.ndarray], n_out: int
) -> Path:
    """What the device sent, per received sample: output spikes (N, T, n_out), predictions, spike
    counts, synaptic events; with the inputs streamed and the labels (``plot raster`` reads it)."""
    path = Path(path)
    n = len(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.stack(spikes) if n else np.zeros((0, x.shape[1], n_out), bool)
    np.savez(
        path,
        inputs=x[:n],
        labels=y[:n],
        spikes=out,
        prediction=np.array([r["prediction"] for r in rows], np.int64),
        counts=np.array([r["counts"] for r in rows], np.int64).reshape(n, -1),
        synops=np.array([r["synops"] for r in rows], np.int64),
        source=np.array("device"),
    )
    return path


def summarize(
    rows: list[dict], sim: SimResult, y: np.ndarray, board: str, error: str | None, link: dict | None = None
) -> dict[str, Any]:
    """Accuracy, mismatches with the simulator, latency, synaptic events, instructions: in
    ``esnn_step`` (``instructions_per_*``) and, from ``link`` (``stream_rows``), everything the
    device ran, protocol included (``end_to_end_instructions_per_*``)."""
    n = len(rows)
    s: dict[str, Any] = {
        "summary": True,
        "board": board,
        "samples": n,
        "complete": error is None and n == len(y),
        "accuracy": float(np.mean([r["correct"] for r in rows])) if n else None,
        "simulator_accuracy": float(np.mean(sim.prediction[:n] == y[:n])) if n else None,
        "mismatches": sum(not r["match"] for r in rows),
        "latency_ms_median": float(np.median([r["latency_ms"] for r in rows])) if n else None,
        "synops_per_inference": float(np.mean([r["synops"] for r in rows])) if n else None,
    }
    if n:
        s["steps_per_inference"] = float(np.mean([r["steps"] for r in rows]))
    if n and "instructions" in rows[0]:
        s["instructions_per_inference"] = float(np.mean([r["instructions"] for r in rows]))
        s["instructions_per_synaptic_event"] = s["instructions_per_inference"] / max(s["synops_per_inference"], 1.0)
    if n and link and "instructions" in link:
        s["end_to_end_instructions_per_inference"] = link["instructions"] / n
        s["end_to_end_instructions_per_synaptic_event"] = link["instructions"] / n / max(s["synops_per_inference"], 1.0)
    if error:
        s["error"] = error
    return s


def check_stream_args(
    qnet: QuantNetwork,
    dataset: str | None,
    limit: int | None,
    early_exit: int | None,
    realtime: bool,
    model_name: str = "the model",
) -> tuple[np.ndarray, np.ndarray, Any] | None:
    """None when ``stream`` runs continuously (a stream data set), else the per-sample inputs it
    streams (``model_inputs``: spikes, labels, data set), once the options are known to apply
    (a bad or missing data set fails here, before any device)."""
    from edgesnn.api.streams import is_stream_run
    from edgesnn.data.datasets import model_inputs

    if is_stream_run(qnet, dataset):
        if early_exit is not None or limit is not None:
            raise ArgumentError(
                "a stream runs continuously: {early_exit} and {limit} do not apply (use {seconds})",
                names=["early_exit", "limit", "seconds"],
            )
        return None
    if realtime:
        raise ArgumentError(
            "{realtime} replays a recording at its own pace: give a stream data set (one recording per split "
            "with segments, such as a DVS128 Gesture folder or saccade-digits-stream), not per-sample data",
            names=["realtime"],
        )
    return model_inputs(qnet, dataset, "test", limit, model_name)  # its shapes checked against the model


def stream(
    model: QuantNetwork | PathLike,
    *,
    board: str | None = None,
    port: str | None = None,
    dataset: str | None = None,
    limit: int | None = None,
    steps_per_frame: int | None = None,
    out: PathLike = "build/stream",
    timeout: float = 2.0,
    save_output: PathLike | None = None,
    on_row: Callable[[dict], None] | None = None,
    early_exit: int | None = None,
    seconds: float | None = None,
    tolerance_ms: float = 500.0,
    realtime: bool = False,
    on_start: Callable[[dict], None] | None = None,
    row_spikes: bool = False,
) -> dict[str, Any]:
    """Stream a data set's test split to a device and compare every output with the simulator.

    ``realtime`` (streams only): at the recording's own pace, reporting late frames and decision
    latency as a live sensor would see them (``stream_device.stream_recording``).

    A stream data set (or a stream model's own) goes continuously, with no resets
    (``stream_device.stream_recording``: ``seconds`` of it, detections scored with
    ``tolerance_ms``); ``on_row`` then gets one dict per frame.

    ``early_exit`` (0: exact, N > 0: a lead of N spikes; ``contract.settled``) stops each
    inference once its prediction is settled; the simulator's expectation is cut at the same
    step, so ``mismatches`` still compares every spike, prediction and synaptic event.

    ``steps_per_frame``: timesteps per STEP frame; None (default) sends as many as a frame holds
    and halves that whenever a frame arrived damaged, either way (``Device.run_sample``).

    Deploys to ``board`` first, or uses a device already on ``port``. ``on_row`` gets one dict
    per sample as it arrives; ``on_start`` gets the device's ``identity`` once it answered, with
    ``kind`` ("samples" or "stream"), ``class_names`` and ``total`` (samples or timesteps to
    send); ``row_spikes`` adds each row's ``output_spikes`` ([timestep, neuron] pairs). Returns the summary (``samples``, ``accuracy``, ``mismatches``,
    ``retransmissions``, ``latency_ms_median``, ``error`` if the device went away; where the
    device counts instructions ``instructions_per_*`` in ``esnn_step`` and
    ``end_to_end_instructions_per_*`` for everything it ran) with the per-sample ``rows``; rows
    received before an error are kept.

    ```python
    s = edgesnn.api.stream("digits.qsnn", board="qemu-mps2-an385")
    s["accuracy"], s["mismatches"]
    ```
    """
    from edgesnn.data.datasets import model_audio
    from edgesnn.device import codec
    from edgesnn.fixedpoint import simulate_int
    from edgesnn.fixedpoint.simulate import cut_at_exit

    qnet = quantized(model)
    name = str(model) if isinstance(model, (str, Path)) else qnet.name
    inputs = check_stream_args(qnet, dataset, limit, early_exit, realtime, name)
    if inputs is None:
        from edgesnn.api.stream_device import stream_recording

        return stream_recording(
            qnet,
            board=board,
            port=port,
            dataset=dataset,
            seconds=seconds,
            steps_per_frame=steps_per_frame,
            out=out,
            timeout=timeout,
            tolerance_ms=tolerance_ms,
            save_output=save_output,
            on_frame=on_row,
            realtime=realtime,
            on_start=on_start,
            row_spikes=row_spikes,
        )
    x, y, ds = inputs
    # an audio model's device takes PCM and runs its front end: the golden model's spikes are
    # what it must make of it (x), and every output is held to them as always
    pcm = model_audio(qnet, dataset, "test", limit, name)[0] if qnet.front_end is not None else None
    sim = simulate_int(qnet, x)
    if early_exit is not None:
        sim = cut_at_exit(qnet, x, sim, early_exit)[0]
    d = open_device(qnet, board, port, out, timeout)
    if pcm is not None and not d.hello.capabilities & codec.CAP_AUDIO:
        pcm = None  # firmware without the front end (built before it): it takes the spikes
    if on_start is not None:
        names = getattr(ds, "class_names", None) or [str(c) for c in range(qnet.n_outputs)]
        on_start({**identity(d), "kind": "samples", "class_names": list(names), "total": len(x)})
    rows: list[dict] = []
    spikes: list[np.ndarray] = []
    link: dict = {}
    error = stream_rows(d, x, y, sim, steps_per_frame, rows, on_row, spikes, early_exit, link, row_spikes, pcm)
    summary = summarize(rows, sim, y, d.hello.board, error, link)
    summary["early_exit"] = early_exit
    summary["retransmissions"] = d.device.retransmissions
    summary["damaged_frames"] = d.device.damage_seen()
    summary["input"] = "pcm" if pcm is not None else "spikes"
    if pcm is not None and "instructions_per_inference" in summary:  # RESULT's ticks cover the front end too
        summary["instructions_include_front_end"] = True
    if save_output is not None:
        summary["output"] = str(save_device_output(save_output, x, y, rows, spikes, qnet.n_outputs))
    summary["rows"] = rows
    return summary


def ports() -> list[dict[str, Any]]:
    """Serial ports with their USB ids and the boards whose files list that id (``boards``)."""
    from serial.tools import list_ports

    from edgesnn.firmware.boards import all_boards

    by_id: dict[str, list[str]] = {}
    for b in all_boards().values():
        for usb in b.get("deploy", {}).get("usb_ids", []):
            by_id.setdefault(usb, []).append(b.name)
    rows = []
    for p in list_ports.comports():
        usb = f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None
        rows.append(
            {
                "port": p.device,
                "description": p.description,
                "usb_id": usb,
                "boards": by_id.get(usb, []) if usb else [],
                "serial_number": p.serial_number,
                "manufacturer": p.manufacturer,
            }
        )
    return rows
