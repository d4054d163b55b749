"""``edgesnn demo``: the main job, end to end, printing the figures that matter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgesnn.cli.common import JsonOpt, emit, err_console, handles_errors
from edgesnn.cli.model_cmds import run_quantize, run_simulate, run_training


@handles_errors
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Working folder for models and outputs.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train even if the folder has a model.")] = False,
    json_out: JsonOpt = False,
):
    """Train (or reuse) -> quantize -> simulate on digits, and print float and integer accuracy."""
    say = (lambda msg: None) if json_out else err_console.print
    float_path, q_path = out / "digits.nir", out / "digits.qsnn"
    result: dict = {}
    if float_path.is_file() and not retrain:
        say(f"[bold]1/3 reuse[/] {float_path} (pass --retrain to train again)")
        result["train"] = {"model": float_path, "reused": True}
    else:
        say(f"[bold]1/3 train[/] surrogate-gradient QAT on digits, {epochs} epochs")
        result["train"] = run_training("digits", float_path, epochs, seed, 256, 25, "rate", True, 1, not json_out)
    say("[bold]2/3 quantize[/] to the integer contract")
    q = run_quantize(float_path, "digits", q_path, None, None, False, "threshold")
    result["quantize"] = {k: q[k] for k in ("model", "hash", "float_accuracy", "int_accuracy", "prediction_agreement")}
    say("[bold]3/3 simulate[/] the quantized model (golden integer simulator)")
    result["simulate"] = run_simulate(q_path, "digits", None, out / "digits_int_output.npz", None)
    result.update(float_accuracy=q["float_accuracy"], int_accuracy=q["int_accuracy"],
                  synops_per_sample=result["simulate"]["synops_per_sample"])
    emit(result, json_out, None if json_out else _human)


def _human(r: dict) -> None:
    typer.echo(f"float accuracy:   {r['float_accuracy']:.2%}")
    typer.echo(f"integer accuracy: {r['int_accuracy']:.2%}")
    typer.echo(f"synaptic events per sample: {r['synops_per_sample']:.0f}")
    typer.echo(f"quantized model: {r['quantize']['model']}  hash {r['quantize']['hash'][:16]}")
