"""The audio front end's cost on emulated cores, in instructions per channel per audio sample.

    python tools/bench/audio.py [--channels 16] [--rate 16000] [--json]

The firmware (firmware_templates/apps/bench_afe.c) runs the C front end of a design_front_end()
design over 0.2 s of a speech-like test signal (a gliding tone switched on and off, over noise)
in blocks of one timestep, under QEMU -icount shift=7 (instruction counts: see
tools/bench/firmware.py), and prints every timestep's spikes; they must equal the golden model's
(sdk/edgesnn/fixedpoint/audio.py) exactly, else the bench fails. The baseline measured in the
same run is the goal of issue 25, 6 instructions per channel-sample on the M4: the ratio is
measured / 6.
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

BOARDS = ("qemu-microbit", "qemu-mps2-an385", "qemu-mps2-an386", "qemu-sifive-e")
GOAL = 6.0


def signal(rate: int, seconds: float = 0.2, seed: int = 0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(seed)
    x = 0.5 * np.sin(2 * np.pi * (300 + 4000 * t) * t) * ((t % 0.1) < 0.06) + rng.normal(0, 0.01, len(t))
    return np.clip(np.floor(x * 32767 + 0.5), -32768, 32767).astype(np.int16)


def data_header(fe, pcm: np.ndarray) -> str:
    def ints(v):
        return ", ".join(str(int(x)) for x in v)

    n = fe.channels
    return (
        "\n".join(
            [
                "#ifndef BENCH_AFE_DATA_H",
                "#define BENCH_AFE_DATA_H",
                '#include "esnn_audio.h"',
                f"#define BENCH_AFE_CHANNELS {n}u",
                f"#define BENCH_AFE_D {fe.samples_per_step}u",
                f"#define BENCH_AFE_BLOCK {fe.samples_per_step}u",
                f"#define BENCH_AFE_SAMPLES {len(pcm)}u",
                f"static const int16_t bench_afe_c1[{n}] = {{ {ints(fe.c1)} }};",
                f"static const int16_t bench_afe_c2[{n}] = {{ {ints(fe.c2)} }};",
                f"static const uint8_t bench_afe_g[{n}] = {{ {ints(fe.g)} }};",
                f"static const int16_t bench_afe_pcm[{len(pcm)}] = {{ {ints(pcm)} }};",
                "static const esnn_afe_config_t bench_afe = {bench_afe_c1, bench_afe_c2, bench_afe_g, "
                f"{n}u, {fe.samples_per_step}u, {fe.envelope_shift}u, {fe.spike_shift}u, "
                f"{1 if fe.mode == 'adaptive' else 0}u, {fe.eps}}};",
                "#endif",
            ]
        )
        + "\n"
    )


def run(board_name: str, fe, pcm: np.ndarray) -> dict:
    from edgesnn.firmware import build as B
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.hostbuild import STRICT_FLAGS
    from edgesnn.firmware.paths import templates_dir
    from edgesnn.fixedpoint import quantize
    from edgesnn.ir import LIF, Dense, Network

    board = get_board(board_name)
    # the board files (link script, board_config.h) are rendered for a model; a tiny one serves
    tiny = quantize(Network(n_inputs=8, layers=(Dense(np.eye(2, 8), np.zeros(2), LIF(np.full(2, 0.9), np.ones(2))),)))
    apps, hal = templates_dir() / "apps", templates_dir() / "hal"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        flags = [*_common.bench_flags(board, out / "src"), *STRICT_FLAGS]
        elf, objs = _common.build_bench_image(
            board,
            tiny,
            out,
            {"bench_afe_data.h": data_header(fe, pcm)},
            lambda src: [src / "esnn_audio.c", apps / "bench_afe.c", hal / "hal_text.c", *B._hal_sources(board)],
            lambda s: flags,
        )
        sections = (
            ln.split() for ln in B.run_tool([B.tool_path(board, "size"), "-A", str(objs[0])], "size").splitlines()
        )
        code = sum(int(p[1]) for p in sections if len(p) >= 2 and p[0].startswith(".text") and p[1].isdigit())
        rows, tpi, overhead, text = _common.run_bench_image(board, elf)
    if overhead is None:
        sys.exit(f"error: the bench firmware on {board_name} reported: {text[-300:]}")
    blocks = [(int(p[1], 16), (int(p[2], 16) - overhead) / tpi) for p in rows if p and p[0] == "A"]
    per = (fe.channels + 7) // 8
    dev = np.array(
        [[int(p[2][2 * i : 2 * i + 2], 16) for i in range(per)] for p in rows if p and p[0] == "S"], np.uint8
    )
    got = np.unpackbits(dev.reshape(-1, per), axis=1, bitorder="little")[:, : fe.channels].astype(bool)
    from edgesnn.fixedpoint.audio import front_end_spikes

    want = front_end_spikes(fe, pcm)
    samples = sum(n for n, _ in blocks)
    instr = sum(i for _, i in blocks)
    return {
        "board": board_name,
        "cpu": board.cpu,
        "instructions_per_channel_sample": instr / samples / fe.channels,
        "instructions_per_second_of_audio": instr / samples * fe.sample_rate,
        "ratio_to_goal": instr / samples / fe.channels / GOAL,
        "timesteps": int(want.shape[0]),
        "mismatched_timesteps": int((got != want).any(axis=1).sum()) if got.shape == want.shape else int(want.shape[0]),
        "code_bytes": code,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--rate", type=int, default=16000)
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from edgesnn.fixedpoint.audio import design_front_end

    fe = design_front_end(a.rate, a.channels)
    pcm = signal(a.rate)
    rows = [run(b, fe, pcm) for b in a.boards.split(",")]
    if a.json:
        print(json.dumps({"channels": a.channels, "sample_rate": a.rate, "goal_m4": GOAL, "boards": rows}))
    else:
        print(
            f"audio front end: {a.channels} channels at {a.rate} Hz, {rows[0]['timesteps']} timesteps; goal {GOAL:g} on the M4"
        )
        for r in rows:
            print(
                f"{r['board']:<18} {r['cpu']:<12} {r['instructions_per_channel_sample']:6.2f} instructions per channel-sample "
                f"({r['ratio_to_goal']:.2f}x the goal), {r['instructions_per_second_of_audio'] / 1e6:.2f} M per second of audio, "
                f"mismatched timesteps {r['mismatched_timesteps']}, code {r['code_bytes']} B"
            )
    if any(r["mismatched_timesteps"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
