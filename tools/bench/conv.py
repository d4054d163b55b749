"""Event-driven convolution vs CMSIS-NN's arm_convolve_s8 on emulated cores, in instructions.

    python tools/bench/conv.py [--cmsis-nn DIR] [--in-shape 8 16 16] [--out-channels 16]
                               [--kernel 3] [--padding 1] [--stride 1] [--boards B,...] [--json]

One convolutional layer (random int8 weights, per-channel bias and threshold, uniform decay),
run as layer 0 of a model on each board (default: the Cortex-M0 of qemu-microbit, the M3 of
qemu-mps2-an385, the M4 of qemu-mps2-an386, the RV32 of qemu-sifive-e; the 16 KB of RAM of
the micro:bit and the FE310 take an 8x8x6 input map instead of 8x16x16 unless --in-shape names
one) under `-icount shift=7`
(each board's timer ticks a fixed number of times per instruction; 200 nops calibrate it in the
same firmware). For input activities 1/5/10/20/50/100 %
(that share of the input map's neurons spiking in one timestep, at random positions) it times
`esnn_step_layer` (the event-driven kernel: each input spike adds its kernel slice to the
outputs it reaches, then every neuron's update) and reports instructions per synaptic event,
total and marginal ((step(k) - step(0)) / events). In the same firmware, CMSIS-NN's
arm_convolve_s8 (the kernel TensorFlow Lite Micro uses) convolves the same layer on one dense
int8 frame (on the M4 with its DSP instructions; on the M0, M3 and RV32 its portable C, which is
what a user of those cores gets); the break-even activity is where the event-driven step costs as much as that frame.
CMSIS-NN comes from --cmsis-nn or $EDGESNN_CMSIS_NN (Apache-2.0; compiled from there, never
copied).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

PICOLIBC_RISCV = Path("/usr/lib/picolibc/riscv64-unknown-elf/include")
#: the default input map, and the one boards with less RAM than SMALL_RAM_BYTES run (the larger
#: layer's 4,096 neurons need about 40 KB of state and sums)
DEFAULT_SHAPE, SMALL_SHAPE, SMALL_RAM_BYTES = [8, 16, 16], [8, 8, 6], 65536
BOARDS = ("qemu-microbit", "qemu-mps2-an385", "qemu-mps2-an386", "qemu-sifive-e")
ACTIVITIES = (0.0, 0.01, 0.05, 0.10, 0.20, 0.50, 1.0)
CMSIS_SOURCES = (
    "Source/ConvolutionFunctions/arm_convolve_s8.c",
    "Source/ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
    "Source/ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c",
    "Source/ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c",
)


def _ints(a) -> str:
    return ", ".join(str(int(v)) for v in np.asarray(a).ravel())


def bench_model(in_shape, out_c: int, kernel: int, padding: int, stride: int):
    from edgesnn.fixedpoint.qnetwork import QuantLayer, QuantNetwork
    from edgesnn.ir import ConvGeometry

    rng = np.random.default_rng(0)
    g = ConvGeometry(tuple(in_shape), out_c, (kernel, kernel), (stride, stride), (padding, padding))
    positions = g.out_shape[1] * g.out_shape[2]
    conv = QuantLayer(
        weight=rng.integers(-127, 128, g.weight_shape),
        bias=np.repeat(rng.integers(-1000, 1001, out_c), positions),
        shift=8,
        alpha_mem=np.full(g.n_out, 58982),  # beta = 0.9
        threshold=np.repeat(rng.integers(200_000, 1_000_000, out_c), positions),
        conv=g,
    )
    # a one-neuron dense readout: the runtime's rules want a fully connected output layer; only
    # layer 0 is timed
    out = QuantLayer(weight=np.ones((1, g.n_out)), bias=[0], shift=0, alpha_mem=[65536], threshold=[1 << 20])
    return QuantNetwork(n_inputs=g.n_in, layers=(conv, out), name="bench-conv"), g


def data_header(g, levels: list[np.ndarray], frame: np.ndarray, weight: np.ndarray) -> str:
    c, h, w = g.in_shape
    oc, oh, ow = g.out_shape
    counts = [len(e) for e in levels]
    events = np.concatenate(levels) if sum(counts) else np.zeros(1, int)
    rows = [
        "#include <stdint.h>",
        f"#define BENCH_LEVELS {len(levels)}u",
        f"static const uint16_t bench_counts[{len(levels)}] = {{ {_ints(counts)} }};",
        f"static const uint16_t bench_events[{max(len(events), 1)}] = {{ {_ints(events)} }};",
        f"#define BENCH_IN_C {c}\n#define BENCH_IN_H {h}\n#define BENCH_IN_W {w}",
        f"#define BENCH_OUT_C {oc}\n#define BENCH_OUT_H {oh}\n#define BENCH_OUT_W {ow}",
        f"#define BENCH_KH {g.kernel[0]}\n#define BENCH_KW {g.kernel[1]}",
        f"#define BENCH_SH {g.stride[0]}\n#define BENCH_SW {g.stride[1]}",
        f"#define BENCH_PH {g.padding[0]}\n#define BENCH_PW {g.padding[1]}",
        # im2col of two columns as int16, generously
        f"#define BENCH_SCRATCH_BYTES {8 * c * g.kernel[0] * g.kernel[1] * 2 + 64}u",
        "#if defined(ESNN_BENCH_CMSIS)",
        # CMSIS-NN wants HWC input and (out, kh, kw, in) filters
        f"static const int8_t bench_frame[{frame.size}] = {{ {_ints(frame.reshape(c, h, w).transpose(1, 2, 0))} }};",
        f"static const int8_t bench_filter[{weight.size}] = {{ {_ints(np.asarray(weight).transpose(0, 2, 3, 1))} }};",
        f"static const int32_t bench_bias[{oc}] = {{ {_ints(np.zeros(oc, int))} }};",
        f"static const int32_t bench_mult[{oc}] = {{ {_ints(np.full(oc, 1 << 30))} }};",
        f"static const int32_t bench_shift[{oc}] = {{ {_ints(np.full(oc, -6))} }};",
        "#endif",
    ]
    return "\n".join(rows) + "\n"


def build_and_run(qnet, g, levels, frame, cmsis: Path | None, board_name: str) -> dict:
    from edgesnn.firmware import build as B
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.hostbuild import STRICT_FLAGS
    from edgesnn.firmware.paths import templates_dir
    from edgesnn.firmware.render import RUNTIME_CORE

    board = get_board(board_name)
    apps, hal = templates_dir() / "apps", templates_dir() / "hal"
    theirs = [cmsis / s for s in CMSIS_SOURCES] if cmsis is not None else []
    extra = []
    if cmsis is not None:  # every support function; the linker keeps what is called
        support = (cmsis / "Source" / "NNSupportFunctions").glob("*.c")
        theirs += sorted(p for p in support if "_f16" not in p.name and "_f32" not in p.name)
        extra = ["-DESNN_BENCH_CMSIS", f"-I{cmsis / 'Include'}"]
        if "riscv" in board.toolchain["cc"]:
            # Debian's bare RISC-V gcc has no C library headers; CMSIS-NN includes string.h
            # (memcpy and memset themselves come from the HAL's libc_min.c)
            if not PICOLIBC_RISCV.is_dir():
                sys.exit(
                    f"error: CMSIS-NN on {board_name} needs string.h: apt-get install picolibc-riscv64-unknown-elf"
                )
            extra += ["-isystem", str(PICOLIBC_RISCV)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        src = out / "src"
        base = [*_common.bench_flags(board, src), *extra]

        def sources(src: Path) -> list[Path]:
            core = [src / f for f in RUNTIME_CORE]
            return [
                *core,
                src / "esnn_model.c",
                apps / "bench_conv.c",
                hal / "hal_text.c",
                *B._hal_sources(board),
                *theirs,
            ]

        def flags_for(s: Path) -> list[str]:
            # CMSIS-NN: its own flags (not -ffreestanding: it relies on memcpy builtins), no -Werror
            return [f for f in base if f != "-ffreestanding"] + ["-std=c99"] if s in theirs else [*base, *STRICT_FLAGS]

        header = {"bench_conv_data.h": data_header(g, levels, frame, qnet.layers[0].weight)}
        elf, objs = _common.build_bench_image(board, qnet, out, header, sources, flags_for)
        runtime = B.measure(board, elf, objs, src, "bench_conv").flash_runtime_bytes
        rows, tpi, overhead, text = _common.run_bench_image(board, elf)
    if overhead is None or any(p and p[0] == "ERROR" for p in rows):
        sys.exit(f"error: the bench firmware on {board_name} reported: {text[-300:]}")
    steps = {int(p[1], 16): ((int(p[2], 16) - overhead) / tpi, int(p[3], 16)) for p in rows if p and p[0] == "E"}
    cal = next(((int(p[2], 16) - overhead) / tpi for p in rows if p and p[0] == "C"), 0.0)
    frame_instr = next(((int(p[2], 16) - overhead) / tpi for p in rows if p and p[0] == "N"), None)
    return {
        "steps": steps,
        "calibration_200_nops": cal,
        "cmsis_frame": frame_instr,
        "runtime_flash_bytes": runtime,
        "cpu": board.cpu,
    }


def _crossing(pts: list[tuple[float, float]], frame: float) -> float | str:
    """The activity where the SNN's cost reaches the frame's (linear between measured points),
    or a sentence when it does not cross inside the measured range."""
    for (a0, i0), (a1, i1) in zip(pts, pts[1:]):
        if i0 <= frame < i1:
            return round(a0 + (a1 - a0) * (frame - i0) / (i1 - i0), 4)
    if pts[-1][1] < frame:
        return "event-driven is cheaper at every measured activity (up to 100 %)"
    return "CMSIS-NN is cheaper at every measured activity (the neuron updates alone cost more)"


def report(res: dict, g, levels, macs: int, timesteps: int, board_name: str) -> dict:
    """One board's table: instructions per step and per synaptic event by activity, against the
    CMSIS-NN frame when there is one."""
    idle = res["steps"][0][0]
    table = []
    for a, ev in zip(ACTIVITIES[1:], levels[1:]):
        instr, synops = res["steps"][len(ev)]
        row = {
            "activity": a,
            "input_events": len(ev),
            "synaptic_events": synops,
            "step_instructions": round(instr),
            "instructions_per_synaptic_event": round(instr / synops, 3),
            "marginal_instructions_per_synaptic_event": round((instr - idle) / synops, 3),
        }
        if res["cmsis_frame"]:
            row["snn_over_cmsis"] = round(instr / res["cmsis_frame"], 3)
        table.append(row)
    out = {
        "board": board_name,
        "cpu": res["cpu"],
        "layer": {
            "in": list(g.in_shape),
            "out": list(g.out_shape),
            "kernel": list(g.kernel),
            "padding": list(g.padding),
        },
        "calibration_instructions_per_200_nops": round(res["calibration_200_nops"], 1),
        "idle_step_instructions": round(idle),
        "idle_instructions_per_neuron": round(idle / g.n_out, 2),
        "levels": table,
        "runtime_flash_bytes": res["runtime_flash_bytes"],
    }
    if res["cmsis_frame"]:
        f = res["cmsis_frame"]
        out["cmsis_nn_frame_instructions"] = round(f)
        out["cmsis_nn_instructions_per_mac"] = round(f / macs, 3)
        pts = [(0.0, idle)] + [(r["activity"], r["step_instructions"]) for r in table]
        # one SNN timestep against one ANN frame, and a whole SNN inference (T steps, every step
        # at that activity) against one frame
        for key, scale in (("break_even_activity_per_step", 1), ("break_even_activity_per_inference", timesteps)):
            out[key] = _crossing([(a, i * scale) for a, i in pts], f)
        out["timesteps"] = timesteps
    return out


def print_report(out: dict, g) -> None:
    print(
        f"{out['board']} ({out['cpu']}), conv {g.in_shape} -> {g.out_shape}, kernel {g.kernel}, padding {g.padding}; "
        f"instructions (QEMU -icount; 200 nops = {out['calibration_instructions_per_200_nops']})"
    )
    print(
        f"  timestep without input: {out['idle_step_instructions']} ({out['idle_instructions_per_neuron']} per neuron)"
    )
    for r in out["levels"]:
        extra = f", {r['snn_over_cmsis']:.3f}x CMSIS-NN's frame" if "snn_over_cmsis" in r else ""
        print(
            f"  activity {r['activity']:>5.0%}: {r['input_events']:>5} input events, {r['synaptic_events']:>7} synaptic events, "
            f"{r['step_instructions']:>8} instructions = {r['instructions_per_synaptic_event']:.3f} per event "
            f"(marginal {r['marginal_instructions_per_synaptic_event']:.3f}){extra}"
        )
    if "cmsis_nn_frame_instructions" in out:
        print(
            f"  CMSIS-NN arm_convolve_s8, one dense int8 frame: {out['cmsis_nn_frame_instructions']} instructions "
            f"({out['cmsis_nn_instructions_per_mac']} per MAC)"
        )
        print(f"  break-even activity, one SNN step vs one frame: {out['break_even_activity_per_step']}")
        print(
            f"  break-even activity, one SNN inference ({out['timesteps']} steps) vs one frame: "
            f"{out['break_even_activity_per_inference']}"
        )
    else:
        print("  (no CMSIS-NN baseline: give --cmsis-nn DIR or set EDGESNN_CMSIS_NN)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmsis-nn", help="CMSIS-NN folder (default: $EDGESNN_CMSIS_NN; without it, no baseline)")
    ap.add_argument(
        "--in-shape",
        type=int,
        nargs=3,
        metavar=("C", "H", "W"),
        help="input map (default 8 16 16; 8 8 6 on boards with under 64 KB of RAM, which cannot hold the larger layer)",
    )
    ap.add_argument("--out-channels", type=int, default=16)
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--padding", type=int, default=1)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument(
        "--timesteps", type=int, default=25, help="steps per SNN inference, for the per-inference comparison"
    )
    ap.add_argument("--boards", default=",".join(BOARDS), help="comma-separated subset of " + ", ".join(BOARDS))
    ap.add_argument("--json", action="store_true", help="a JSON list, one object per board")
    args = ap.parse_args()
    import os

    from edgesnn.energy.cmsisnn import cmsis_nn_dir
    from edgesnn.errors import BuildError
    from edgesnn.firmware.boards import get_board

    boards = args.boards.split(",")
    for name in boards:
        if name not in BOARDS:
            sys.exit(f"error: the bench runs on {', '.join(BOARDS)}, not {name!r}")
    cmsis = None
    if args.cmsis_nn or os.environ.get("EDGESNN_CMSIS_NN"):
        try:
            cmsis = cmsis_nn_dir(args.cmsis_nn)
        except BuildError as e:
            sys.exit(f"error: {e}")
    outs = []
    for name in boards:
        small = int(get_board(name).memory["ram_bytes"]) < SMALL_RAM_BYTES
        shape = args.in_shape or (SMALL_SHAPE if small else DEFAULT_SHAPE)
        qnet, g = bench_model(shape, args.out_channels, args.kernel, args.padding, args.stride)
        rng = np.random.default_rng(1)
        levels = [np.sort(rng.choice(g.n_in, int(round(a * g.n_in)), replace=False)) for a in ACTIVITIES]
        frame = np.zeros(g.n_in, np.int8)
        frame[levels[-2]] = 1  # the dense frame holds the 50 % spikes (its cost does not depend on them)
        macs = g.n_out * (g.in_shape[0] // g.groups) * g.kernel[0] * g.kernel[1]
        res = build_and_run(qnet, g, levels, frame, cmsis, name)
        outs.append((report(res, g, levels, macs, args.timesteps, name), g))
    if args.json:
        print(json.dumps([o for o, _ in outs]))
        return
    for out, g in outs:
        print_report(out, g)


if __name__ == "__main__":
    main()
