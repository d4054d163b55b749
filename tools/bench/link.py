"""Serial link costs: frame bytes per payload byte, and end-to-end latency per inference.

    python tools/bench/link.py [--samples 50] [--json]

Uses the digits test split as typical input (rate coded, 25 steps, 64 channels) and a model of
the demo's shape (64-256-10). Latency is measured on `host` (a process on a pty) and on
`qemu-mps2-an385` (QEMU, UART over loopback TCP), each with one timestep per frame (live) and
with as many timesteps per frame as fit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402,F401


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from edgesnn.data.datasets import encoded
    from edgesnn.device import codec
    from edgesnn.device.deploy import deploy
    from edgesnn.firmware.boards import get_board
    from edgesnn.fixedpoint import quantize, simulate_int
    from edgesnn.ir import LIF, Dense, Network

    x, _ = encoded("digits", "test")
    x = x[: args.samples]
    out: dict = {"samples": int(x.shape[0]), "timesteps": int(x.shape[1]), "inputs": int(x.shape[2])}
    # framing overhead for typical inputs
    sparse = [
        codec.encode_frame(codec.Frame(codec.STEP_SPARSE, 1, codec.sparse_steps([np.flatnonzero(r)])))
        for s in x
        for r in s
    ]
    payload = [len(codec.sparse_steps([np.flatnonzero(r)])) for s in x for r in s]
    dense = codec.encode_frame(
        codec.Frame(codec.STEP_DENSE, 1, codec.dense_steps([np.packbits(x[0, 0], bitorder="little").tobytes()]))
    )
    out["sparse_frame_bytes_per_payload_byte"] = float(np.sum([len(f) for f in sparse]) / np.sum(payload))
    out["sparse_frame_bytes_per_timestep"] = float(np.mean([len(f) for f in sparse]))
    out["dense_frame_bytes_per_timestep"] = len(dense)
    out["dense_frame_bytes_per_payload_byte"] = len(dense) / (1 + 8)
    out["input_events_per_timestep"] = float(x.sum(axis=2).mean())
    # what the client sends: per frame, the shorter of the two encodings
    chosen = [min(len(f), len(dense)) for f in sparse]
    out["chosen_frame_bytes_per_timestep"] = float(np.mean(chosen))

    rng = np.random.default_rng(0)
    net = Network(
        n_inputs=64,
        layers=(
            Dense(rng.normal(0, 0.35, (256, 64)), np.zeros(256), LIF(np.full(256, 0.9), np.ones(256))),
            Dense(rng.normal(0, 0.3, (10, 256)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),
        ),
    )
    qnet = quantize(net)
    sim = simulate_int(qnet, x)
    lat = {}
    for name in ("host", "qemu-mps2-an385"):
        board = get_board(name)
        tools = [board.toolchain["cc"]] + ([board.qemu["binary"]] if board.kind == "qemu" else [])
        if any(shutil.which(t) is None for t in tools):
            lat[name] = "skipped: toolchain or emulator missing"
            continue
        with tempfile.TemporaryDirectory() as tmp, deploy(qnet, board, Path(tmp)) as d:
            for per_frame in (1, 25):
                outs = list(d.device.stream(x, steps_per_frame=per_frame))
                mism = sum(not np.array_equal(o.spikes, sim.spikes[i]) for i, o in enumerate(outs))
                lat[f"{name}_steps_per_frame_{per_frame}"] = {
                    "latency_ms_median": float(np.median([o.seconds for o in outs]) * 1e3),
                    "mismatches": mism,
                }
    out["latency"] = lat
    if args.json:
        print(json.dumps(out))
        return
    print(f"typical input: {out['input_events_per_timestep']:.1f} events per timestep of {out['inputs']} channels")
    print(
        f"sparse STEP frame: {out['sparse_frame_bytes_per_timestep']:.1f} bytes per timestep, "
        f"{out['sparse_frame_bytes_per_payload_byte']:.3f} frame bytes per payload byte"
    )
    print(
        f"dense STEP frame:  {out['dense_frame_bytes_per_timestep']} bytes per timestep, "
        f"{out['dense_frame_bytes_per_payload_byte']:.3f} frame bytes per payload byte"
    )
    print(f"client's choice per frame: {out['chosen_frame_bytes_per_timestep']:.1f} bytes per timestep")
    for k, v in lat.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
