"""``edgesnn learn``, ``stdp``, ``evolve`` (thin: the work is in ``edgesnn.api.learning``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgesnn import api
from edgesnn.cli.common import JsonOpt, LazyBar, drop, emit, err_console, handles_errors, line, progress_bar


@handles_errors
def learn_cmd(
    model: Annotated[Path, typer.Argument(help="Quantized model (.qsnn).")],
    board: Annotated[Optional[str], typer.Option(help="Deploy to this board (with a learning layer) first.")] = None,
    port: Annotated[Optional[str], typer.Option(help="A device already deployed with a learning layer.")] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option(
            help="Training samples from its train split, evaluation from test (a name or a .npz; default: the model's)."
        ),
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Training samples streamed with plasticity on.")] = 300,
    eval_limit: Annotated[Optional[int], typer.Option(min=1, help="Test samples for accuracy before/after.")] = None,
    mode: Annotated[
        str, typer.Option(help="three_factor (labels gate the updates) or pair (unsupervised STDP).")
    ] = "three_factor",
    layer: Annotated[int, typer.Option(help="The learning layer (negative counts from the end).")] = -1,
    eta: Annotated[int, typer.Option(min=0, help="Learning rate eta_plus (and eta_minus).")] = 1,
    lr_shift: Annotated[int, typer.Option(min=0, max=30, help="Updates are (eta * trace) >> lr_shift.")] = 10,
    reinit: Annotated[
        bool, typer.Option("--reinit/--no-reinit", help="Start from a freshly initialised learning layer.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of --reinit.")] = 0,
    save: Annotated[
        Optional[Path], typer.Option(help="Where to write the learned model (default: MODEL-learned.qsnn).")
    ] = None,
    persist: Annotated[
        bool, typer.Option("--persist", help="Also save the weights in the device's persistent storage.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Build folder when deploying.")] = Path("build/learn"),
    json_out: JsonOpt = False,
):
    """Stream labelled samples with plasticity on, read the weights back, compare with the host, save."""
    with LazyBar(None, "learning", not json_out) as bar:  # samples before, during and after learning
        summary = api.learn(
            model,
            board=board,
            port=port,
            dataset=dataset,
            samples=samples,
            eval_limit=eval_limit,
            mode=mode,
            layer=layer,
            eta=eta,
            lr_shift=lr_shift,
            reinit=reinit,
            seed=seed,
            save_to=save,
            persist=persist,
            out=out,
            on_row=line if json_out else None,
            progress=lambda phase, total: bar.update(advance=1, total=total, info=phase),
        )
    if json_out:
        line(summary)
    else:
        err_console.print(
            f"accuracy before {summary['accuracy_before']:.2%} -> after {summary['accuracy_after']:.2%} "
            f"({summary['eval_samples']} test samples); {summary['weights_changed']} of "
            f"{summary['weights']} weights changed; weight mismatches with the host model: "
            f"{summary['weight_mismatches']}"
        )
        emit({k: summary[k] for k in ("accuracy_before", "accuracy_after", "weight_mismatches", "model")}, False)
    if summary.get("persist_error"):
        sys.stderr.write(
            f"error: saving the weights on the device failed ({summary['persist_error']}); "
            f"the learned model is saved in {summary['model']}\n"
        )
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
    with progress_bar(epochs, "STDP", not json_out) as bar:
        task = bar.add_task("stdp", total=epochs, info="")
        res = api.stdp(
            dataset, out, neurons=neurons, epochs=epochs, seed=seed, progress=lambda h: bar.update(task, advance=1)
        )
    emit(drop(res, "network"), json_out)


@handles_errors
def evolve_cmd(
    dataset: Annotated[str, typer.Option(help="Built-in data set or a .npz file (docs/data.md).")] = "digits",
    out: Annotated[
        Path, typer.Option(help="Where to write the evolved model (.qsnn); the best so far is checkpointed here.")
    ] = Path("evolved.qsnn"),
    generations: Annotated[int, typer.Option(min=1)] = 300,
    population: Annotated[int, typer.Option(min=1, help="Antithetic pairs per generation.")] = 16,
    hidden: Annotated[int, typer.Option(min=0, help="Spiking hidden neurons (0: one LI readout layer).")] = 0,
    timesteps: Annotated[int, typer.Option(min=1)] = 10,
    prune: Annotated[float, typer.Option(help="Topology mutation: chance a synapse is off in a candidate.")] = 0.0,
    board: Annotated[
        Optional[str], typer.Option(help="Hardware in the loop: evaluate on this board (deployed here).")
    ] = None,
    port: Annotated[
        Optional[str], typer.Option(help="Hardware in the loop on a device already deployed (with a learning layer).")
    ] = None,
    hil_samples: Annotated[int, typer.Option(min=1, help="Minibatch per candidate with hardware in the loop.")] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    json_out: JsonOpt = False,
):
    """Evolve a small network in the integer domain; fitness from the simulator or a device."""
    with progress_bar(generations, "evolving", not json_out) as bar:
        task = bar.add_task("evolve", total=generations, info="")
        done = [0]

        def progress(h: dict) -> None:
            bar.update(task, advance=h["generation"] - done[0], info=f"best fitness {h['best_fitness']:.3f}")
            done[0] = h["generation"]

        res = api.evolve(
            dataset,
            out,
            generations=generations,
            population=population,
            hidden=hidden,
            timesteps=timesteps,
            prune=prune,
            board=board,
            port=port,
            hil_samples=hil_samples,
            seed=seed,
            progress=progress,
        )
    emit(drop(res, "network"), json_out)
