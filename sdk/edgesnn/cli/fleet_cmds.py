"""Several devices at once and the live dashboard: ``stream --devices N`` / ``--port`` given
several times / ``--dashboard``, ``dashboard``, ``deploy --devices N`` (thin: the work is in
``edgesnn.api.fleet`` and ``edgesnn.web``)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgesnn import api
from edgesnn.cli.common import JsonOpt, emit, err_console, handles_errors, line, pct, progress_bar, serve_until_stopped
from edgesnn.errors import ArgumentError

DashboardOpt = Annotated[bool, typer.Option("--dashboard", help="Serve a live page of every device (127.0.0.1).")]
DashboardPortOpt = Annotated[int, typer.Option(min=0, max=65535, help="The page's TCP port (0: any free one).")]
DashboardHostOpt = Annotated[
    str, typer.Option(help="Address the page listens on; another than loopback needs --token.")
]
TokenOpt = Annotated[Optional[str], typer.Option(help="A secret every request to the page must carry (?token=...).")]
LingerOpt = Annotated[
    Optional[float],
    typer.Option(min=0, help="Seconds the page stays up after the streams end (default: until Ctrl-C)."),
]


class Printer:
    """Thread-safe output of a fleet: JSON lines tagged with the device, or one progress bar per
    device that knows its total."""

    def __init__(self, json_out: bool, state: Any = None):
        self.json_out, self.state = json_out, state
        self.lock = threading.Lock()
        self.bar = progress_bar(None, "{task.description}", not json_out)
        self.tasks: dict[str, Any] = {}
        self.bad: dict[str, int] = {}

    def __enter__(self) -> Printer:
        return self  # the bars are drawn from the first device's start: a refusal prints one line

    def __exit__(self, *a: Any) -> None:
        if self.tasks:
            self.bar.__exit__(*a)

    def start(self, name: str, ident: dict) -> None:
        if self.state is not None:
            self.state.start(name, ident)
        with self.lock:
            if not self.tasks:
                self.bar.__enter__()
            self.tasks[name] = self.bar.add_task(name, total=ident.get("total"), info="")
            if self.json_out:
                line({"device": name, "identity": ident})

    def row(self, name: str, row: dict) -> None:
        if self.state is not None:
            self.state.row(name, row)
        with self.lock:
            if self.json_out:  # the raster's spikes are the page's, not the JSON lines'
                line({"device": name, **{k: v for k, v in row.items() if k != "output_spikes"}})
            elif name in self.tasks:
                self.bad[name] = self.bad.get(name, 0) + (row.get("match") is False)
                n = row.get("steps", 1) if "t_s" in row else 1  # a stream's total is timesteps
                self.bar.update(self.tasks[name], advance=n, info=f"mismatches {self.bad[name]}")

    def end(self, name: str, summary: dict) -> None:
        if self.state is not None:
            self.state.end(name, summary)
        with self.lock:
            if name in self.tasks:
                self.bar.update(self.tasks[name], info=summary.get("error") or "done")


def open_dashboard(
    enabled: bool, model: Path, n: int, board: Optional[str], host: str, port: int, token: Optional[str]
) -> Any:
    """The dashboard of ``n`` devices running ``model`` (on ``board``, when started here),
    listening before any long work (a refused address fails first), or None."""
    if not enabled:
        if host != "127.0.0.1" or token is not None:
            raise ArgumentError(
                "{dashboard_host} and {token} apply with {dashboard}", names=["dashboard_host", "token", "dashboard"]
            )
        return None
    try:
        from edgesnn.web import Dashboard, FleetState
    except ImportError as e:
        raise ArgumentError(
            f"the dashboard needs the web extra: pip install 'edgesnn[web]' ({e.name} is missing)"
        ) from None
    title = f"{model.name} on {n} device{'s' if n != 1 else ''}" + (f" ({board})" if board else "")
    dash = Dashboard(FleetState(title), host=host, port=port, token=token).start()
    err_console.print(f"dashboard: [bold]{dash.url}[/]")
    return dash


def run_fleet(
    model: Path,
    *,
    board: Optional[str],
    ports: list[str],
    devices: int,
    out: Path,
    timeout: float,
    json_out: bool,
    dash: Any,
    linger: Optional[float],
    **options: Any,
) -> None:
    """Deploy (or connect to) the fleet, stream to every device at once, print the summary,
    keep the dashboard up; exit 1 when any device ended with an error."""
    state = dash.state if dash is not None else None
    try:
        with Printer(json_out, state) as p:
            s = api.stream_fleet(
                model,
                board=board,
                devices=devices,
                ports=ports,
                out=out,
                timeout=timeout,
                on_members=lambda ms: state.add_all([m.name for m in ms]) if state is not None else None,
                on_start=p.start,
                on_row=p.row,
                on_end=p.end,
                row_spikes=dash is not None,
                **options,
            )
        if json_out:
            line(s)
        else:
            print_fleet(s)
        if dash is not None:
            _linger(dash, linger, json_out)
    finally:
        if dash is not None:
            dash.stop()
    if s["errors"]:
        for e in s["errors"]:
            sys.stderr.write(f"error: {e}\n")
        raise typer.Exit(1)


def _linger(dash: Any, linger: Optional[float], json_out: bool) -> None:
    if not json_out:
        how = f"for {linger:g} s" if linger is not None else "until Ctrl-C"
        err_console.print(f"the dashboard stays up at {dash.url} {how}")
    serve_until_stopped(lambda: True, linger)


def print_fleet(s: dict) -> None:
    for d in s["per_device"]:
        acc = d.get("accuracy", d.get("detection_accuracy"))
        typer.echo(
            f"{d['device']:<24} {d.get('board') or '-':<18} {d.get('samples', d.get('frames', 0)):>7,} "
            f"{'samples' if 'frames' not in d else 'frames'}  accuracy {pct(acc)}  mismatches {d.get('mismatches', 0)}  "
            f"retransmissions {d.get('retransmissions', 0)}" + (f"  error: {d['error']}" if d.get("error") else "")
        )
    typer.echo(
        f"fleet: {s['devices']} devices, {s['samples']:,} samples, accuracy {pct(s['accuracy'])}, "
        f"mismatches {s['mismatches']}, retransmissions {s['retransmissions']}, damaged frames {s['damaged_frames']}"
    )


@handles_errors
def dashboard_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn) the devices run.")],
    port: Annotated[list[str], typer.Option(help="A device already deployed (give it once per device).")],
    dataset: Annotated[Optional[str], typer.Option(help="Data set streamed (default: the model's).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N samples.")] = None,
    seconds: Annotated[Optional[float], typer.Option(min=0.001, help="Streams: the first S seconds.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 2.0,
    dashboard_port: DashboardPortOpt = 8050,
    dashboard_host: DashboardHostOpt = "127.0.0.1",
    token: TokenOpt = None,
    linger: LingerOpt = None,
    json_out: JsonOpt = False,
):
    """A live page over devices already deployed: streams the data set to each and shows them."""
    dash = open_dashboard(True, model, len(port), None, dashboard_host, dashboard_port, token)
    run_fleet(
        model,
        board=None,
        ports=port,
        devices=len(port),
        out=Path("build/stream"),
        timeout=timeout,
        json_out=json_out,
        dash=dash,
        linger=linger,
        dataset=dataset,
        limit=limit,
        seconds=seconds,
    )


def deploy_fleet(
    model: Path, board: str, ports: list[str], devices: int, out: Path, timeout: float, json_out: bool
) -> None:
    """``deploy --devices N`` or ``--port`` given several times: bring them all up, print each,
    serve those started here until Ctrl-C."""
    members = api.deploy_fleet(model, board, devices=devices, ports=ports, out=out, timeout=timeout)
    info = {"devices": [{"device": m.name, **api.identity(m.deployment)} for m in members]}

    def human(r: dict) -> None:
        for d in r["devices"]:
            typer.echo(f"{d['device']:<24} {d['port']:<24} model {d['model_hash']}")

    emit(info, json_out, human)
    launched = [m.deployment.launched for m in members if m.deployment.launched is not None]
    if not launched:
        return
    if not json_out:
        err_console.print(f"serving {len(launched)} devices; Ctrl-C to stop")
    try:
        serve_until_stopped(lambda: any(x.alive() for x in launched))
    finally:
        api.stop_fleet(members)
