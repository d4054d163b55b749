"""``edgesnn learn``: on-device plasticity, checked weight for weight against the host's golden model."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from edgesnn.cli.common import JsonOpt, emit, err_console, handles_errors
from edgesnn.cli.device_cmds import _line
from edgesnn.cli.firmware_cmds import _quantized
from edgesnn.device.client import DeviceError
from edgesnn.device.codec import CAP_PERSIST


def weakened(qnet, layer: int, seed: int, spread: int):
    """The network with ``layer``'s weights replaced by seeded uniform integers in [-spread, spread]."""
    rng = np.random.default_rng(seed)
    layers = list(qnet.layers)
    L = layers[layer]
    layers[layer] = replace(L, weight=rng.integers(-spread, spread + 1, L.weight.shape))
    return replace(qnet, layers=tuple(layers), name=f"{qnet.name}-reinit")


def _device_accuracy(dev, x, y, on_sample=None) -> float:
    correct = 0
    for i, so in enumerate(dev.stream(x)):
        correct += int(so.result.prediction == y[i])
        if on_sample:
            on_sample()
    return correct / len(y)


@handles_errors
def learn_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[Optional[str], typer.Option(help="Deploy to this board (with a learning layer) first.")] = None,
    port: Annotated[Optional[str], typer.Option(help="A device already deployed with a learning layer.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Training samples from its train split, evaluation from test (a name or a .npz; default: the model's).")] = None,
    samples: Annotated[int, typer.Option(min=1, help="Training samples streamed with plasticity on.")] = 300,
    eval_limit: Annotated[Optional[int], typer.Option(min=1, help="Test samples for accuracy before/after.")] = None,
    mode: Annotated[str, typer.Option(help="three_factor (labels gate the updates) or pair (unsupervised STDP).")] = "three_factor",
    layer: Annotated[int, typer.Option(help="The learning layer (negative counts from the end).")] = -1,
    eta: Annotated[int, typer.Option(min=0, help="Learning rate eta_plus (and eta_minus).")] = 1,
    lr_shift: Annotated[int, typer.Option(min=0, max=30, help="Updates are (eta * trace) >> lr_shift.")] = 10,
    reinit: Annotated[bool, typer.Option("--reinit/--no-reinit", help="Start from a freshly initialised learning layer.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of --reinit.")] = 0,
    save: Annotated[Optional[Path], typer.Option(help="Where to write the learned model (default: MODEL-learned.qsnn).")] = None,
    persist: Annotated[bool, typer.Option(help="Also save the weights in the device's persistent storage.")] = False,
    out: Annotated[Path, typer.Option(help="Build folder when deploying.")] = Path("build/learn"),
    json_out: JsonOpt = False,
):
    """Stream labelled samples with plasticity on, read the weights back, compare with the host, save."""
    from edgesnn.data.datasets import model_inputs
    from edgesnn.device.deploy import connect_port, deploy
    from edgesnn.firmware.boards import get_board
    from edgesnn.fixedpoint.plasticity import PlasticityConfig, simulate_learning
    from edgesnn.formats import save_model

    qnet = _quantized(model)
    cfg = PlasticityConfig(layer=layer, mode=mode, eta_plus=eta, eta_minus=eta, lr_shift=lr_shift,
                           w_min=-(2 ** (qnet.weight_bits - 1) - 1), w_max=2 ** (qnet.weight_bits - 1) - 1)
    li = cfg.resolved_layer(qnet)
    if reinit:
        qnet = weakened(qnet, li, seed, 20)
    x_tr, y_tr, _ = model_inputs(qnet, dataset, "train", samples, str(model))
    x_te, y_te, _ = model_inputs(qnet, dataset, "test", eval_limit, str(model))
    if board is None and port is None:
        raise ValueError("give --board (deploy first) or --port (a device already deployed with a learning layer)")
    if board is not None:
        d = deploy(qnet, get_board(board), out, port=port, learn_layer=li)
    else:
        d = connect_port(qnet, port)
    L = qnet.layers[li]
    say = (lambda m: None) if json_out else err_console.print
    persist_error = None
    try:
        dev = d.device
        if dev.info().learn_layer != li:
            raise ValueError(f"the device learns layer {dev.info().learn_layer}, not layer {li}")
        if persist and not dev.info().capabilities & CAP_PERSIST:  # say so before a long run, not after
            raise ValueError(f"board {d.board} has no persistent storage: run without --persist")
        from edgesnn.cli.model_cmds import _progress_bar

        with _progress_bar(2 * len(y_te) + len(y_tr), "learning", not json_out) as bar:
            task = bar.add_task("learn", total=2 * len(y_te) + len(y_tr), info="accuracy before")
            tick = lambda: bar.update(task, advance=1)  # noqa: E731
            dev.set_plasticity(replace(cfg, mode="off"))
            acc_before = _device_accuracy(dev, x_te, y_te, tick)
            dev.set_plasticity(cfg)
            correct, history = 0, []
            for i in range(len(y_tr)):
                dev.set_label(int(y_tr[i]) if mode == "three_factor" else None)
                so = dev.run_sample(x_tr[i])
                correct += int(so.result.prediction == y_tr[i])
                row = {"sample": i, "label": int(y_tr[i]), "prediction": so.result.prediction,
                       "running_accuracy": correct / (i + 1)}
                if json_out:
                    _line(row)
                if (i + 1) % 50 == 0 or i + 1 == len(y_tr):
                    history.append(row)
                bar.update(task, advance=1, info=f"streaming, running accuracy {correct / (i + 1):.2%}")
            dev.set_plasticity(replace(cfg, mode="off"))
            dev.set_label(None)
            w_dev = dev.read_weights((L.n_out, L.n_in))
            bar.update(task, info="accuracy after")
            acc_after = _device_accuracy(dev, x_te, y_te, tick)
            seq = None
            if persist:
                try:
                    seq = dev.save_weights()
                except DeviceError as e:  # the learned model is still saved below
                    persist_error = str(e)
    finally:
        d.close()
    host = simulate_learning(qnet, x_tr, cfg, y_tr if mode == "three_factor" else None)
    w_host = host.network.layers[li].weight
    learned = host.network if np.array_equal(w_dev, w_host) else replace(
        qnet, layers=tuple(replace(Lk, weight=w_dev) if k == li else Lk for k, Lk in enumerate(qnet.layers)))
    save = save or model.with_name(model.stem + "-learned.qsnn")
    save_model(replace(learned, name=f"{qnet.name}-learned"), save)
    summary = {"summary": True, "board": d.board, "mode": mode, "layer": li, "samples": len(y_tr),
               "eval_samples": len(y_te), "accuracy_before": acc_before, "accuracy_after": acc_after,
               "weight_mismatches": int((w_dev != w_host).sum()), "weights": int(w_dev.size),
               "weights_changed": int((w_dev != L.weight).sum()), "history": history, "model": str(save),
               "persisted_seq": seq}
    if persist_error:
        summary["persist_error"] = persist_error
    if json_out:
        _line(summary)
    else:
        say(f"accuracy before {acc_before:.2%} → after {acc_after:.2%} ({len(y_te)} test samples); "
            f"{summary['weights_changed']} of {summary['weights']} weights changed; "
            f"weight mismatches with the host model: {summary['weight_mismatches']}")
        emit({k: summary[k] for k in ("accuracy_before", "accuracy_after", "weight_mismatches", "model")}, False)
    if persist_error:
        sys.stderr.write(f"error: saving the weights on the device failed ({persist_error}); "
                         f"the learned model is saved in {save}\n")
        raise typer.Exit(1)
    if summary["weight_mismatches"]:
        raise typer.Exit(1)


@handles_errors
def stdp_cmd(
    dataset: Annotated[str, typer.Option(help="Built-in data set or a .npz file (docs/data.md).")] = "digits",
    out: Annotated[Path, typer.Option(help="Where to write the exported float model (NIR).")] = Path("stdp.nir"),
    neurons: Annotated[int, typer.Option(min=1, help="Neurons in the competitive layer.")] = 200,
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    seed: Annotated[int, typer.Option()] = 0,
    json_out: JsonOpt = False,
):
    """Unsupervised STDP on the host: competitive layer, lateral inhibition, homeostasis, labels assigned after."""
    from edgesnn.data.datasets import load
    from edgesnn.formats import save_model
    from edgesnn.train.stdp import STDPConfig, train_stdp

    load(dataset)
    from edgesnn.cli.model_cmds import _progress_bar

    cfg = STDPConfig(dataset=dataset, neurons=neurons, epochs=epochs, seed=seed)
    with _progress_bar(epochs, "STDP", not json_out) as bar:
        task = bar.add_task("stdp", total=epochs, info="")
        res = train_stdp(cfg, lambda h: bar.update(task, advance=1))
    save_model(res.network, out)
    emit({"model": out, "neurons": neurons, "epochs": epochs,
          "test_accuracy": res.test_accuracy, "exported_test_accuracy": res.exported_test_accuracy,
          "export": res.export_params,
          "note": "test_accuracy: the trained winner-take-all network with label assignment; "
                  "exported_test_accuracy: the saved model, which approximates winner-take-all with "
                  "recurrent inhibition so that it can be quantized and deployed"}, json_out)


def _device_fitness(dev, layer: int):
    """Hardware in the loop: write the candidate's layer to the device, stream, score accuracy
    (final membranes are not on the wire, so there is no margin term)."""

    def fitness(net, x, y):
        dev.write_weights(net.layers[layer].weight)
        return float(np.mean([o.result.prediction == y[i] for i, o in enumerate(dev.stream(x))]))

    return fitness


@handles_errors
def evolve_cmd(
    dataset: Annotated[str, typer.Option(help="Built-in data set or a .npz file (docs/data.md).")] = "digits",
    out: Annotated[Path, typer.Option(help="Where to write the evolved model (.qsnn); the best so far is checkpointed here.")] = Path("evolved.qsnn"),
    generations: Annotated[int, typer.Option(min=1)] = 300,
    population: Annotated[int, typer.Option(min=1, help="Antithetic pairs per generation.")] = 16,
    hidden: Annotated[int, typer.Option(min=0, help="Spiking hidden neurons (0: one LI readout layer).")] = 0,
    timesteps: Annotated[int, typer.Option(min=1)] = 10,
    prune: Annotated[float, typer.Option(help="Topology mutation: chance a synapse is off in a candidate.")] = 0.0,
    board: Annotated[Optional[str], typer.Option(help="Hardware in the loop: evaluate on this board (deployed here).")] = None,
    port: Annotated[Optional[str], typer.Option(help="Hardware in the loop on a device already deployed (with a learning layer).")] = None,
    hil_samples: Annotated[int, typer.Option(min=1, help="Minibatch per candidate with hardware in the loop.")] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    json_out: JsonOpt = False,
):
    """Evolve a small network in the integer domain; fitness from the simulator or a device."""
    from edgesnn.data.datasets import open_dataset
    from edgesnn.fixedpoint import simulate_int
    from edgesnn.formats import save_model
    from edgesnn.train.evolve import EvolveConfig, evolve, score, template

    ds = open_dataset(dataset)
    spec = ds.resolve({"timesteps": timesteps if ds.kind != "spikes" else None, "seed": seed})
    x_tr, y_tr = ds.spikes("train", spec)
    x_te, y_te = ds.spikes("test", spec)
    cfg = EvolveConfig(dataset=dataset, generations=generations, population=population, hidden=hidden,
                       timesteps=timesteps, prune_prob=prune, seed=seed,
                       batch=hil_samples if (board or port) else 300)
    base = replace(template(x_tr.shape[2], ds.classes, hidden), input_spec=spec)
    device_fitness, evolve_layers, d = None, None, None
    if board or port:
        from edgesnn.device.deploy import connect_port, deploy
        from edgesnn.firmware.boards import get_board

        last = len(base.layers) - 1
        d = deploy(base, get_board(board), Path("build/evolve"), port=port, learn_layer=last) if board else connect_port(base, port)
        evolve_layers = [last]  # the device can rewrite its learning layer only
        device_fitness = _device_fitness(d.device, last)
    from edgesnn.cli.model_cmds import _progress_bar

    try:
        with _progress_bar(generations, "evolving", not json_out) as bar:
            task = bar.add_task("evolve", total=generations, info="")
            last_gen = [0]

            def progress(h):
                bar.update(task, advance=h["generation"] - last_gen[0], info=f"best fitness {h['best_fitness']:.3f}")
                last_gen[0] = h["generation"]

            res = evolve(cfg, x_tr, y_tr, fitness=device_fitness, base=base, evolve_layers=evolve_layers, progress=progress,
                         checkpoint=lambda net: save_model(net, out))
    finally:
        if d is not None:
            d.close()
    save_model(res.network, out)
    acc = simulate_int(res.network, x_te).accuracy(y_te)
    emit({"model": out, "test_accuracy": acc, "train_fitness": score(simulate_int(res.network, x_tr), y_tr),
          "generations": generations, "population": population, "seconds": res.seconds,
          "fitness_from": "device" if (board or port) else "simulator",
          "layers": [[L.n_out, L.n_in] for L in res.network.layers], "history": res.history}, json_out)
