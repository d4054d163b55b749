"""Firmware commands: boards, build, verify (thin: the work is in ``edgesnn.api``)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgesnn import api
from edgesnn.cli.common import JsonOpt, emit, err_console, handles_errors, table_console


@handles_errors
def boards_cmd(json_out: JsonOpt = False):
    """List the boards edgesnn can build for, and the neuromorphic kits with their limits."""
    rows = api.boards()
    if json_out:
        emit({"boards": rows}, True)
        return
    from edgesnn.cli.readable import size, table

    console = table_console()
    table(
        ["board", "kind", "cpu", "flash", "RAM", "weights persist in", "verified"],
        [
            [
                r["name"],
                r["kind"],
                r["cpu"],
                size(r["flash_bytes"]),
                size(r["ram_bytes"]),
                r["storage"] or ("a file" if r["name"] == "host" else "-"),
                r["verified"],
            ]
            for r in rows
            if r["kind"] != "kit"
        ],
        console,
    )
    table(
        ["kit", "chip", "dialect", "inputs", "hidden", "outputs", "weight/state bits", "verified"],
        [
            [
                r["name"],
                r["cpu"],
                r["dialect"],
                *(f"{r['limits'][k]:,}" for k in ("inputs", "hidden", "outputs")),
                f"{r['limits']['weight_bits']}/{r['limits']['state_bits']}",
                r["verified"],
            ]
            for r in rows
            if r["kind"] == "kit"
        ],
        console,
    )


@handles_errors
def build_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[str, typer.Option(help="Board or kit name (see `edgesnn boards`).")],
    out: Annotated[Path, typer.Option(help="Output folder for sources and the image.")] = Path("build"),
    dataset: Annotated[Optional[str], typer.Option(help="Data set for the embedded self-check inputs.")] = None,
    samples: Annotated[int, typer.Option(min=1, help="Self-check samples embedded (selfcheck app, PlatformIO).")] = 16,
    app: Annotated[str, typer.Option(help="device (serial protocol), selfcheck, or golden_host (host).")] = "device",
    platformio: Annotated[
        bool, typer.Option("--platformio", help="Write a PlatformIO project instead of a bare-metal image.")
    ] = False,
    json_out: JsonOpt = False,
):
    """Render the model's C sources for a board and compile them: an ELF, and for real boards the
    .bin/.hex/.uf2 their flashers take (--platformio, or a board without a bare-metal image: a project).
    A neuromorphic kit gets the chip's configuration (Xylo: the XyloSim specification; Loihi 2: the Lava network)."""
    emit(api.build(model, board, out, dataset=dataset, samples=samples, app=app, platformio=platformio), json_out)


@handles_errors
def verify_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[
        str, typer.Option(help="host, an emulated board, or a neuromorphic kit (its vendor simulator).")
    ] = "host",
    out: Annotated[Path, typer.Option(help="Build folder.")] = Path("build/verify"),
    dataset: Annotated[Optional[str], typer.Option(help="Data set, a name or a .npz (default: the model's).")] = None,
    limit: Annotated[
        Optional[int],
        typer.Option(
            min=1, help="Test samples to compare (boards: the first 450, all of digits; kits: the whole test split)."
        ),
    ] = None,
    count_instructions: Annotated[
        bool, typer.Option("--count-instructions", help="Run QEMU with -icount shift=7 and report instructions.")
    ] = False,
    seconds: Annotated[
        Optional[float], typer.Option(min=0.001, help="Streams: only the first S seconds of the test recording.")
    ] = None,
    json_out: JsonOpt = False,
):
    """Run the firmware on host or an emulated board (or a kit's vendor simulator) and compare with the golden simulator."""
    res = api.verify(
        model, board, out, dataset=dataset, limit=limit, count_instructions=count_instructions, seconds=seconds
    )
    emit(res, json_out)
    if res["mismatches"]:
        raise typer.Exit(1)


@handles_errors
def energy_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[
        str, typer.Option(help="Cortex-M board: emulated, or one whose [energy] table names its emulated stand-in.")
    ] = "qemu-mps2-an386",
    dataset: Annotated[Optional[str], typer.Option(help="Data set, a name or a .npz (default: the model's).")] = None,
    cmsis_nn: Annotated[
        Optional[str], typer.Option(help="CMSIS-NN folder for the int8 ANN baseline (else $EDGESNN_CMSIS_NN).")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Test samples measured on the emulated core.")] = 100,
    early_exit: Annotated[
        Optional[int],
        typer.Option(min=0, help="Also measure the SNN stopped once settled: 0 exact, N a lead of N spikes."),
    ] = None,
    seconds: Annotated[
        Optional[float], typer.Option(min=0.001, help="Streams: measure the test recording's first S seconds.")
    ] = None,
    ann_rate: Annotated[float, typer.Option(min=0.001, help="Streams: the int8 ANN's inference rate, Hz.")] = 20.0,
    duty_sweep: Annotated[
        bool, typer.Option("--duty-sweep", help="Streams: also at 1, 3, 10, 30 and 100 % duty (built-in stream).")
    ] = False,
    out: Annotated[Path, typer.Option(help="Build folder.")] = Path("build/energy"),
    json_out: JsonOpt = False,
):
    """Energy of the SNN vs the int8 ANN (CMSIS-NN) a user would deploy instead: per inference, or per hour of a stream."""
    busy = nullcontext() if json_out else err_console.status("measuring the SNN and the int8 ANN on the emulated core")
    with busy as status:

        def progress(msg: str) -> None:
            if status is not None:
                status.update(msg)

        res = api.energy(
            model,
            board,
            out,
            dataset=dataset,
            cmsis_nn=cmsis_nn,
            samples=samples,
            early_exit=early_exit,
            seconds=seconds,
            ann_rate=ann_rate,
            duty_sweep=duty_sweep,
            progress=progress,
        )
    emit(res, json_out)
