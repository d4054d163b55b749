"""Learning beyond backprop: on-device plasticity, host STDP, evolution in the integer domain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.api.device import open_device
from edgesnn.api.firmware import quantized
from edgesnn.api.model import PathLike, save
from edgesnn.device.client import Device
from edgesnn.errors import ArgumentError, DeviceError
from edgesnn.fixedpoint.qnetwork import QuantNetwork

#: progress: called once per sample streamed (before, during and after learning) with the phase
#: and the number of calls the whole run makes
Tick = Callable[[str, int], None]


def weakened(qnet: QuantNetwork, layer: int, seed: int, spread: int) -> QuantNetwork:
    """The network with ``layer``'s weights replaced by seeded uniform integers in [-spread, spread]."""
    rng = np.random.default_rng(seed)
    layers = list(qnet.layers)
    L = layers[layer]
    layers[layer] = replace(L, weight=rng.integers(-spread, spread + 1, L.weight.shape))
    return replace(qnet, layers=tuple(layers), name=f"{qnet.name}-reinit")


def device_accuracy(dev: Device, x: np.ndarray, y: np.ndarray, on_sample: Callable[[], None] | None = None) -> float:
    """Accuracy of a device's predictions on (x, y)."""
    correct = 0
    for i, so in enumerate(dev.stream(x)):
        correct += int(so.result.prediction == y[i])
        if on_sample:
            on_sample()
    return correct / len(y)


def learn(
    model: QuantNetwork | PathLike,
    *,
    board: str | None = None,
    port: str | None = None,
    dataset: str | None = None,
    samples: int = 300,
    eval_limit: int | None = None,
    mode: str = "three_factor",
    layer: int = -1,
    eta: int = 1,
    lr_shift: int = 10,
    reinit: bool = False,
    seed: int = 0,
    save_to: PathLike | None = None,
    persist: bool = False,
    out: PathLike = "build/learn",
    on_row: Callable[[dict], None] | None = None,
    progress: Tick | None = None,
) -> dict[str, Any]:
    """Stream labelled samples to a device with plasticity on, read the weights back, compare
    them with the host's golden plasticity model, measure accuracy before and after, save.

    The learned model is always written (``save_to``, default ``MODEL-learned.qsnn``), also when
    persisting on the device fails; ``persist`` is checked against the device's capabilities
    before anything is streamed. Result: ``accuracy_before``, ``accuracy_after``,
    ``weight_mismatches`` (0 is the promise), ``model``, ``persist_error`` if any. ``on_row``
    gets each training sample's row as it streams; ``progress(phase, total)`` is called once per
    sample streamed (accuracy before, learning, accuracy after), ``total`` times in all.

    ```python
    r = edgesnn.api.learn("digits.qsnn", board="qemu-mps2-an385", reinit=True)
    r["accuracy_before"], r["accuracy_after"], r["weight_mismatches"]
    ```
    """
    from edgesnn.data.datasets import model_inputs
    from edgesnn.device.codec import CAP_PERSIST
    from edgesnn.fixedpoint import contract as C
    from edgesnn.fixedpoint.plasticity import PlasticityConfig, simulate_learning

    qnet = quantized(model)
    name = str(model) if isinstance(model, (str, Path)) else qnet.name
    cfg = PlasticityConfig(
        layer=layer,
        mode=mode,
        eta_plus=eta,
        eta_minus=eta,
        lr_shift=lr_shift,
        w_min=-C.weight_limit(qnet.weight_bits),
        w_max=C.weight_limit(qnet.weight_bits),
    )
    li = cfg.resolved_layer(qnet)
    if reinit:
        qnet = weakened(qnet, li, seed, 20)
    x_tr, y_tr, _ = model_inputs(qnet, dataset, "train", samples, name)
    x_te, y_te, _ = model_inputs(qnet, dataset, "test", eval_limit, name)
    d = open_device(qnet, board, port, out, learn_layer=li)
    L = qnet.layers[li]
    total = 2 * len(y_te) + len(y_tr)

    def tick(phase: str) -> None:
        if progress is not None:
            progress(phase, total)

    persist_error, seq = None, None
    try:
        dev = d.device
        if dev.info().learn_layer != li:
            raise ValueError(f"the device learns layer {dev.info().learn_layer}, not layer {li}")
        if persist and not dev.info().capabilities & CAP_PERSIST:  # say so before a long run, not after
            raise ArgumentError(
                f"board {d.board} has no persistent storage: run without {{persist}}", names=["persist"]
            )
        dev.set_plasticity(replace(cfg, mode="off"))
        acc_before = device_accuracy(dev, x_te, y_te, lambda: tick("accuracy before"))
        dev.set_plasticity(cfg)
        correct, history = 0, []
        for i in range(len(y_tr)):
            dev.set_label(int(y_tr[i]) if mode == "three_factor" else None)
            so = dev.run_sample(x_tr[i])
            correct += int(so.result.prediction == y_tr[i])
            row = {
                "sample": i,
                "label": int(y_tr[i]),
                "prediction": so.result.prediction,
                "running_accuracy": correct / (i + 1),
            }
            if on_row:
                on_row(row)
            if (i + 1) % 50 == 0 or i + 1 == len(y_tr):
                history.append(row)
            tick(f"streaming, running accuracy {correct / (i + 1):.2%}")
        dev.set_plasticity(replace(cfg, mode="off"))
        dev.set_label(None)
        w_dev = dev.read_weights((L.n_out, L.n_in))
        acc_after = device_accuracy(dev, x_te, y_te, lambda: tick("accuracy after"))
        if persist:
            try:
                seq = dev.save_weights()
            except DeviceError as e:  # the learned model is still saved below
                persist_error = str(e)
    finally:
        d.close()
    host = simulate_learning(qnet, x_tr, cfg, y_tr if mode == "three_factor" else None)
    w_host = host.network.layers[li].weight
    learned = (
        host.network
        if np.array_equal(w_dev, w_host)
        else replace(
            qnet, layers=tuple(replace(Lk, weight=w_dev) if k == li else Lk for k, Lk in enumerate(qnet.layers))
        )
    )
    if save_to is None:
        save_to = (
            Path(model).with_name(Path(model).stem + "-learned.qsnn")
            if isinstance(model, (str, Path))
            else Path(f"{qnet.name}-learned.qsnn")
        )
    path = save(replace(learned, name=f"{qnet.name}-learned"), save_to)
    summary: dict[str, Any] = {
        "summary": True,
        "board": d.board,
        "mode": mode,
        "layer": li,
        "samples": len(y_tr),
        "eval_samples": len(y_te),
        "accuracy_before": acc_before,
        "accuracy_after": acc_after,
        "weight_mismatches": int((w_dev != w_host).sum()),
        "weights": int(w_dev.size),
        "weights_changed": int((w_dev != L.weight).sum()),
        "history": history,
        "model": str(path),
        "persisted_seq": seq,
    }
    if persist_error:
        summary["persist_error"] = persist_error
    return summary


def stdp(
    dataset: str = "digits",
    out: PathLike | None = None,
    *,
    neurons: int = 200,
    epochs: int = 3,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Unsupervised STDP on the host (competitive layer, lateral inhibition, homeostasis, labels
    assigned after); exports a deployable approximation. Result: ``test_accuracy`` (the trained
    winner-take-all network), ``exported_test_accuracy`` (the saved model), ``network``."""
    from edgesnn.data.datasets import open_dataset
    from edgesnn.train.stdp import STDPConfig, train_stdp

    open_dataset(dataset)  # fail fast
    res = train_stdp(STDPConfig(dataset=dataset, neurons=neurons, epochs=epochs, seed=seed), progress)
    out_d: dict[str, Any] = {
        "network": res.network,
        "neurons": neurons,
        "epochs": epochs,
        "test_accuracy": res.test_accuracy,
        "exported_test_accuracy": res.exported_test_accuracy,
        "export": res.export_params,
        "note": "test_accuracy: the trained winner-take-all network with label assignment; "
        "exported_test_accuracy: the saved model, which approximates winner-take-all with "
        "recurrent inhibition so that it can be quantized and deployed",
    }
    if out is not None:
        out_d["model"] = save(res.network, out)
    return out_d


def _device_fitness(dev: Device, layer: int) -> Callable[[QuantNetwork, np.ndarray, np.ndarray], float]:
    """Hardware in the loop: write the candidate's layer to the device, stream, score accuracy
    (final membranes are not on the wire, so there is no margin term)."""

    def fitness(net: QuantNetwork, x: np.ndarray, y: np.ndarray) -> float:
        dev.write_weights(net.layers[layer].weight)
        return float(np.mean([o.result.prediction == y[i] for i, o in enumerate(dev.stream(x))]))

    return fitness


def evolve(
    dataset: str = "digits",
    out: PathLike = "evolved.qsnn",
    *,
    generations: int = 300,
    population: int = 16,
    hidden: int = 0,
    timesteps: int = 10,
    prune: float = 0.0,
    board: str | None = None,
    port: str | None = None,
    hil_samples: int = 40,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Evolve a small network in the integer domain (NES with antithetic integer candidates);
    fitness from the simulator, or from a device with ``board``/``port`` (hardware in the loop).
    The best network so far is checkpointed to ``out``. Result: ``test_accuracy``, ``seconds``."""
    from edgesnn.data.datasets import open_dataset
    from edgesnn.fixedpoint import simulate_int
    from edgesnn.train.evolve import EvolveConfig, score, template
    from edgesnn.train.evolve import evolve as run

    ds = open_dataset(dataset)
    spec = ds.spec_with(timesteps, seed=seed)
    x_tr, y_tr = ds.spikes("train", spec)
    x_te, y_te = ds.spikes("test", spec)
    cfg = EvolveConfig(
        dataset=dataset,
        generations=generations,
        population=population,
        hidden=hidden,
        timesteps=timesteps,
        prune_prob=prune,
        seed=seed,
        batch=hil_samples if (board or port) else 300,
    )
    base = replace(template(x_tr.shape[2], ds.classes, hidden), input_spec=spec)
    device_fitness, evolve_layers, d = None, None, None
    if board or port:
        last = len(base.layers) - 1
        d = open_device(base, board, port, "build/evolve", learn_layer=last)
        evolve_layers = [last]  # the device can rewrite its learning layer only
        device_fitness = _device_fitness(d.device, last)
    try:
        res = run(
            cfg,
            x_tr,
            y_tr,
            fitness=device_fitness,
            base=base,
            evolve_layers=evolve_layers,
            progress=progress,
            checkpoint=lambda net: None if save(net, out) else None,
        )
    finally:
        if d is not None:
            d.close()
    path = save(res.network, out)
    return {
        "network": res.network,
        "model": path,
        "test_accuracy": simulate_int(res.network, x_te).accuracy(y_te),
        "train_fitness": score(simulate_int(res.network, x_tr), y_tr),
        "generations": generations,
        "population": population,
        "seconds": res.seconds,
        "fitness_from": "device" if (board or port) else "simulator",
        "layers": [[L.n_out, L.n_in] for L in res.network.layers],
        "history": res.history,
    }
