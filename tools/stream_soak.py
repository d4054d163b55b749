#!/usr/bin/env python3
"""Long always-on runs: a stream model over a long recording, golden model and device, no resets.

    python tools/stream_soak.py MODEL.qsnn [--seconds 3600] [--board host] [--json]
    python tools/stream_soak.py MODEL.qsnn --seconds 600 --board qemu-mps2-an385

The recording: the model's own stream data set's test recording when it is long enough, else
a ``saccade-digits-stream`` test recording of that length made by the same recipe (test digits,
seed 3, the same duty), written to a temporary stream file. The golden model runs it once
(``simulate_stream``), then the firmware on ``--board`` (the host C runtime, or an emulator)
streams it with every frame held to the golden model (outputs, detections, running digest of
every state, synaptic events). The device's 32-bit counters (timesteps, synaptic events, ticks)
are widened on the host by their differences, so a run longer than their range is still exact.

Reports both runs' detection metrics (they must be equal), mismatches (must be 0), wall time and
the process's resident memory during the device run (must stay flat: the growth from the first
minute to the end under --max-growth-mb). Exit 1 on any mismatch, disagreement, early end or
memory growth.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import edgesnn.api as es
from edgesnn.api.stream_device import stream_recording


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def recording_for(qnet, seconds: float, tmp: Path) -> str:
    """A stream data set holding at least ``seconds`` of test recording."""
    from edgesnn.data import saccade, saccade_stream
    from edgesnn.data.datasets import digits_splits, open_stream
    from edgesnn.data.streams import write_stream

    name = qnet.input_spec.get("dataset") or saccade_stream.NAME
    ds = open_stream(name)
    if ds.recording("test").duration_us >= seconds * 1e6:
        return name
    opts = saccade_stream.parse(name)
    if opts is None:
        raise SystemExit(f"error: {name}'s test recording is shorter than {seconds:.0f} s")
    _, test = digits_splits()
    us = int(round(seconds * 1e6))
    rec = saccade_stream.record(test.x.reshape(-1, 8, 8), test.y, us, opts["duty"], seed=3)
    short = saccade_stream.record(test.x[:20].reshape(-1, 8, 8), test.y[:20], 10_000_000, opts["duty"], seed=4)
    path = tmp / f"long-{int(seconds)}s.npz"
    write_stream(path, short, rec, sensor_size=saccade.SENSOR, class_names=[str(d) for d in range(10)])
    return str(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--board", default="host")
    ap.add_argument("--max-growth-mb", type=float, default=20.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    qnet = es.load(a.model)
    with tempfile.TemporaryDirectory() as tmp:
        data = recording_for(qnet, a.seconds, Path(tmp))
        t0 = time.perf_counter()
        golden = es.simulate_stream(qnet, data, seconds=a.seconds)
        t_golden = time.perf_counter() - t0
        mem: list[tuple[float, float]] = []

        def on_frame(row: dict) -> None:
            if not mem or row["t_s"] - mem[-1][0] >= 60:
                mem.append((row["t_s"], rss_mb()))

        t0 = time.perf_counter()
        dev = stream_recording(
            qnet, board=a.board, dataset=data, seconds=a.seconds, out=Path(tmp) / "b", on_frame=on_frame
        )
        t_dev = time.perf_counter() - t0
    mem.append((dev.get("seconds", 0.0), rss_mb()))
    keys = ("detection_accuracy", "false_alarms_per_hour", "latency_ms_median", "latency_ms_p90", "detections")
    agree = all(golden.get(k) == dev.get(k) for k in keys)
    growth = mem[-1][1] - mem[min(1, len(mem) - 1)][1]
    res = {
        "board": a.board,
        "recording": data if not data.startswith(tempfile.gettempdir()) else "saccade-digits-stream recipe, seed 3",
        "seconds": dev.get("seconds"),
        "timesteps": dev.get("timesteps"),
        "frames": dev.get("frames"),
        "mismatches": dev.get("mismatches"),
        "golden_and_device_agree": agree,
        **{k: dev.get(k) for k in keys},
        "segments": dev.get("segments"),
        "retransmissions": dev.get("retransmissions"),
        "golden_wall_s": t_golden,
        "device_wall_s": t_dev,
        "rss_mb_first_minute": mem[min(1, len(mem) - 1)][1],
        "rss_mb_end": mem[-1][1],
        "rss_growth_mb": growth,
        "error": dev.get("error"),
    }
    ok = dev.get("complete") and dev.get("mismatches") == 0 and agree and growth <= a.max_growth_mb
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
