"""Training: surrogate gradients on a data set, for the integer contract or a kit's dialect.

A kit (``board``) brings its own defaults (its board file's ``[train]`` table) and its fit rules
are applied to the data set and the architecture before the first epoch: a model the kit
cannot take is refused naming the rule and the fix, not after minutes of training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesnn.errors import BoardError, FitError

if TYPE_CHECKING:
    from edgesnn.firmware.boards import Board
    from edgesnn.kits.plan import Plan

PathLike = str | Path

#: The defaults of ``train`` where neither the caller nor a kit's ``[train]`` table gives one.
DEFAULTS: dict[str, Any] = {"dataset": "digits", "model": "mlp", "hidden": 256, "beta": 0.9, "weight_bits": 8}


def train(
    dataset: str | None = None,
    out: PathLike | None = None,
    *,
    epochs: int = 40,
    seed: int = 0,
    hidden: int | None = None,
    model: str | None = None,
    timesteps: int | None = None,
    encoding: str | None = None,
    qat: bool = True,
    threads: int = 1,
    downsample: int = 1,
    denoise_us: int = 0,
    device: str = "cpu",
    batch_size: int = 32,
    board: str | None = None,
    neuron: str = "lif",
    beta: float | None = None,
    beta_syn: float = 0.5,
    weight_bits: int | None = None,
    window: int | None = None,
    stride: int | None = None,
    dt_us: int | None = None,
    spontaneous: bool = False,
    lr: float = 2e-3,
    channels: int | None = None,
    progress: Callable[[dict], None] | None = None,
) -> dict[str, Any] | None:
    """Train a spiking network with surrogate gradients (quantization-aware unless ``qat=False``).

    ``dataset``: a built-in name or a ``.npz`` (default ``digits``). ``model``: ``mlp`` (one
    hidden layer of ``hidden`` neurons, default 256), ``rnn`` (the same, recurrent), ``conv``
    (two convolutions with sum pooling, then the class layer) or an architecture file (.toml /
    .json, docs/training.md). ``beta``: membrane decay per step (default 0.9); ``weight_bits``:
    QAT weight width (default 8); ``lr``: Adam's learning rate (cosine-annealed over the epochs;
    long samples, such as a second of audio, may need a smaller one). Audio data: ``channels``
    band-pass channels of the front end (default 16) and ``dt_us`` its timestep (default 10 ms);
    the model keeps the front end they design.

    ``board``: a neuromorphic kit (``xylo-imu``, ``loihi2``, ...): train current-based neurons in
    that chip's own arithmetic (its dialect; ``int_accuracy`` is the golden simulator in that
    dialect). Arguments left at None take the kit's defaults (its board file's ``[train]``
    table: Xylo IMU ``digits-rows`` into a recurrent layer of 128, Akida ``beta=0`` and 4-bit
    weights), reported as ``kit_defaults``. The kit's fit rules run on the data set and the
    architecture before the first epoch; a model the kit cannot take raises ``FitError`` naming
    the rule and the fix. ``neuron="cuba"`` with ``qat=False``: the float current-based model,
    which quantizes to any dialect.

    A stream data set (docs/data.md, "Streams") trains on windows cut from its train recording
    (``window`` and ``stride`` timesteps of ``dt_us``), with a background class; the decision
    rule is then fitted on the train recording and stored in the model, and the result adds
    ``stream_train`` and ``stream_test`` (detection accuracy, false alarms per hour, latency).

    ``progress``: called once with ``{"epoch": 0}`` when the data is ready and training starts,
    then after every epoch with its figures (``epoch``, ``loss``, ``test_accuracy_train_readout``:
    the test split through the training forward pass).

    Under ``torchrun`` training is data-parallel and only rank 0 saves and returns a result
    (other ranks return None). Result: ``network``, ``model`` (path, if saved),
    ``test_accuracy`` (the trained float model simulated on the test split), ``int_accuracy``
    (kits: the integer model in the chip's dialect), ``seconds_per_epoch``, ``input_spec``,
    ``world_size``.

    ```python
    r = edgesnn.api.train("digits", "digits.nir", epochs=40)
    r["test_accuracy"]                                          # about 0.97
    ```
    """
    from edgesnn.data.datasets import open_any
    from edgesnn.train import TrainConfig, arch
    from edgesnn.train import train as run
    from edgesnn.train.distributed import context_from_env

    kit = _kit(board) if board is not None else None
    given: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "hidden": hidden,
        "beta": beta,
        "weight_bits": weight_bits,
    }
    table = (kit.get("train") or {}) if kit is not None else {}
    kit_table = {k: v for k, v in table.items() if k in DEFAULTS}
    used: dict[str, Any] = {k: v if v is not None else kit_table.get(k, DEFAULTS[k]) for k, v in given.items()}
    from_kit = {k: used[k] for k in kit_table if given[k] is None}

    # fail fast on an unknown data set, option or architecture, before torch does any work
    ds = open_any(used["dataset"])
    if ds.kind == "stream" and kit is not None:
        raise ValueError("stream training targets microcontroller firmware: train it without a kit board")
    spec = ds.resolve(
        {"encoding": encoding, "timesteps": timesteps, "downsample": downsample, "denoise_us": denoise_us}
        | ({"window": window, "stride": stride, "dt_us": dt_us, "channels": channels} if ds.kind == "stream" else {})
        | ({"channels": channels, "dt_ms": None if dt_us is None else dt_us / 1000.0} if ds.kind == "audio" else {})
    )
    if channels is not None and "front_end" not in spec:
        raise ValueError(f"channels {channels}: only audio data sets have a front end, {ds.name!r} holds {ds.kind}")
    in_shape = ds.input_shape(spec)
    arch.resolve(arch.load(used["model"], (used["hidden"],)), in_shape, ds.classes)
    dialect = "edgesnn"
    if kit is not None:
        preflight(kit, lambda h: _plan(used["model"], h, in_shape, ds.classes), used)
        dialect = table.get("dialect", kit.dialect)
    cfg = TrainConfig(
        dataset=used["dataset"],
        epochs=epochs,
        seed=seed,
        hidden=(used["hidden"],),
        model=used["model"],
        timesteps=timesteps,
        encoding=encoding,
        qat=qat,
        threads=threads,
        downsample=downsample,
        denoise_us=denoise_us,
        device=device,
        batch_size=batch_size,
        neuron="cuba" if dialect != "edgesnn" else neuron,
        beta=used["beta"],
        beta_syn=beta_syn,
        weight_bits=used["weight_bits"],
        dialect=dialect,
        window=window,
        stride=stride,
        dt_us=dt_us,
        quiet=not spontaneous,
        lr=lr,
        channels=channels,
    )
    main = context_from_env().is_main
    result = run(cfg, progress if main else None)
    if result.rank != 0:
        return None
    res: dict[str, Any] = {
        "network": result.network,
        "test_accuracy": result.test_accuracy,
        "epochs": epochs,
        "seed": seed,
        "qat": qat,
        "seconds_per_epoch": result.seconds_per_epoch,
        "input_spec": result.network.input_spec,
        "world_size": result.world_size,
        "device": device,
        "dialect": dialect if kit is None else kit.dialect,
    }
    if kit is not None:
        res["kit_defaults"] = from_kit
    if result.int_accuracy is not None:
        res["int_accuracy"] = result.int_accuracy
    if ds.kind == "stream":  # the decision rule, fitted on the integer model, travels in the file
        from edgesnn.api.streams import brief, fit_decision, stream_metrics, with_decision
        from edgesnn.fixedpoint.quantize import quantize_as_trained

        qnet = quantize_as_trained(result.network)
        rule, fit = fit_decision(qnet, ds, ds.model_spec(qnet.input_spec))
        res["network"] = with_decision(result.network, rule)
        res["input_spec"] = res["network"].input_spec
        res["test_accuracy_windows"] = res.pop("test_accuracy")
        res["stream_train"] = brief(fit)
        res["stream_test"] = brief(stream_metrics(with_decision(qnet, rule), ds, "test"))
    if out is not None:
        from edgesnn.api.model import save

        res["model"] = save(res["network"], out)
    return res


def _plan(model: str, hidden: int, in_shape: tuple[int, ...], classes: int) -> Plan:
    import math

    from edgesnn.kits.plan import plan_of
    from edgesnn.train import arch

    return plan_of(arch.resolve(arch.load(model, (hidden,)), in_shape, classes), math.prod(in_shape))


def preflight(kit: Board, plan_for: Callable[[int], Plan], used: dict[str, Any]) -> None:
    """The kit's shape rules on the network training would make (``plan_for(hidden)``); a
    broken rule raises FitError naming it, the kit and the fix (the largest hidden size that
    fits, or the data sets that fit, or the layer kind)."""
    from edgesnn.kits.rules import check_kit_plan

    try:
        check_kit_plan(kit, plan_for(used["hidden"]))
    except FitError as e:
        fix, names = _fix(e, kit, plan_for, used)
        found = str(e).replace("{", "{{").replace("}", "}}")
        raise FitError(f"{found} (checked before training); fix: {fix}", e.rule, names=names) from None


def _fix(e: FitError, kit: Board, plan_for: Callable[[int], Plan], used: dict[str, Any]) -> tuple[str, list[str]]:
    """What to change, as a message template naming the arguments it changes."""
    from edgesnn.kits.rules import check_kit_plan

    lim = kit.limits
    if e.rule in ("kit-inputs", "kit-outputs"):
        what, most = ("input channels", lim["inputs"]) if e.rule == "kit-inputs" else ("classes", lim["outputs"])
        fitting = _builtin_sets_that_fit(lim["inputs"], lim["outputs"])
        some = f"the built-in {' or '.join(fitting)}" if fitting else "no built-in one fits: bring your own .npz"
        if e.rule == "kit-outputs":  # fewer classes of the same data: NAME:classes=A,B,...
            some += f", or keep {most} of its classes ({used['dataset']}:classes=A,B,...)"
        return f"a {{dataset}} with at most {most} {what}: {some} (docs/data.md)", ["dataset"]
    if e.rule == "kit-layers":
        return "dense layers, one hidden layer and a readout that is not recurrent ({model} mlp or rnn)", ["model"]
    if used["model"] in ("mlp", "rnn"):  # sizes: the largest hidden layer every rule accepts
        lo, hi = 0, int(used["hidden"]) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            try:
                check_kit_plan(kit, plan_for(mid))
                lo = mid
            except FitError:
                hi = mid - 1
        if lo >= 1:
            return f"{{hidden}} {lo} or fewer", ["hidden"]
    return f"smaller layers in the architecture {used['model']!r} (docs/training.md)", []


def _builtin_sets_that_fit(inputs: int, classes: int) -> list[str]:
    """Built-in static data sets whose input channels and classes are within the kit's."""
    from edgesnn.data.datasets import builtin_sizes

    return [name for name, (n, c) in builtin_sizes().items() if n <= inputs and c <= classes]


def _kit(board: str) -> Board:
    """The kit board file ``board`` names; a microcontroller board is refused naming it."""
    from edgesnn.firmware.boards import get_board

    b = get_board(board, kits=True)
    if not b.is_kit:
        raise BoardError(
            f"{b.name} is a microcontroller board: train and quantize for it without {{board}}", names=["board"]
        )
    return b
