"""``edgesnn energy``: one inference of the SNN against the int8 ANN a user would deploy
instead, on the same emulated core, in instructions (exact, QEMU -icount), cycles (cycle table
of energy/cycles.py on a traced inference), latency at the board's clock and energy from the
board file's datasheet current per MHz and supply voltage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.energy import ann as A
from edgesnn.energy.cmsisnn import cmsis_nn_dir, mismatches, run_ann
from edgesnn.energy.cycles import traced_mix
from edgesnn.errors import EmulatorError
from edgesnn.firmware.boards import Board, counts_instructions
from edgesnn.fixedpoint.qnetwork import QuantNetwork

#: The SNN's inference code (runtime and generated updates), for the traced instruction mix.
SNN_FUNCTIONS = (
    r"esnn_step|esnn_step_layer|esnn_step_conv|esnn_pool_events|esnn_neuron_generic|accumulate|add_row|sum_rows"
    r"|conv_event|clear_words|fire|decay32|saturate|l\d+_update\w*"
)
ANN_FUNCTIONS = r"arm_.*|infer"


def per_inference(board: Board, instructions: float, cpi: float) -> dict[str, Any]:
    """Cycles, latency and (with the board's [energy] figures) energy of one inference."""
    cycles = instructions * cpi
    out: dict[str, Any] = {
        "instructions": round(instructions, 1),
        "cycles": round(cycles, 1),
        "cycles_per_instruction": round(cpi, 3),
        "latency_ms": round(1000.0 * cycles / board.clock_hz, 4),
    }
    e = board.get("energy")
    # E = I/f * V * cycles: (uA/MHz) * V * cycles * 1e-6 uJ, whatever the clock
    out["energy_uj"] = round(e["ua_per_mhz"] * e["volts"] * cycles * 1e-6, 4) if e else None
    return out


def ratios(snn: dict[str, Any], ann: dict[str, Any]) -> dict[str, float | None]:
    """SNN / ANN for each per-inference cost (None where either side has no figure)."""
    return {
        k: round(snn[k] / ann[k], 3) if snn.get(k) and ann.get(k) else None
        for k in ("instructions", "cycles", "latency_ms", "energy_uj")
    }


def measure_snn(qnet: QuantNetwork, board: Board, x: np.ndarray, out: Path) -> tuple[dict, float]:
    """The SNN firmware on inputs ``x`` under -icount, every state checked (``verify``'s result),
    and its cycles per instruction from one traced self-check; EmulatorError on a mismatch."""
    from edgesnn.firmware.build import build
    from edgesnn.firmware.verify import verify

    v = verify(qnet, board, x, out / "snn", icount=True)
    if v["mismatches"]:
        raise EmulatorError(f"{board.name}: the SNN firmware differs from the simulator on {v['mismatches']} samples")
    trace_elf = build(qnet, board, out / "snn-trace", app="selfcheck", selfcheck_inputs=x[:1]).elf
    return v, traced_mix(board, trace_elf, SNN_FUNCTIONS)["cycles_per_instruction"]


def measure_ann(ann: A.Int8ANN, xq: np.ndarray, board: Board, cmsis: Path, out: Path) -> tuple[float, float, int]:
    """The int8 ANN with CMSIS-NN on inputs ``xq``: mean instructions per inference, cycles per
    instruction of one traced inference, and the inferences whose logits differ from the model."""
    run = run_ann(ann, xq, board, cmsis, out / "ann")
    one = run_ann(ann, xq[:1], board, cmsis, out / "ann-trace")
    cpi = traced_mix(board, one.elf, ANN_FUNCTIONS)["cycles_per_instruction"]
    return float(run.instructions.mean()), cpi, mismatches(ann, xq, run)


def energy_report(
    qnet: QuantNetwork,
    board: Board,
    x_spikes: np.ndarray,
    y: np.ndarray,
    snn_accuracy: float,
    static: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    classes: int,
    out: Path,
    *,
    cmsis_nn: str | None = None,
    samples: int = 100,
) -> dict[str, Any]:
    """SNN and ANN side by side; ``x_spikes``/``y`` the test split as the SNN sees it,
    ``static`` = (x_train, y_train, x_test, y_test) in [0, 1] as the ANN sees it."""
    if not counts_instructions(board) or board.family != "cortex-m":
        raise EmulatorError(f"energy needs an emulated Cortex-M board with an instruction counter, not {board.name}")
    cmsis = cmsis_nn_dir(cmsis_nn)
    n = min(samples, len(y))
    # SNN: exact instructions on n test samples (and every state checked against the simulator)
    v, snn_cpi = measure_snn(qnet, board, x_spikes[:n], out)
    snn = {
        "accuracy": snn_accuracy,
        **per_inference(board, v["instructions_per_sample"], snn_cpi),
        "synaptic_events": round(v["synops_per_sample"], 1),
        "timesteps": int(x_spikes.shape[1]),
        "model_bytes": v["build"]["flash_model_bytes"],  # weight tables and parameters in flash
        "samples_measured": n,
        "mismatches": 0,
        # the whole network with no input and every neuron at rest (None: it never comes to rest)
        "instructions_per_idle_step": v.get("instructions_per_idle_step"),
    }
    # ANN: the narrowest int8 MLP (a CNN for a convolutional SNN) within 1 pt of the SNN, on CMSIS-NN
    x_tr, y_tr, x_te, y_te = static
    conv = qnet.layers[0].conv is not None or (qnet.layers[0].pool is not None)
    if conv:
        from edgesnn.energy.ann_conv import smallest_matching_cnn

        shape = qnet.layers[0].in_shape
        ann, ann_acc, tried = smallest_matching_cnn(static, shape, classes, snn_accuracy)
        kernel = "CMSIS-NN arm_convolve_s8 + arm_fully_connected_s8"
    else:
        ann, ann_acc, tried = A.smallest_matching_ann(x_tr, y_tr, x_te, y_te, classes, snn_accuracy)
        kernel = "CMSIS-NN arm_fully_connected_s8"
    xq = A.ann_inputs(ann, x_te[:n])
    ann_instr, ann_cpi, ann_bad = measure_ann(ann, xq, board, cmsis, out)
    ann_row = {
        "accuracy": ann_acc,
        **per_inference(board, ann_instr, ann_cpi),
        "hidden": list(ann.hidden),
        "macs": ann.macs,
        # int8 weights, int32 biases (and a conv's per-channel multipliers and shifts)
        "model_bytes": sum(L.weight.size + 4 * L.bias.size * (3 if hasattr(L, "in_shape") else 1) for L in ann.layers),
        "samples_measured": n,
        "mismatches": ann_bad,  # device logits vs the numpy model of CMSIS-NN
        "widths_tried": tried,
        # the narrowest width reaching the SNN's accuracy less 1 pt, or the widest tried if none did
        "within_one_point_of_snn": ann_acc >= snn_accuracy - 0.01,
        "kernel": kernel,
    }
    ratio = ratios(snn, ann_row)
    cheaper = "SNN" if (ratio["cycles"] or 1) < 1 else "int8 ANN"
    factor = max(ratio["cycles"] or 1, 1 / (ratio["cycles"] or 1))
    e = board.get("energy")
    return {
        "board": board.name,
        "cpu": board.cpu,
        "clock_hz": board.clock_hz,
        "energy_source": e["source"] if e else f"no [energy] figures in {board.name}'s board file: energy_uj is null",
        "cycle_model": "per-class cycle table on one traced inference (sdk/edgesnn/energy/cycles.py)",
        "snn": snn,
        "ann": ann_row,
        "ratio": ratio,
        "verdict": f"the {cheaper} takes {factor:.1f}x fewer cycles (and energy) per inference on {board.cpu}",
    }
