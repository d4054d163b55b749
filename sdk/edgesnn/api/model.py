"""Models and data: load, save, quantize, simulate, describe (training: ``api.training``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.errors import ArgumentError, DatasetError, ModelFileError
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.fixedpoint.simulate import SimResult
from edgesnn.ir import Network

Model = Network | QuantNetwork
PathLike = str | Path


def load(path: PathLike) -> Model:
    """A float (``.nir``) or quantized (``.qsnn``) model from a file.

    ```python
    net = edgesnn.api.load("digits.nir")
    ```
    """
    from edgesnn.formats import load_model

    return load_model(Path(path))


def quantized(model: QuantNetwork | PathLike) -> QuantNetwork:
    """A quantized model (or its file); a float model is refused with the step to take."""
    m: Model = model if isinstance(model, QuantNetwork) else load(model)
    if not isinstance(m, QuantNetwork):
        raise ModelFileError(f"{model}: a float model; run `edgesnn quantize` first")
    return m


def save(model: Model, path: PathLike) -> Path:
    """Write a model: float networks as NIR, quantized ones as ``.qsnn`` (atomically)."""
    from edgesnn.formats import save_model

    return save_model(model, Path(path))


def _model(model: Model | PathLike) -> tuple[Model, str]:
    if isinstance(model, (Network, QuantNetwork)):
        return model, model.name
    return load(model), str(model)


def dataset(name: str) -> Any:
    """A built-in data set (``digits``, ``saccade-digits``) or a ``.npz`` file (docs/data.md).

    ```python
    ds = edgesnn.api.dataset("saccade-digits")
    x, y = ds.spikes("test", {"timesteps": 25})   # (450, 25, 2048) bool, labels
    ```
    """
    from edgesnn.data.datasets import open_any

    return open_any(name)


def data_info(name: str) -> dict[str, Any]:
    """``kind``, ``samples_train``, ``samples_test``, ``input_shape``, ``timesteps``, ``classes``."""
    return dataset(name).info()


def data_import(
    folder: PathLike,
    out: PathLike,
    *,
    sensor_size: tuple[int, int] | None = None,
    dt_ms: float | None = None,
    channels: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Recordings as published to the ``.npz`` of docs/data.md (``--dataset`` also takes them
    directly). ``folder`` is one of:

    * ``train``/``test`` folders of class folders of per-sample recordings (N-MNIST and
      N-Caltech101 ATIS ``.bin``, Prophesee ``.raw``/``.dat``, AEDAT 4 ``.aedat4``, AEDAT 3.1
      ``.aedat``) -> events (``sensor_size`` for header-less files, else inferred);
    * recordings with ``_labels.csv`` files, DVS128 Gesture's layout -> a stream with segments;
    * an SHD/SSC ``NAME_train.h5`` or a folder holding the pair -> spikes binned every ``dt_ms``
      (default 10 ms), ``channels`` inputs (default: the largest unit + 1).

    The result starts with ``kind`` and counts what was written.

    ```python
    edgesnn.api.data_import("N-MNIST", "nmnist.npz", sensor_size=(34, 34))
    edgesnn.api.data_import("shd", "shd.npz", dt_ms=10)
    ```
    """
    from edgesnn.data import importing, shd

    return importing.import_path(
        folder,
        out,
        sensor_size=sensor_size,
        dt_ms=shd.DEFAULT_DT_MS if dt_ms is None else dt_ms,
        channels=channels,
        progress=progress,
    )


def events_from_video(
    frames: PathLike,
    out: PathLike,
    *,
    fps: float | None = None,
    threshold_on: float = 0.2,
    threshold_off: float = 0.2,
    mismatch: float = 0.03,
    refractory_us: float = 0.0,
    noise_hz: float = 0.0,
    seed: int = 0,
    label: int = 0,
) -> dict[str, Any]:
    """Turn a clip (``.npy`` (T, H, W[, 3]) or a video/GIF imageio reads) into an events file
    with the DVS pixel model. Result: ``events``, ``on``, ``off``, ``duration_us``.

    ```python
    edgesnn.api.events_from_video("clip.gif", "clip.npz")
    ```
    """
    from edgesnn.data.dvs import PixelModel
    from edgesnn.data.video import video_to_events

    model = PixelModel(
        threshold_on=threshold_on,
        threshold_off=threshold_off,
        mismatch=mismatch,
        refractory_us=refractory_us,
        noise_hz=noise_hz,
        seed=seed,
    )
    return video_to_events(frames, out, model, fps, label)


def version() -> dict[str, Any]:
    """The edgesnn version and the integer contract version."""
    from edgesnn import __version__
    from edgesnn.fixedpoint.contract import CONTRACT_VERSION

    return {"version": __version__, "contract_version": CONTRACT_VERSION}


def model_data(
    model: Model,
    dataset: str | None = None,
    split: str = "test",
    limit: int | None = None,
    model_name: str = "the model",
) -> tuple[np.ndarray, np.ndarray]:
    """A model's input spikes and labels from a data set (default: the one it was trained on);
    a data set whose shape disagrees with the model fails naming both shapes."""
    from edgesnn.data.datasets import model_inputs

    x, y, _ = model_inputs(model, dataset, split, limit, model_name)
    return x, y


def quantize(
    model: Network | PathLike,
    out: PathLike | None = None,
    *,
    dataset: str | None = None,
    weight_bits: int | None = None,
    state_bits: int | None = None,
    per_layer: bool = False,
    shift_rule: str = "threshold",
    board: str | None = None,
) -> dict[str, Any]:
    """Quantize a float model to the integer contract and measure float vs integer accuracy.

    A quantization-aware model is quantized with the bit widths it was trained with. ``board``
    naming a neuromorphic kit quantizes into that chip's dialect (``fixedpoint.quantize_kits``)
    and checks the kit's fit rules; the bit widths are then the chip's. Result:
    ``network`` (the QuantNetwork), ``model`` (path, if saved), ``hash``, ``float_accuracy``,
    ``int_accuracy``, ``prediction_agreement``, per-layer ``layers`` report.

    ```python
    q = edgesnn.api.quantize("digits.nir", "digits.qsnn")
    q["int_accuracy"], q["hash"]
    ```
    """
    from edgesnn.fixedpoint import quantization_report
    from edgesnn.fixedpoint.quantize import quantize_as_trained

    net, name = _model(model)
    if not isinstance(net, Network):
        raise ModelFileError(f"{name}: already quantized; quantize takes a float model")
    if shift_rule not in ("threshold", "data"):
        raise ValueError(f"unknown shift rule {shift_rule!r}; use 'threshold' or 'data'")
    from edgesnn.firmware.boards import get_board

    b = get_board(board, kits=True) if board is not None else None
    extra: dict[str, Any] = {}
    if b is not None and b.is_kit and b.check["how"] != "none":  # the chip's dialect (export-only kits: edgesnn's)
        from edgesnn import kits

        if weight_bits or state_bits or per_layer or shift_rule != "threshold":
            raise ValueError(f"{b.name} fixes the bit widths and scales: drop the bit-width and shift options")
        qnet, extra = kits.quantize(net, b)
    else:
        calib = model_data(net, dataset, "train", None, name)[0] if shift_rule == "data" else None
        qnet = quantize_as_trained(
            net, weight_bits=weight_bits, state_bits=state_bits, per_layer=per_layer, calibration=calib
        )
        if b is not None:  # the board's or kit's fit rules now rather than at build
            from edgesnn.firmware.boards import check_fits
            from edgesnn.kits.rules import check_kit_fits

            (check_kit_fits if b.is_kit else check_fits)(b, qnet)
    per_channel = not per_layer and net.meta.get("qat", {}).get("per_channel", True)
    if net.input_spec.get("encoding") == "stream":  # refit the decision rule on this integer model
        from edgesnn.api.streams import brief, fit_decision, stream_metrics, with_decision
        from edgesnn.data.datasets import open_stream

        sds = open_stream(dataset or net.input_spec["dataset"])
        rule, fit = fit_decision(qnet, sds, sds.model_spec(qnet.input_spec))
        qnet = with_decision(qnet, rule)
        extra["stream_train"] = brief(fit)
        extra["stream_test"] = brief(stream_metrics(qnet, sds, "test"))
    x, y = model_data(net, dataset, "test", None, name)
    rep = quantization_report(net, qnet, x, y)
    res: dict[str, Any] = {
        "network": qnet,
        "hash": qnet.content_hash,
        "weight_bits": qnet.weight_bits,
        "state_bits": qnet.state_bits,
        "dialect": qnet.dialect,
        "per_channel": per_channel,
        "shift_rule": shift_rule,
        **rep.as_dict(),
        **extra,
    }
    if not qnet.is_chain:
        from edgesnn.firmware.render import runtime_graph_problem

        res["graph_connections"] = len(qnet.connections)
        if qnet.gates:
            res["sew_gates"] = [g.as_dict() for g in qnet.gates]
        why = runtime_graph_problem(qnet)
        if why is not None:  # boards.rule_graph would refuse a build: the golden simulator only
            res["firmware_refuses"] = why
    if qnet.dialect == "edgesnn":  # neurons whose bias fires them without input keep the device awake
        from edgesnn.fixedpoint.activity import spontaneous

        res["neurons_firing_without_input"] = spontaneous(qnet.layers, qnet.state_bits)
    if out is not None:
        res["model"] = save(qnet, out)
    return res


def load_input(path: PathLike, n_inputs: int) -> np.ndarray:
    """Input spikes from a ``.npy`` of shape (samples, timesteps, n_inputs) holding 0/1."""
    from edgesnn.fixedpoint.simulate import check_inputs

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"input file not found: {path}")
    try:
        # mapped, not read: the simulator reads each chunk from the page cache, where a copy would
        # first fault in fresh memory for the whole file (about 0.1 s per 50 MB on a VM)
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise DatasetError(f"{path}: expected one .npy array, got an archive")
    return check_inputs(arr, n_inputs)


def simulate(
    model: Model | PathLike,
    *,
    dataset: str | None = None,
    inputs: np.ndarray | PathLike | None = None,
    limit: int | None = None,
    save_output: PathLike | None = None,
    golden: PathLike | None = None,
    early_exit: int | None = None,
    seconds: float | None = None,
    tolerance_ms: float = 500.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Simulate a model: float models in float, quantized ones bit-exactly (the golden model).

    A stream data set (or a stream model's own) runs the test recording continuously, with no
    resets (``simulate_stream``).

    Inputs: a data set's test split (default: the model's) or ``inputs`` (an array or ``.npy``).
    Result: ``samples``, ``timesteps``, ``synops_per_sample``, ``accuracy`` (with labels),
    ``result`` (the SimResult); ``save_output`` writes spikes/predictions, ``golden`` every
    spike and state for C ports. ``early_exit`` (0: exact, N > 0: a lead of N spikes) adds
    ``early_exit`` with the steps and synaptic events saved and the accuracy at exit.

    ```python
    r = edgesnn.api.simulate("digits.qsnn")
    r["accuracy"]
    ```
    """
    from edgesnn.fixedpoint import simulate as run
    from edgesnn.fixedpoint.simulate import check_inputs

    if dataset is not None and inputs is not None:
        raise ArgumentError("give one of {dataset} or {input}, not both", names=["dataset", "input"])
    m, name = _model(model)
    if inputs is None:
        from edgesnn.api.streams import is_stream_run, simulate_stream

        if is_stream_run(m, dataset):
            return simulate_stream(m, dataset, seconds=seconds, tolerance_ms=tolerance_ms, progress=progress)
    if dataset is None and inputs is None and not m.input_spec.get("dataset"):
        raise ArgumentError(f"{name} records no data set: give {{dataset}} or {{input}}", names=["dataset", "input"])
    labels = None
    if inputs is not None:
        x = load_input(inputs, m.n_inputs) if isinstance(inputs, (str, Path)) else check_inputs(inputs, m.n_inputs)
        x = x[:limit] if limit else x
    else:
        x, labels = model_data(m, dataset, "test", limit, name)
    if golden is not None and not isinstance(m, QuantNetwork):
        raise ValueError("golden vectors are written for quantized models (the contract the firmware is held to)")
    r = run(m, x, record=golden is not None)
    res: dict[str, Any] = {
        "model": model if not isinstance(model, (Network, QuantNetwork)) else name,
        "kind": "integer" if isinstance(m, QuantNetwork) else "float",
        "samples": int(x.shape[0]),
        "timesteps": int(x.shape[1]),
        "synops_per_sample": float(r.synops.mean()),
        "neuron_updates_per_sample": r.neuron_updates,
        "result": r,
    }
    if labels is not None:
        res["accuracy"] = r.accuracy(labels)
    if early_exit is not None:
        res["early_exit"] = early_exit_summary(m, x, r, early_exit, labels)
    if golden is not None and isinstance(m, QuantNetwork):
        from edgesnn.firmware.golden import write_golden

        golden = Path(golden)
        golden.parent.mkdir(parents=True, exist_ok=True)
        write_golden(golden, m, x, r)  # m is quantized: checked above
        res["golden"] = golden
    if save_output is not None:
        save_output = Path(save_output)
        save_output.parent.mkdir(parents=True, exist_ok=True)
        np.savez(save_output, spikes=r.spikes, prediction=r.prediction, counts=r.counts)
        res["output"] = save_output
    return res


def early_exit_summary(m: Model, x: np.ndarray, r: SimResult, margin: int, labels: np.ndarray | None) -> dict[str, Any]:
    """Steps and synaptic events an inference needs when it stops once settled
    (``contract.settled``), and the accuracy of the predictions at that point."""
    from edgesnn.fixedpoint.simulate import cut_at_exit

    cut, steps = cut_at_exit(m, x, r, margin)
    out: dict[str, Any] = {
        "margin": margin,
        "steps_mean": float(steps.mean()),
        "steps_fraction": float(steps.mean() / x.shape[1]),
        "synops_per_sample": float(cut.synops.mean()),
        "predictions_changed": int(np.sum(cut.prediction != r.prediction)),
    }
    if labels is not None:
        out["accuracy"] = cut.accuracy(labels)
    return out


def _geometry_row(L: Any) -> dict[str, Any]:
    """A layer's kind, maps and pooling for `info`."""
    row: dict[str, Any] = {"kind": "conv" if L.conv is not None else "dense"}
    if L.conv is not None:
        row.update(in_shape=list(L.conv.in_shape), out_shape=list(L.conv.out_shape), conv=L.conv.as_dict())
    if L.pool is not None:
        row["pool"] = L.pool.as_dict()
    return row


def _layer_rows(m: Model) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if isinstance(m, QuantNetwork):
        for i, Q in enumerate(m.layers):
            rows.append(
                {
                    "layer": i,
                    "shape": [Q.n_out, Q.n_in],
                    **_geometry_row(Q),
                    "recurrent": Q.recurrent is not None,
                    "current_based": Q.current_based,
                    "shift": Q.shift,
                    "reset": Q.reset,
                    "alpha_mem": sorted(set(Q.alpha_mem.tolist()))[:4],
                    "threshold_range": [int(Q.threshold.min()), int(Q.threshold.max())],
                    "weight_range": [int(Q.weight.min()), int(Q.weight.max())],
                }
            )
        return rows
    for i, L in enumerate(m.layers):
        n = L.neurons
        row: dict[str, Any] = {
            "layer": i,
            "shape": [L.n_out, L.n_in],
            **_geometry_row(L),
            "recurrent": L.recurrent is not None,
            "neuron": type(n).__name__,
            "reset": getattr(n, "reset", "none"),
            "threshold_range": [float(n.threshold.min()), float(n.threshold.max())],
        }
        beta = getattr(n, "beta", None)
        if beta is not None:
            row["beta_range"] = [float(beta.min()), float(beta.max())]
        rows.append(row)
    return rows


def info(model: Model | PathLike) -> dict[str, Any]:
    """A model's layers, neuron parameters, bit widths, input spec and (quantized) hash."""
    m, name = _model(model)
    res: dict[str, Any] = {
        "model": name,
        "kind": "quantized" if isinstance(m, QuantNetwork) else "float",
        "name": m.name,
        "n_inputs": m.n_inputs,
        "n_outputs": m.n_outputs,
        "readout": m.readout,
        "input_spec": m.input_spec,
        "layers": _layer_rows(m),
    }
    if isinstance(m, QuantNetwork):
        res.update(
            weight_bits=m.weight_bits,
            state_bits=m.state_bits,
            contract_version=m.contract_version,
            dialect=m.dialect,
            hash=m.content_hash,
            hash32=f"{m.hash32:08x}",
        )
    else:
        res.update(dt=m.dt, meta=m.meta)
    return res
