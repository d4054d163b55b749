"""Unsupervised STDP on the host: a competitive layer with lateral inhibition and homeostasis,
labels assigned after training (after Diehl & Cook 2015, simplified for 8x8 digits). numpy only.

Training dynamics, per sample (states reset between samples):

    pre[k] = trace_decay * pre[k] + s[k]                      presynaptic traces
    v      = beta * v + W @ s                                 LIF membranes
    winners: neurons with v > theta0 + theta; the one furthest above its threshold spikes and
             lateral inhibition resets every membrane (winner-take-all)
    STDP on the winner j:  W[j] += eta * (pre - W[j] * sum(pre) / w_norm), clipped to [0, 1]
             (potentiation by the presynaptic trace, weight-dependent depression)
    homeostasis: theta[j] += theta_plus on every spike; theta *= theta_decay after each sample

After training every neuron is labelled with the class it responds to most on the training
split; a sample is classified by the class whose neurons spiked most on average.

Export: an edgesnn Network of two layers, so that it can be quantized and deployed. Hard
winner-take-all is not expressible in the integer contract; the export approximates it with
recurrent inhibitory weights (the layer's own spikes of the previous step) and thresholds
scaled by a factor, both chosen on the training split. The readout layer sums each class's
neurons, weighted by 1 / (neurons of that class), into IF neurons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgesnn._validate import require_at_least_one
from edgesnn.data.datasets import open_dataset
from edgesnn.fixedpoint.simulate import simulate_float
from edgesnn.ir import IF, LIF, Dense, Network


@dataclass(frozen=True)
class STDPConfig:
    dataset: str = "digits"
    neurons: int = 200
    epochs: int = 3
    timesteps: int = 25
    beta: float = 0.9
    theta0: float = 2.0
    theta_plus: float = 0.05
    theta_decay: float = 0.995
    trace_decay: float = 0.8
    eta: float = 0.02
    w_norm: float = 8.0
    seed: int = 0

    def __post_init__(self):
        require_at_least_one(self, "neurons", "epochs", "timesteps")


@dataclass
class STDPResult:
    weights: np.ndarray  # (neurons, inputs)
    theta: np.ndarray
    assignment: np.ndarray  # class per neuron
    test_accuracy: float  # with the training dynamics (winner-take-all)
    network: Network  # the exported, deployable approximation
    exported_test_accuracy: float
    export_params: dict = field(default_factory=dict)


class _WTA:
    def __init__(self, cfg: STDPConfig, n_in: int, rng: np.random.Generator):
        self.cfg = cfg
        self.W = rng.random((cfg.neurons, n_in)) * 0.3
        self.theta = np.zeros(cfg.neurons)

    def run(self, x: np.ndarray, learn: bool) -> np.ndarray:
        c, W = self.cfg, self.W
        v = np.zeros(c.neurons)
        pre = np.zeros(W.shape[1])
        counts = np.zeros(c.neurons)
        thr = c.theta0 + self.theta
        for t in range(x.shape[0]):
            s = x[t].astype(np.float64)
            pre = pre * c.trace_decay + s
            v = c.beta * v + W @ s
            above = v > thr
            if above.any():
                j = int(np.argmax(np.where(above, v - thr, -np.inf)))
                counts[j] += 1
                v[:] = 0.0  # lateral inhibition
                if learn:
                    W[j] += c.eta * (pre - W[j] * pre.sum() / c.w_norm)
                    np.clip(W[j], 0.0, 1.0, out=W[j])
                    self.theta[j] += c.theta_plus
                    thr = c.theta0 + self.theta
        if learn:
            self.theta *= c.theta_decay
        return counts


def _assign(responses: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    means = np.stack([responses[labels == c].mean(axis=0) for c in range(n_classes)])
    return means.argmax(axis=0)


def _vote(responses: np.ndarray, assignment: np.ndarray, n_classes: int) -> np.ndarray:
    per_class = np.stack(
        [responses[:, assignment == c].sum(axis=1) / max(1, int((assignment == c).sum())) for c in range(n_classes)],
        axis=1,
    )
    return per_class.argmax(axis=1)


def export_network(W, thresholds, assignment, n_classes, cfg: STDPConfig, inhibition: float, spec: dict) -> Network:
    n = W.shape[0]
    readout = np.zeros((n_classes, n))
    for c in range(n_classes):
        members = assignment == c
        if members.any():
            readout[c, members] = 1.0 / members.sum()
    hidden = Dense(
        weight=W,
        bias=np.zeros(n),
        recurrent=-inhibition * (1.0 - np.eye(n)),
        neurons=LIF(beta=np.full(n, cfg.beta), threshold=thresholds, reset="to_value", v_reset=0.0),
    )
    out = Dense(weight=readout, bias=np.zeros(n_classes), neurons=IF(threshold=np.full(n_classes, 0.05)))
    return Network(
        n_inputs=W.shape[1],
        layers=(hidden, out),
        input_spec=spec,
        name=f"{cfg.dataset}-stdp",
        meta={"trained_with": "edgesnn.train.stdp", "neurons": n},
    )


def train_stdp(cfg: STDPConfig, progress: Callable[[dict], None] | None = None) -> STDPResult:
    rng = np.random.default_rng(cfg.seed)
    ds = open_dataset(cfg.dataset)
    spec = ds.spec_with(cfg.timesteps, seed=cfg.seed)
    x_tr, y_tr = ds.spikes("train", spec)
    x_te, y_te = ds.spikes("test", spec)
    n_classes = ds.classes
    net = _WTA(cfg, x_tr.shape[2], rng)
    for epoch in range(cfg.epochs):
        for i in rng.permutation(len(y_tr)):
            net.run(x_tr[i], learn=True)
        if progress:
            progress({"epoch": epoch + 1})
    r_tr = np.stack([net.run(x, False) for x in x_tr])
    assignment = _assign(r_tr, y_tr, n_classes)
    r_te = np.stack([net.run(x, False) for x in x_te])
    test_acc = float(np.mean(_vote(r_te, assignment, n_classes) == y_te))
    # export: pick threshold scale and inhibition on the training split
    base = cfg.theta0 + net.theta
    best: tuple[float, float, float, Network] | None = None
    for scale in (1.0, 1.5, 2.0, 3.0):
        for inh in (1.0, 2.0, 4.0, 8.0):
            cand = export_network(net.W, scale * base, assignment, n_classes, cfg, inh, spec)
            acc = simulate_float(cand, x_tr).accuracy(y_tr)
            if best is None or acc > best[0]:
                best = (acc, scale, inh, cand)
    if best is None:  # pragma: no cover - the loops above always run
        raise RuntimeError("no export candidate")
    _, scale, inh, exported = best
    return STDPResult(
        weights=net.W,
        theta=net.theta,
        assignment=assignment,
        test_accuracy=test_acc,
        network=exported,
        exported_test_accuracy=simulate_float(exported, x_te).accuracy(y_te),
        export_params={"threshold_scale": scale, "inhibition": inh, "train_accuracy": best[0]},
    )
