"""Evolutionary optimisation directly in the integer domain (numpy; no torch, no gradients).

Natural evolution strategies with antithetic sampling (Wierstra et al. 2014; Salimans et al.
2017): a search distribution over each layer's integer weights (and spiking layers' integer
thresholds) is kept as a real-valued mean; every candidate is that mean plus Gaussian noise,
rounded and clamped to the contract's ranges, so every network evaluated is a valid
QuantNetwork. Fitness is accuracy plus a small margin term on a random minibatch, from the
golden simulator or from a connected device (hardware in the loop: candidates for the device's
learning layer are written with WRITE_WEIGHTS and the minibatch is streamed). Optional
topology mutation: a synapse can be switched off (weight forced to 0) with a small probability.
Every ``checkpoint_every`` generations the mean network is scored on a fixed subset; the best so
far is checkpointed and returned.

Default network: inputs -> one LI readout layer (prediction by final membrane), which the
strategy fits in seconds; ``hidden`` adds a spiking IF layer whose thresholds evolve too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from edgesnn._validate import require_at_least_one
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
from edgesnn.fixedpoint.simulate import SimResult, simulate_int


@dataclass(frozen=True)
class EvolveConfig:
    dataset: str = "digits"
    generations: int = 300
    population: int = 16  # antithetic pairs per generation
    sigma: float = 6.0  # mutation scale, in integer weight steps
    lr: float = 1.5
    batch: int = 300
    timesteps: int = 10
    hidden: int = 0  # 0: a single LI readout layer
    prune_prob: float = 0.0  # topology mutation: chance that a synapse is off in a candidate
    checkpoint_every: int = 25
    seed: int = 0

    def __post_init__(self):
        require_at_least_one(self, "generations", "population", "batch", "timesteps", "checkpoint_every")
        if not self.sigma > 0 or not self.lr > 0:
            raise ValueError("sigma and lr must be > 0")
        if not 0 <= self.prune_prob < 1:
            raise ValueError(f"prune_prob must be in [0, 1), got {self.prune_prob}")


def score(result: SimResult, labels: np.ndarray) -> float:
    """Accuracy plus a bounded margin term (final membranes) that smooths the landscape."""
    v = result.v_last.astype(np.float64)
    n = len(labels)
    correct = v[np.arange(n), labels]
    other = np.where(np.eye(v.shape[1], dtype=bool)[labels], -np.inf, v).max(axis=1)
    margin = np.tanh((correct - other) / (np.abs(v).mean() + 1.0))
    return result.accuracy(labels) + 0.05 * float(margin.mean())


@dataclass
class Genome:
    """Real-valued means of the search distribution, one array per evolvable table."""

    weights: list[np.ndarray]
    thresholds: list[np.ndarray | None]


def template(n_inputs: int, n_classes: int, hidden: int, state_bits: int = 24) -> QuantNetwork:
    hi = C.state_limits(state_bits)[1]
    sizes = [n_inputs] + ([hidden] if hidden else []) + [n_classes]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(
            QuantLayer(
                weight=np.zeros((b, a), np.int64),
                bias=np.zeros(b, np.int64),
                shift=0,
                alpha_mem=np.full(b, C.DECAY_ONE),
                threshold=np.full(b, hi if last else 64),  # last layer: LI (never spikes)
                reset="subtract",
            )
        )
    return QuantNetwork(n_inputs=n_inputs, layers=tuple(layers), state_bits=state_bits, name="evolved")


def realise(
    base: QuantNetwork, g: Genome, noise: Genome | None, sign: float, sigma: float, mask: list[np.ndarray] | None
) -> QuantNetwork:
    q = C.weight_limit(base.weight_bits)
    hi = C.state_limits(base.state_bits)[1]
    layers = []
    for i, L in enumerate(base.layers):
        w = g.weights[i] + (sign * sigma * noise.weights[i] if noise else 0.0)
        w = np.clip(np.rint(w), -q, q).astype(np.int64)
        if mask is not None:
            w = w * mask[i]
        thr = L.threshold
        gt = g.thresholds[i]
        if gt is not None:
            nt = noise.thresholds[i] if noise else None
            t = gt + (sign * sigma * nt if nt is not None else 0.0)
            thr = np.clip(np.rint(np.exp2(t)), 1, hi).astype(np.int64)  # thresholds evolve on a log2 scale
        layers.append(replace(L, weight=w, threshold=thr))
    return replace(base, layers=tuple(layers))


@dataclass
class EvolveResult:
    network: QuantNetwork
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def evolve(
    cfg: EvolveConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    fitness: Callable[[QuantNetwork, np.ndarray, np.ndarray], float] | None = None,
    base: QuantNetwork | None = None,
    evolve_layers: list[int] | None = None,
    progress: Callable[[dict], None] | None = None,
    checkpoint: Callable[[QuantNetwork], None] | None = None,
) -> EvolveResult:
    """Evolve ``base`` (default: a fresh template) on (x_train spikes, y_train)."""
    rng = np.random.default_rng(cfg.seed)
    n_classes = int(y_train.max()) + 1
    base = base or template(x_train.shape[2], n_classes, cfg.hidden)
    which = set(range(len(base.layers)) if evolve_layers is None else evolve_layers)
    fit = fitness or (lambda net, x, y: score(simulate_int(net, x), y))
    g = Genome(
        weights=[L.weight.astype(np.float64) for L in base.layers],
        thresholds=[
            np.log2(L.threshold.astype(np.float64)) if (i in which and i < len(base.layers) - 1) else None
            for i, L in enumerate(base.layers)
        ],
    )
    t0 = time.perf_counter()
    history = []
    # best-so-far is judged on one fixed subset, not on the noisy per-generation minibatches
    val = rng.choice(len(y_train), min(cfg.batch, len(y_train)), replace=False)
    best: tuple[float, QuantNetwork] | None = None
    for gen in range(cfg.generations):
        idx = rng.choice(len(y_train), min(cfg.batch, len(y_train)), replace=False)
        xs, ys = x_train[idx], y_train[idx]
        noises, diffs = [], []
        for _ in range(cfg.population):
            noise = Genome(
                weights=[rng.normal(size=w.shape) if i in which else np.zeros_like(w) for i, w in enumerate(g.weights)],
                thresholds=[None if t is None else rng.normal(size=t.shape) * 0.05 for t in g.thresholds],
            )
            mask = None
            if cfg.prune_prob:
                mask = [(rng.random(w.shape) >= cfg.prune_prob).astype(np.int64) for w in g.weights]
            f_plus = fit(realise(base, g, noise, +1.0, cfg.sigma, mask), xs, ys)
            f_minus = fit(realise(base, g, noise, -1.0, cfg.sigma, mask), xs, ys)
            noises.append(noise)
            diffs.append(f_plus - f_minus)
        d = np.asarray(diffs)
        d = d / (d.std() + 1e-12)
        for i in range(len(g.weights)):
            g.weights[i] += cfg.lr * np.mean([di * n.weights[i] for di, n in zip(d, noises)], axis=0)
            if g.thresholds[i] is not None:
                g.thresholds[i] += cfg.lr * np.mean([di * n.thresholds[i] for di, n in zip(d, noises)], axis=0)
        if (gen + 1) % cfg.checkpoint_every == 0 or gen + 1 == cfg.generations:
            current = realise(base, g, None, 0.0, 0.0, None)
            f = fit(current, x_train[val], y_train[val])
            improved = best is None or f > best[0]
            if improved:
                best = (f, current)
            h = {
                "generation": gen + 1,
                "fitness": f,
                "best_fitness": max(f, best[0] if best else f),
                "seconds": time.perf_counter() - t0,
            }
            history.append(h)
            if progress:
                progress(h)
            if checkpoint and improved:
                checkpoint(current)
    if best is None:  # pragma: no cover - the last generation always checkpoints
        raise RuntimeError("evolution ended without evaluating a candidate")
    return EvolveResult(network=best[1], history=history, seconds=time.perf_counter() - t0)
