#!/usr/bin/env python3
"""A loopback TCP proxy that damages the bytes between `edgesnn stream --port socket://…` and a
deployed device (e.g. `edgesnn deploy MODEL --board qemu-mps2-an385`, which prints its port).

    python tools/fault_proxy.py --target 127.0.0.1:5555 --flip 0.001 --drop 0.0002 [--port 6000]

Prints one JSON line with the listening port, serves until Ctrl-C or SIGTERM, then prints the
fault counts per direction. Probabilities are per byte, the same in both directions unless
--host-* rates are given for the device-to-host direction.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import asdict

from edgesnn.device.faults import FaultRates, FaultyProxy


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of the device (loopback only)")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    for name in ("flip", "drop", "duplicate", "delay"):
        ap.add_argument(f"--{name}", type=float, default=0.0, help=f"per-byte {name} probability (host to device)")
        ap.add_argument(f"--host-{name}", type=float, default=None, help=f"device to host (default: as --{name})")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)
    down = FaultRates(args.flip, args.drop, args.duplicate, args.delay)
    up = FaultRates(
        *(
            getattr(args, f"host_{n}") if getattr(args, f"host_{n}") is not None else getattr(args, n)
            for n in ("flip", "drop", "duplicate", "delay")
        )
    )
    try:
        proxy = FaultyProxy((host, int(port)), down, up, seed=args.seed, listen_port=args.port).start()
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"listening": f"socket://127.0.0.1:{proxy.port}", "target": args.target}), flush=True)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
    try:
        while not stop["now"]:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    proxy.stop()
    print(json.dumps({"to_device": asdict(proxy.down.counts), "to_host": asdict(proxy.up.counts)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
