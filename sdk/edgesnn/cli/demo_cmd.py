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
    """Train (or reuse) -> quantize -> simulate -> build -> deploy to an emulated board -> stream; print the figures."""
    import numpy as np

    from edgesnn.cli.device_cmds import stream_rows, summarize
    from edgesnn.data.datasets import encoded
    from edgesnn.device.deploy import deploy
    from edgesnn.fixedpoint import simulate_int
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.verify import verify
    from edgesnn.formats import load_model

    say = (lambda msg: None) if json_out else err_console.print
    float_path, q_path = out / "digits.nir", out / "digits.qsnn"
    result: dict = {}
    if float_path.is_file() and not retrain:
        say(f"[bold]1/5 reuse[/] {float_path} (pass --retrain to train again)")
        result["train"] = {"model": float_path, "reused": True}
    else:
        say(f"[bold]1/5 train[/] surrogate-gradient QAT on digits, {epochs} epochs")
        result["train"] = run_training("digits", float_path, epochs, seed, 256, 25, "rate", True, 1, not json_out)
    say("[bold]2/5 quantize[/] to the integer contract")
    q = run_quantize(float_path, "digits", q_path, None, None, False, "threshold")
    result["quantize"] = {k: q[k] for k in ("model", "hash", "float_accuracy", "int_accuracy", "prediction_agreement")}
    say("[bold]3/5 simulate[/] the quantized model (golden integer simulator)")
    result["simulate"] = run_simulate(q_path, "digits", None, out / "digits_int_output.npz", None)
    board_name = pick_board(board, say)
    say(f"[bold]4/5 build and self-check[/] the firmware on [bold]{board_name}[/]: every state of all test samples vs the simulator")
    qnet = load_model(q_path)
    x, y = encoded("digits", "test", qnet.input_spec)
    b = get_board(board_name)
    v = verify(qnet, b, x, out / f"selfcheck-{board_name}", icount=b.get("timer", {}).get("driver") == "cmsdk")
    result["firmware"] = v
    say(f"[bold]5/5 deploy and stream[/]: the device firmware on [bold]{board_name}[/], the test split over the serial link")
    sim = simulate_int(qnet, x)
    d = deploy(qnet, b, out / f"device-{board_name}")
    rows: list[dict] = []
    with _progress(len(x), not json_out) as bar:
        task = bar.add_task("stream", total=len(x), info="")
        error = stream_rows(d, x, y, sim, 1, rows, lambda r: bar.update(
            task, advance=1, info=f"pred {r['prediction']} label {r['label']}  acc "
                                  f"{np.mean([q['correct'] for q in rows]):.2%}  mismatches {sum(not q['match'] for q in rows)}"))
    s = summarize(rows, sim, y, d.hello.board, error)
    result["stream"] = s
    dev_build = d.build
    result.update(
        float_accuracy=q["float_accuracy"], int_accuracy=q["int_accuracy"], device_accuracy=s["accuracy"],
        synops_per_sample=result["simulate"]["synops_per_sample"], board=board_name,
        selfcheck_mismatches=v["mismatches"], stream_mismatches=s["mismatches"], samples=int(x.shape[0]),
        streamed=s["samples"], latency_ms_median=s["latency_ms_median"],
        flash_bytes=dev_build.get("flash_bytes"), flash_runtime_bytes=dev_build.get("flash_runtime_bytes"),
        flash_model_bytes=dev_build.get("flash_model_bytes"), ram_bytes=dev_build.get("ram_bytes"),
    )
    for key in ("instructions_per_inference", "instructions_per_synaptic_event"):
        if key in s:
            result[key] = s[key]
    emit(result, json_out, None if json_out else _human)
    if v["mismatches"] or s["mismatches"] or error:
        if error:
            err_console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1)


def _progress(total: int, enabled: bool):
    from edgesnn.cli.model_cmds import _progress_bar

    return _progress_bar(total, "streaming", enabled)


def _human(r: dict) -> None:
    typer.echo(f"float accuracy:    {r['float_accuracy']:.2%}   (float simulation, test split)")
    typer.echo(f"integer accuracy:  {r['int_accuracy']:.2%}   (golden integer simulator)")
    typer.echo(f"device accuracy:   {r['device_accuracy']:.2%}   ({r['board']}, {r['streamed']} samples streamed)")
    typer.echo(f"mismatches with the simulator: self-check {r['selfcheck_mismatches']} of {r['samples']} samples "
               f"(every state), stream {r['stream_mismatches']} of {r['streamed']} (output spikes)")
    typer.echo(f"synaptic events per inference: {r['synops_per_sample']:.0f}; "
               f"median latency {r['latency_ms_median']:.1f} ms per inference over the link")
    if "instructions_per_inference" in r:
        typer.echo(f"instructions per inference: {r['instructions_per_inference']:.0f} "
                   f"({r['instructions_per_synaptic_event']:.2f} per synaptic event, neuron updates included)")
    if r["board"] != "host":
        typer.echo(f"flash: {r['flash_bytes']} B (runtime + protocol {r['flash_runtime_bytes']} B, model tables "
                   f"{r['flash_model_bytes']} B); RAM {r['ram_bytes']} B")
    typer.echo(f"quantized model: {r['quantize']['model']}  hash {r['quantize']['hash'][:16]}")
