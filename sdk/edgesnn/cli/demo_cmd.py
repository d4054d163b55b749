"""``edgesnn demo``: the main job, end to end, printing the figures that matter (see ``edgesnn.api.demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from edgesnn import api
from edgesnn.api.defaults import DEFAULT_BOARD
from edgesnn.cli.common import JsonOpt, LazyBar, echo_instructions, emit, epoch_progress, err_console, handles_errors


@handles_errors
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Working folder for models, firmware and outputs.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    board: Annotated[str, typer.Option(help="Board to build for and verify on.")] = DEFAULT_BOARD,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train even if the folder has a model.")] = False,
    json_out: JsonOpt = False,
):
    """Train (or reuse) -> quantize -> simulate -> build -> deploy to an emulated board -> stream; print the figures."""
    say = (lambda msg: None) if json_out else err_console.print
    rows: list[dict] = []
    with LazyBar(epochs, "training", not json_out) as tbar, LazyBar(None, "streaming", not json_out) as sbar:

        def on_row(r: dict) -> None:
            rows.append(r)
            sbar.update(
                advance=1,
                total=r["total"],
                info=f"pred {r['prediction']} label {r['label']}  acc "
                f"{np.mean([q['correct'] for q in rows]):.2%}  "
                f"mismatches {sum(not q['match'] for q in rows)}",
            )

        result = api.demo(
            out,
            epochs=epochs,
            seed=seed,
            board=board,
            retrain=retrain,
            say=say,
            train_progress=epoch_progress(tbar, test=False),
            on_row=on_row,
        )
    emit(result, json_out, None if json_out else _human)
    if result["selfcheck_mismatches"] or result["stream_mismatches"] or result.get("error"):
        if result.get("error"):
            err_console.print(f"[red]error:[/] {result['error']}")
        raise typer.Exit(1)


def _human(r: dict) -> None:
    typer.echo(f"float accuracy:    {r['float_accuracy']:.2%}   (float simulation, test split)")
    typer.echo(f"integer accuracy:  {r['int_accuracy']:.2%}   (golden integer simulator)")
    typer.echo(f"device accuracy:   {r['device_accuracy']:.2%}   ({r['board']}, {r['streamed']} samples streamed)")
    typer.echo(
        f"mismatches with the simulator: self-check {r['selfcheck_mismatches']} of {r['samples']} samples "
        f"(every state), stream {r['stream_mismatches']} of {r['streamed']} (output spikes)"
    )
    typer.echo(
        f"synaptic events per inference: {r['synops_per_sample']:.0f}; "
        f"median latency {r['latency_ms_median']:.1f} ms per inference over the link"
    )
    echo_instructions(r)
    if r["board"] != "host":
        typer.echo(
            f"flash: {r['flash_bytes']} B (runtime + protocol {r['flash_runtime_bytes']} B, model tables "
            f"{r['flash_model_bytes']} B); RAM {r['ram_bytes']} B"
        )
    typer.echo(f"quantized model: {r['quantize']['model']}  hash {r['quantize']['hash'][:16]}")
