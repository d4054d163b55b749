"""Firmware commands: boards, build, verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from edgesnn.cli.common import JsonOpt, emit, handles_errors
from edgesnn.errors import ModelFileError


def _quantized(model_path: Path):
    from edgesnn.fixedpoint import QuantNetwork
    from edgesnn.formats import load_model

    m = load_model(model_path)
    if not isinstance(m, QuantNetwork):
        raise ModelFileError(f"{model_path}: a float model; run `edgesnn quantize` first")
    return m


def _sample_inputs(qnet, dataset: Optional[str], limit: int) -> np.ndarray:
    """The first ``limit`` test samples of the data set (default: the model's), else seeded
    random spikes for a model that records no data set. A data set that does not fit fails."""
    from edgesnn.data.datasets import model_inputs

    if dataset or qnet.input_spec.get("dataset"):
        x, _, _ = model_inputs(qnet, dataset, "test", limit)
        return x
    steps = int(qnet.input_spec.get("timesteps", 25))
    return np.random.default_rng(0).random((limit, steps, qnet.n_inputs)) < 0.2


@handles_errors
def boards_cmd(json_out: JsonOpt = False):
    """List the boards edgesnn can build for."""
    from edgesnn.firmware.boards import all_boards

    rows = [{"name": b.name, "kind": b.kind, "cpu": b.cpu, "flash_bytes": b.memory["flash_bytes"],
             "ram_bytes": b.memory["ram_bytes"], "description": b.description} for b in all_boards().values()]
    if json_out:
        emit({"boards": rows}, True)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("board", "kind", "cpu", "flash", "RAM")
    for r in rows:
        t.add_row(r["name"], r["kind"], r["cpu"], f"{r['flash_bytes'] // 1024} KB", f"{r['ram_bytes'] // 1024} KB")
    Console().print(t)


def run_build(model: Path, board_name: str, out: Path, dataset: Optional[str], samples: int, app: str = "device") -> dict:
    from edgesnn.firmware import platformio
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.build import build

    qnet = _quantized(model)
    board = get_board(board_name)
    if board.kind == "platformio":
        proj = platformio.generate_project(qnet, board, out)
        return {"board": board.name, "elf": None, "project": proj, "hash": qnet.content_hash,
                "compile_check": platformio.compile_check(board, proj),
                "pio_config": platformio.validate_config(proj),
                "upload": f"cd {proj} && pio run -t upload --upload-port PORT"}
    inputs = _sample_inputs(qnet, dataset, samples) if app == "selfcheck" else None
    res = build(qnet, board, out, app=app, selfcheck_inputs=inputs)
    return {**res.as_dict(), "hash": qnet.content_hash}


@handles_errors
def build_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[str, typer.Option(help="Board name (see `edgesnn boards`).")],
    out: Annotated[Path, typer.Option(help="Output folder for sources and the image.")] = Path("build"),
    dataset: Annotated[Optional[str], typer.Option(help="Data set for the embedded self-check inputs.")] = None,
    samples: Annotated[int, typer.Option(min=1, help="Self-check samples embedded (selfcheck app, PlatformIO).")] = 16,
    app: Annotated[str, typer.Option(help="device (serial protocol), selfcheck, or golden_host (host).")] = "device",
    json_out: JsonOpt = False,
):
    """Render the model's C sources for a board and compile them (PlatformIO boards: a project)."""
    emit(run_build(model, board, out, dataset, samples, app), json_out)


@handles_errors
def verify_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[str, typer.Option(help="host or an emulated board.")] = "host",
    out: Annotated[Path, typer.Option(help="Build folder.")] = Path("build/verify"),
    dataset: Annotated[Optional[str], typer.Option(help="Data set, a name or a .npz (default: the model's).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Samples to compare.")] = 450,
    count_instructions: Annotated[bool, typer.Option(help="Run QEMU with -icount shift=7 and report instructions.")] = False,
    json_out: JsonOpt = False,
):
    """Run the firmware on host or an emulated board and compare every state with the simulator."""
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.verify import verify

    qnet = _quantized(model)
    b = get_board(board)
    if b.kind == "platformio":
        raise ValueError(f"board {board} is real hardware; verify runs on host or an emulated board")
    res = verify(qnet, b, _sample_inputs(qnet, dataset, limit), out, icount=count_instructions)
    emit(res, json_out)
    if res["mismatches"]:
        raise typer.Exit(1)
