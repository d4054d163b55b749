"""A board file of your own: `my-m3.toml` describes a product with 256 KB flash and 64 KB RAM
(emulated as an MPS2 AN385). Build for it — the fit rules use its limits — and verify the
firmware on it against the simulator.

    python examples/custom_board/run.py
"""

import tempfile
from pathlib import Path

import numpy as np

import edgesnn.api as es
from edgesnn.errors import FitError
from edgesnn.fixedpoint import quantize
from edgesnn.ir import LIF, Dense, Network

BOARD = str(Path(__file__).with_name("my-m3.toml"))
rng = np.random.default_rng(0)


def model(hidden: int) -> Network:
    return Network(
        n_inputs=64,
        layers=(
            Dense(rng.normal(0, 0.3, (hidden, 64)), np.zeros(hidden), LIF(np.full(hidden, 0.9), np.ones(hidden))),
            Dense(rng.normal(0, 0.3, (10, hidden)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),
        ),
        input_spec={"dataset": "digits", "encoding": "rate", "timesteps": 10, "seed": 0},
    )


with tempfile.TemporaryDirectory() as tmp:
    small = quantize(model(64))
    b = es.build(small, BOARD, Path(tmp) / "small")
    print(f"my-m3: flash {b['flash_bytes']} B, RAM {b['ram_bytes']} B")
    v = es.verify(small, BOARD, Path(tmp) / "verify", limit=40)
    print(f"verified on my-m3 (QEMU): {v['samples']} samples, mismatches {v['mismatches']}")
    try:
        es.build(quantize(model(4000)), BOARD, Path(tmp) / "big")
    except FitError as e:
        print(f"a larger model does not fit: {e}")
    assert v["mismatches"] == 0
