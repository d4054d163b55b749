"""Firmware kernel cost on emulated Cortex-M3 and Cortex-M4, counted in instructions.

    python tools/bench/firmware.py [--n-in 256] [--n-out 128] [--json]

QEMU runs with `-icount shift=7`, which makes the CMSDK timer advance exactly 3.2 ticks per
executed instruction (DWT is not emulated); these are instruction counts, not cycles. For one
layer it reports, on each core:
  * instructions per synaptic event of the event-driven kernel (marginal: (step(k) - step(0)) / (k * n_out));
  * instructions of a timestep with no input spikes (the neuron updates alone);
  * the same layer as a plain dense int8 loop, and the input activity above which it wins;
  * flash of the C runtime (esnn.c) and RAM of the model state, excluding the model's tables;
  * the disassembly of the inner kernel (the loop adding one weight row, inlined into esnn_step).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BOARDS = ("qemu-mps2-an385", "qemu-mps2-an386")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-in", type=int, default=256)
    ap.add_argument("--n-out", type=int, default=128)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-disassembly", action="store_true")
    args = ap.parse_args()

    from edgesnn.firmware import build as B
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.qemu import qemu_command
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (args.n_out, args.n_in))
    layer = QuantLayer(
        weight=w,
        bias=np.zeros(args.n_out, np.int64),
        shift=8,
        alpha_mem=np.full(args.n_out, 58982),
        threshold=np.full(args.n_out, 10**6),
    )
    qnet = QuantNetwork(n_inputs=args.n_in, layers=(layer,), name="bench")
    results = []
    for name in BOARDS:
        board = get_board(name)
        for tool in (board.toolchain["cc"], board.qemu["binary"]):
            if shutil.which(tool) is None:
                sys.exit(f"error: {name} needs {tool}")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            res = B.build(qnet, board, out, app="bench")
            elf = res.elf
            run = subprocess.run(qemu_command(board, elf, icount=True), capture_output=True, timeout=120)
            lines = run.stdout.decode().split("\n")
            disasm = ""
            if not args.no_disassembly:
                dump = subprocess.run(
                    [B.tool_path(board, "objdump"), "-d", "--no-show-raw-insn", str(out / "obj" / "esnn.o")],
                    capture_output=True,
                    text=True,
                ).stdout
                lines_d = dump.splitlines()
                idx = next((i for i, ln in enumerate(lines_d) if "ldmia" in ln or "ldm\t" in ln), None)
                if idx is None:  # portable C kernel: show add_row or its caller
                    start = dump.find("<add_row>:")
                    disasm = dump[start : dump.find("\n\n", start)] if start >= 0 else "(kernel inlined)"
                else:
                    end = next(i for i in range(idx, len(lines_d)) if "bne" in lines_d[i])
                    disasm = "\n".join(ln.strip() for ln in lines_d[idx - 1 : end + 1])
        tpi = float(board.timer["ticks_per_instruction_icount7"])
        overhead = next(int(l.split()[1], 16) for l in lines if l.startswith("T "))
        ev = {int(p[1], 16): (int(p[2], 16) - overhead) / tpi for p in (l.split() for l in lines) if p and p[0] == "E"}
        dn = {int(p[1], 16): (int(p[2], 16) - overhead) / tpi for p in (l.split() for l in lines) if p and p[0] == "X"}
        idle = ev[0]
        per_event = {k: (ev[k] - idle) / (k * args.n_out) for k in ev if k > 0}
        crossover = next((k for k in sorted(ev) if ev[k] - idle > dn[k]), None)
        results.append(
            {
                "board": name,
                "cpu": board.cpu,
                "layer": f"{args.n_in}x{args.n_out}",
                "instructions_per_synaptic_event": {str(k): round(v, 3) for k, v in per_event.items()},
                "instructions_per_synaptic_event_at_64": round(per_event.get(64, float("nan")), 3),
                "instructions_idle_step": round(idle, 1),
                "instructions_idle_step_per_neuron": round(idle / args.n_out, 2),
                "dense_int8_instructions": round(float(np.mean(list(dn.values()))), 1),
                "dense_int8_instructions_per_synapse": round(
                    float(np.mean(list(dn.values()))) / (args.n_in * args.n_out), 3
                ),
                "event_driven_synaptic_instructions": {str(k): round(v - idle, 1) for k, v in ev.items()},
                "dense_stops_losing_at_active_inputs": crossover,
                "flash_runtime_bytes": res.flash_runtime_bytes,
                "ram_state_bytes_excluding_tables": res.ram_bytes,
                "kernel_disassembly": disasm,
            }
        )
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(f"{r['board']} ({r['cpu']}), layer {r['layer']}, instruction counts (QEMU -icount):")
        print(
            f"  event-driven, instructions per synaptic event by active inputs: {r['instructions_per_synaptic_event']}"
        )
        print(
            f"  timestep with no input spikes: {r['instructions_idle_step']} instructions "
            f"({r['instructions_idle_step_per_neuron']} per neuron)"
        )
        print(
            f"  dense int8 loop: {r['dense_int8_instructions']} instructions "
            f"({r['dense_int8_instructions_per_synapse']} per synapse)"
        )
        cross = r["dense_stops_losing_at_active_inputs"]
        verdict = (
            f"the dense loop wins from {cross} active inputs of {args.n_in}"
            if cross is not None
            else f"the event-driven kernel wins at every activity up to all {args.n_in} inputs"
        )
        print(
            f"  event-driven synaptic work vs dense: {r['event_driven_synaptic_instructions']} vs "
            f"{r['dense_int8_instructions']}; {verdict}"
        )
        print(
            f"  runtime flash {r['flash_runtime_bytes']} B; RAM (state, buffers, app) {r['ram_state_bytes_excluding_tables']} B"
        )
        if r["kernel_disassembly"]:
            print("  kernel:\n    " + r["kernel_disassembly"].replace("\n", "\n    "))


if __name__ == "__main__":
    main()
