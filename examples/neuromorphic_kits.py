"""One recurrent SNN for two neuromorphic chips: train it in each chip's own arithmetic (SynSense
Xylo IMU, Intel Loihi 2), write the chip's configuration, and check every spike against the
vendor's simulator (XyloSim; Lava's fixed-point models). Needs the `xylo` extra and Lava's venv
(tools/install_kits.sh); a kit whose simulator is missing is skipped with the reason.

    python examples/neuromorphic_kits.py
"""

import tempfile
from pathlib import Path

import edgesnn.api as es
from edgesnn.errors import BoardError

with tempfile.TemporaryDirectory() as tmp:
    arch = Path(tmp) / "rec.toml"
    arch.write_text('[[layer]]\ntype = "dense"\nunits = 64\nrecurrent = true\n')
    for kit in ("xylo-imu", "loihi2"):
        model, qmodel = Path(tmp) / f"{kit}.nir", Path(tmp) / f"{kit}.qsnn"
        t = es.train("digits-rows", model, epochs=8, model=str(arch), board=kit)
        q = es.quantize(model, qmodel, board=kit)
        files = es.build(qmodel, kit, Path(tmp) / kit)["files"]
        print(f"{kit}: trained for its dialect, {q['dialect']} accuracy {q['int_accuracy']:.2%}; wrote", end=" ")
        print(", ".join(Path(f).name for f in files))
        try:
            v = es.verify(qmodel, kit, limit=100)
        except BoardError as e:  # the vendor simulator is not installed here
            print(f"  {kit}: not checked: {e}")
            continue
        print(
            f"  {kit}: {v['samples']} samples, {v['spikes_compared']} spikes compared with "
            f"{v['reference'].split(' (')[0]}: mismatches {v['mismatches']}"
        )
