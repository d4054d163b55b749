"""Hold built firmware to the golden simulator: host harness (every state) or emulated board (digests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesnn.errors import VerifyError  # noqa: F401  (re-exported: raised here)
from edgesnn.firmware import golden, hostbuild
from edgesnn.firmware.boards import Board, counts_instructions
from edgesnn.firmware.build import BuildResult, build
from edgesnn.firmware.qemu import hello_fields, run_selfcheck
from edgesnn.fixedpoint import simulate_int
from edgesnn.fixedpoint.qnetwork import QuantNetwork


def verify(
    qnet: QuantNetwork, board: Board, inputs: np.ndarray, out: Path, *, timeout: float = 600, icount: bool = False
) -> dict:
    """Build for ``board``, run ``inputs`` on it, compare with the golden simulator exactly.

    Returns counts: samples, timesteps, values compared (host) and mismatches; plus, on boards
    with a counter, ticks per sample.
    """
    inputs = np.asarray(inputs, bool)
    sim = simulate_int(qnet, inputs, record=True)
    if board.kind == "host":
        res: BuildResult = build(qnet, board, out, app="golden_host")
        run = hostbuild.run_host(qnet, res.elf, inputs, timeout=timeout)
        cmp = golden.count_mismatches(sim, run)
        return {
            "board": board.name,
            "method": "every state compared",
            "timesteps": int(inputs.shape[1]),
            "mismatches": cmp["mismatched_samples"],
            **cmp,
            "build": res.as_dict(),
        }
    res = build(qnet, board, out, app="selfcheck", selfcheck_inputs=inputs)
    chk = run_selfcheck(board, res.elf, timeout=timeout, icount=icount)
    if chk.digests.shape[0] != inputs.shape[0]:
        raise VerifyError(f"{board.name}: the firmware reported {chk.digests.shape[0]} samples of {inputs.shape[0]}")
    want = golden.digests(qnet, sim)
    bad = (chk.digests != want) | (chk.predictions != sim.prediction) | (chk.synops != sim.synops)
    if chk.updates is not None:  # idle skipping updated exactly the awake neurons
        bad |= chk.updates != sim.membrane_updates
    out_d = {
        "board": board.name,
        "method": "per-sample digest of every state",
        "samples": int(inputs.shape[0]),
        "timesteps": int(inputs.shape[1]),
        "mismatches": int(bad.sum()),
        "firmware": hello_fields(chk.hello),  # what the image said it runs
        "build": res.as_dict(),
    }
    if icount and counts_instructions(board):
        tpi = float(board.timer["ticks_per_instruction_icount7"])
        out_d["instructions_per_sample"] = float(np.mean(chk.ticks) / tpi)
        out_d["instructions_idle_step"] = chk.idle_step_ticks / tpi  # from a fresh state
        # the whole network with no input and every neuron at rest (None: it never came to rest)
        out_d["instructions_per_idle_step"] = chk.rest_step_ticks / tpi if chk.rest_steps else None
        out_d["steps_to_rest"] = chk.rest_steps or None
        out_d["synops_per_sample"] = float(np.mean(chk.synops))
        if chk.updates is not None:
            out_d["neuron_updates_per_sample"] = float(np.mean(chk.updates))
    return out_d
