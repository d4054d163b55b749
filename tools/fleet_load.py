#!/usr/bin/env python3
"""Load test of a fleet and its dashboard: N emulated devices streaming at once for M minutes.

    python tools/fleet_load.py MODEL.qsnn [--devices 8] [--minutes 10] [--board qemu-mps2-an385] [--json]

The fleet is deployed once (``api.deploy_fleet``: the image built once, started N times); each
device then streams the model's test split (``--limit`` samples a round) over and over, on its
own thread, through ``api.stream`` (every output held to the golden model), until the time is up.
The dashboard serves all of them the whole time, with a websocket client connected as a page
would be and ``/api/devices`` polled every few seconds; its counts must equal the streams'.

Reports per device and overall: samples, lost samples (sent and not received), mismatches,
retransmissions, samples per second, the CPU each emulator used (a fraction of one core) and
this process's CPU per device; this process's resident memory after the first minute (or the
first tenth of a short run) and at the end. Exit 1 on a lost sample, a mismatch, a device
error, a dashboard that disagrees or stops answering, or memory growth over --max-growth-mb.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.request

import edgesnn.api as es
from edgesnn.web import Dashboard, FleetState


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_s(pid: int) -> float:
    """A process's user + system CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_page(url: str, stop: threading.Event, seen: dict) -> None:
    """A websocket client like the page: counts the messages and the bytes it receives."""
    from websockets.sync.client import connect

    ws_url = url.replace("http://", "ws://").split("?")[0] + "ws"
    with connect(ws_url, open_timeout=10) as ws:
        while not stop.is_set():
            try:
                msg = ws.recv(timeout=1.0)
            except TimeoutError:
                continue
            seen["messages"] += 1
            seen["bytes"] += len(msg)


def run(model: str, board: str, devices: int, seconds: float, limit: int, timeout: float, out: str) -> dict:
    state = FleetState(f"load: {devices} x {board}")
    members = es.deploy_fleet(model, board, devices=devices, out=out, timeout=timeout)
    totals = {
        m.name: {"samples": 0, "sent": 0, "mismatches": 0, "retransmissions": 0, "rounds": 0, "errors": []}
        for m in members
    }
    stop = threading.Event()
    page = {"messages": 0, "bytes": 0}
    polls, disagreements, rss = [], [], []
    with Dashboard(state, port=0) as dash:
        watcher = threading.Thread(target=watch_page, args=(dash.url, stop, page), daemon=True)
        watcher.start()
        cpu0 = {m.name: cpu_s(m.pid) for m in members if m.pid}
        own0, t0 = os.times(), time.monotonic()
        deadline = t0 + seconds

        def device_loop(m) -> None:
            t = totals[m.name]
            while time.monotonic() < deadline:
                s = es.stream(
                    model,
                    port=m.port,
                    limit=limit,
                    timeout=timeout,
                    on_start=lambda ident: state.start(m.name, ident),
                    on_row=lambda r: state.row(m.name, r),
                )
                state.end(m.name, {k: v for k, v in s.items() if k != "rows"} | {"error": s.get("error")})
                t["samples"] += s["samples"]
                t["sent"] += limit
                t["mismatches"] += s["mismatches"]
                t["retransmissions"] += s["retransmissions"]
                t["rounds"] += 1
                if s.get("error"):
                    t["errors"].append(s["error"])
                    return

        threads = [threading.Thread(target=device_loop, args=(m,), daemon=True) for m in members]
        for th in threads:
            th.start()
        warm = min(60.0, seconds / 10)
        while any(th.is_alive() for th in threads):
            time.sleep(min(5.0, max(seconds / 20, 0.5)))
            now = time.monotonic() - t0
            if not rss or (now >= warm and len(rss) == 1):
                rss.append(rss_mb())
            try:
                api = json.loads(urllib.request.urlopen(dash.url + "api/devices", timeout=10).read())
                polls.append(sum(d["samples"] for d in api["devices"]))
            except OSError as e:
                disagreements.append(f"/api/devices did not answer: {e}")
        wall = time.monotonic() - t0
        own1 = os.times()
        cpu1 = {m.name: cpu_s(m.pid) for m in members if m.pid}
        final = json.loads(urllib.request.urlopen(dash.url + "api/devices", timeout=10).read())["devices"]
        stop.set()
        watcher.join(5)
    es.stop_fleet(members)
    rss.append(rss_mb())
    by_name = {d["device"]: d for d in final}
    per = []
    for m in members:
        t = totals[m.name]
        shown = by_name.get(m.name, {})
        if shown.get("samples") != t["samples"] or shown.get("mismatches") != t["mismatches"]:
            disagreements.append(
                f"{m.name}: the dashboard shows {shown.get('samples')} samples, the streams got {t['samples']}"
            )
        per.append(
            {
                "device": m.name,
                "samples": t["samples"],
                "lost_samples": t["sent"] - t["samples"],
                "mismatches": t["mismatches"],
                "retransmissions": t["retransmissions"],
                "rounds": t["rounds"],
                "samples_per_s": t["samples"] / wall,
                "emulator_cpu_fraction": (cpu1[m.name] - cpu0[m.name]) / wall if m.name in cpu0 else None,
                "dashboard_status": shown.get("status"),
                "errors": t["errors"],
            }
        )
    own_cpu = (own1.user - own0.user) + (own1.system - own0.system)
    res = {
        "board": board,
        "devices": devices,
        "wall_seconds": wall,
        "samples": sum(p["samples"] for p in per),
        "lost_samples": sum(p["lost_samples"] for p in per),
        "mismatches": sum(p["mismatches"] for p in per),
        "retransmissions": sum(p["retransmissions"] for p in per),
        "errors": sum(len(p["errors"]) for p in per),
        "samples_per_s": sum(p["samples"] for p in per) / wall,
        "host_cpu_fraction_per_device": own_cpu / wall / devices,
        "rss_mb_after_warmup": rss[1] if len(rss) > 2 else rss[0],
        "rss_mb_end": rss[-1],
        "dashboard_polls": len(polls),
        "dashboard_problems": disagreements,
        "page_messages": page["messages"],
        "page_mb": page["bytes"] / 2**20,
        "per_device": per,
    }
    res["rss_growth_mb"] = res["rss_mb_end"] - res["rss_mb_after_warmup"]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--board", default="qemu-mps2-an385")
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=50, help="samples a round (each round reconnects)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply")
    ap.add_argument("--max-growth-mb", type=float, default=30.0)
    ap.add_argument("--out", default="build/fleet_load")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.model, a.board, a.devices, a.minutes * 60, a.limit, a.timeout, a.out)
    failed = (
        r["lost_samples"]
        or r["mismatches"]
        or r["errors"]
        or r["dashboard_problems"]
        or r["rss_growth_mb"] > a.max_growth_mb
    )
    if a.json:
        print(json.dumps(r))
    else:
        for p in r["per_device"]:
            cpu = "-" if p["emulator_cpu_fraction"] is None else f"{p['emulator_cpu_fraction']:.2f}"
            print(
                f"{p['device']:<22} {p['samples']:>8,} samples  lost {p['lost_samples']}  mismatches {p['mismatches']}  "
                f"retransmissions {p['retransmissions']}  {p['samples_per_s']:.1f}/s  emulator CPU {cpu} of a core"
            )
        print(
            f"{r['devices']} devices on {r['board']} for {r['wall_seconds']:.0f} s: {r['samples']:,} samples "
            f"({r['samples_per_s']:.1f}/s), lost {r['lost_samples']}, mismatches {r['mismatches']}, "
            f"retransmissions {r['retransmissions']}, errors {r['errors']}"
        )
        print(
            f"this process: {r['host_cpu_fraction_per_device']:.3f} of a core per device; resident memory "
            f"{r['rss_mb_after_warmup']:.1f} MB after warm-up, {r['rss_mb_end']:.1f} MB at the end "
            f"({r['rss_growth_mb']:+.1f} MB); dashboard: {r['dashboard_polls']} polls, problems {len(r['dashboard_problems'])}, "
            f"{r['page_messages']} websocket messages ({r['page_mb']:.1f} MB)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
