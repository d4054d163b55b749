"""Convert an int8 TFLite classifier (here written from a small numpy-trained MLP, no
TensorFlow needed) into a spiking network; report ANN and SNN accuracy.

    python examples/tflite_convert.py
"""

import tempfile
from pathlib import Path

import torch

import edgesnn.api as es
from edgesnn.convert.tflite_write import quantize_mlp
from edgesnn.data.datasets import load

torch.manual_seed(0)
torch.set_num_threads(1)
train, test = load("digits")
mlp = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
opt = torch.optim.Adam(mlp.parameters(), lr=5e-3)
x, y = torch.tensor(train.x, dtype=torch.float32), torch.from_numpy(train.y)
for _ in range(150):
    loss = torch.nn.functional.cross_entropy(mlp(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
ws = [mlp[0].weight.detach().numpy(), mlp[2].weight.detach().numpy()]
bs = [mlp[0].bias.detach().numpy(), mlp[2].bias.detach().numpy()]

with tempfile.TemporaryDirectory() as tmp:
    f = Path(tmp) / "digits_int8.tflite"
    f.write_bytes(quantize_mlp(ws, bs, train.x))
    r = es.convert(f, "digits", Path(tmp) / "snn.nir", timesteps=100, sweep=[25, 50])
    print(f"ANN (int8, {r['ann_runtime']}): {r['ann_accuracy']:.2%}")
    for t, acc in r["snn_accuracy_by_timesteps"].items():
        print(f"SNN, {t} timesteps: {acc:.2%}")
    assert abs(r["snn_accuracy"] - r["ann_accuracy"]) < 0.03
