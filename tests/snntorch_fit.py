"""Training an snnTorch network as a user would before bringing it to edgesnn: spike counts of
the output over the timesteps, cross-entropy, Adam. Shared by the NIR graph tests and the
real-data rows of tools/bench/sim.py (which put the repository root on sys.path for it)."""

from __future__ import annotations

import numpy as np


def fit_on_spike_counts(net, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 5e-3, batch: int = 64):
    """Train ``net`` (snnTorch layers with init_hidden; its forward returns (spikes, membrane))
    in place on spikes ``x`` (N, T, inputs) and labels ``y``; returns ``net``."""
    import torch
    from snntorch import utils

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(batch):
            utils.reset(net)
            xb, counts = torch.from_numpy(x[idx.numpy()].astype(np.float32)), 0
            for t in range(xb.shape[1]):
                counts = counts + net(xb[:, t])[0]
            loss = torch.nn.functional.cross_entropy(counts, torch.from_numpy(y[idx.numpy()]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net
