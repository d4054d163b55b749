"""edgesnn energy: the int8 ANN baseline's arithmetic (CMSIS-NN requantization), the cycle table,
trace parsing, and the whole report on an emulated Cortex-M4 with CMSIS-NN."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgesnn.cli.app import app
from edgesnn.energy import ann as A
from edgesnn.energy.cycles import function_ranges, instruction_cycles, parse_trace
from edgesnn.firmware.boards import get_board
from edgesnn.formats import save_model
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import import_or_skip, missing_tool, need_board_tools

I32 = st.integers(-(2**31), 2**31 - 1)


def _c_requantize(val: int, mult: int, shift: int) -> int:
    """arm_nn_requantize as CMSIS-NN's C computes it (default build), with int32 wrap-around."""

    def wrap(x):
        return (x + 2**31) % 2**32 - 2**31

    left, right = max(shift, 0), max(-shift, 0)
    m1 = wrap(val * (1 << left))
    high = wrap((m1 * mult + (1 << 30)) >> 31)
    mask = (1 << right) - 1
    remainder = mask & high
    result = high >> right
    threshold = (mask >> 1) + (1 if result < 0 else 0)
    return result + (1 if remainder > threshold else 0)


@given(st.integers(-(2**24), 2**24), st.integers(0, 2**31 - 1), st.integers(-31, 4))
def test_requantize_matches_cmsis_nn_arithmetic(val, mult, shift):
    assert int(A.requantize(np.array([val]), mult, shift)[0]) == _c_requantize(val, mult, shift)


@given(st.floats(1e-6, 0.999))
def test_quantize_multiplier_represents_the_scale(real):
    m, s = A.quantize_multiplier(real)
    assert 2**30 <= m < 2**31 and abs(m * 2.0 ** (s - 31) - real) <= real * 2**-30


def test_cycle_table_per_core():
    assert instruction_cycles("cortex-m3", "smlal", "r1, r2, r3, r4") == 5
    assert instruction_cycles("cortex-m4", "smlal", "r1, r2, r3, r4") == 1
    assert instruction_cycles("cortex-m4", "ldmia.w", "r0!, {r4, r5, r6, r8}") == 5
    assert instruction_cycles("cortex-m4", "pop", "{r4, r5, r6, pc}") == 7
    assert instruction_cycles("cortex-m3", "ldr.w", "r3, [ip, #4]!") == 2
    assert instruction_cycles("cortex-m3", "bne.n", "1e") == 2 and instruction_cycles("cortex-m3", "b.n", "4") == 3
    assert instruction_cycles("cortex-m3", "mla", "r0, r1, r2, r3") == 2
    assert instruction_cycles("cortex-m0", "bl", "foo") == 4
    assert instruction_cycles("cortex-m4", "add.w", "r3, r3, r9, lsl #8") == 1


def test_trace_parsing_counts_blocks_by_executions():
    log = "\n".join(
        [
            "----------------",
            "IN: f",
            "0x00000100:  b510       push     {r4, lr}",
            "0x00000102:  f8d0 3004  ldr.w    r3, [r0, #4]",
            "0x00000106:  d1fb       bne      #0x100",
            "",
            "Trace 0: 0x7f0000 [00000000/00000100/00000000/ff200000] f",
            "Trace 0: 0x7f0000 [00000000/00000100/00000000/ff200000] f",
        ]
    )
    blocks, counts = parse_trace(log)
    assert [m for _, m, _ in blocks[0x100]] == ["push", "ldr.w", "bne"] and counts[0x100] == 2
    nm = "00000100 00000008 T f\n00000200 00000004 t g\n00000300 00000004 D data\n"
    assert function_ranges(nm, "f|g") == [(0x100, 0x108), (0x200, 0x204)]


def _cmsis_nn() -> str:
    root = Path(__file__).resolve().parents[1]
    for cand in (
        os.environ.get("EDGESNN_CMSIS_NN"),
        root.parent / "shared/vendor/cmsis-nn",
        "/work/shared/vendor/cmsis-nn",
    ):
        if cand and (Path(cand) / "Include" / "arm_nnfunctions.h").is_file():
            return str(cand)
    missing_tool("the int8 ANN baseline", ["CMSIS-NN (set EDGESNN_CMSIS_NN to its folder)"])
    return ""


def test_energy_report_snn_against_cmsis_nn_ann(tmp_path):
    board = get_board("qemu-mps2-an386")
    need_board_tools(board)
    cmsis = _cmsis_nn()
    model = save_model(digits_like_model(hidden=16), tmp_path / "m.qsnn")
    args = ["energy", str(model), "--dataset", "digits", "--samples", "8", "--cmsis-nn", cmsis, "--early-exit", "0"]
    args.append("--json")
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, (res.stderr, res.exception)
    r = json.loads(res.stdout)
    snn, ann = r["snn"], r["ann"]
    for side in (snn, ann):
        assert side["mismatches"] == 0 and side["samples_measured"] == 8
        assert side["instructions"] > 0 and 1.0 <= side["cycles_per_instruction"] < 3.0
        assert side["latency_ms"] == pytest.approx(1000 * side["cycles"] / board.clock_hz, rel=1e-3)
        e = board.energy
        assert side["energy_uj"] == pytest.approx(e["ua_per_mhz"] * e["volts"] * side["cycles"] * 1e-6, rel=1e-3)
    assert r["ratio"]["cycles"] == pytest.approx(snn["cycles"] / ann["cycles"], rel=1e-3)
    ee = r["snn_early_exit"]  # the firmware streamed, each inference stopped once settled
    assert ee["mismatches"] == 0 and ee["samples_measured"] == 8 and ee["instructions"] <= snn["instructions"] * 1.05
    assert ee["accuracy"] == snn["accuracy"]  # the exact rule (margin 0) changes no prediction
    assert ann["kernel"] == "CMSIS-NN arm_fully_connected_s8" and ann["accuracy"] >= snn["accuracy"] - 0.01
    missing = CliRunner(env={"EDGESNN_CMSIS_NN": ""}).invoke(app, ["energy", str(model), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and missing.stderr.strip().splitlines() == [
        "error: the int8 ANN baseline needs CMSIS-NN: give --cmsis-nn DIR or set EDGESNN_CMSIS_NN"
    ]


def test_plot_energy_from_reports(tmp_path):
    import_or_skip("matplotlib", what="plots")
    rep = {
        "board": "qemu-mps2-an386",
        "snn": {"accuracy": 0.97, "energy_uj": 98.0},
        "snn_early_exit": {"accuracy": 0.97, "energy_uj": 21.0, "margin": 2},
        "ann": {"accuracy": 0.968, "energy_uj": 1.4},
    }
    (tmp_path / "rate.json").write_text(json.dumps(rep))
    (tmp_path / "junk.json").write_text("[1, 2]")
    out = tmp_path / "e.png"
    res = CliRunner().invoke(
        app, ["plot", "energy", "--reports", str(tmp_path / "rate.json"), "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["points"] == 3 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(app, ["plot", "energy", "--reports", str(tmp_path / "junk.json"), "--out", str(out)])
    assert bad.exit_code == 1 and "not an energy report" in bad.stderr and bad.stderr.count("\n") == 1


def test_int8_cnn_numpy_model_matches_torch_and_cmsis_nn(tmp_path):
    """The CNN baseline for convolutional SNNs: its numpy model of arm_convolve_s8 equals torch's
    float convolution on integer data, and CMSIS-NN on the emulated M4 computes its logits byte
    for byte."""
    import torch

    from edgesnn.energy import ann_conv as AC
    from edgesnn.energy.cmsisnn import cmsis_nn_dir, mismatches, run_ann

    rng = np.random.default_rng(0)
    x = rng.random((40, 2 * 8 * 8))
    y = rng.integers(0, 3, 40)
    model = AC.train_float(x, y, (2, 8, 8), 4, 3, epochs=2)
    ann = AC.quantize_cnn(model, (2, 8, 8), x)
    conv = ann.layers[0]
    xq = A.ann_inputs(ann, x)
    # with a unit multiplier chain removed, the accumulator is a plain convolution of (x + offset)
    xo = torch.from_numpy((xq.astype(np.int64) + conv.input_offset).reshape(-1, 8, 8, 2).transpose(0, 3, 1, 2).copy())
    w = torch.from_numpy(conv.weight.astype(np.int64).transpose(0, 3, 1, 2).copy())
    ref = (
        torch.nn.functional.conv2d(xo.double(), w.double(), stride=2, padding=1).numpy()
        + conv.bias[None, :, None, None]
    )
    ident = AC.Int8Conv(
        **{**conv.__dict__, "multiplier": np.full(4, 2**30), "shift": np.full(4, 1), "act_min": -(2**40)}
    )
    ident = AC.Int8Conv(**{**ident.__dict__, "output_offset": 0, "act_max": 2**40})
    got = AC.conv_forward(ident, xq).reshape(-1, 4, 4, 4).transpose(0, 3, 1, 2)
    assert np.array_equal(got, ref.astype(np.int64))  # multiplier 2^30 with shift 1 is the identity
    board = get_board("qemu-mps2-an386")
    need_board_tools(board)
    run = run_ann(ann, xq[:6], board, cmsis_nn_dir(_cmsis_nn()), tmp_path)
    assert mismatches(ann, xq[:6], run) == 0 and run.instructions.min() > 0
