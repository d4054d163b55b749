"""Firmware kernel cost on emulated Cortex-M0, M3, M4 and RV32, counted in instructions.

    python tools/bench/firmware.py [--n-in 256] [--n-out 128] [--json] [--disassembly]

QEMU runs with `-icount shift=7`, under which each board's timer advances a fixed number of
ticks per executed instruction (CMSDK timer 3.2, nRF51 TIMER0 2.048, RISC-V minstret 128; a
1000-nop calibration in the same firmware checks it); these are instruction counts, not
cycles. For one layer (random int8 weights, per-neuron bias and threshold, uniform decay) it
reports, on each core, for the generic neuron update ("before": the runtime's portable loop)
and the generated one ("after": runtime/esnn_update.h), measured in the same run:
  * instructions per neuron update with synaptic input (after: the update alone; before: the
    generic loop, which is the whole of a timestep without input spikes);
  * instructions of a timestep with no input spikes, per neuron, as it was before idle skipping
    (the update without input); the first such step after input under idle skipping (every neuron
    updated and checked for rest); and the whole step once the layer is at rest;
  * instructions per synaptic event of the event-driven kernel (marginal: (step(k) - step(0)) / (k * n_out));
  * the same layer as a plain dense int8 loop, and flash of the C runtime.
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

BOARDS = ("qemu-microbit", "qemu-mps2-an385", "qemu-mps2-an386", "qemu-sifive-e")


def run_bench(qnet, board, specialise: bool, disassembly: bool) -> dict:
    from edgesnn.firmware import build as B
    from edgesnn.firmware.qemu import qemu_command

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        res = B.build(qnet, board, out, app="bench", specialise=specialise)
        run = subprocess.run(qemu_command(board, res.elf, icount=True), capture_output=True, timeout=300)
        dump = ""
        if disassembly and specialise:
            dump = subprocess.run(
                [B.tool_path(board, "objdump"), "-d", "--no-show-raw-insn", str(out / "obj" / "esnn_model.o")],
                capture_output=True,
                text=True,
            ).stdout
            start = dump.find("<l0_update>:")
            dump = dump[start : dump.find("\n\n", start)] if start >= 0 else ""
    rows = [ln.split() for ln in run.stdout.decode().split("\n")]
    tpi = float(board.timer["ticks_per_instruction_icount7"])
    overhead = next(int(p[1], 16) for p in rows if p and p[0] == "T")

    def tagged(tag: str) -> dict[int, float]:
        return {int(p[1], 16): (int(p[2], 16) - overhead) / tpi for p in rows if p and p[0] == tag}

    ev, dn, upd, cal = tagged("E"), tagged("X"), tagged("U"), tagged("C")
    plain, rest = tagged("N"), tagged("R")
    if not ev or 200 not in cal:
        raise SystemExit(f"error: the bench firmware on {board.name} reported nothing: {run.stderr.decode()[-300:]}")
    n_out = qnet.layers[0].n_out
    first_idle = ev[0]  # after a reset every neuron is awake: each is updated (and checked for rest)
    update = upd[n_out] if upd else first_idle
    # the step without input as it was before idle skipping: the update without synaptic input plus
    # the step's own overhead (the step at rest); the generic update has no separate routine
    base = plain[n_out] + rest.get(0, 0.0) if plain else first_idle
    return {
        "calibration_instructions_per_200_nops": round(cal[200], 1),
        "neuron_update_instructions": round(update / n_out, 2),
        "idle_step_instructions_per_neuron": round(base / n_out, 2),
        "first_idle_step_instructions_per_neuron": round(first_idle / n_out, 2),
        # the layer's neurons at rest (0 = came to rest; the layer's biases may keep some awake)
        "idle_step_at_rest_instructions": round(rest[0], 1) if 0 in rest else None,
        "instructions_per_synaptic_event": {str(k): round((ev[k] - base) / (k * n_out), 3) for k in ev if k > 0},
        "dense_int8_instructions_per_synapse": round(float(np.mean(list(dn.values()))) / (qnet.n_inputs * n_out), 3),
        "flash_runtime_bytes": res.flash_runtime_bytes,
        "update_disassembly": dump,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-in", type=int, default=256)
    ap.add_argument("--n-out", type=int, default=128)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--disassembly", action="store_true", help="print the generated update's machine code")
    ap.add_argument("--boards", default=",".join(BOARDS), help="comma-separated subset of " + ", ".join(BOARDS))
    args = ap.parse_args()

    from edgesnn.firmware.boards import get_board
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork

    rng = np.random.default_rng(0)
    layer = QuantLayer(
        weight=rng.integers(-127, 128, (args.n_out, args.n_in)),
        bias=rng.integers(-1000, 1001, args.n_out),
        shift=8,
        alpha_mem=np.full(args.n_out, 58982),  # beta = 0.9
        threshold=rng.integers(200_000, 1_000_000, args.n_out),
    )
    qnet = QuantNetwork(n_inputs=args.n_in, layers=(layer,), name="bench")
    results = []
    for name in args.boards.split(","):
        if name not in BOARDS:
            sys.exit(f"error: the bench runs on {', '.join(BOARDS)}, not {name!r}")
        board = get_board(name)
        for tool in (board.toolchain["cc"], board.qemu["binary"]):
            if shutil.which(tool) is None:
                sys.exit(f"error: {name} needs {tool}")
        before = run_bench(qnet, board, False, False)
        after = run_bench(qnet, board, True, args.disassembly)
        results.append(
            {"board": name, "cpu": board.cpu, "layer": f"{args.n_in}x{args.n_out}", "before": before, "after": after}
        )
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        b, a = r["before"], r["after"]
        print(
            f"{r['board']} ({r['cpu']}), layer {r['layer']}, instructions (QEMU -icount; 200 nops = {a['calibration_instructions_per_200_nops']}):"
        )
        print(
            f"  neuron update with input: {b['neuron_update_instructions']} -> {a['neuron_update_instructions']} per neuron "
            f"({b['neuron_update_instructions'] / a['neuron_update_instructions']:.2f}x)"
        )
        print(
            f"  timestep without input spikes: {b['idle_step_instructions_per_neuron']} -> {a['idle_step_instructions_per_neuron']} per neuron"
            f" without idle skipping; the first such step after input {a['first_idle_step_instructions_per_neuron']} per neuron;"
            f" at rest {a['idle_step_at_rest_instructions']} in all"
        )
        print(
            f"  synaptic events (after), instructions per event by active inputs: {a['instructions_per_synaptic_event']}"
        )
        print(
            f"  dense int8 loop: {a['dense_int8_instructions_per_synapse']} per synapse; runtime flash {b['flash_runtime_bytes']} -> {a['flash_runtime_bytes']} B"
        )
        if a["update_disassembly"]:
            print("  " + a["update_disassembly"].replace("\n", "\n    "))


if __name__ == "__main__":
    main()
