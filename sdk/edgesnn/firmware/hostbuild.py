"""Build and run the generated C on the host: the bit-exactness harness and the `host` board."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from edgesnn.errors import BuildError  # noqa: F401  (re-exported: raised here)
from edgesnn.firmware import golden
from edgesnn.firmware.render import render_model, runtime_files
from edgesnn.fixedpoint.qnetwork import QuantNetwork

#: The warnings every build of the runtime and generated code must pass.
STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-Wsign-conversion", "-pedantic"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined,pointer-overflow", "-fno-sanitize-recover=all", "-g"]


def write_model_sources(qnet: QuantNetwork, out: Path, learn_layer: int | None = None, specialise: bool = True) -> dict:
    """Write runtime + generated model into ``out``; returns rendering facts."""
    out.mkdir(parents=True, exist_ok=True)
    src = render_model(qnet, learn_layer, specialise)
    for name, text in {**runtime_files(), **src.files}.items():
        (out / name).write_text(text)
    return {
        "table_bytes": src.table_bytes,
        "total_neurons": src.total_neurons,
        "max_words": src.max_words,
        "all_generated": src.all_generated,
    }


def run_host(qnet: QuantNetwork, exe: Path, inputs: np.ndarray, timeout: float = 300) -> golden.FirmwareRun:
    """Run the compiled harness on input spikes and decode every state it computed."""
    try:
        res = subprocess.run([str(exe)], input=golden.host_input_bytes(inputs), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"host harness {exe.name} did not finish within {timeout:.0f} s") from None
    if res.returncode != 0:
        raise BuildError(f"host harness failed ({res.returncode}): {res.stderr.decode(errors='replace').strip()[:300]}")
    return golden.parse_host_output(qnet, res.stdout, inputs.shape[0], inputs.shape[1])
