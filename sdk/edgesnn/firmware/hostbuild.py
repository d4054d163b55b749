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
        "chain": qnet.is_chain,
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


def build_afe_host(out: Path, sanitize: bool = True) -> Path:
    """Compile the audio front end's host harness (apps/afe_host.c over runtime/esnn_audio.c) with
    the strict warnings and, by default, ASan/UBSan."""
    import shutil

    from edgesnn.firmware.paths import templates_dir

    if shutil.which("cc") is None:
        raise BuildError("the host front end harness needs a C compiler: apt-get install gcc")
    t = templates_dir()
    out.mkdir(parents=True, exist_ok=True)
    exe = out / "afe_host"
    # the harness reads stdin with malloc and stdio; the runtime file itself uses neither
    cmd = ["cc", "-O1", *STRICT_FLAGS, *(SANITIZE_FLAGS if sanitize else []), f"-I{t / 'runtime'}",
           str(t / "runtime" / "esnn_audio.c"), str(t / "apps" / "afe_host.c"), "-o", str(exe)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"compiling the front end harness failed: {res.stderr.strip()[:300]}")
    return exe


def run_afe_host(exe: Path, fe, pcm: np.ndarray, timeout: float = 300) -> np.ndarray:
    """The C front end on one recording (int16 PCM): spikes (timesteps, channels) bool."""
    import struct

    n = fe.channels
    blob = struct.pack("<HHBBBBi", n, fe.samples_per_step, fe.envelope_shift, fe.spike_shift,
                       fe.mode == "adaptive", 0, fe.eps)  # fmt: skip
    blob += struct.pack(f"<{n}h", *fe.c1) + struct.pack(f"<{n}h", *fe.c2) + bytes(fe.g)
    blob += struct.pack("<I", len(pcm)) + np.asarray(pcm, "<i2").tobytes()
    try:
        r = subprocess.run([str(exe)], input=blob, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"front end harness did not finish within {timeout:.0f} s") from None
    if r.returncode != 0:
        raise BuildError(
            f"front end harness failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()[:300]}"
        )
    per = (n + 7) // 8
    bits = np.unpackbits(np.frombuffer(r.stdout, np.uint8).reshape(-1, per), axis=1, bitorder="little")
    return bits[:, :n].astype(bool)
