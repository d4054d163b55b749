"""Interchange: NIR import and export, ANN-to-SNN conversion (torch, TFLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.api.model import Model, PathLike, load, save
from edgesnn.errors import ModelFileError


def import_nir(
    file: PathLike,
    out: PathLike | None = None,
    *,
    dt: float | None = None,
    reset: str | None = None,
    compose_dense: bool = False,
) -> dict[str, Any]:
    """A NIR graph from any tool (snnTorch, Norse, Sinabs, Rockpool, ...) as an edgesnn model.

    Linear chains, Conv2d / SumPool2d / AvgPool2d / Flatten kept as convolutional layers with
    input pooling (``compose_dense``: composed into dense matrices instead), LIF/CubaLIF/IF/LI
    neurons, recurrent loops; ``dt`` where the graph does not say; ``reset`` to_value, subtract or
    subtract-undecayed (snnTorch's default). A graph exported from a quantized edgesnn model
    comes back as that exact ``.qsnn``. Result: ``network``, ``kind``, ``model`` (if saved).

    ```python
    r = edgesnn.api.import_nir("snntorch.nir", dt=1e-4)
    ```
    """

    from edgesnn.formats.nir_import import import_graph, quantized_from_graph, read_nir

    file = Path(file)
    if not file.is_file():
        raise ModelFileError(f"NIR file not found: {file}")
    try:
        graph = read_nir(file)
    except Exception as e:  # h5py/nir raise many types on damaged files
        raise ModelFileError(f"{file}: corrupt NIR file ({type(e).__name__}: {e})") from None
    q = quantized_from_graph(graph, str(file))
    if q is not None:
        res: dict[str, Any] = {"network": q, "kind": "quantized", "hash": q.content_hash, "layers": len(q.layers)}
        if out is not None:
            out = Path(out)
            res["model"] = save(q, out.with_suffix(".qsnn") if out.suffix == ".nir" else out)
        return res
    net, rep = import_graph(graph, dt=dt, reset=reset, compose_dense=compose_dense)
    res = {
        "network": net,
        "kind": "float",
        "dt": rep.dt,
        "dt_source": rep.dt_source,
        "n_inputs": net.n_inputs,
        "n_outputs": net.n_outputs,
        "layers": rep.layers,
        "warnings": rep.warnings,
    }
    if out is not None:
        res["model"] = save(net, out)
    return res


def export_nir(model: Model | PathLike, out: PathLike) -> dict[str, Any]:
    """Write a model as a NIR graph; quantized models carry their integer tables and round-trip
    exactly (same hash on import)."""
    import nir

    from edgesnn.formats.files import atomic_write
    from edgesnn.formats.nir_float import gate_warnings
    from edgesnn.formats.nir_import import export_graph

    m = model if not isinstance(model, (str, Path)) else load(model)
    graph = export_graph(m)
    atomic_write(Path(out), lambda tmp: nir.write(tmp, graph))
    res = {"out": Path(out), "format": "nir", "nodes": len(graph.nodes), "quantized": "edgesnn.qsnn" in graph.metadata}
    if m.gates:  # said, not refused: edgesnn reads its own file back exactly
        res["warnings"] = gate_warnings(m)
    return res


def convert(
    ann_file: PathLike,
    dataset: str = "digits",
    out: PathLike = "converted.nir",
    *,
    timesteps: int = 100,
    percentile: float = 99.9,
    sweep: list[int] | None = None,
    trust_pickle: bool = False,
) -> dict[str, Any]:
    """Convert a ReLU ANN (a torch ``.pt``: TorchScript or a pickled module of torch.nn layers;
    or an int8 ``.tflite``) into an IF spiking network, quantize it, and report the ANN's
    accuracy (its own runtime) and the integer SNN's at each timestep count of ``sweep``.
    Pickled ``.pt`` files load with ``weights_only=True`` unless ``trust_pickle``.

    ```python
    r = edgesnn.api.convert("ann.tflite", "digits", "snn.nir", timesteps=100)
    r["ann_accuracy"], r["snn_accuracy"]
    ```
    """
    from edgesnn.convert.ann2snn import ann_forward
    from edgesnn.convert.ann2snn import convert as ann_to_snn
    from edgesnn.data.datasets import Split, open_dataset
    from edgesnn.data.encoding import encode
    from edgesnn.fixedpoint import quantize, simulate_int

    ann_file, out, sweep = Path(ann_file), Path(out), list(sweep or [])
    if not ann_file.is_file():
        raise ModelFileError(f"ANN file not found: {ann_file}")
    ds = open_dataset(dataset)
    # the ANN sees one vector per sample: intensities (features) or spike rates (spikes, events)
    base_spec = ds.spec_with(timesteps, seed=0)
    train, test = (Split(*ds.static(s, base_spec)) for s in ("train", "test"))
    if ann_file.suffix == ".tflite" or ann_file.read_bytes()[4:8] == b"TFL3":
        from edgesnn.convert.tflite_ann import dequantized_input, read_tflite, run_reference

        ann = read_tflite(ann_file)
        stages = ann.stages
        if ann.n_inputs != train.x.shape[1]:
            raise ValueError(
                f"the model takes {ann.n_inputs} inputs but data set {dataset!r} gives inputs of shape "
                f"{tuple(ds.input_shape(base_spec))} ({train.x.shape[1]} channels)"
            )
        ann_pred = run_reference(ann_file, ann, test.x)
        feed = lambda x: np.clip(dequantized_input(ann, x), 0.0, 1.0)  # noqa: E731  the file's input quantization
        runtime = "ai-edge-litert interpreter"
    else:
        import torch

        from edgesnn.convert.torch_ann import input_shape_for, leaf_modules, load_torch_model, stages_from_torch

        torch.set_num_threads(1)
        model = load_torch_model(ann_file, trust_pickle=trust_pickle)
        first = next(iter(leaf_modules(model)), None)
        want = getattr(first, "in_features", None)
        if want is not None and want != train.x.shape[1]:
            raise ModelFileError(
                f"{ann_file}: the model takes {want} inputs but data set {dataset!r} gives inputs of shape "
                f"{tuple(ds.input_shape(base_spec))} ({train.x.shape[1]} channels)"
            )
        stages = stages_from_torch(model, train.x.shape[1])
        shape = input_shape_for([m for m in leaf_modules(model)][0], train.x.shape[1])
        with torch.no_grad():
            try:
                logits = model(torch.tensor(test.x, dtype=torch.float32).reshape((-1,) + shape))
            except RuntimeError as e:
                raise ModelFileError(
                    f"{ann_file}: the model does not run on {dataset} inputs of shape {shape}: {str(e).splitlines()[0]}"
                ) from None
        ann_pred = logits.reshape(len(test.x), -1).argmax(1).numpy()
        feed = lambda x: x  # noqa: E731
        runtime = "torch"
    spec = base_spec

    def snn_inputs(split: str, t: int, seed: int, x_static: np.ndarray) -> np.ndarray:
        if ds.kind == "features":  # rate code of what the ANN saw
            return encode(feed(x_static), "rate", t, seed=seed)
        return ds.spikes(split, {**spec, "timesteps": t})[0]  # the data's own spikes

    net, lams = ann_to_snn(stages, feed(train.x), percentile=percentile, input_spec=spec, name=f"{ann_file.stem}-snn")
    calib = snn_inputs("train", spec["timesteps"], 7, train.x)[:300]
    qnet = quantize(net, calibration=calib)
    curve = {}
    steps = {spec["timesteps"]} if ds.kind == "spikes" else set(sweep) | {timesteps}
    for t in sorted(steps):
        curve[str(t)] = simulate_int(qnet, snn_inputs("test", t, 1, test.x)).accuracy(test.y)
    timesteps = spec["timesteps"]
    save(net, out)
    qpath = save(qnet, out.with_suffix(".qsnn"))
    return {
        "model": out,
        "quantized_model": qpath,
        "ann_runtime": runtime,
        "ann_accuracy": float(np.mean(ann_pred == test.y)),
        "ann_float_accuracy": float(np.mean(ann_forward(stages, feed(test.x)).argmax(1) == test.y)),
        "snn_accuracy": curve[str(timesteps)],
        "timesteps": timesteps,
        "snn_accuracy_by_timesteps": curve,
        "percentile": percentile,
        "lambdas": lams,
    }
