"""Run a network on Lava's fixed-point CPU models (``Loihi2SimCfg(select_tag="fixed_pt")``).

Executed by the Python of the Lava virtual environment (lava-nc 0.10 needs Python 3.10 and
numpy < 2, so it cannot live beside edgesnn): it imports only numpy and lava, reads its network
and input spikes from an ``.npz`` and writes every layer's spikes (``s{k}``) and the last
layer's final membrane (``v_last``) to another.

    python lava_runner.py NET.npz OUT.npz

NET.npz: ``x`` (N, T, inputs) 0/1, ``layers``; per layer k: ``w{k}`` (out, in) Lava weights,
``r{k}`` (out, out) if recurrent, ``exp{k}`` weight_exp, ``du{k}``, ``dv{k}``, ``vth{k}``,
``mant{k}`` and ``bexp{k}`` (per neuron). Samples run side by side as copies of the network
(block-diagonal weights), ``batch`` at a time, each from Lava's initial state.
"""

import sys

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIF


def block_diag(w, copies):
    o, i = w.shape
    out = np.zeros((o * copies, i * copies), dtype=np.int32)
    for c in range(copies):
        out[c * o : (c + 1) * o, c * i : (c + 1) * i] = w
    return out


def run_batch(net, x):
    """x: (B, T, inputs) -> list of (B, T, n_k) spikes per layer."""
    b, steps, n_in = x.shape
    src = Source(data=x.transpose(0, 2, 1).reshape(b * n_in, steps).astype(np.int32))
    prev, sinks, sizes = src.s_out, [], []
    for k in range(int(net["layers"])):
        w = net[f"w{k}"]
        n = w.shape[0]
        dense = Dense(weights=block_diag(w, b), weight_exp=int(net[f"exp{k}"]), num_weight_bits=8)
        lif = LIF(
            shape=(n * b,),
            du=int(net[f"du{k}"]),
            dv=int(net[f"dv{k}"]),
            vth=int(net[f"vth{k}"]),
            bias_mant=np.tile(net[f"mant{k}"], b).astype(np.int32),
            bias_exp=np.tile(net[f"bexp{k}"], b).astype(np.int32),
        )
        prev.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        if f"r{k}" in net:
            rec = Dense(weights=block_diag(net[f"r{k}"], b), weight_exp=int(net[f"exp{k}"]), num_weight_bits=8)
            lif.s_out.connect(rec.s_in)
            rec.a_out.connect(lif.a_in)
        sink = Sink(shape=(n * b,), buffer=steps)
        lif.s_out.connect(sink.a_in)
        sinks.append(sink)
        sizes.append(n)
        prev = lif.s_out
    src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    outs = [s.data.get().copy() for s in sinks]
    v_last = lif.v.get().copy().reshape(b, sizes[-1])
    src.stop()
    return [o.reshape(b, n, steps).transpose(0, 2, 1).astype(np.uint8) for o, n in zip(outs, sizes)], v_last


def main():
    net = dict(np.load(sys.argv[1]))
    x = net.pop("x")
    batch = int(net.pop("batch", 16))
    layers = [[] for _ in range(int(net["layers"]))]
    v_last = []
    for start in range(0, x.shape[0], batch):
        spikes, v = run_batch(net, x[start : start + batch])
        for k, s in enumerate(spikes):
            layers[k].append(s)
        v_last.append(v)
    out = {f"s{k}": np.concatenate(v) for k, v in enumerate(layers)}
    np.savez(sys.argv[2], v_last=np.concatenate(v_last), **out)


if __name__ == "__main__":
    main()
