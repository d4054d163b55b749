"""Device commands: ports, deploy, stream."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from edgesnn.cli.common import JsonOpt, emit, err_console, handles_errors
from edgesnn.cli.firmware_cmds import _quantized


@handles_errors
def ports_cmd(json_out: JsonOpt = False):
    """List serial ports with their USB ids."""
    from serial.tools import list_ports

    rows = [{"port": p.device, "description": p.description,
             "usb_id": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None,
             "serial_number": p.serial_number, "manufacturer": p.manufacturer} for p in list_ports.comports()]
    if json_out:
        emit({"ports": rows}, True)
    elif not rows:
        typer.echo("no serial ports found")
    else:
        for r in rows:
            typer.echo(f"{r['port']:<20} {r['usb_id'] or '-':<10} {r['description']}")


def _open(qnet, board: Optional[str], port: Optional[str], out: Path, timeout: float):
    from edgesnn.device.deploy import connect_port, deploy
    from edgesnn.firmware.boards import get_board

    if board is None and port is None:
        raise ValueError("give --board (deploy first) or --port (a device already deployed)")
    if board is not None:
        return deploy(qnet, get_board(board), out, port=port, timeout=timeout)
    return connect_port(qnet, port, timeout=timeout)


@handles_errors
def deploy_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[str, typer.Option(help="Board (see `edgesnn boards`).")],
    port: Annotated[Optional[str], typer.Option(help="Serial port of a real board.")] = None,
    out: Annotated[Path, typer.Option(help="Build folder.")] = Path("build/deploy"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 2.0,
    json_out: JsonOpt = False,
):
    """Build, flash or start, and handshake; emulated and host devices keep serving until stopped."""
    qnet = _quantized(model)
    d = _open(qnet, board, port, out, timeout)
    h = d.hello
    info = {"board": d.board, "port": d.port, "hash32": f"{h.hash32:08x}", "firmware": h.fw_version,
            "abi": h.abi_version, "contract": h.contract_version, "max_frame": h.max_frame,
            "serving": d.launched is not None}
    d.device.close()  # free the port for the user's tools
    emit(info, json_out)
    if d.launched is None:
        return
    if not json_out:
        err_console.print(f"serving on [bold]{d.port}[/] ({d.launched.what}); Ctrl-C to stop")
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
    try:
        while not stop["now"] and d.launched.alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        d.launched.stop()


def _line(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


@handles_errors
def stream_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[Optional[str], typer.Option(help="Deploy to this board first (and stop it at the end).")] = None,
    port: Annotated[Optional[str], typer.Option(help="Use a device already deployed on this port.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Data set whose test split is streamed (a name or a .npz; default: the model's).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N samples.")] = None,
    steps_per_frame: Annotated[int, typer.Option(min=1, max=255, help="Timesteps per frame (1 = live, timestep by timestep).")] = 1,
    out: Annotated[Path, typer.Option(help="Build folder when deploying.")] = Path("build/stream"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 2.0,
    save_output: Annotated[Optional[Path], typer.Option(help="Keep what the device sent (.npz: inputs, output spikes, predictions) for plots.")] = None,
    json_out: JsonOpt = False,
):
    """Stream the test split to the device; live predictions, accuracy, mismatches with the simulator."""
    from edgesnn.data.datasets import model_inputs
    from edgesnn.fixedpoint import simulate_int

    qnet = _quantized(model)
    x, y, _ = model_inputs(qnet, dataset, "test", limit, str(model))
    sim = simulate_int(qnet, x)
    d = _open(qnet, board, port, out, timeout)
    live = None if json_out else _LiveView(len(x), d.hello.board)
    rows: list[dict] = []
    device_spikes: list[np.ndarray] = []

    def on_row(row: dict) -> None:
        if json_out:
            _line(row)
        else:
            live.update(row, rows)

    with (live or _Null()):
        error = stream_rows(d, x, y, sim, steps_per_frame, rows, on_row, device_spikes)
    summary = summarize(rows, sim, y, d.hello.board, error)
    summary["retransmissions"] = d.device.retransmissions
    if save_output is not None:
        summary["output"] = str(save_device_output(save_output, x, y, rows, device_spikes, qnet.n_outputs))
    if json_out:
        _line(summary)
    else:
        _print_summary(summary)
    if error:
        sys.stderr.write(f"error: {error} ({len(rows)} samples received and reported)\n")
        raise typer.Exit(1)


def stream_rows(d, x, y, sim, steps_per_frame: int, rows: list, on_row=None,
                spikes_out: Optional[list] = None) -> Optional[str]:
    """Stream samples to a deployed device, appending a row per sample; closes the deployment.

    Returns the error that ended the stream early, or None. Rows received are always kept.
    """
    from edgesnn.device.client import DeviceError

    hello = d.hello
    tpi = hello.ticks_per_instruction if hello.capabilities & 2 else 0.0
    error = None
    try:
        for i, so in enumerate(d.device.stream(x, steps_per_frame)):
            match = (np.array_equal(so.spikes, sim.spikes[i]) and so.result.prediction == sim.prediction[i]
                     and so.result.synops == sim.synops[i])
            row = {"sample": i, "prediction": so.result.prediction, "label": int(y[i]),
                   "correct": so.result.prediction == int(y[i]), "match": bool(match),
                   "counts": list(so.result.counts), "synops": so.result.synops,
                   "latency_ms": round(so.seconds * 1e3, 3)}
            if tpi:
                row["instructions"] = so.result.ticks / tpi
            rows.append(row)
            if spikes_out is not None:
                spikes_out.append(np.asarray(so.spikes, bool))
            if on_row is not None:
                on_row(row)
    except DeviceError as e:
        error = str(e)
    except KeyboardInterrupt:
        error = "interrupted"
    finally:
        d.close()
    return error


def save_device_output(path: Path, x: np.ndarray, y: np.ndarray, rows: list[dict], spikes: list[np.ndarray],
                       n_out: int) -> Path:
    """What the device sent, per received sample: output spikes (N, T, n_out), predictions, spike
    counts, synaptic events; with the inputs streamed and the labels (``plot raster`` reads it)."""
    n = len(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.stack(spikes) if n else np.zeros((0, x.shape[1], n_out), bool)
    np.savez(path, inputs=x[:n], labels=y[:n], spikes=out,
             prediction=np.array([r["prediction"] for r in rows], np.int64),
             counts=np.array([r["counts"] for r in rows], np.int64).reshape(n, -1),
             synops=np.array([r["synops"] for r in rows], np.int64), source=np.array("device"))
    return path


def summarize(rows: list[dict], sim, y, board: str, error: Optional[str]) -> dict:
    n = len(rows)
    s = {"summary": True, "board": board, "samples": n, "complete": error is None and n == len(y),
         "accuracy": float(np.mean([r["correct"] for r in rows])) if n else None,
         "simulator_accuracy": float(np.mean(sim.prediction[:n] == y[:n])) if n else None,
         "mismatches": sum(not r["match"] for r in rows),
         "latency_ms_median": float(np.median([r["latency_ms"] for r in rows])) if n else None,
         "synops_per_inference": float(np.mean([r["synops"] for r in rows])) if n else None}
    if n and "instructions" in rows[0]:
        s["instructions_per_inference"] = float(np.mean([r["instructions"] for r in rows]))
        s["instructions_per_synaptic_event"] = s["instructions_per_inference"] / max(s["synops_per_inference"], 1.0)
    if error:
        s["error"] = error
    return s


def _print_summary(s: dict) -> None:
    typer.echo(f"device {s['board']}: {s['samples']} samples, accuracy {s['accuracy']:.2%} "
               f"(simulator {s['simulator_accuracy']:.2%}), mismatches {s['mismatches']}, "
               f"median latency {s['latency_ms_median']:.2f} ms" if s["samples"] else "no samples received")
    if "instructions_per_inference" in s:
        typer.echo(f"instructions per inference {s['instructions_per_inference']:.0f} "
                   f"({s['instructions_per_synaptic_event']:.2f} per synaptic event, neuron updates included)")


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class _LiveView:
    """rich live view: last predictions, spike counts, running accuracy, latency."""

    def __init__(self, total: int, board: str):
        from rich.live import Live

        self.total, self.board = total, board
        self.live = Live(console=err_console, refresh_per_second=8, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *a):
        return self.live.__exit__(*a)

    def update(self, row: dict, rows: list[dict]) -> None:
        from rich.table import Table

        t = Table(title=f"{self.board}: sample {len(rows)}/{self.total}   running accuracy "
                        f"{np.mean([r['correct'] for r in rows]):.2%}   mismatches {sum(not r['match'] for r in rows)}")
        for col in ("sample", "label", "predicted", "spike counts", "latency ms", "sim match"):
            t.add_column(col)
        for r in rows[-8:]:
            t.add_row(str(r["sample"]), str(r["label"]),
                      f"[{'green' if r['correct'] else 'red'}]{r['prediction']}[/]",
                      " ".join(f"{c:2d}" for c in r["counts"]), f"{r['latency_ms']:.1f}", "yes" if r["match"] else "[red]NO[/]")
        self.live.update(t)
