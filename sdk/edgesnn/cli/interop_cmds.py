"""Interchange commands: import and export NIR graphs, convert ANNs (thin: see ``edgesnn.api.interop``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgesnn import api
from edgesnn.cli.common import JsonOpt, drop, emit, handles_errors, warn


@handles_errors
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A NIR graph (.nir) from any tool.")],
    out: Annotated[
        Path, typer.Option(help="Where to write the edgesnn model (.nir float, .qsnn if quantized).")
    ] = Path("imported.nir"),
    dt: Annotated[Optional[float], typer.Option(help="Time step in seconds (NIR stores none).")] = None,
    reset: Annotated[
        Optional[str], typer.Option(help="to_value (NIR), subtract, or subtract-undecayed (snnTorch's default).")
    ] = None,
    compose_dense: Annotated[
        bool,
        typer.Option(
            "--compose-dense", help="Compose convolutions and pooling into dense matrices (default: keep them)."
        ),
    ] = False,
    json_out: JsonOpt = False,
):
    """Import a NIR graph (snnTorch, Norse, Sinabs, Rockpool, ...) as an edgesnn model."""
    res = api.import_nir(file, out, dt=dt, reset=reset, compose_dense=compose_dense)
    for w in res.get("warnings", []):  # on stderr too: a wrong guess here costs accuracy silently
        warn(w)
    shown = {"model": res.pop("model"), **drop(res, "network")}
    emit(shown if json_out or not shown.get("warnings") else drop(shown, "warnings"), json_out)


@handles_errors
def export_cmd(
    model: Annotated[Path, typer.Argument(help="An edgesnn model (.nir or .qsnn).")],
    format: Annotated[str, typer.Option("--format", help="nir")] = "nir",
    out: Annotated[Path, typer.Option(help="Output file.")] = Path("exported.nir"),
    json_out: JsonOpt = False,
):
    """Export a model to NIR (quantized models carry their integer tables and round-trip exactly)."""
    if format != "nir":
        raise ValueError(f"unknown format {format!r}; supported: nir")
    emit({"model": model, **api.export_nir(model, out)}, json_out)


@handles_errors
def convert_cmd(
    ann_file: Annotated[
        Path, typer.Argument(help="A torch ReLU network (.pt, whole module or TorchScript) or an int8 .tflite.")
    ],
    dataset: Annotated[
        str, typer.Option(help="Data set for normalisation and accuracy (a name or a .npz).")
    ] = "digits",
    out: Annotated[Path, typer.Option(help="The float SNN (NIR); the quantized one goes beside it as .qsnn.")] = Path(
        "converted.nir"
    ),
    timesteps: Annotated[int, typer.Option(min=1, help="Timesteps of the rate-coded input.")] = 100,
    percentile: Annotated[float, typer.Option(help="Activation percentile used as each layer's scale.")] = 99.9,
    sweep: Annotated[
        str, typer.Option(help="Also report accuracy at these timesteps (comma-separated).")
    ] = "10,25,50,100,200",
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="Load a .pt with full pickle (can run code: trusted files only).")
    ] = False,
    json_out: JsonOpt = False,
):
    """Convert a ReLU ANN to an IF spiking network; report ANN accuracy and integer SNN accuracy."""
    steps = [int(s) for s in sweep.split(",") if s.strip()] if sweep else []
    emit(
        api.convert(
            ann_file, dataset, out, timesteps=timesteps, percentile=percentile, sweep=steps, trust_pickle=trust_pickle
        ),
        json_out,
    )
