"""Model commands: train, quantize, simulate, info (thin: the work is in ``edgesnn.api``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgesnn import api
from edgesnn.cli.common import JsonOpt, LazyBar, drop, emit, epoch_progress, handles_errors, table_console
from edgesnn.cli.stream_view import print_simulated_stream

DatasetOpt = Annotated[
    Optional[str],
    typer.Option(
        help="Built-in data set (digits, digits-rows, saccade-digits, saccade-digits-stream) or a .npz file "
        "(docs/data.md); default digits, or the kit's."
    ),
]


@handles_errors
def train_cmd(
    dataset: DatasetOpt = None,
    out: Annotated[Path, typer.Option(help="Where to write the float model (NIR).")] = Path("model.nir"),
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    hidden: Annotated[
        Optional[int], typer.Option(min=1, help="Hidden layer size (mlp, rnn); default 256, or the kit's.")
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            help="Architecture: mlp, rnn (recurrent), conv, or a .toml/.json file (docs/training.md); "
            "default mlp, or the kit's."
        ),
    ] = None,
    timesteps: Annotated[
        Optional[int], typer.Option(min=1, help="Steps per sample (default 25; a spikes file: its own).")
    ] = None,
    encoding: Annotated[Optional[str], typer.Option(help="rate or latency (features only).")] = None,
    downsample: Annotated[int, typer.Option(min=1, help="Events: divide pixel coordinates by this factor.")] = 1,
    denoise_us: Annotated[
        int, typer.Option(min=0, help="Events: drop isolated events (Tonic Denoise, µs; 0 = off).")
    ] = 0,
    qat: Annotated[bool, typer.Option("--qat/--no-qat", help="Quantization-aware forward pass.")] = True,
    threads: Annotated[int, typer.Option(min=1, help="torch threads.")] = 1,
    device: Annotated[str, typer.Option(help="cpu or cuda (under torchrun: one GPU per process).")] = "cpu",
    batch_size: Annotated[
        int, typer.Option(min=1, help="Global minibatch (shared by all processes under torchrun).")
    ] = 32,
    board: Annotated[
        Optional[str], typer.Option(help="A neuromorphic kit (xylo-imu, loihi2, ...): train in its chip's arithmetic.")
    ] = None,
    neuron: Annotated[str, typer.Option(help="lif, or cuba (current-based; float: with --no-qat).")] = "lif",
    beta: Annotated[
        Optional[float], typer.Option(min=0, max=1, help="Membrane decay per step; default 0.9, or the kit's.")
    ] = None,
    beta_syn: Annotated[float, typer.Option(help="Synaptic current decay per step (cuba and kits).")] = 0.5,
    weight_bits: Annotated[
        Optional[int],
        typer.Option(min=2, max=8, help="Weight width of quantization-aware training; default 8, or the kit's."),
    ] = None,
    window: Annotated[
        Optional[int], typer.Option(min=1, help="Streams: training window, timesteps (default 30).")
    ] = None,
    stride: Annotated[Optional[int], typer.Option(min=1, help="Streams: steps between windows (default 5).")] = None,
    dt_ms: Annotated[
        Optional[float], typer.Option(min=0.001, help="Streams and audio: timestep in ms (default 10).")
    ] = None,
    channels: Annotated[
        Optional[int], typer.Option(min=8, max=64, help="Audio: band-pass channels of the front end (default 16).")
    ] = None,
    spontaneous: Annotated[
        bool, typer.Option("--spontaneous", help="Let biases make neurons fire without input (never idle).")
    ] = False,
    lr: Annotated[float, typer.Option(min=1e-6, max=1.0, help="Adam's learning rate (cosine-annealed).")] = 2e-3,
    json_out: JsonOpt = False,
):
    """Train a spiking network with surrogate gradients (quantization-aware by default).

    Data-parallel on several processes or machines: `torchrun --nproc-per-node N -m edgesnn train ...`.
    """
    with LazyBar(epochs, "training", not json_out) as bar:
        res = api.train(
            dataset,
            out,
            epochs=epochs,
            seed=seed,
            hidden=hidden,
            model=model,
            timesteps=timesteps,
            encoding=encoding,
            qat=qat,
            threads=threads,
            downsample=downsample,
            denoise_us=denoise_us,
            device=device,
            batch_size=batch_size,
            board=board,
            neuron=neuron,
            beta=beta,
            beta_syn=beta_syn,
            weight_bits=weight_bits,
            window=window,
            stride=stride,
            dt_us=None if dt_ms is None else int(round(dt_ms * 1000)),
            spontaneous=spontaneous,
            lr=lr,
            channels=channels,
            progress=epoch_progress(bar),
        )
    if res is not None:  # None on torchrun ranks other than 0
        emit(drop(res, "network"), json_out, None if json_out else lambda r: _print_train(r, board))


def _print_train(r: dict, board: str | None) -> None:
    from edgesnn.cli.readable import lines

    if "model" in r:
        typer.echo(f"wrote {r['model']} (float model, NIR)")
    if "test_accuracy" in r:
        typer.echo(
            f"test accuracy {r['test_accuracy']:.2%}: the trained float model simulated on the test split "
            "(the bar showed the training pass)"
        )
    if "int_accuracy" in r:
        typer.echo(f"integer accuracy {r['int_accuracy']:.2%}: the {r['dialect']} dialect, what the chip computes")
    if r.get("kit_defaults"):
        typer.echo("kit defaults: " + ", ".join(f"{k} {v}" for k, v in r["kit_defaults"].items()))
    rest = drop(r, "model", "test_accuracy", "int_accuracy", "kit_defaults")
    for ln in lines(rest):
        typer.echo(ln)
    if "model" in r:
        kit = f" --board {board}" if board else ""
        typer.echo(f"next: edgesnn quantize {r['model']}{kit} --out {Path(r['model']).with_suffix('.qsnn')}")


@handles_errors
def quantize_cmd(
    model: Annotated[Path, typer.Argument(help="Float model (NIR).")],
    dataset: Annotated[
        Optional[str],
        typer.Option(help="Data set for calibration and the report (default: the model's; a name or a .npz)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the quantized model.")] = Path("model.qsnn"),
    weight_bits: Annotated[Optional[int], typer.Option(help="2..8 (default: as trained, else 8).")] = None,
    state_bits: Annotated[Optional[int], typer.Option(help="8..32 (default: as trained, else 24).")] = None,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="One weight scale per layer.")] = False,
    shift_rule: Annotated[
        str, typer.Option(help="threshold (no data) or data (calibrate on train split).")
    ] = "threshold",
    board: Annotated[
        Optional[str], typer.Option(help="Check a board's fit rules; a neuromorphic kit: quantize in its dialect.")
    ] = None,
    json_out: JsonOpt = False,
):
    """Quantize a float model to the integer contract and report float vs integer accuracy."""
    res = drop(
        api.quantize(
            model,
            out,
            dataset=dataset,
            weight_bits=weight_bits,
            state_bits=state_bits,
            per_layer=per_layer,
            shift_rule=shift_rule,
            board=board,
        ),
        "network",
    )
    emit(res, json_out, None if json_out else _print_quant)


def _print_quant(r: dict) -> None:
    from edgesnn.cli.readable import lines, number

    where = f"wrote {r['model']}, " if "model" in r else ""
    typer.echo(
        f"{where}hash {r['hash'][:16]}, {r['weight_bits']}-bit weights, {r['state_bits']}-bit states, {r['dialect']} dialect"
    )
    for L in r["layers"]:
        typer.echo(
            f"  layer {L['layer']} ({L['shape'][0]} × {L['shape'][1]} {L['neuron']}): shift {L['shift']}, "
            f"threshold {number(L['threshold_min'])}..{number(L['threshold_max'])}, "
            f"weights at limit {number(L['weights_at_limit'])}, state writes at limit {number(L['state_writes_at_limit'])}"
        )
    typer.echo(
        f"float accuracy {r['float_accuracy']:.2%}, integer accuracy {r['int_accuracy']:.2%}, "
        f"prediction agreement {r['prediction_agreement']:.2%}"
    )
    shown = {"model", "hash", "weight_bits", "state_bits", "dialect", "layers"}
    for ln in lines(
        {k: v for k, v in r.items() if k not in shown | {"float_accuracy", "int_accuracy", "prediction_agreement"}}
    ):
        typer.echo(ln)
    if "model" in r and "firmware_refuses" in r:  # boards.rule_graph would refuse a verify
        typer.echo(f"next: edgesnn simulate {r['model']} (no firmware for it yet: {r['firmware_refuses']})")
    elif "model" in r:
        typer.echo(f"next: edgesnn simulate {r['model']}, or edgesnn verify {r['model']} --board BOARD")


@handles_errors
def simulate_cmd(
    model: Annotated[Path, typer.Argument(help="Float (NIR) or quantized (.qsnn) model.")],
    dataset: Annotated[
        Optional[str],
        typer.Option(help="Run the test split of this data set (a name or a .npz; default: the model's)."),
    ] = None,
    input: Annotated[
        Optional[Path], typer.Option("--input", help="Spikes .npy of shape (samples, timesteps, inputs).")
    ] = None,
    save_output: Annotated[Optional[Path], typer.Option(help="Write spikes and predictions to this .npz.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N samples.")] = None,
    golden: Annotated[
        Optional[Path], typer.Option(help="Write golden vectors (inputs, every spike and state) to this .npz.")
    ] = None,
    early_exit: Annotated[
        Optional[int],
        typer.Option(min=0, help="Stop an inference once settled: 0 exact (no accuracy change), N a lead of N spikes."),
    ] = None,
    seconds: Annotated[Optional[float], typer.Option(min=0.001, help="Streams: only the first S seconds.")] = None,
    tolerance_ms: Annotated[float, typer.Option(min=0, help="Streams: detection tolerance after a segment.")] = 500.0,
    json_out: JsonOpt = False,
):
    """Simulate a model: float models in float, quantized ones bit-exactly in the integer contract."""
    res = drop(
        api.simulate(
            model,
            dataset=dataset,
            inputs=input,
            limit=limit,
            save_output=save_output,
            golden=golden,
            early_exit=early_exit,
            seconds=seconds,
            tolerance_ms=tolerance_ms,
        ),
        "result",
    )
    emit(res, json_out, print_simulated_stream if res.get("kind") == "stream" else None)


@handles_errors
def info_cmd(
    model: Annotated[Path, typer.Argument(help="Float (NIR) or quantized (.qsnn) model.")],
    json_out: JsonOpt = False,
):
    """Show a model's layers, neuron parameters, bit widths and hash."""
    emit(api.info(model), json_out, None if json_out else _print_info)


def _print_info(r: dict) -> None:
    from edgesnn.cli.readable import number, table

    head = f"{r['model']}: {r['kind']} model {r['name']!r}, {r['n_inputs']} inputs -> {r['n_outputs']} outputs"
    if r["kind"] == "quantized":
        head += f", {r['weight_bits']}-bit weights, {r['state_bits']}-bit states, contract {r['contract_version']}"
        head += f" ({r['dialect']} dialect), hash {r['hash'][:16]}"
    typer.echo(head)  # a line of its own: a table title would wrap at the table's width
    quant = r["kind"] == "quantized"
    headers = ["layer", "shape (out × in)", "kind" if quant else "neuron", "reset", "threshold"]
    headers += ["shift", "weights"] if quant else ["beta", "recurrent"]
    rows = []
    for L in r["layers"]:
        thr = L["threshold_range"]
        row = [str(L["layer"]), f"{L['shape'][0]} × {L['shape'][1]}"]
        if quant:
            kind = ("current" if L["current_based"] else "voltage") + (" recurrent" if L["recurrent"] else "")
            row += [kind, L["reset"], f"{number(thr[0])}..{number(thr[1])}", str(L["shift"])]
            row.append(f"{L['weight_range'][0]}..{L['weight_range'][1]}")
        else:
            beta = L.get("beta_range")
            row += [L["neuron"], L["reset"], f"{thr[0]:.3g}..{thr[1]:.3g}"]
            row += [f"{beta[0]:.3g}..{beta[1]:.3g}" if beta else "-", "yes" if L["recurrent"] else "no"]
        rows.append(row)
    table(headers, rows, table_console())
    spec = r.get("input_spec") or {}
    if spec:
        typer.echo("input: " + ", ".join(f"{k} {v}" for k, v in spec.items()))
