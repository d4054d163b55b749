"""The real-data rows of ``sim.py``: a trained snnTorch digits network and real input files.

Kept apart from sim.py so each file stays one concern: this one trains, exports through NIR,
imports, quantizes and writes the input files, then times the process and the kernel.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of, best_process_s, process_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests/snntorch_fit.py
from tests.snntorch_fit import fit_on_spike_counts  # noqa: E402

SIZES = (64, 96, 10)


def _train_snntorch(x: np.ndarray, y: np.ndarray, epochs: int = 3):
    """A 64-96-10 snnTorch Leaky network trained on rate-coded digits, as a user would bring it."""
    import snntorch as snn
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(SIZES[0], SIZES[1])
            self.lif1 = snn.Leaky(beta=torch.full((SIZES[1],), 0.9), threshold=torch.ones(SIZES[1]), init_hidden=True)
            self.fc2 = torch.nn.Linear(SIZES[1], SIZES[2])
            self.lif2 = snn.Leaky(
                beta=torch.full((SIZES[2],), 0.9), threshold=torch.ones(SIZES[2]), init_hidden=True, output=True
            )

        def forward(self, s):
            return self.lif2(self.fc2(self.lif1(self.fc1(s))))

    return fit_on_spike_counts(Net(), x, y, epochs)


def _snntorch_counts(net, x: np.ndarray, batch: int) -> np.ndarray:
    """snnTorch's compute over ``x`` (float32) in batches: output spike counts (N, 10)."""
    import torch
    from snntorch import utils

    out = []
    xt = torch.from_numpy(x)
    with torch.no_grad():
        for b0 in range(0, len(xt), batch):
            utils.reset(net)
            counts = 0
            for t in range(xt.shape[1]):
                counts = counts + net(xt[b0 : b0 + batch, t])[0]
            out.append(counts.numpy())
    return np.concatenate(out)


EDGESNN = (sys.executable, "-m", "edgesnn")  # the CLI as a process


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGESNN, *args], check=True, capture_output=True, env=env, text=True)


def real_rows(args, settings) -> list[dict]:
    import nir
    import torch
    from snntorch.export_nir import export_to_nir

    from edgesnn.data.datasets import digits_splits
    from edgesnn.data.encoding import rate_encode
    from edgesnn.fixedpoint import quantize, simulate_int
    from edgesnn.formats import load_model, save_model

    train, test = digits_splits()
    net = _train_snntorch(rate_encode(train.x, args.steps, seed=0), train.y)
    # every digit (train and test) again and again, fresh draws each time: real images, real activity
    xs, ys = np.concatenate([train.x, test.x]), np.concatenate([train.y, test.y])
    reps = -(-args.real_samples // len(xs))
    x = np.concatenate([rate_encode(xs, args.steps, seed=100 + k) for k in range(reps)])[: args.real_samples]
    y = np.tile(ys, reps)[: args.real_samples]
    x8, x32 = x.astype(np.uint8), x.astype(np.float32)
    del x
    rows, base = [], {**settings(args, SIZES), "samples": args.real_samples}
    base["density"] = round(float(x8.mean()), 4)  # the inputs' own activity, not --density
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = process_env(args.threads, tmp)
        nir.write(str(tmp / "snntorch.nir"), export_to_nir(net, torch.zeros(SIZES[0])))
        # snnTorch's default reset (subtract, after the decay) named, as `edgesnn import` advises
        _cli("import", str(tmp / "snntorch.nir"), "--out", str(tmp / "m.nir"), "--reset", "subtract-undecayed",
             "--json", env=env)  # fmt: skip
        qnet = quantize(load_model(tmp / "m.nir"), calibration=rate_encode(train.x[:200], args.steps, seed=1))
        save_model(qnet, tmp / "m.qsnn")
        np.save(tmp / "x_u8.npy", x8)
        np.save(tmp / "x_f32.npy", x32)

        # the scored runs are the warm-ups of the timed ones
        snn_acc = float((_snntorch_counts(net, x32, args.batch).argmax(1) == y).mean())
        t_snn = best_of(lambda: _snntorch_counts(net, x32, args.batch), repeats=2, warmup=0)
        ours = simulate_int(qnet, x8, backend="c")
        t_kernel = best_of(lambda: simulate_int(qnet, x8, backend="c"), repeats=2, warmup=0)
        common = {**base, "snntorch_s": round(t_snn, 3), "snntorch_accuracy": round(snn_acc, 4)}
        common["edgesnn_accuracy"] = round(float(ours.accuracy(y)), 4)
        rows.append({**common, "real_input": "uint8 in memory", "what": "C kernel", "edgesnn_s": round(t_kernel, 3)})
        for name, label in (("x_u8.npy", "uint8 .npy"), ("x_f32.npy", "float32 .npy")):
            cmd = [*EDGESNN, "simulate", str(tmp / "m.qsnn"), "--input", str(tmp / name), "--json"]
            best = best_process_s(cmd, env)
            rows.append({**common, "real_input": label, "what": "whole process", "edgesnn_s": round(best, 3)})
    for r in rows:
        r["speedup"] = round(r["snntorch_s"] / r["edgesnn_s"], 2)
    return rows
