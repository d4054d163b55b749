"""Embed the generated C in your own firmware loop (main.c), build it with the host compiler,
feed it samples through its sensor stub, and check its predictions against the simulator.

    python examples/embed_c/run.py
"""

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgesnn.data.datasets import encoded
from edgesnn.firmware.hostbuild import STRICT_FLAGS, write_model_sources
from edgesnn.firmware.render import RUNTIME_CORE
from edgesnn.fixedpoint import quantize, simulate_int
from edgesnn.ir import LIF, Dense, Network

HERE = Path(__file__).parent
rng = np.random.default_rng(0)
net = Network(
    n_inputs=64,
    layers=(
        Dense(rng.normal(0, 0.35, (48, 64)), np.zeros(48), LIF(np.full(48, 0.9), np.ones(48))),
        Dense(rng.normal(0, 0.4, (10, 48)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),
    ),
    input_spec={"dataset": "digits", "encoding": "rate", "timesteps": 20, "seed": 0},
)
qnet = quantize(net)
x, _ = encoded("digits", "test", qnet.input_spec)
x = x[:60]
with tempfile.TemporaryDirectory() as tmp:
    src = Path(tmp) / "src"
    write_model_sources(qnet, src)  # the runtime and the model's const tables: drop them into your project
    app = Path(tmp) / "app"
    subprocess.run(
        [
            "cc",
            "-O2",
            *STRICT_FLAGS,
            f"-I{src}",
            str(HERE / "main.c"),
            *(str(src / f) for f in RUNTIME_CORE),  # esnn.c, esnn_conv.c
            str(src / "esnn_model.c"),
            "-o",
            str(app),
        ],
        check=True,
    )
    feed = "".join("".join("".join("1" if v else "0" for v in row) + "\n" for row in sample) + "\n" for sample in x)
    out = subprocess.run([str(app)], input=feed, capture_output=True, text=True, check=True).stdout
    got = np.array([int(line.split()[-1]) for line in out.splitlines()])
    want = simulate_int(qnet, x).prediction
    print(f"{len(got)} samples through main.c: predictions equal to the simulator: {np.array_equal(got, want)}")
    assert np.array_equal(got, want)
