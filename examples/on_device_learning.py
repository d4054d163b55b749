"""On-device learning: a model whose last layer starts from random weights learns on the device
with the label-gated three-factor rule; the weights read back equal the host's golden model.

    python examples/on_device_learning.py [--board host|qemu-mps2-an385]
"""

import argparse
import tempfile
from pathlib import Path

import edgesnn.api as es

ap = argparse.ArgumentParser()
ap.add_argument("--board", default="host")
args = ap.parse_args()
with tempfile.TemporaryDirectory() as tmp:
    es.train("digits", Path(tmp) / "d.nir", epochs=8, hidden=64)
    es.quantize(Path(tmp) / "d.nir", Path(tmp) / "d.qsnn")
    r = es.learn(
        Path(tmp) / "d.qsnn",
        board=args.board,
        samples=200,
        eval_limit=150,
        reinit=True,
        out=Path(tmp) / "build",
        save_to=Path(tmp) / "learned.qsnn",
    )
    print(
        f"{r['board']}: accuracy before {r['accuracy_before']:.2%} -> after {r['accuracy_after']:.2%}; "
        f"{r['weights_changed']} of {r['weights']} weights changed; mismatches with the host {r['weight_mismatches']}"
    )
    assert r["weight_mismatches"] == 0 and r["accuracy_after"] > r["accuracy_before"]
