"""Model commands: train, quantize, simulate, info. Only ``train`` imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from edgesnn.cli.common import JsonOpt, emit, err_console, handles_errors
from edgesnn.errors import DatasetError, ModelFileError


def _progress_bar(total: int, label: str, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), console=err_console, disable=not enabled, transient=False)


DatasetOpt = Annotated[str, typer.Option(help="Built-in data set (digits, saccade-digits) or a .npz file (docs/data.md).")]


def run_training(dataset: str, out: Path, epochs: int, seed: int, hidden: int, timesteps: Optional[int],
                 encoding: Optional[str], qat: bool, threads: int, show_progress: bool, downsample: int = 1,
                 denoise_us: int = 0, device: str = "cpu", batch_size: int = 32) -> Optional[dict]:
    """Train and save; under torchrun only rank 0 saves and returns a result (others None)."""
    from edgesnn.data.datasets import open_dataset
    from edgesnn.formats import save_model
    from edgesnn.train import TrainConfig, train
    from edgesnn.train.distributed import context_from_env

    # fail fast on an unknown data set or option, before torch is imported
    open_dataset(dataset).resolve({"encoding": encoding, "timesteps": timesteps, "downsample": downsample,
                                   "denoise_us": denoise_us})
    cfg = TrainConfig(dataset=dataset, epochs=epochs, seed=seed, hidden=(hidden,), timesteps=timesteps,
                      encoding=encoding, qat=qat, threads=threads, downsample=downsample, denoise_us=denoise_us,
                      device=device, batch_size=batch_size)
    main = context_from_env().is_main
    with _progress_bar(epochs, "training", show_progress and main) as bar:
        task = bar.add_task("train", total=epochs, info="")
        def progress(h):
            bar.update(task, advance=1, info=f"loss {h['loss']:.4f}  test {h['test_accuracy_train_readout']:.2%}")
        result = train(cfg, progress)
    if result.rank != 0:
        return None
    save_model(result.network, out)
    return {"model": out, "test_accuracy": result.test_accuracy, "epochs": epochs, "seed": seed,
            "qat": qat, "seconds_per_epoch": result.seconds_per_epoch, "input_spec": result.network.input_spec,
            "world_size": result.world_size, "device": device}


@handles_errors
def train_cmd(
    dataset: DatasetOpt = "digits",
    out: Annotated[Path, typer.Option(help="Where to write the float model (NIR).")] = Path("model.nir"),
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden layer size.")] = 256,
    timesteps: Annotated[Optional[int], typer.Option(min=1, help="Steps per sample (default 25; a spikes file: its own).")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="rate or latency (features only).")] = None,
    downsample: Annotated[int, typer.Option(min=1, help="Events: divide pixel coordinates by this factor.")] = 1,
    denoise_us: Annotated[int, typer.Option(min=0, help="Events: drop isolated events (Tonic Denoise, µs; 0 = off).")] = 0,
    qat: Annotated[bool, typer.Option("--qat/--no-qat", help="Quantization-aware forward pass.")] = True,
    threads: Annotated[int, typer.Option(min=1, help="torch threads.")] = 1,
    device: Annotated[str, typer.Option(help="cpu or cuda (under torchrun: one GPU per process).")] = "cpu",
    batch_size: Annotated[int, typer.Option(min=1, help="Global minibatch (shared by all processes under torchrun).")] = 32,
    json_out: JsonOpt = False,
):
    """Train a spiking network with surrogate gradients (quantization-aware by default).

    Data-parallel on several processes or machines: `torchrun --nproc-per-node N -m edgesnn train ...`.
    """
    res = run_training(dataset, out, epochs, seed, hidden, timesteps, encoding, qat, threads, not json_out,
                       downsample, denoise_us, device, batch_size)
    if res is not None:
        emit(res, json_out)


def _test_data(model, dataset: Optional[str], split: str, limit: Optional[int], model_name: str = "the model"):
    from edgesnn.data.datasets import model_inputs

    x, y, _ = model_inputs(model, dataset, split, limit, model_name)
    return x, y


def run_quantize(model_path: Path, dataset: Optional[str], out: Path, weight_bits: Optional[int], state_bits: Optional[int],
                 per_layer: bool, shift_rule: str) -> dict:
    from edgesnn.fixedpoint import quantization_report
    from edgesnn.fixedpoint.quantize import quantize_as_trained
    from edgesnn.formats import load_model, save_model
    from edgesnn.ir import Network

    net = load_model(model_path)
    if not isinstance(net, Network):
        raise ModelFileError(f"{model_path}: already quantized; quantize takes a float model")
    if shift_rule not in ("threshold", "data"):
        raise ValueError(f"unknown shift rule {shift_rule!r}; use 'threshold' or 'data'")
    calib = None
    if shift_rule == "data":
        calib, _ = _test_data(net, dataset, "train", None, str(model_path))
    # a QAT model is quantized exactly as it was trained
    qnet = quantize_as_trained(net, weight_bits=weight_bits, state_bits=state_bits, per_layer=per_layer,
                               calibration=calib)
    wb, sb = qnet.weight_bits, qnet.state_bits
    per_channel = not per_layer and net.meta.get("qat", {}).get("per_channel", True)
    x, y = _test_data(net, dataset, "test", None, str(model_path))
    rep = quantization_report(net, qnet, x, y)
    save_model(qnet, out)
    return {"model": out, "hash": qnet.content_hash, "weight_bits": wb, "state_bits": sb,
            "per_channel": per_channel, "shift_rule": shift_rule, **rep.as_dict()}


@handles_errors
def quantize_cmd(
    model: Annotated[Path, typer.Argument(help="Float model (NIR).")],
    dataset: Annotated[Optional[str], typer.Option(help="Data set for calibration and the report (default: the model's; a name or a .npz).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the quantized model.")] = Path("model.qsnn"),
    weight_bits: Annotated[Optional[int], typer.Option(help="2..8 (default: as trained, else 8).")] = None,
    state_bits: Annotated[Optional[int], typer.Option(help="8..32 (default: as trained, else 24).")] = None,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="One weight scale per layer.")] = False,
    shift_rule: Annotated[str, typer.Option(help="threshold (no data) or data (calibrate on train split).")] = "threshold",
    json_out: JsonOpt = False,
):
    """Quantize a float model to the integer contract and report float vs integer accuracy."""
    res = run_quantize(model, dataset, out, weight_bits, state_bits, per_layer, shift_rule)
    emit(res, json_out, None if json_out else _print_quant)


def _print_quant(r: dict) -> None:
    typer.echo(f"wrote {r['model']}  hash {r['hash'][:16]}")
    for L in r["layers"]:
        typer.echo(f"  layer {L['layer']} {L['shape']} {L['neuron']}: shift {L['shift']}, "
                   f"threshold {L['threshold_min']}..{L['threshold_max']}, "
                   f"weights at limit {L['weights_at_limit']}, state writes at limit {L['state_writes_at_limit']}")
    typer.echo(f"float accuracy {r['float_accuracy']:.2%}   integer accuracy {r['int_accuracy']:.2%}   "
               f"prediction agreement {r['prediction_agreement']:.2%}")


def _load_input(path: Path, n_inputs: int) -> np.ndarray:
    from edgesnn.fixedpoint.simulate import check_inputs

    if not path.is_file():
        raise DatasetError(f"input file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise DatasetError(f"{path}: expected one .npy array, got an archive")
    return check_inputs(arr, n_inputs)


def run_simulate(model_path: Path, dataset: Optional[str], input_path: Optional[Path], save_output: Optional[Path],
                 limit: Optional[int], golden: Optional[Path] = None) -> dict:
    from edgesnn.fixedpoint import QuantNetwork, simulate
    from edgesnn.formats import load_model

    if dataset is not None and input_path is not None:
        raise DatasetError("give one of --dataset or --input, not both")
    model = load_model(model_path)
    if dataset is None and input_path is None and not model.input_spec.get("dataset"):
        raise DatasetError(f"{model_path} records no data set: give --dataset or --input")
    labels = None
    if input_path is not None:
        x = _load_input(input_path, model.n_inputs)
        x = x[:limit] if limit else x
    else:
        x, labels = _test_data(model, dataset, "test", limit, str(model_path))
    if golden is not None and not isinstance(model, QuantNetwork):
        raise ValueError("golden vectors are written for quantized models (the contract the firmware is held to)")
    r = simulate(model, x, record=golden is not None)
    if golden is not None:
        from edgesnn.firmware.golden import write_golden

        golden.parent.mkdir(parents=True, exist_ok=True)
        write_golden(golden, model, x, r)
    res = {"model": model_path, "kind": "integer" if isinstance(model, QuantNetwork) else "float",
           "samples": int(x.shape[0]), "timesteps": int(x.shape[1]),
           "synops_per_sample": float(r.synops.mean()), "neuron_updates_per_sample": r.neuron_updates}
    if labels is not None:
        res["accuracy"] = r.accuracy(labels)
    if golden is not None:
        res["golden"] = golden
    if save_output is not None:
        save_output.parent.mkdir(parents=True, exist_ok=True)
        np.savez(save_output, spikes=r.spikes, prediction=r.prediction, counts=r.counts)
        res["output"] = save_output
    return res


@handles_errors
def simulate_cmd(
    model: Annotated[Path, typer.Argument(help="Float (NIR) or quantized (.qsnn) model.")],
    dataset: Annotated[Optional[str], typer.Option(help="Run the test split of this data set (a name or a .npz; default: the model's).")] = None,
    input: Annotated[Optional[Path], typer.Option("--input", help="Spikes .npy of shape (samples, timesteps, inputs).")] = None,
    save_output: Annotated[Optional[Path], typer.Option(help="Write spikes and predictions to this .npz.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N samples.")] = None,
    golden: Annotated[Optional[Path], typer.Option(help="Write golden vectors (inputs, every spike and state) to this .npz.")] = None,
    json_out: JsonOpt = False,
):
    """Simulate a model: float models in float, quantized ones bit-exactly in the integer contract."""
    emit(run_simulate(model, dataset, input, save_output, limit, golden), json_out)


def model_info(model_path: Path) -> dict:
    from edgesnn.fixedpoint import QuantNetwork
    from edgesnn.formats import load_model

    m = load_model(model_path)
    layers = []
    for i, L in enumerate(m.layers):
        entry = {"layer": i, "shape": [L.n_out, L.n_in], "recurrent": L.recurrent is not None}
        if isinstance(m, QuantNetwork):
            entry.update(current_based=L.current_based, shift=L.shift, reset=L.reset,
                         alpha_mem=sorted(set(L.alpha_mem.tolist()))[:4],
                         threshold_range=[int(L.threshold.min()), int(L.threshold.max())],
                         weight_range=[int(L.weight.min()), int(L.weight.max())])
        else:
            n = L.neurons
            entry.update(neuron=type(n).__name__, reset=n.reset,
                         threshold_range=[float(n.threshold.min()), float(n.threshold.max())],
                         **({"beta_range": [float(n.beta.min()), float(n.beta.max())]} if hasattr(n, "beta") else {}))
        layers.append(entry)
    res = {"model": model_path, "kind": "quantized" if isinstance(m, QuantNetwork) else "float", "name": m.name,
           "n_inputs": m.n_inputs, "n_outputs": m.n_outputs, "readout": m.readout, "input_spec": m.input_spec,
           "layers": layers}
    if isinstance(m, QuantNetwork):
        res.update(weight_bits=m.weight_bits, state_bits=m.state_bits, contract_version=m.contract_version,
                   hash=m.content_hash, hash32=f"{m.hash32:08x}")
    else:
        res.update(dt=m.dt, meta=m.meta)
    return res


@handles_errors
def info_cmd(
    model: Annotated[Path, typer.Argument(help="Float (NIR) or quantized (.qsnn) model.")],
    json_out: JsonOpt = False,
):
    """Show a model's layers, neuron parameters, bit widths and hash."""
    emit(model_info(model), json_out)
