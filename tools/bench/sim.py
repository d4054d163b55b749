"""Integer golden simulator vs snnTorch's float Leaky network on the same shapes, same run.

    python tools/bench/sim.py [--batch 256] [--steps 25] [--density 0.2] [--threads 1]

Prints milliseconds per batch for each integer backend (numba: event-driven compiled kernel;
numpy: exact float32 GEMM; torch: int8 GEMM) and snnTorch, and the ratio snnTorch / backend
(> 1: edgesnn is faster). All use the same thread count; inputs are Bernoulli spikes of the given
density. Every backend's output spikes are checked equal before timing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import best_of  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--density", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import snntorch as snn
    import torch

    from edgesnn.fixedpoint import quantize, simulate_int
    from edgesnn.ir import LIF, Dense, Network

    torch.set_num_threads(args.threads)
    rows = []
    for sizes in ((64, 128, 10), (784, 512, 10)):
        rng = np.random.default_rng(0)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = rng.normal(0, 2.0 / np.sqrt(a), (b, a))
            layers.append(Dense(w, np.zeros(b), LIF(np.full(b, 0.9), np.ones(b))))
        net = Network(n_inputs=sizes[0], layers=tuple(layers))
        qnet = quantize(net)
        x = rng.random((args.batch, args.steps, sizes[0])) < args.density

        fcs = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        with torch.no_grad():
            for fc, L in zip(fcs, layers):
                fc.weight.copy_(torch.from_numpy(np.array(L.weight)))
                fc.bias.zero_()
        lifs = [snn.Leaky(beta=0.9, threshold=1.0) for _ in fcs]
        xt = torch.from_numpy(x.astype(np.float32))

        def run_snntorch():
            with torch.no_grad():
                mems = [lif.reset_mem() for lif in lifs]
                out = []
                for t in range(args.steps):
                    s = xt[:, t]
                    for i, (fc, lif) in enumerate(zip(fcs, lifs)):
                        s, mems[i] = lif(fc(s), mems[i])
                    out.append(s)
                return torch.stack(out, 1)

        ref = simulate_int(qnet, x, backend="numpy")
        t_snn = best_of(run_snntorch)
        row = {
            "shape": "-".join(map(str, sizes)),
            "batch": args.batch,
            "steps": args.steps,
            "density": args.density,
            "threads": args.threads,
            "snntorch_ms": round(t_snn * 1e3, 2),
            "synops_per_sample": float(ref.synops.mean()),
        }
        for backend in ("numba", "numpy", "torch"):
            got = simulate_int(qnet, x, backend=backend)
            assert np.array_equal(got.spikes, ref.spikes), backend
            t = best_of(lambda: simulate_int(qnet, x, backend=backend))
            row[f"{backend}_ms"] = round(t * 1e3, 2)
            row[f"{backend}_speedup"] = round(t_snn / t, 2)
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(
                f"{r['shape']:>11}  batch {r['batch']}  T {r['steps']}  density {r['density']}  "
                f"threads {r['threads']}: snnTorch float {r['snntorch_ms']:.1f} ms"
            )
            for b in ("numba", "numpy", "torch"):
                print(f"{'':13}edgesnn integer [{b:5}] {r[b + '_ms']:7.1f} ms   speedup x{r[b + '_speedup']}")


if __name__ == "__main__":
    main()
