"""Bring a snnTorch model: train it briefly, export NIR, import into edgesnn, compare spikes,
quantize and run the integer model.

    python examples/snntorch_nir.py
"""

import tempfile
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

import edgesnn.api as es
from edgesnn.data.datasets import encoded

torch.manual_seed(0)
torch.set_num_threads(1)
x_tr, y_tr = encoded("digits", "train", {"timesteps": 25})
x_te, y_te = encoded("digits", "test", {"timesteps": 25})
beta, thr = torch.full((64,), 0.9), torch.ones(64)
net = torch.nn.Sequential(
    torch.nn.Linear(64, 64),
    snn.Leaky(beta=beta, threshold=thr, init_hidden=True),
    torch.nn.Linear(64, 10),
    snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.ones(10), init_hidden=True, output=True),
)


def run(xb):
    for m in net:
        if isinstance(m, snn.Leaky):
            m.reset_hidden()
    out = []
    for t in range(xb.shape[1]):
        spk, _ = net(xb[:, t])
        out.append(spk)
    return torch.stack(out, 1)


opt = torch.optim.Adam(net.parameters(), lr=2e-3)
xt, yt = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr)
for _ in range(3):
    for idx in torch.randperm(len(yt)).split(64):
        loss = torch.nn.functional.cross_entropy(run(xt[idx]).sum(1), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
with torch.no_grad():
    ref = run(torch.from_numpy(x_te).float()).numpy().astype(bool)
print(f"snnTorch accuracy {np.mean(ref.sum(1).argmax(1) == y_te):.2%}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "snntorch.nir"
    nir.write(str(path), export_to_nir(net, torch.zeros(64)))
    imp = es.import_nir(path, Path(tmp) / "imported.nir", reset="subtract-undecayed")
    ours = es.simulate(imp["network"], inputs=x_te)["result"].spikes
    print(f"imported: spike agreement with snnTorch {np.mean(ours == ref):.4%} over {ref.size} output values")
    q = es.quantize(imp["network"], Path(tmp) / "imported.qsnn", dataset="digits")
    print(f"quantized: float accuracy {q['float_accuracy']:.2%}, integer accuracy {q['int_accuracy']:.2%}")
    assert np.mean(ours == ref) > 0.999
