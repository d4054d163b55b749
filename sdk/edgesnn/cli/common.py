"""What every command shares: ``--json`` output, one-line errors, a stderr console for progress."""

from __future__ import annotations

import functools
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from edgesnn.errors import EdgesnnError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")]
err_console = Console(stderr=True)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no Infinity/NaN (e.g. the threshold of a non-spiking LI layer)
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def emit(result: dict, as_json: bool, human: Callable[[dict], None] | None = None) -> None:
    """Print a command's result: one JSON object, or a human summary."""
    if as_json:
        sys.stdout.write(json.dumps(_plain(result)) + "\n")
        sys.stdout.flush()
    elif human is not None:
        human(result)
    else:
        from edgesnn.cli.readable import lines

        for ln in lines(_plain(result)):
            typer.echo(ln)


def line(obj: dict) -> None:
    """One JSON line on stdout, flushed (streams of per-sample results)."""
    sys.stdout.write(json.dumps(_plain(obj)) + "\n")
    sys.stdout.flush()


def drop(res: dict, *keys: str) -> dict:
    """A result without its objects (models, simulation results), for printing."""
    return {k: v for k, v in res.items() if k not in keys}


def progress_bar(total: int | None, label: str, enabled: bool) -> Any:
    """A rich progress bar on stderr (``disable`` when printing JSON)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )


class LazyBar:
    """A one-task progress bar drawn from its first ``update``, not before: an option or data
    error found while a command prepares leaves no empty bar above the ``error:`` line."""

    def __init__(self, total: int | None, label: str, enabled: bool):
        self.bar = progress_bar(total, label, enabled)
        self.total, self.task, self.label = total, None, label

    def update(self, advance: int = 0, total: int | None = None, **fields: Any) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total or self.total, info="")
        elif total is not None:
            self.bar.update(self.task, total=total)
        self.bar.update(self.task, advance=advance, **fields)

    def __enter__(self) -> LazyBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.bar.stop()


def epoch_progress(bar: LazyBar, test: bool = True) -> Callable[[dict], None]:
    """``api.train``'s ``progress`` on a bar: drawn at epoch 0 (data ready, options accepted),
    then a step per epoch with its loss and, with ``test``, the training pass's test figure
    (not the result's, which is the saved float model simulated)."""

    def update(h: dict) -> None:
        if h["epoch"] == 0:
            bar.update(info="first epoch")
            return
        figure = f"  test {h['test_accuracy_train_readout']:.2%} (training pass)" if test else ""
        bar.update(advance=1, info=f"loss {h['loss']:.4f}{figure}")

    return update


def table_console() -> Console:
    """Where tables go: the terminal's width on a terminal; piped, wide enough that no cell is
    cut (rich would otherwise assume 80 columns and shorten board names)."""
    return Console() if sys.stdout.isatty() else Console(width=400)


def echo_instructions(r: dict) -> None:
    """The instruction counts of a stream or demo summary, where the board counts them: in
    ``esnn_step``, then everything the device ran for the link."""
    if "instructions_per_inference" in r:
        typer.echo(
            f"instructions per inference {r['instructions_per_inference']:,.0f} "
            f"({r['instructions_per_synaptic_event']:.2f} per synaptic event, neuron updates included)"
        )
    if "end_to_end_instructions_per_inference" in r:
        typer.echo(
            f"end to end (protocol, frames and replies included) {r['end_to_end_instructions_per_inference']:,.0f} "
            f"({r['end_to_end_instructions_per_synaptic_event']:.2f} per synaptic event)"
        )


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr (shown with ``--json`` too: stdout stays JSON)."""
    sys.stderr.write(f"warning: {message}\n")


def fail(message: str, code: int = 1) -> None:
    """One line on stderr naming the cause, then a non-zero exit."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def handles_errors(func: Callable) -> Callable:
    """Turn bad-input errors into ``error: ...`` lines instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except (EdgesnnError, ValueError, OSError) as e:
            msg = e.cli_message() if isinstance(e, EdgesnnError) else str(e)  # options, not arguments
            fail(msg.splitlines()[0] if msg else type(e).__name__)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


def pct(v: float | None) -> str:
    """A fraction as a percentage for people, "-" when there is none."""
    return "-" if v is None else f"{v:.2%}"


def serve_until_stopped(alive: Callable[[], bool], seconds: float | None = None) -> None:
    """Wait while ``alive()`` holds, until Ctrl-C, SIGTERM or ``seconds`` (None: no limit): what
    a command that keeps devices or a page up for the user does after its work."""
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
    end = time.monotonic() + seconds if seconds is not None else float("inf")
    try:
        while not stop["now"] and alive() and time.monotonic() < end:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
