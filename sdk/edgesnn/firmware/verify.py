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
from edgesnn.fixedpoint.audio import front_end_spikes
from edgesnn.fixedpoint.qnetwork import QuantNetwork


def verify(
    qnet: QuantNetwork, board: Board, inputs: np.ndarray, out: Path, *, timeout: float = 600, icount: bool = False
) -> dict:
    """Build for ``board``, run ``inputs`` on it, compare with the golden simulator exactly.
    ``inputs``: input spikes (samples, timesteps, inputs), or for a model with an audio front end
    its int16 PCM (samples, audio samples), which the firmware puts through the front end (the
    front end's spikes are compared too: every one on the host, a CRC-32 per sample on boards).

    Returns counts: samples, timesteps, values compared (host) and mismatches; plus, on boards
    with a counter, ticks per sample.
    """
    fe = qnet.front_end
    pcm = None
    if fe is not None:
        pcm = np.asarray(inputs)
        if pcm.ndim != 2 or pcm.dtype != np.int16:
            raise VerifyError(
                f"an audio model is verified on int16 PCM (samples, audio samples), got {pcm.dtype} {pcm.shape}"
            )
        inputs = front_end_spikes(fe, pcm)
    inputs = np.asarray(inputs, bool)
    sim = simulate_int(qnet, inputs, record=True)
    if board.kind == "host":
        res: BuildResult = build(qnet, board, out, app="golden_host")
        run = hostbuild.run_host(qnet, res.elf, inputs, timeout=timeout)
        cmp, bad_net = golden.compare(sim, run)
        host_d = {
            "board": board.name,
            "method": "every state compared",
            "timesteps": int(inputs.shape[1]),
            "mismatches": cmp["mismatched_samples"],
            **cmp,
            "build": res.as_dict(),
        }
        if pcm is not None:  # the C front end under ASan/UBSan, every spike of every sample
            exe = hostbuild.build_afe_host(out / "afe")
            spikes_bad = np.array(
                [not np.array_equal(hostbuild.run_afe_host(exe, fe, p, timeout), s) for p, s in zip(pcm, inputs)], bool
            )
            host_d["method"] = "every front end spike and every state compared"
            host_d["front_end_mismatches"] = int(spikes_bad.sum())
            host_d["mismatches"] = int((bad_net | spikes_bad).sum())
        return host_d
    res = build(qnet, board, out, app="selfcheck", selfcheck_inputs=inputs if pcm is None else pcm)
    chk = run_selfcheck(board, res.elf, timeout=timeout, icount=icount)
    if chk.digests.shape[0] != inputs.shape[0]:
        raise VerifyError(f"{board.name}: the firmware reported {chk.digests.shape[0]} samples of {inputs.shape[0]}")
    want = golden.digests(qnet, sim)
    bad = (chk.digests != want) | (chk.predictions != sim.prediction) | (chk.synops != sim.synops)
    if chk.updates is not None:  # idle skipping updated exactly the awake neurons
        bad |= chk.updates != sim.membrane_updates
    afe_bad = None
    if pcm is not None:
        if chk.afe_digests is None or chk.afe_digests.shape[0] != inputs.shape[0]:
            raise VerifyError(f"{board.name}: the firmware did not report its front end's spikes for every sample")
        afe_bad = chk.afe_digests != golden.spike_digests(inputs)
        bad |= afe_bad
    out_d = {
        "board": board.name,
        "method": "per-sample digest of every state" + (" and of the front end's spikes" if pcm is not None else ""),
        "samples": int(inputs.shape[0]),
        "timesteps": int(inputs.shape[1]),
        "mismatches": int(bad.sum()),
        **({"front_end_mismatches": int(afe_bad.sum())} if afe_bad is not None else {}),
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
        if pcm is not None and chk.afe_ticks is not None:
            per = float(np.mean(chk.afe_ticks) / tpi)
            out_d["front_end_instructions_per_sample"] = per
            out_d["front_end_instructions_per_channel_sample"] = per / (
                fe.channels * pcm.shape[1] // fe.samples_per_step * fe.samples_per_step
            )
    return out_d
