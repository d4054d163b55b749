"""The check every training test shares: a SpikingNet's forward pass, turned into a network,
gives the float simulator's spikes (float) or the golden simulator's spikes and final membrane
bit for bit (QAT)."""

from __future__ import annotations

import numpy as np


def trains_as_simulated(
    layers: list[dict],
    in_shape: tuple[int, ...],
    classes: int,
    qat: dict | None,
    *,
    seed: int = 0,
    scale: float = 1.0,
    steps: int = 12,
    samples: int = 6,
    rate: float = 0.4,
    cfg=None,
):
    """Build the architecture with random weights times ``scale``, run it on Bernoulli(``rate``)
    spikes, and assert the simulators agree exactly; returns (network, SimResult, recorded)."""
    import torch

    from edgesnn.fixedpoint import quantize, simulate_float, simulate_int
    from edgesnn.train.arch import resolve
    from edgesnn.train.loop import TrainConfig, to_network
    from edgesnn.train.snn import SpikingNet

    n_in = int(np.prod(in_shape))
    specs = resolve(layers, in_shape, classes)
    torch.manual_seed(seed)
    m = SpikingNet(specs, n_in, 0.9, 1.0, qat=qat)
    for p in m.parameters():
        p.data *= scale
    x = (torch.rand(samples, steps, n_in) < rate).float()
    with torch.no_grad():
        out, v = m(x)
    cfg = cfg or TrainConfig()
    net = to_network(m, cfg, n_in)
    xs = x.numpy().astype(bool)
    if qat is None:
        sim = simulate_float(net, xs, record=True)
        assert np.array_equal(sim.spikes, out.numpy().astype(bool))
    else:
        sim = simulate_int(quantize(net, weight_bits=cfg.weight_bits, state_bits=cfg.state_bits), xs, record=True)
        assert np.array_equal(sim.spikes, out.numpy().astype(bool))
        assert np.array_equal(v.numpy(), sim.v_last)  # the final membrane too, exactly
    assert sim.spikes.sum() > 0
    return net, sim, sim.recorded()
