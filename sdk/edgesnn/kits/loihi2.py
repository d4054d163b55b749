"""Intel Loihi 2 through Lava: the Lava network of a model in the ``loihi2`` dialect, and Lava's
fixed-point CPU models as the reference it is checked against.

lava-nc 0.10 needs Python 3.10 and numpy < 2, so it lives in its own virtual environment
(``tools/install_kits.sh`` makes it; ``EDGESNN_LAVA_PYTHON`` names another interpreter) and runs
``lava_runner.py`` as a subprocess with the arrays in files.

Per layer: Lava ``Dense(weights=2 w, weight_exp=shift - 1)`` (a mixed-sign Dense drops the
weights' LSB, so edgesnn keeps 7-bit weights and stores them doubled; ``(sum 2w) >> 1`` is exact
for shift 0) and ``LIF(du, dv, vth=threshold >> 6, bias_mant, bias_exp)``; recurrent weights a
second Dense from the LIF to itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.errors import BoardError, EmulatorError
from edgesnn.fixedpoint import dialects as D
from edgesnn.fixedpoint.qnetwork import QuantNetwork

RUNNER = Path(__file__).with_name("lava_runner.py")
#: Where tools/install_kits.sh puts Lava's virtual environment.
DEFAULT_VENV = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edgesnn" / "lava-venv"
#: Samples simulated side by side per Lava run (block-diagonal copies of the network).
BATCH = 32


def lava_python() -> Path:
    """The interpreter that has lava-nc: ``$EDGESNN_LAVA_PYTHON`` or the default venv."""
    env = os.environ.get("EDGESNN_LAVA_PYTHON")
    py = Path(env) if env else DEFAULT_VENV / "bin" / "python"
    if not py.is_file():
        raise BoardError(
            f"the loihi2 check needs Lava in its own Python 3.10 environment; not found at {py} "
            "(run tools/install_kits.sh, or set EDGESNN_LAVA_PYTHON)"
        )
    return py


def lava_arrays(qnet: QuantNetwork) -> dict[str, np.ndarray]:
    """The Lava processes' parameters, per layer k (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {"layers": np.array(len(qnet.layers))}
    for k, L in enumerate(qnet.layers):
        mant, bexp = D.loihi_bias_parts(L.bias)
        arrays[f"w{k}"] = (L.weight * 2).astype(np.int32)
        if L.recurrent is not None:
            arrays[f"r{k}"] = (L.recurrent * 2).astype(np.int32)
        arrays[f"exp{k}"] = np.array(L.shift - 1)
        arrays[f"du{k}"] = np.array(int(L.alpha_syn[0]))  # type: ignore[index]  # the dialect requires it
        arrays[f"dv{k}"] = np.array(int(L.alpha_mem[0]))
        arrays[f"vth{k}"] = np.array(int(L.threshold[0]) >> D.LOIHI_ACT_SHIFT)
        arrays[f"mant{k}"], arrays[f"bexp{k}"] = mant.astype(np.int32), bexp.astype(np.int32)
    return arrays


def lava_version(py: Path) -> str:
    r = subprocess.run(
        [str(py), "-c", "from importlib.metadata import version; print(version('lava-nc'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0:
        raise BoardError(f"{py} has no lava-nc: {r.stderr.strip().splitlines()[-1] if r.stderr else ''}")
    return r.stdout.strip()


COMPARED = "every layer's spikes, final readout membrane"


def reference_name(kit=None) -> str:
    py = lava_python()
    return f"Lava (lava-nc {lava_version(py)}) Loihi2SimCfg(select_tag='fixed_pt'), Python at {py}"


def build(qnet: QuantNetwork, kit, out: Path) -> dict[str, Any]:
    """Write the Lava parameters (``loihi2_net.npz``), a summary and the runner script that builds
    and runs the processes (``run_lava.py NET.npz OUT.npz``, with ``x`` added to NET)."""
    out.mkdir(parents=True, exist_ok=True)
    npz = out / "loihi2_net.npz"
    np.savez(npz, **lava_arrays(qnet))  # type: ignore[arg-type]
    shutil.copyfile(RUNNER, out / "run_lava.py")
    summary = {
        "kit": kit.name,
        "chip": kit.chip,
        "hash": qnet.content_hash,
        "layers": [
            {
                "neurons": L.n_out,
                "inputs": L.n_in,
                "recurrent": L.recurrent is not None,
                "weight_exp": L.shift - 1,
                "du": int(L.alpha_syn[0]),  # type: ignore[index]
                "dv": int(L.alpha_mem[0]),
                "vth": int(L.threshold[0]) >> D.LOIHI_ACT_SHIFT,
            }
            for L in qnet.layers
        ],
        "run": "python run_lava.py loihi2_net.npz spikes.npz (after adding the input x (N, T, inputs))",
    }
    (out / "loihi2_net.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {**summary, "files": [str(npz), str(out / "loihi2_net.json"), str(out / "run_lava.py")]}


def run_reference(
    qnet: QuantNetwork, kit, x: np.ndarray, timeout: float = 1800.0
) -> tuple[list[tuple[int, np.ndarray]], np.ndarray]:
    """Every layer's spikes (N, T, n) and the last layer's final membrane (N, outputs) from Lava's
    fixed-point models."""
    py = lava_python()
    with tempfile.TemporaryDirectory(prefix="edgesnn-lava-") as tmp:
        net, res = Path(tmp) / "net.npz", Path(tmp) / "out.npz"
        np.savez(net, x=np.asarray(x, np.uint8), batch=np.array(BATCH), **lava_arrays(qnet))  # type: ignore[arg-type]
        try:
            r = subprocess.run(
                [str(py), str(RUNNER), str(net), str(res)], capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise EmulatorError(f"Lava did not finish within {timeout:.0f} s") from None
        if r.returncode != 0 or not res.is_file():
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EmulatorError(f"Lava failed (exit {r.returncode}): {tail[0]}")
        with np.load(res) as z:
            return [(k, z[f"s{k}"]) for k in range(len(qnet.layers))], z["v_last"].astype(np.int64)
