"""Quick start: train -> quantize -> deploy -> stream, with the Python API.

python examples/quickstart.py [--epochs 10] [--board qemu-mps2-an385] [--limit 150]
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import edgesnn.api as es

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--board", default="qemu-mps2-an385")
ap.add_argument("--limit", type=int, default=150)
args = ap.parse_args()
board = args.board if shutil.which("qemu-system-arm") or args.board == "host" else "host"

with tempfile.TemporaryDirectory() as tmp:
    work = Path(tmp)
    t = es.train("digits", work / "digits.nir", epochs=args.epochs, hidden=128)
    print(f"trained: float test accuracy {t['test_accuracy']:.2%}")
    q = es.quantize(work / "digits.nir", work / "digits.qsnn")
    print(f"quantized: integer accuracy {q['int_accuracy']:.2%}, hash {q['hash'][:16]}")
    s = es.stream(work / "digits.qsnn", board=board, limit=args.limit, out=work / "build")
    print(
        f"streamed to {s['board']}: {s['samples']} samples, device accuracy {s['accuracy']:.2%}, "
        f"mismatches with the simulator {s['mismatches']}"
    )
    assert s["mismatches"] == 0
