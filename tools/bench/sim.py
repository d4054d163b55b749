"""Integer golden simulator vs snnTorch's float Leaky network on the same shapes, same run.

    python tools/bench/sim.py [--batch 256] [--steps 25] [--density 0.2] [--threads 1]

Prints milliseconds per batch for each integer backend (c: the event-driven kernel compiled by the
host's cc; numba: the same kernel compiled by numba;
numpy: exact float32 GEMM; torch: int8 GEMM) and snnTorch, and the ratio snnTorch / backend
(> 1: edgesnn is faster). All use the same thread count; inputs are Bernoulli spikes of the given
density. Every backend's output spikes are checked equal before timing.

Then the whole process: `python -m edgesnn simulate MODEL --input X.npy --json` (start-up,
imports, the cached C kernel, input checks, output) on a 64-256-10 network and --process-samples
inputs, against snnTorch's compute alone on the same network and input in this process. The
process runs with its bytecode cached, as an installed package does.

Then the same on real data files (``--real-samples``, default 31,808): a 64-96-10 snnTorch
network trained here on the built-in digits, exported to NIR, imported and quantized by edgesnn,
fed every digit rate-coded again and again (new Bernoulli draws) as a uint8 and a float32
``(N, T, 64)`` .npy file. Against snnTorch running that trained network over the float32 input:
the whole ``simulate`` process per file and the C kernel alone (``simulate_int`` in this process).
Both predictions are scored on the digits' labels, which the two need not match exactly (the
integer network is quantized).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import best_of, best_process_s, process_env  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--density", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--process-samples", type=int, default=31808)  # the input issue 12 measured
    ap.add_argument("--real-samples", type=int, default=31808)  # 0 skips the real-data rows
    args = ap.parse_args()

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

        run_snntorch = snntorch_runner(layers, x, args.batch)

        ref = simulate_int(qnet, x, backend="numpy")
        t_snn = best_of(run_snntorch)
        row = {
            **_settings(args, sizes),
            "snntorch_ms": round(t_snn * 1e3, 2),
            "synops_per_sample": float(ref.synops.mean()),
        }
        for backend in ("c", "numba", "numpy", "torch"):
            got = simulate_int(qnet, x, backend=backend)
            assert np.array_equal(got.spikes, ref.spikes), backend
            t = best_of(lambda: simulate_int(qnet, x, backend=backend))
            row[f"{backend}_ms"] = round(t * 1e3, 2)
            row[f"{backend}_speedup"] = round(t_snn / t, 2)
        rows.append(row)
    rows.append(process_row(args))
    if args.real_samples:
        from sim_real import real_rows

        rows.extend(real_rows(args, _settings))
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            if "real_input" in r:
                print(
                    f"{r['shape']:>11}  batch {r['batch']}  T {r['steps']}  threads {r['threads']}: real digits "
                    f"({r['real_input']}, activity {r['density']:.3f}): {r['what']} {r['edgesnn_s']:.2f} s vs "
                    f"snnTorch compute {r['snntorch_s']:.2f} s on {r['samples']} samples: x{r['speedup']} "
                    f"(accuracy {r['edgesnn_accuracy']:.1%} vs snnTorch {r['snntorch_accuracy']:.1%})"
                )
                continue
            print(
                f"{r['shape']:>11}  batch {r['batch']}  T {r['steps']}  density {r['density']}  "
                f"threads {r['threads']}: snnTorch float {r['snntorch_ms']:.1f} ms"
            )
            if "process_s" in r:
                print(
                    f"{'':13}whole `edgesnn simulate` process {r['process_s']:.2f} s vs snnTorch compute "
                    f"{r['snntorch_s']:.2f} s on {r['samples']} samples: x{r['process_speedup']}"
                )
                continue
            for b in ("c", "numba", "numpy", "torch"):
                print(f"{'':13}edgesnn integer [{b:5}] {r[b + '_ms']:7.1f} ms   speedup x{r[b + '_speedup']}")


def snntorch_runner(layers, x: np.ndarray, batch: int):
    """snnTorch Leaky layers with the same weights (no bias), run over ``x`` in batches."""
    import snntorch as snn
    import torch

    fcs = [torch.nn.Linear(L.weight.shape[1], L.weight.shape[0]) for L in layers]
    with torch.no_grad():
        for fc, L in zip(fcs, layers):
            fc.weight.copy_(torch.from_numpy(np.array(L.weight)))
            fc.bias.zero_()
    lifs = [snn.Leaky(beta=0.9, threshold=1.0) for _ in fcs]
    xt = torch.from_numpy(x.astype(np.float32))

    def run():
        with torch.no_grad():
            for b0 in range(0, len(xt), batch):
                mems = [lif.reset_mem() for lif in lifs]
                for t in range(xt.shape[1]):
                    s = xt[b0 : b0 + batch, t]
                    for i, (fc, lif) in enumerate(zip(fcs, lifs)):
                        s, mems[i] = lif(fc(s), mems[i])

    return run


def _settings(args, sizes) -> dict:
    """What a result row was measured on."""
    return {
        "shape": "-".join(map(str, sizes)),
        "batch": args.batch,
        "steps": args.steps,
        "density": args.density,
        "threads": args.threads,
    }


def process_row(args) -> dict:
    """The whole CLI process against snnTorch's compute on the same network and input."""
    import tempfile

    from edgesnn.fixedpoint import quantize
    from edgesnn.formats import save_model
    from edgesnn.ir import LIF, Dense, Network

    sizes = (64, 256, 10)
    rng = np.random.default_rng(1)
    layers = [
        Dense(rng.normal(0, 2.0 / np.sqrt(a), (b, a)), np.zeros(b), LIF(np.full(b, 0.9), np.ones(b)))
        for a, b in zip(sizes[:-1], sizes[1:])
    ]
    x = rng.random((args.process_samples, args.steps, sizes[0])) < args.density
    t_snn = best_of(snntorch_runner(layers, x, args.batch), repeats=2)
    with tempfile.TemporaryDirectory() as tmp:
        model = save_model(quantize(Network(n_inputs=sizes[0], layers=tuple(layers))), Path(tmp) / "m.qsnn")
        np.save(Path(tmp) / "x.npy", x)
        cmd = [sys.executable, "-m", "edgesnn", "simulate", str(model), "--input", str(Path(tmp) / "x.npy"), "--json"]
        best = best_process_s(cmd, process_env(args.threads, Path(tmp)))
    return {
        **_settings(args, sizes),
        "snntorch_ms": round(t_snn * 1e3, 1),
        "samples": args.process_samples,
        "process_s": round(best, 3),
        "snntorch_s": round(t_snn, 3),
        "process_speedup": round(t_snn / best, 2),
    }


if __name__ == "__main__":
    main()
