"""Bring a convolutional snnTorch model: Conv2d -> Leaky -> AvgPool2d -> Flatten -> Linear -> Leaky
on event-camera digits, exported with snnTorch's export_to_nir. edgesnn imports it keeping the
convolution (and, for comparison, composed into dense matrices as it used to), checks that its
float simulation spikes exactly as snnTorch does, and compares the model flash of the two.

    python examples/snntorch_conv_nir.py [--epochs 2] [--board qemu-mps2-an386]

With --board it also quantizes, builds, and verifies the firmware on that emulated board.
"""

import argparse
import tempfile
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

import edgesnn.api as es
from edgesnn.data.datasets import encoded
from edgesnn.firmware.render import model_table_bytes
from edgesnn.fixedpoint.quantize import quantize

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=2)
ap.add_argument("--board", default=None, help="also build and verify on this emulated board")
args = ap.parse_args()

torch.manual_seed(0)
torch.set_num_threads(2)
spec = {"downsample": 2, "timesteps": 25}
x_tr, y_tr = encoded("saccade-digits", "train", spec)
x_te, y_te = encoded("saccade-digits", "test", spec)
C, H, W = 2, 16, 16


def leaky(shape, output=False):
    # per-neuron beta and threshold (what export_to_nir needs); reset to zero, which NIR states
    return snn.Leaky(
        beta=torch.full(shape, 0.9),
        threshold=torch.ones(shape),
        reset_mechanism="zero",
        init_hidden=True,
        output=output,
    )


net = torch.nn.Sequential(
    torch.nn.Conv2d(C, 8, 3, padding=1),
    leaky((8, H, W)),
    torch.nn.AvgPool2d(2),
    torch.nn.Flatten(start_dim=-3),  # works batched and on export_to_nir's unbatched sample
    torch.nn.Linear(8 * (H // 2) * (W // 2), 10),
    leaky((10,), output=True),
)


def run(xb):
    for m in net:
        if isinstance(m, snn.Leaky):
            m.reset_hidden()
    out = []
    for t in range(xb.shape[1]):
        spk, _ = net(xb[:, t].reshape(-1, C, H, W))
        out.append(spk)
    return torch.stack(out, 1)


opt = torch.optim.Adam(net.parameters(), lr=2e-3)
xt, yt = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr)
for _ in range(args.epochs):
    for idx in torch.randperm(len(yt)).split(32):
        loss = torch.nn.functional.cross_entropy(run(xt[idx]).sum(1), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
with torch.no_grad():
    ref = run(torch.from_numpy(x_te).float()).numpy().astype(bool)
print(f"snnTorch accuracy {np.mean(ref.sum(1).argmax(1) == y_te):.2%}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "snntorch_conv.nir"
    nir.write(str(path), export_to_nir(net, torch.zeros(C, H, W)))
    results = {}
    for mode, compose in (("conv", False), ("dense", True)):
        imp = es.import_nir(path, Path(tmp) / f"{mode}.nir", compose_dense=compose)
        net_ = imp["network"]
        ours = es.simulate(net_, inputs=x_te)["result"].spikes
        q = quantize(net_, calibration=x_tr[:200])
        results[mode] = (net_, q)
        kinds = "+".join(row.get("kind", "dense") for row in imp["layers"])
        print(
            f"imported as {mode} ({kinds}): spike agreement with snnTorch {np.mean(ours == ref):.4%} "
            f"over {ref.size} output values; model tables {sum(model_table_bytes(q))} bytes"
        )
    conv_b, dense_b = (sum(model_table_bytes(results[m][1])) for m in ("conv", "dense"))
    print(
        f"model flash: convolution kept {conv_b} B, composed into dense {dense_b} B ({dense_b / conv_b:.1f}x smaller)"
    )
    if args.board:
        q = results["conv"][1]
        v = es.verify(q, args.board, Path(tmp) / "verify", inputs=x_te)
        print(
            f"verified on {args.board}: {v['samples']} samples, mismatches {v['mismatches']}, "
            f"model flash {v['build']['flash_model_bytes']} B, RAM {v['build']['ram_bytes']} B"
        )
