"""``edgesnn demo``: the main job, end to end, printing the figures that matter."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from edgesnn.cli.common import JsonOpt, emit, err_console, handles_errors
from edgesnn.cli.model_cmds import run_quantize, run_simulate, run_training

DEFAULT_BOARD = "qemu-mps2-an385"


def pick_board(name: str, say) -> str:
    """The requested board, or `host` (said out loud) when its toolchain or emulator is missing."""
    from edgesnn.firmware.boards import get_board

    board = get_board(name)
    tools = [board.toolchain["cc"]] + ([board.qemu["binary"]] if board.kind == "qemu" else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return name
    say(f"[yellow]board {name} needs {', '.join(missing)}, which is not installed: falling back to the host board[/]")
    return "host"


@handles_errors
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Working folder for models, firmware and outputs.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    board: Annotated[str, typer.Option(help="Board to build for and verify on.")] = DEFAULT_BOARD,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train even if the folder has a model.")] = False,
    json_out: JsonOpt = False,
):
    """Train (or reuse) -> quantize -> simulate -> build -> run on an emulated board, and print the figures."""
    from edgesnn.data.datasets import encoded
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.verify import verify
    from edgesnn.formats import load_model

    say = (lambda msg: None) if json_out else err_console.print
    float_path, q_path = out / "digits.nir", out / "digits.qsnn"
    result: dict = {}
    if float_path.is_file() and not retrain:
        say(f"[bold]1/4 reuse[/] {float_path} (pass --retrain to train again)")
        result["train"] = {"model": float_path, "reused": True}
    else:
        say(f"[bold]1/4 train[/] surrogate-gradient QAT on digits, {epochs} epochs")
        result["train"] = run_training("digits", float_path, epochs, seed, 256, 25, "rate", True, 1, not json_out)
    say("[bold]2/4 quantize[/] to the integer contract")
    q = run_quantize(float_path, "digits", q_path, None, None, False, "threshold")
    result["quantize"] = {k: q[k] for k in ("model", "hash", "float_accuracy", "int_accuracy", "prediction_agreement")}
    say("[bold]3/4 simulate[/] the quantized model (golden integer simulator)")
    result["simulate"] = run_simulate(q_path, "digits", None, out / "digits_int_output.npz", None)
    board_name = pick_board(board, say)
    say(f"[bold]4/4 build and run[/] the firmware on [bold]{board_name}[/], all test samples, compared with the simulator")
    qnet = load_model(q_path)
    x, y = encoded("digits", "test", qnet.input_spec)
    b = get_board(board_name)
    v = verify(qnet, b, x, out / f"firmware-{board_name}", icount=b.get("timer", {}).get("driver") == "cmsdk")
    result["firmware"] = v
    result.update(
        float_accuracy=q["float_accuracy"], int_accuracy=q["int_accuracy"],
        synops_per_sample=result["simulate"]["synops_per_sample"], board=board_name,
        device_mismatches=v["mismatches"], firmware_samples=int(x.shape[0]),
        flash_runtime_bytes=v["build"]["flash_runtime_bytes"], flash_model_bytes=v["build"]["flash_model_bytes"],
        ram_bytes=v["build"]["ram_bytes"],
    )
    if "instructions_per_sample" in v:
        result["instructions_per_inference"] = v["instructions_per_sample"]
        result["instructions_per_synaptic_event"] = v["instructions_per_sample"] / max(v["synops_per_sample"], 1.0)
    emit(result, json_out, None if json_out else _human)
    if v["mismatches"]:
        raise typer.Exit(1)


def _human(r: dict) -> None:
    typer.echo(f"float accuracy:   {r['float_accuracy']:.2%}")
    typer.echo(f"integer accuracy: {r['int_accuracy']:.2%}")
    typer.echo(f"synaptic events per sample: {r['synops_per_sample']:.0f}")
    typer.echo(f"firmware on {r['board']}: {r['firmware_samples']} samples, {r['device_mismatches']} mismatches "
               f"with the simulator ({r['firmware']['method']})")
    if "instructions_per_inference" in r:
        typer.echo(f"instructions per inference: {r['instructions_per_inference']:.0f} "
                   f"({r['instructions_per_synaptic_event']:.2f} per synaptic event, neuron updates included)")
    if r["board"] != "host":
        typer.echo(f"flash: runtime {r['flash_runtime_bytes']} B, model {r['flash_model_bytes']} B; RAM {r['ram_bytes']} B")
    typer.echo(f"quantized model: {r['quantize']['model']}  hash {r['quantize']['hash'][:16]}")
