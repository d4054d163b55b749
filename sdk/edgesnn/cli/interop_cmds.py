"""Interchange commands: import and export NIR graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgesnn.cli.common import JsonOpt, emit, handles_errors
from edgesnn.errors import ModelFileError


@handles_errors
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A NIR graph (.nir) from any tool.")],
    out: Annotated[Path, typer.Option(help="Where to write the edgesnn model (.nir float, .qsnn if quantized).")] = Path("imported.nir"),
    dt: Annotated[Optional[float], typer.Option(help="Time step in seconds (NIR stores none).")] = None,
    reset: Annotated[Optional[str], typer.Option(help="to_value (NIR), subtract, or subtract-undecayed (snnTorch's default).")] = None,
    json_out: JsonOpt = False,
):
    """Import a NIR graph (snnTorch, Norse, Sinabs, Rockpool, ...) as an edgesnn model."""
    import nir

    from edgesnn.formats import save_model
    from edgesnn.formats.nir_import import import_graph, quantized_from_graph

    if not file.is_file():
        raise ModelFileError(f"NIR file not found: {file}")
    try:
        graph = nir.read(str(file))
    except Exception as e:  # h5py/nir raise many types on damaged files
        raise ModelFileError(f"{file}: corrupt NIR file ({type(e).__name__}: {e})") from None
    q = quantized_from_graph(graph, str(file))
    if q is not None:
        path = save_model(q, out.with_suffix(".qsnn") if out.suffix == ".nir" else out)
        emit({"model": path, "kind": "quantized", "hash": q.content_hash, "layers": len(q.layers)}, json_out)
        return
    net, rep = import_graph(graph, dt=dt, reset=reset)
    path = save_model(net, out)
    emit({"model": path, "kind": "float", "dt": rep.dt, "dt_source": rep.dt_source, "n_inputs": net.n_inputs,
          "n_outputs": net.n_outputs, "layers": rep.layers, "warnings": rep.warnings}, json_out)


@handles_errors
def export_cmd(
    model: Annotated[Path, typer.Argument(help="An edgesnn model (.nir or .qsnn).")],
    format: Annotated[str, typer.Option("--format", help="nir")] = "nir",
    out: Annotated[Path, typer.Option(help="Output file.")] = Path("exported.nir"),
    json_out: JsonOpt = False,
):
    """Export a model to NIR (quantized models carry their integer tables and round-trip exactly)."""
    import nir

    from edgesnn.formats import load_model
    from edgesnn.formats.files import _atomic_write
    from edgesnn.formats.nir_import import export_graph

    if format != "nir":
        raise ValueError(f"unknown format {format!r}; supported: nir")
    m = load_model(model)
    graph = export_graph(m)
    _atomic_write(out, lambda tmp: nir.write(tmp, graph))
    emit({"model": model, "out": out, "format": "nir", "nodes": len(graph.nodes),
          "quantized": "edgesnn.qsnn" in graph.metadata}, json_out)
