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


def run_convert(ann_file: Path, dataset: str, out: Path, timesteps: int, percentile: float, sweep: list[int],
                trust_pickle: bool = False) -> dict:
    import numpy as np

    from edgesnn.convert.ann2snn import ann_forward, convert
    from edgesnn.data.datasets import Split, open_dataset
    from edgesnn.data.encoding import encode
    from edgesnn.fixedpoint import quantize, simulate_int
    from edgesnn.formats import save_model

    if not ann_file.is_file():
        raise ModelFileError(f"ANN file not found: {ann_file}")
    ds = open_dataset(dataset)
    # the ANN sees one vector per sample: intensities (features) or spike rates (spikes, events)
    base_spec = ds.resolve({"timesteps": timesteps if ds.kind != "spikes" else None, "seed": 0})
    train, test = (Split(*ds.static(s, base_spec)) for s in ("train", "test"))
    if ann_file.suffix == ".tflite" or ann_file.read_bytes()[4:8] == b"TFL3":
        from edgesnn.convert.tflite_ann import dequantized_input, read_tflite, run_reference

        ann = read_tflite(ann_file)
        stages = ann.stages
        if ann.n_inputs != train.x.shape[1]:
            raise ValueError(f"the model takes {ann.n_inputs} inputs but data set {dataset!r} gives inputs of shape "
                             f"{tuple(ds.input_shape(base_spec))} ({train.x.shape[1]} channels)")
        ann_pred = run_reference(ann_file, ann, test.x)
        feed = lambda x: np.clip(dequantized_input(ann, x), 0.0, 1.0)  # noqa: E731  the file's input quantization
        runtime = "ai-edge-litert interpreter"
    else:
        import torch

        from edgesnn.convert.torch_ann import input_shape_for, leaf_modules, load_torch_model, stages_from_torch

        torch.set_num_threads(1)
        model = load_torch_model(ann_file, trust_pickle=trust_pickle)
        stages = stages_from_torch(model, train.x.shape[1])
        shape = input_shape_for([m for m in leaf_modules(model)][0], train.x.shape[1])
        with torch.no_grad():
            try:
                logits = model(torch.tensor(test.x, dtype=torch.float32).reshape((-1,) + shape))
            except RuntimeError as e:
                raise ModelFileError(f"{ann_file}: the model does not run on {dataset} inputs of shape {shape}: "
                                     f"{str(e).splitlines()[0]}") from None
        ann_pred = logits.reshape(len(test.x), -1).argmax(1).numpy()
        feed = lambda x: x  # noqa: E731
        runtime = "torch"
    spec = base_spec

    def snn_inputs(split: str, t: int, seed: int, x_static: np.ndarray) -> np.ndarray:
        if ds.kind == "features":  # rate code of what the ANN saw
            return encode(feed(x_static), "rate", t, seed=seed)
        return ds.spikes(split, {**spec, "timesteps": t})[0]  # the data's own spikes

    net, lams = convert(stages, feed(train.x), percentile=percentile, input_spec=spec, name=f"{ann_file.stem}-snn")
    calib = snn_inputs("train", spec["timesteps"], 7, train.x)[:300]
    qnet = quantize(net, calibration=calib)
    curve = {}
    steps = {spec["timesteps"]} if ds.kind == "spikes" else set(sweep) | {timesteps}
    for t in sorted(steps):
        curve[str(t)] = simulate_int(qnet, snn_inputs("test", t, 1, test.x)).accuracy(test.y)
    timesteps = spec["timesteps"]
    save_model(net, out)
    qpath = save_model(qnet, out.with_suffix(".qsnn"))
    return {"model": out, "quantized_model": qpath, "ann_runtime": runtime,
            "ann_accuracy": float(np.mean(ann_pred == test.y)),
            "ann_float_accuracy": float(np.mean(ann_forward(stages, feed(test.x)).argmax(1) == test.y)),
            "snn_accuracy": curve[str(timesteps)], "timesteps": timesteps, "snn_accuracy_by_timesteps": curve,
            "percentile": percentile, "lambdas": lams}


@handles_errors
def convert_cmd(
    ann_file: Annotated[Path, typer.Argument(help="A torch ReLU network (.pt, whole module or TorchScript) or an int8 .tflite.")],
    dataset: Annotated[str, typer.Option(help="Data set for normalisation and accuracy (a name or a .npz).")] = "digits",
    out: Annotated[Path, typer.Option(help="The float SNN (NIR); the quantized one goes beside it as .qsnn.")] = Path("converted.nir"),
    timesteps: Annotated[int, typer.Option(min=1, help="Timesteps of the rate-coded input.")] = 100,
    percentile: Annotated[float, typer.Option(help="Activation percentile used as each layer's scale.")] = 99.9,
    sweep: Annotated[str, typer.Option(help="Also report accuracy at these timesteps (comma-separated).")] = "10,25,50,100,200",
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Load a .pt with full pickle (can run code: trusted files only).")] = False,
    json_out: JsonOpt = False,
):
    """Convert a ReLU ANN to an IF spiking network; report ANN accuracy and integer SNN accuracy."""
    steps = [int(s) for s in sweep.split(",") if s.strip()] if sweep else []
    emit(run_convert(ann_file, dataset, out, timesteps, percentile, steps, trust_pickle), json_out)
