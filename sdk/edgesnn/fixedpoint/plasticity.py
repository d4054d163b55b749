"""Integer plasticity (docs/fixed-point.md, "Plasticity"): the golden model of on-device learning.

One layer learns; its weights change after every timestep, so samples run one after another
(weights carry over) and the result is the new network plus what was computed on the way.

Per timestep t, after the learning layer's neuron update (inputs s, output spikes z):

    1. x_pre  = decay(x_pre,  alpha_pre);   x_post = decay(x_post, alpha_post)
    2. x_pre[k]  = min(x_pre[k] + a_pre, TRACE_MAX)            for every input k with s[k]
    3. mode "pair" (unsupervised STDP):
         w[j,k] -= rshift_round_half_up(eta_minus * x_post[j], lr_shift)   for every k with s[k], all j
         w[j,k] += rshift_round_half_up(eta_plus  * x_pre[k],  lr_shift)   for every j with z[j], all k
       mode "three_factor" (label-gated; no label, no change):
         d[j] = (j == label) - z[j]
         w[j,k] += d[j] * rshift_round_half_up(eta_plus * x_pre[k], lr_shift)   for every j with d[j] != 0
       each update is followed by clamping w to [w_min, w_max]
    4. x_post[j] = min(x_post[j] + a_post, TRACE_MAX)          for every j with z[j]

Traces start at 0 on RESET, like the neuron states.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgesnn._validate import require_within
from edgesnn.fixedpoint import contract as C
from edgesnn.fixedpoint.qnetwork import QuantNetwork

MODES = ("off", "pair", "three_factor")
TRACE_MAX = 65535
NO_LABEL = -1


@dataclass(frozen=True)
class PlasticityConfig:
    """What learns and how fast. Integer parameters; decays are Q0.16 like the neurons'."""

    layer: int = -1
    mode: str = "three_factor"
    alpha_pre: int = 52429  # ~0.8 per step
    alpha_post: int = 52429
    a_pre: int = 256
    a_post: int = 256
    eta_plus: int = 1
    eta_minus: int = 1
    lr_shift: int = 8
    w_min: int = -127
    w_max: int = 127

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        require_within(self, 0, C.DECAY_ONE, "alpha_pre", "alpha_post")
        require_within(self, 0, 65535, "a_pre", "a_post", "eta_plus", "eta_minus")
        if not 0 <= self.lr_shift <= 30:
            raise ValueError(f"lr_shift = {self.lr_shift} is outside [0, 30]")
        if self.w_min > self.w_max:
            raise ValueError(f"w_min {self.w_min} > w_max {self.w_max}")

    def resolved_layer(self, qnet: QuantNetwork) -> int:
        n = len(qnet.layers)
        li = self.layer if self.layer >= 0 else n + self.layer
        if not 0 <= li < n:
            raise ValueError(f"learning layer {self.layer} does not exist (the network has {n} layers)")
        q = C.weight_limit(qnet.weight_bits)
        if self.w_min < -q or self.w_max > q:
            raise ValueError(f"weight clamp [{self.w_min}, {self.w_max}] exceeds the {qnet.weight_bits}-bit range ±{q}")
        return li


@dataclass
class LearningRun:
    network: QuantNetwork  # the network with the learned weights
    spikes: np.ndarray  # output spikes per sample (N, T, n_out), as computed while learning
    prediction: np.ndarray
    synops: np.ndarray


def _step_traces_and_weights(w, x_pre, x_post, s, z, cfg: PlasticityConfig, label: int) -> None:
    """Steps 1-4 for one timestep, in place. ``w`` is (n_out, n_in) int64."""
    x_pre[:] = C.decay(x_pre, cfg.alpha_pre)
    x_post[:] = C.decay(x_post, cfg.alpha_post)
    np.minimum(x_pre + cfg.a_pre * s, TRACE_MAX, out=x_pre)
    if cfg.mode == "pair":
        if s.any():
            dep = C.rshift_round_half_up(cfg.eta_minus * x_post, cfg.lr_shift)
            w[:, s] = np.clip(w[:, s] - dep[:, None], cfg.w_min, cfg.w_max)
        if z.any():
            pot = C.rshift_round_half_up(cfg.eta_plus * x_pre, cfg.lr_shift)
            w[z, :] = np.clip(w[z, :] + pot[None, :], cfg.w_min, cfg.w_max)
    elif cfg.mode == "three_factor" and label != NO_LABEL:
        d = -z.astype(np.int64)
        d[label] += 1
        rows = d != 0
        if rows.any():
            pot = C.rshift_round_half_up(cfg.eta_plus * x_pre, cfg.lr_shift)
            w[rows, :] = np.clip(w[rows, :] + d[rows, None] * pot[None, :], cfg.w_min, cfg.w_max)
    np.minimum(x_post + cfg.a_post * z, TRACE_MAX, out=x_post)


def simulate_learning(
    qnet: QuantNetwork, inputs: np.ndarray, cfg: PlasticityConfig, labels: np.ndarray | None = None
) -> LearningRun:
    """Run samples one after another with plasticity on; labels feed the three-factor rule."""
    li = cfg.resolved_layer(qnet)
    x = np.asarray(inputs, bool)
    n, steps = x.shape[:2]
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} samples")
    L = qnet.layers[li]
    w = L.weight.astype(np.int64).copy()
    lo, hi = C.state_limits(qnet.state_bits)
    out = np.zeros((n, steps, qnet.n_outputs), bool)
    pred = np.zeros(n, np.int64)
    synops = np.zeros(n, np.int64)
    for i in range(n):
        state = [
            (
                np.zeros(Lk.n_out, np.int64) if Lk.current_based else None,
                np.zeros(Lk.n_out, np.int64),
                np.zeros(Lk.n_out, bool),
            )
            for Lk in qnet.layers
        ]
        x_pre, x_post = np.zeros(L.n_in, np.int64), np.zeros(L.n_out, np.int64)
        label = NO_LABEL if labels is None else int(labels[i])
        counts = np.zeros(qnet.n_outputs, np.int64)
        for t in range(steps):
            s = x[i, t]
            for k, Lk in enumerate(qnet.layers):
                weight = w if k == li else Lk.weight
                acc = weight[:, s].sum(axis=1)
                synops[i] += int(s.sum()) * Lk.n_out
                cur, v, z_prev = state[k]
                if Lk.recurrent is not None:
                    acc = acc + Lk.recurrent[:, z_prev].sum(axis=1)
                    synops[i] += int(z_prev.sum()) * Lk.n_out
                xk = C.synaptic_drive(acc, Lk.shift, Lk.bias)
                z = Lk.neuron_step(xk, cur, v, qnet.state_bits)
                state[k] = (cur, v, z)
                if k == li and cfg.mode != "off":
                    _step_traces_and_weights(w, x_pre, x_post, s, z, cfg, label)
                s = z
            out[i, t] = s
            counts += s
        pred[i] = C.predict_from_counts(counts[None, :], state[-1][1][None, :])[0]
    layers = list(qnet.layers)
    layers[li] = replace(L, weight=w)
    new = replace(qnet, layers=tuple(layers))
    return LearningRun(network=new, spikes=out, prediction=pred, synops=synops)
