"""Device commands: ports, deploy, stream (thin: the work is in ``edgesnn.api``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer

from edgesnn import api
from edgesnn.cli import fleet_cmds
from edgesnn.cli.common import (
    JsonOpt,
    drop,
    echo_instructions,
    emit,
    err_console,
    fail,
    handles_errors,
    line,
    serve_until_stopped,
)
from edgesnn.cli.stream_view import LiveBase, TimelineView, print_stream_summary


@handles_errors
def ports_cmd(json_out: JsonOpt = False):
    """List serial ports with their USB ids."""
    rows = api.ports()
    if json_out:
        emit({"ports": rows}, True)
    elif not rows:
        typer.echo("no serial ports found")
    else:
        for r in rows:
            boards = ", ".join(r["boards"]) or "-"
            typer.echo(f"{r['port']:<20} {r['usb_id'] or '-':<10} {boards:<28} {r['description']}")


@handles_errors
def deploy_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[str, typer.Option(help="Board (see `edgesnn boards`).")],
    port: Annotated[
        Optional[list[str]],
        typer.Option(help="Serial port of a real board (default: found by its USB id); once per board for several."),
    ] = None,
    devices: Annotated[int, typer.Option(min=1, help="Start N instances of an emulated or host board.")] = 1,
    out: Annotated[Path, typer.Option(help="Build folder.")] = Path("build/deploy"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 2.0,
    drive: Annotated[
        Optional[Path], typer.Option(help="The board's USB drive (UF2 boot loader, ST-LINK, J-Link) to copy to.")
    ] = None,
    method: Annotated[
        Optional[str], typer.Option(help="Force a flashing method: drive, openocd, pyocd, picotool, platformio.")
    ] = None,
    port_timeout: Annotated[float, typer.Option(help="Seconds to wait for the serial port after flashing.")] = 10.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build and print the plan; flash nothing.")] = False,
    json_out: JsonOpt = False,
):
    """Build, flash or start, and handshake; emulated and host devices keep serving until stopped."""
    ports = port or []
    if devices > 1 or len(ports) > 1:
        if dry_run or drive or method:
            fail("--dry-run, --drive and --method take one board: drop --devices or the extra --port")
        fleet_cmds.deploy_fleet(model, board, ports, devices, out, timeout, json_out)
        return
    one = ports[0] if ports else None
    if dry_run:
        emit(api.flash_plan(model, board, out, port=one, drive=str(drive) if drive else None, method=method), json_out)
        return
    d = api.deploy(
        model,
        board,
        out,
        port=one,
        timeout=timeout,
        drive=str(drive) if drive else None,
        method=method,
        port_timeout=port_timeout,
    )
    h = d.hello
    info = {
        "board": d.board,
        "port": d.port,
        "hash32": f"{h.hash32:08x}",
        "firmware": h.fw_version,
        "abi": h.abi_version,
        "contract": h.contract_version,
        "max_frame": h.max_frame,
        "serving": d.launched is not None,
    }
    d.device.close()  # free the port for the user's tools
    emit(info, json_out)
    if d.launched is None:
        return
    if not json_out:
        err_console.print(f"serving on [bold]{d.port}[/] ({d.launched.what}); Ctrl-C to stop")
    try:
        serve_until_stopped(d.launched.alive)
    finally:
        d.launched.stop()


@handles_errors
def stream_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[Optional[str], typer.Option(help="Deploy to this board first (and stop it at the end).")] = None,
    port: Annotated[
        Optional[list[str]],
        typer.Option(help="Use a device already deployed on this port; give it once per device for several."),
    ] = None,
    devices: Annotated[
        int, typer.Option(min=1, help="Start N instances of an emulated or host --board and stream to all at once.")
    ] = 1,
    dataset: Annotated[
        Optional[str],
        typer.Option(help="Data set whose test split is streamed (a name or a .npz; default: the model's)."),
    ] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N samples.")] = None,
    steps_per_frame: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            max=255,
            help="Timesteps per frame (1 = timestep by timestep; default: as many as a frame holds, "
            "1 with --early-exit, which decides after every timestep).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Build folder when deploying.")] = Path("build/stream"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 2.0,
    save_output: Annotated[
        Optional[Path],
        typer.Option(help="Keep what the device sent (.npz: inputs, output spikes, predictions) for plots."),
    ] = None,
    early_exit: Annotated[
        Optional[int],
        typer.Option(
            min=0, help="Stop each inference once settled: 0 exact (no accuracy change), N a lead of N spikes."
        ),
    ] = None,
    seconds: Annotated[
        Optional[float], typer.Option(min=0.001, help="Streams: only the first S seconds of the test recording.")
    ] = None,
    tolerance_ms: Annotated[float, typer.Option(min=0, help="Streams: detection tolerance after a segment.")] = 500.0,
    realtime: Annotated[
        bool, typer.Option(help="Streams: at the recording's own pace (one timestep per frame), as a live sensor.")
    ] = False,
    live_source: Annotated[
        Optional[str],
        typer.Option(
            "--live",
            help="A live event camera instead of a data set: dv://HOST:PORT (dv-processing network stream) "
            "or camera[:NAME]; runs for --seconds, or until the source ends or Ctrl-C.",
        ),
    ] = None,
    dashboard: fleet_cmds.DashboardOpt = False,
    dashboard_port: fleet_cmds.DashboardPortOpt = 8050,
    dashboard_host: fleet_cmds.DashboardHostOpt = "127.0.0.1",
    token: fleet_cmds.TokenOpt = None,
    linger: fleet_cmds.LingerOpt = None,
    json_out: JsonOpt = False,
):
    """Stream the test split to the device; live predictions, accuracy, mismatches with the simulator.

    A stream data set runs continuously with no resets: the device reports detections as they
    happen, and the live view shows a timeline (input activity, segments, detections).

    Several devices (--devices N, or --port given once per device) stream at once, each on its
    own: JSON lines carry "device", and the summary has each device's figures and the fleet's.
    --dashboard serves a live page of them all."""
    ports = port or []
    fleet = devices > 1 or len(ports) > 1
    if live_source is not None:
        if fleet or dashboard:
            fail("--live streams one camera to one device: drop --devices, the extra --port and --dashboard")
        _stream_live(model, live_source, board, ports[0] if ports else None, seconds, out, timeout, json_out)
        return
    if fleet or dashboard:
        n = devices if board else max(len(ports), 1)
        dash = fleet_cmds.open_dashboard(dashboard, model, n, board, dashboard_host, dashboard_port, token)
        fleet_cmds.run_fleet(
            model,
            board=board,
            ports=ports,
            devices=devices,
            out=out,
            timeout=timeout,
            json_out=json_out,
            dash=dash,
            linger=linger,
            dataset=dataset,
            limit=limit,
            steps_per_frame=steps_per_frame,
            save_output=save_output,
            early_exit=early_exit,
            seconds=seconds,
            tolerance_ms=tolerance_ms,
            realtime=realtime,
        )
        return
    fleet_cmds.open_dashboard(False, model, 1, board, dashboard_host, dashboard_port, token)  # refuses --token alone
    one = ports[0] if ports else None
    continuous = api.is_stream_run(model, dataset)
    if continuous:
        live: Any = None if json_out else TimelineView(board or one or "device", model, dataset, seconds)
    else:
        live = None if json_out else _LiveView(board or one or "device")
    rows: list[dict] = []

    def on_row(row: dict) -> None:
        rows.append(row)
        if live is None:
            line(row)
        else:
            live.update(rows)

    with live or _Null():
        summary = drop(
            api.stream(
                model,
                board=board,
                port=one,
                dataset=dataset,
                limit=limit,
                steps_per_frame=steps_per_frame,
                out=out,
                timeout=timeout,
                save_output=save_output,
                on_row=on_row,
                early_exit=early_exit,
                seconds=seconds,
                tolerance_ms=tolerance_ms,
                realtime=realtime,
            ),
            "rows",
        )
    if json_out:
        line(summary)
    else:
        err_console.print()  # end the live view's last line before the summary
        (print_stream_summary if continuous else _print_summary)(summary)
    if summary.get("error"):
        sys.stderr.write(f"error: {summary['error']} ({summary['samples']} samples received and reported)\n")
        raise typer.Exit(1)


def _stream_live(model, source, board, port, seconds, out, timeout, json_out) -> None:
    def on_row(row: dict) -> None:
        if json_out:
            line(row)
        for t, name in row["detected"]:
            if not json_out:
                typer.echo(f"{t:9.2f} s  detected {name}  ({row['latency_ms']:.1f} ms)")

    s = api.stream_live(
        model, source, board=board, port=port, seconds=seconds, out=out, timeout=timeout, on_frame=on_row
    )
    if json_out:
        line(s)
    else:
        typer.echo(
            f"device {s['board']}: {s['seconds']:.2f} s live from {s['source']} in {s['wall_seconds']:.2f} s, "
            f"{s['events']:,} events ({s['late_events']:,} late), {len(s['detections'])} detections, "
            f"{s['late_frames']} late frames of {s['frames']}, mismatches {s['mismatches']}"
        )
    if s.get("error"):
        sys.stderr.write(f"error: {s['error']} ({s['frames']} timesteps streamed and reported)\n")
        raise typer.Exit(1)


def _print_summary(s: dict) -> None:
    typer.echo(
        f"device {s['board']}: {s['samples']} samples, accuracy {s['accuracy']:.2%} "
        f"(simulator {s['simulator_accuracy']:.2%}), mismatches {s['mismatches']}, "
        f"median latency {s['latency_ms_median']:.2f} ms, retransmissions {s['retransmissions']}"
        if s["samples"]
        else "no samples received"
    )
    echo_instructions(s)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class _LiveView(LiveBase):
    """rich live view: last predictions, spike counts, running accuracy, latency."""

    def __init__(self, board: str):
        super().__init__(board, 8)

    def update(self, rows: list[dict]) -> None:
        from rich.table import Table

        t = Table(
            title=f"{self.board}: sample {len(rows)} of {rows[-1]['total']}   running accuracy "
            f"{np.mean([r['correct'] for r in rows]):.2%}   mismatches {sum(not r['match'] for r in rows)}"
        )
        for col in ("sample", "label", "predicted", "spike counts", "latency ms", "sim match"):
            t.add_column(col)
        for r in rows[-8:]:
            t.add_row(
                str(r["sample"]),
                str(r["label"]),
                f"[{'green' if r['correct'] else 'red'}]{r['prediction']}[/]",
                " ".join(f"{c:2d}" for c in r["counts"]),
                f"{r['latency_ms']:.1f}",
                "yes" if r["match"] else "[red]NO[/]",
            )
        self.live.update(t)
