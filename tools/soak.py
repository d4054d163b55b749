#!/usr/bin/env python3
"""Soak test: many inferences to an emulated board through a fault-injecting transport.

    python tools/soak.py [--board qemu-mps2-an385] [--inferences 20000] [--models 4] [--json]

Random quantized models (seeded) are deployed one after another; each gets an equal share of
the inferences, random input spikes, several timesteps per frame, and a link that flips, drops,
duplicates and delays bytes in both directions. Every output is compared with the golden
simulator. Reports throughput, retransmissions, mismatches (must be 0) and the process's
resident memory after the first model's warm-up and at the end (must not grow beyond noise).
Exit 1 on any mismatch, lost sample, or memory growth above --max-growth-mb.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgesnn.device.deploy import deploy
from edgesnn.device.faults import FaultRates, FaultyLink
from edgesnn.firmware.boards import get_board
from edgesnn.fixedpoint import quantize, simulate_int
from edgesnn.ir import LIF, Dense, Network


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def random_model(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    n_in, hidden, n_out = int(rng.integers(16, 65)), int(rng.integers(16, 97)), int(rng.integers(2, 11))
    return Network(
        n_inputs=n_in,
        layers=(
            Dense(
                rng.normal(0, 0.4, (hidden, n_in)),
                rng.normal(0, 0.05, hidden),
                LIF(np.full(hidden, 0.9), np.ones(hidden)),
            ),
            Dense(rng.normal(0, 0.4, (n_out, hidden)), np.zeros(n_out), LIF(np.full(n_out, 0.85), np.ones(n_out))),
        ),
        name=f"soak-{seed}",
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="qemu-mps2-an385")
    ap.add_argument("--inferences", type=int, default=20_000)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--timesteps", type=int, default=6)
    ap.add_argument("--steps-per-frame", type=int, default=3)
    ap.add_argument("--flip", type=float, default=1e-3)
    ap.add_argument("--drop", type=float, default=2e-4)
    ap.add_argument("--duplicate", type=float, default=2e-4)
    ap.add_argument("--delay", type=float, default=2e-4)
    ap.add_argument("--chunk", type=int, default=500, help="inferences simulated and compared at a time")
    ap.add_argument("--max-growth-mb", type=float, default=1.0, help="allowed growth while one model streams")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rates = FaultRates(args.flip, args.drop, args.duplicate, args.delay, delay_s=0.001)
    board = get_board(args.board)
    shares = [args.inferences // args.models + (i < args.inferences % args.models) for i in range(args.models)]
    done = mismatches = retrans = 0
    rss_start = rss_end = None
    trace: list[float] = []  # resident memory after each chunk
    per_model: list[list[float]] = []  # the same, per model (a new model's arrays raise it once)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for m, count in enumerate(shares):
            qnet = quantize(random_model(args.seed + m))
            rng = np.random.default_rng(1000 + args.seed + m)
            per_model.append([])
            with deploy(qnet, board, Path(tmp) / f"m{m}") as d:
                dev = d.device
                dev.link = FaultyLink(dev.link, rates, rates, seed=args.seed + m)
                for start in range(0, count, args.chunk):
                    n = min(args.chunk, count - start)
                    x = rng.random((n, args.timesteps, qnet.n_inputs)) < rng.uniform(0.05, 0.4)
                    sim = simulate_int(qnet, x)
                    for i, o in enumerate(dev.stream(x, args.steps_per_frame)):
                        ok = (
                            np.array_equal(o.spikes, sim.spikes[i])
                            and o.result.prediction == sim.prediction[i]
                            and o.result.synops == sim.synops[i]
                        )
                        mismatches += not ok
                        done += 1
                    gc.collect()
                    trace.append(round(rss_mb(), 1))
                    per_model[-1].append(trace[-1])
                    if rss_start is None:  # after the first chunk: imports, buffers and caches are warm
                        rss_start = trace[-1]
                retrans += dev.retransmissions
                if not args.json:
                    print(f"model {m}: {count} inferences, retransmissions {dev.retransmissions}", file=sys.stderr)
    gc.collect()
    rss_end = rss_mb()
    seconds = time.perf_counter() - t0
    res = {
        "board": args.board,
        "models": args.models,
        "inferences": done,
        "timesteps": args.timesteps,
        "seconds": round(seconds, 1),
        "inferences_per_second": round(done / seconds, 1),
        "retransmissions": retrans,
        "mismatches": mismatches,
        "lost": args.inferences - done,
        "rss_mb_start": round(rss_start or 0, 1),
        "rss_mb_end": round(rss_end, 1),
        "rss_growth_mb": round(rss_end - (rss_start or rss_end), 1),
        "rss_growth_within_model_mb": round(max((t[-1] - t[0] for t in per_model if t), default=0.0), 1),
        "rss_mb_per_chunk": trace,
        "faults_per_byte": {"flip": args.flip, "drop": args.drop, "duplicate": args.duplicate, "delay": args.delay},
    }
    print(json.dumps(res) if args.json else "\n".join(f"{k}: {v}" for k, v in res.items()))
    # leak check: while one model streams thousands of inferences its memory must stay flat
    bad = mismatches or res["lost"] or res["rss_growth_within_model_mb"] > args.max_growth_mb
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
