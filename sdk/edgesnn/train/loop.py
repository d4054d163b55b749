"""Surrogate-gradient BPTT on a named data set, deterministic for a given seed and thread count."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np
import torch

from edgesnn._validate import require_at_least_one
from edgesnn.data.datasets import open_any
from edgesnn.errors import ArchitectureError
from edgesnn.fixedpoint.simulate import simulate_float
from edgesnn.ir import LIF, Connection, Conv2d, ConvGeometry, Dense, Network, SpikeGate
from edgesnn.train import arch
from edgesnn.train import distributed as dist
from edgesnn.train.kit_qat import KitNet, kit_network
from edgesnn.train.snn import SpikingNet, recurrent_params, to_numpy_params


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. ``qat`` trains with the integer contract's forward pass.

    ``dataset`` is a built-in name or a ``.npz`` path; ``encoding`` and ``timesteps`` left at
    None take the data set's defaults (rate coding and 25 steps for features and events, the
    file's own steps for spikes); ``downsample`` and ``denoise_us`` apply to events.
    ``device`` is ``cpu`` or ``cuda``; under ``torchrun`` training is data-parallel. ``model`` is a
    built-in architecture (``mlp``: dense layers of ``hidden`` sizes; ``conv``) or an
    architecture file (``train.arch``). ``dialect`` trains for a chip's arithmetic
    (``train.kit_qat``), ``neuron="cuba"`` with ``qat=False`` the float current-based model.
    """

    dataset: str = "digits"
    encoding: str | None = None
    timesteps: int | None = None
    downsample: int = 1
    denoise_us: int = 0
    model: str = "mlp"
    hidden: tuple[int, ...] = (256,)
    beta: float = 0.9
    threshold: float = 1.0
    epochs: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    qat: bool = True
    weight_bits: int = 8
    state_bits: int = 24
    per_channel: bool = True
    threads: int = 1
    device: str = "cpu"
    #: ``lif`` (voltage-based) or ``cuba`` (a synaptic current decaying by ``beta_syn``)
    neuron: str = "lif"
    beta_syn: float = 0.5
    #: a chip dialect (``xylo``, ``loihi2``: CubaLIF; ``speck``: IAF): QAT in that chip's
    #: arithmetic (dense layers)
    dialect: str = "edgesnn"
    #: streams (data.stream_set): timestep, and the training windows' length and stride (steps)
    dt_us: int | None = None
    #: audio: band-pass channels of the front end (default 16); its timestep is dt_us (default 10 ms)
    channels: int | None = None
    window: int | None = None
    stride: int | None = None
    #: keep every bias below threshold x (1 - beta) (times QUIET_MARGIN), so that no neuron fires
    #: without input and an idle network comes to rest (docs/fixed-point.md, "Idle skipping");
    #: False (``--spontaneous``) lets biases drive neurons on their own
    quiet: bool = True

    def __post_init__(self):
        require_at_least_one(self, "epochs", "batch_size", "threads", "downsample")
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps!r}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold!r}")
        if self.neuron not in ("lif", "cuba"):
            raise ValueError(f"neuron must be 'lif' or 'cuba', got {self.neuron!r}")
        if not 0.0 <= self.beta_syn <= 1.0:
            raise ValueError(f"beta_syn must be in [0, 1], got {self.beta_syn!r}")
        if self.dialect not in ("edgesnn", "xylo", "loihi2", "speck"):
            raise ValueError(f"dialect must be edgesnn, xylo, loihi2 or speck, got {self.dialect!r}")
        if self.dialect == "edgesnn" and self.neuron == "cuba" and self.qat:
            raise ValueError(
                "quantization-aware training of CubaLIF runs in a chip dialect: pass a kit board, or --no-qat"
            )

    @property
    def kit_model(self) -> bool:
        """Trained by ``train.kit_qat.KitNet`` (current-based layers, a chip's arithmetic)."""
        return self.dialect != "edgesnn" or self.neuron == "cuba"


@dataclass
class TrainResult:
    network: Network
    test_accuracy: float
    int_accuracy: float | None = None  # chip dialects: the golden simulator in that dialect
    history: list[dict] = field(default_factory=list)
    seconds_per_epoch: float = 0.0
    rank: int = 0
    world_size: int = 1


def count_loss(spikes: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy on spike counts: the readout the devices use (most spikes wins)."""
    return torch.nn.functional.cross_entropy(spikes.sum(dim=1), labels, reduction=reduction)


#: A quiet bias stays this far below threshold x (1 - beta): room for the integer rounding of the
#: bias, threshold and decay (docs/fixed-point.md, "Idle skipping").
QUIET_MARGIN = 0.98


def bias_limit(cfg: TrainConfig) -> float | None:
    """The largest bias of a quiet neuron: at rest v = bias / (1 - beta) stays below threshold."""
    if not cfg.quiet or cfg.kit_model:
        return None
    return cfg.threshold * (1.0 - cfg.beta) * QUIET_MARGIN


def clamp_biases(model, limit: float | None) -> None:
    """Project every bias onto (-inf, limit] (in place; after each optimizer step)."""
    if limit is None:
        return
    base = getattr(model, "module", model)  # DDP wraps the model
    with torch.no_grad():
        for mod in base.fcs:
            mod.bias.clamp_(max=limit)


def train_epoch(
    model,
    opt,
    x: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    gen: torch.Generator,
    ctx: dist.Context = dist.Context(),
    limit: float | None = None,
) -> float:
    """One pass over (x, labels) in shuffled minibatches with the spike-count loss; mean loss.

    Data-parallel (``ctx.world_size > 1``): this rank trains on its chunk of each global batch,
    scaled so that DDP's averaged gradient is the global batch's (see ``train.distributed``).
    """
    model.train()
    total, batches = 0.0, 0
    for idx in torch.randperm(len(labels), generator=gen).split(batch_size):
        mine = dist.shard(idx, ctx)
        if ctx.world_size == 1:
            spikes, _ = model(x[idx])
            loss = count_loss(spikes, labels[idx])
        elif len(mine) == 0:  # a global batch smaller than the world: take part with zero loss
            spikes, _ = model(x[idx[:1]])
            loss = 0.0 * spikes.sum()
        else:
            spikes, _ = model(x[mine])
            loss = count_loss(spikes, labels[mine], "sum") * (ctx.world_size / len(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        clamp_biases(model, limit)
        total += float(loss.detach()) / ctx.world_size
        batches += 1
    return total / batches


def _connection(model: SpikingNet, src: int, t: int) -> Connection:
    """A trained further input (``SpikingNet.extras``) as a graph connection."""
    w = cast(torch.Tensor, cast(torch.nn.Module, model.extras[f"{t}_{src}"]).weight).detach().double().cpu().numpy()
    g = model.specs[t].conv
    if g is None:
        return Connection(src, t, w)
    c = g.out_channels  # one to one per channel: a depthwise 1x1 on the layer's own output map
    return Connection(src, t, w, conv=ConvGeometry(g.out_shape, c, (1, 1), (1, 1), (0, 0), c))


def to_network(model: SpikingNet | KitNet, cfg: TrainConfig, n_inputs: int, spec: dict | None = None) -> Network:
    spec = spec or {"dataset": cfg.dataset, "encoding": cfg.encoding, "timesteps": cfg.timesteps, "seed": cfg.seed}
    meta: dict = {"trained_with": "edgesnn.train", "config": asdict(cfg)}
    if isinstance(model, KitNet):
        if cfg.qat:
            meta["qat"] = {"dialect": cfg.dialect}
        return kit_network(model, spec, meta, f"{cfg.dataset}-snn")
    layers: list[Dense | Conv2d] = []
    for sp, (w, b), r in zip(model.specs, to_numpy_params(model), recurrent_params(model)):
        n = sp.units
        nrn = LIF(beta=np.full(n, cfg.beta), threshold=np.full(n, cfg.threshold))
        if sp.conv is None:
            layers.append(Dense(weight=w, bias=b, neurons=nrn, pool=sp.pool, recurrent=r))
        else:
            layers.append(Conv2d(weight=w, bias=b, neurons=nrn, conv=sp.conv, pool=sp.pool))
    if cfg.qat:
        meta["qat"] = {"weight_bits": cfg.weight_bits, "state_bits": cfg.state_bits, "per_channel": cfg.per_channel}
    sources, extra = arch.graph_of(model.specs)
    connections = tuple(_connection(model, src, t) for src, t in extra)
    return Network(
        n_inputs=n_inputs,
        layers=tuple(layers),
        input_spec=spec,
        meta=meta,
        name=f"{cfg.dataset}-snn",
        sources=tuple(i - 1 if s == -2 else s for i, s in enumerate(sources)),
        connections=connections,
        gates=tuple(SpikeGate(i, sp.gate[1], sp.gate[0]) for i, sp in enumerate(model.specs) if sp.gate is not None),
    )


def train(cfg: TrainConfig, progress: Callable[[dict], None] | None = None) -> TrainResult:
    """Train an SNN; ``progress`` is called once with ``{"epoch": 0}`` when the data is ready and
    training starts, then after each epoch with its figures (``epoch``, ``loss``,
    ``test_accuracy_train_readout``: the test split through the training forward pass).

    Under ``torchrun`` every rank calls this; only rank 0 should report and save.
    """
    ctx = dist.context_from_env()
    device = dist.resolve_device(cfg.device, ctx)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    ds = open_any(cfg.dataset)
    spec = ds.resolve(
        {
            "encoding": cfg.encoding,
            "timesteps": cfg.timesteps,
            "seed": cfg.seed,
            "downsample": cfg.downsample,
            "denoise_us": cfg.denoise_us,
            **(
                {"dt_us": cfg.dt_us, "window": cfg.window, "stride": cfg.stride, "channels": cfg.channels}
                if ds.kind == "stream"
                else {}
            ),
            **(
                {"channels": cfg.channels, "dt_ms": None if cfg.dt_us is None else cfg.dt_us / 1000.0}
                if ds.kind == "audio"
                else {}
            ),
        }
    )
    x_test, y_test = ds.spikes("test", spec)
    n_in = x_test.shape[2]
    # a stream's labels are its training windows' (data.stream_set)
    y_train = ds.window_index("train", spec)[1] if ds.kind == "stream" else ds.split("train").y
    qat = (
        {"weight_bits": cfg.weight_bits, "state_bits": cfg.state_bits, "per_channel": cfg.per_channel}
        if cfg.qat
        else None
    )
    dist.start(ctx, device)
    try:
        specs = arch.resolve(arch.load(cfg.model, cfg.hidden), ds.input_shape(spec), ds.classes)
        if cfg.kit_model and any(sp.extra or sp.source != i - 1 for i, sp in enumerate(specs)):
            raise ArchitectureError(
                f"{cfg.model}: names inputs (a graph), which trains with LIF neurons in the edgesnn dialect; "
                f"a kit or current-based neurons ({cfg.dialect}, {cfg.neuron}) take chains of layers"
            )
        if cfg.kit_model:
            model: SpikingNet | KitNet = KitNet(
                specs, n_in, cfg.beta_syn, cfg.beta, cfg.threshold, dialect=cfg.dialect, qat=cfg.qat
            ).to(device)
        else:
            model = SpikingNet(specs, n_in, cfg.beta, cfg.threshold, qat=qat).to(device)
        limit = bias_limit(cfg)
        clamp_biases(model, limit)
        net_model = dist.wrap(model, ctx, device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        gen = torch.Generator().manual_seed(cfg.seed)
        labels = torch.from_numpy(y_train).to(device)
        xt_test = torch.from_numpy(x_test).to(device)
        history, t_train = [], 0.0
        if progress is not None and ctx.is_main:
            progress({"epoch": 0})
        for epoch in range(cfg.epochs):
            # fresh rate-coding noise each epoch (augmentation); other inputs (latency code, spike
            # files, binned events) are the same every epoch, so they are made once
            if epoch == 0 or spec["encoding"] == "rate":
                x_train, _ = ds.spikes("train", {**spec, "seed": cfg.seed + 1000 + epoch})
                xt = torch.from_numpy(x_train).to(device)
            t0 = time.perf_counter()
            loss = train_epoch(net_model, opt, xt, labels, cfg.batch_size, gen, ctx, limit)
            sched.step()
            t_train += time.perf_counter() - t0
            with torch.no_grad():
                out, _ = model(xt_test)
            acc = float((out.sum(dim=1).argmax(dim=1).cpu().numpy() == y_test).mean())
            history.append({"epoch": epoch + 1, "loss": loss, "test_accuracy_train_readout": acc})
            if progress is not None and ctx.is_main:
                progress(history[-1])
    finally:
        dist.stop(ctx)
    net = to_network(model, cfg, n_in, spec)
    test_acc = simulate_float(net, x_test).accuracy(y_test)
    int_acc = None
    if cfg.dialect != "edgesnn" and cfg.qat:  # what the chip computes: the golden model in its dialect
        from edgesnn.fixedpoint.quantize_kits import quantize_kit
        from edgesnn.fixedpoint.simulate import simulate_int

        int_acc = simulate_int(quantize_kit(net, cfg.dialect), x_test).accuracy(y_test)
    return TrainResult(
        network=net,
        test_accuracy=test_acc,
        int_accuracy=int_acc,
        history=history,
        seconds_per_epoch=t_train / cfg.epochs,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
