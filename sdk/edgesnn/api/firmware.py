"""Firmware: boards, build, verify against the golden simulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.api.model import Model, PathLike, load, quantized  # noqa: F401  (quantized: used by api.device)
from edgesnn.errors import DeviceError, EmulatorError
from edgesnn.fixedpoint.qnetwork import QuantNetwork


def sample_inputs(qnet: QuantNetwork, dataset: str | None, limit: int) -> np.ndarray:
    """The first ``limit`` test samples of the data set (default: the model's), else seeded
    random spikes for a model that records no data set. A model with an audio front end gets
    int16 PCM (the device runs the front end), random noise without a data set. A data set that
    does not fit fails."""
    from edgesnn.data.datasets import model_audio, model_inputs

    fe = qnet.front_end
    if fe is not None:  # the device takes PCM and runs the front end itself
        if dataset or qnet.input_spec.get("dataset"):
            return model_audio(qnet, dataset, "test", limit)[0]
        steps = int(qnet.input_spec.get("timesteps", 25))
        return (np.random.default_rng(0).standard_normal((limit, steps * fe.samples_per_step)) * 2000).astype(np.int16)
    if dataset or qnet.input_spec.get("dataset"):
        x, _, _ = model_inputs(qnet, dataset, "test", limit)
        return x
    steps = int(qnet.input_spec.get("timesteps", 25))
    return np.random.default_rng(0).random((limit, steps, qnet.n_inputs)) < 0.2


def boards() -> list[dict[str, Any]]:
    """Every board and kit edgesnn knows (``boards/*.toml``): name, kind, cpu (a kit: its chip),
    memory (a kit: ``dialect`` and ``limits``), description, verified."""
    from edgesnn.firmware.boards import all_boards

    rows = []
    for b in all_boards().values():
        row = {"name": b.name, "kind": b.kind, "description": b.description}
        if b.is_kit:  # a chip: its dialect and limits instead of memories
            row.update({"cpu": b.chip, "dialect": b.dialect, "limits": dict(b.limits), "check": b.check["how"]})
        else:
            row.update(
                {
                    "cpu": b.cpu,
                    "flash_bytes": b.memory["flash_bytes"],
                    "ram_bytes": b.memory["ram_bytes"],
                    "storage": b.get("storage", {}).get("driver"),
                }
            )
        row["verified"] = b.get("verified", "not verified by edgesnn (a board file of your own)")
        rows.append(row)
    return rows


def build(
    model: QuantNetwork | PathLike,
    board: str,
    out: PathLike = "build",
    *,
    dataset: str | None = None,
    samples: int = 16,
    app: str = "device",
    platformio: bool = False,
) -> dict[str, Any]:
    """Render the model's C sources for a board and compile them.

    Result: ``elf``, ``flash_bytes``, ``flash_runtime_bytes``, ``flash_model_bytes``,
    ``ram_bytes``, ``hash``, and for real boards ``images`` (the ``.bin``/``.hex``/``.uf2``
    their flashers take). ``platformio=True`` (always for boards without a bare-metal image,
    such as ``esp32-devkit``) writes a PlatformIO project instead. A model that does not fit
    fails naming the rule, board and layer.

    ```python
    edgesnn.api.build("digits.qsnn", "qemu-mps2-an385", "build/m3")
    ```
    """
    from edgesnn.firmware import platformio as pio
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.build import build as run

    qnet, b, out = quantized(model), get_board(board, kits=True), Path(out)
    if b.is_kit:  # a neuromorphic kit: the chip's configuration instead of firmware
        from edgesnn import kits

        return kits.build(qnet, b, out)
    if platformio and b.get("platformio") is None:
        raise ValueError(f"board {b.name} has no PlatformIO settings")
    if b.kind == "platformio" or platformio:
        proj = pio.generate_project(qnet, b, out)
        return {
            "board": b.name,
            "elf": None,
            "project": proj,
            "hash": qnet.content_hash,
            "compile_check": pio.compile_check(b, proj),
            "pio_config": pio.validate_config(proj),
            "upload": f"cd {proj} && pio run -t upload --upload-port PORT",
        }
    inputs = sample_inputs(qnet, dataset, samples) if app == "selfcheck" else None
    res = run(qnet, b, out, app=app, selfcheck_inputs=inputs)
    return {**res.as_dict(), "hash": qnet.content_hash}


def verify(
    model: QuantNetwork | PathLike,
    board: str = "host",
    out: PathLike = "build/verify",
    *,
    dataset: str | None = None,
    limit: int | None = None,
    inputs: np.ndarray | None = None,
    count_instructions: bool = False,
    seconds: float | None = None,
) -> dict[str, Any]:
    """Run the firmware on the host or an emulated board and compare it with the golden
    simulator: every state on the host, a CRC-32 of every state per sample on emulated boards.
    A stream data set (or a stream model's own) runs continuously over the serial link instead
    (its first ``seconds``): every frame's outputs, detections and running CRC-32 of every state
    are compared; ``mismatches`` counts the frames that differ.
    A neuromorphic kit runs the vendor's simulator instead (``kits.verify``: every spike of the
    test split, or of the first ``limit`` samples; ``reference`` names the simulator).

    Result: ``mismatches`` (samples that differ; 0 is the promise), ``samples``, ``timesteps``.
    ``limit``: samples compared (default 450 on boards, as many as half the flash holds for an
    audio model's PCM; the whole test split on kits).

    ```python
    edgesnn.api.verify("digits.qsnn", "qemu-microbit")["mismatches"]
    # -> 0
    ```
    """
    from edgesnn.api.streams import is_stream_run
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.verify import verify as run

    qnet, b = quantized(model), get_board(board, kits=True)
    if inputs is None and not b.is_kit and is_stream_run(qnet, dataset):
        from edgesnn.api.stream_device import stream_recording

        if b.kind in ("hardware", "platformio"):
            raise ValueError(f"board {board} is real hardware; verify runs on host or an emulated board")
        r = stream_recording(qnet, board=board, dataset=dataset, seconds=seconds, out=out)
        keep = ("board", "mismatches", "mismatched_steps", "first_mismatch_step", "frames", "timesteps", "seconds")
        res = {k: r[k] for k in keep if k in r}
        res["method"] = "continuous stream: per frame, outputs, detections and a running CRC-32 of every state"
        if "error" in r:
            raise DeviceError(f"{board}: the stream ended early: {r['error']}")
        return res
    if b.is_kit:  # the vendor's simulator against the golden model, on the data set
        from edgesnn import kits
        from edgesnn.data.datasets import model_inputs

        if inputs is not None:
            return kits.verify(qnet, b, np.asarray(inputs))
        x, y, _ = model_inputs(qnet, dataset, "test")
        return kits.verify(qnet, b, x[:limit] if limit else x, y[:limit] if limit else y)
    if b.kind in ("hardware", "platformio"):
        from edgesnn.firmware.boards import all_boards

        twin = f"qemu-{b.name}"
        also = f" (its image's code runs on {twin})" if twin in all_boards() else ""
        raise ValueError(f"board {board} is real hardware; verify runs on host or an emulated board{also}")
    x = sample_inputs(qnet, dataset, limit or default_limit(qnet, b)) if inputs is None else inputs
    return run(qnet, b, x, Path(out), icount=count_instructions)


def default_limit(qnet: QuantNetwork, board: Any) -> int:
    """Samples verify compares by default: 450, or for an audio model on a board as many as half
    its flash holds as PCM (the self-check embeds them; 1 s at 16 kHz is 32 kB)."""
    fe = qnet.front_end
    if fe is None or board.kind == "host":
        return 450
    per = 2 * fe.samples_per_step * int(qnet.input_spec.get("timesteps", 100))
    return max(1, min(450, int(board.memory["flash_bytes"]) // 2 // per))


def energy(
    model: QuantNetwork | PathLike,
    board: str = "qemu-mps2-an386",
    out: PathLike = "build/energy",
    *,
    dataset: str | None = None,
    cmsis_nn: str | None = None,
    samples: int = 100,
    early_exit: int | None = None,
    seconds: float | None = None,
    ann_rate: float = 20.0,
    duty_sweep: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Per-inference cost of the SNN and of the int8 ANN a user would deploy instead (the
    narrowest ReLU MLP within 1 pt of the SNN's accuracy, run with CMSIS-NN's
    ``arm_fully_connected_s8``; for a convolutional SNN the narrowest int8 CNN, run with
    ``arm_convolve_s8``) on the same emulated Cortex-M core.

    Result: ``snn`` and ``ann``, each with ``accuracy``, ``instructions`` (exact, QEMU -icount,
    mean over ``samples`` test samples), ``cycles`` (docs/energy.md), ``latency_ms`` at the
    board's clock and ``energy_uj`` from the board file's datasheet figures; ``ratio`` (SNN /
    ANN) and a one-line ``verdict``. ``cmsis_nn``: the CMSIS-NN folder (else
    ``$EDGESNN_CMSIS_NN``). ``early_exit`` adds ``snn_early_exit``: the SNN streamed to the
    device firmware, each inference stopped once settled (``contract.settled``), its
    instructions measured there and its accuracy over the whole test split.

    A stream model (or a stream ``dataset``) gets the always-on report instead
    (``api.energy_stream.energy_stream``: energy per hour of the SNN, the int8 ANN at ``ann_rate``
    and the gated ANN on the test recording or its first ``seconds``; ``duty_sweep``). A board
    that is not emulated (``nrf52840-dk``) is counted on the QEMU board its [energy] table names.

    ```python
    edgesnn.api.energy("digits.qsnn", "qemu-mps2-an386", cmsis_nn="../CMSIS-NN")["ratio"]
    ```
    """
    from edgesnn.api.streams import is_stream_run

    if is_stream_run(model, dataset):
        from edgesnn.api.energy_stream import energy_stream

        return energy_stream(
            model,
            board,
            out,
            dataset=dataset,
            cmsis_nn=cmsis_nn,
            seconds=seconds,
            ann_rate=ann_rate,
            duty_sweep=duty_sweep,
            progress=progress,
        )
    if seconds is not None or duty_sweep:
        if dataset is not None:  # a file that is not there, or not a data set, says so first
            from edgesnn.data.datasets import open_any

            open_any(dataset)
        raise ValueError("seconds and duty_sweep take a stream model or data set (docs/streams.md)")
    from edgesnn.data.datasets import model_inputs
    from edgesnn.energy.report import energy_report
    from edgesnn.firmware.boards import get_board
    from edgesnn.fixedpoint import simulate_int

    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    from edgesnn.energy.power import counting_board

    qnet, b = quantized(model), counting_board(get_board(board))
    x, y, ds = model_inputs(qnet, dataset, "test")
    sim = simulate_int(qnet, x)
    snn_acc = sim.accuracy(y)
    spec = ds.model_spec(qnet.input_spec)
    static = (*ds.static("train", spec), *ds.static("test", spec))
    rep = energy_report(qnet, b, x, y, snn_acc, static, ds.classes, Path(out), cmsis_nn=cmsis_nn, samples=samples)
    if early_exit is not None:
        from edgesnn.api.device import stream
        from edgesnn.api.model import early_exit_summary
        from edgesnn.energy.report import per_inference, ratios

        s = stream(qnet, board=board, dataset=dataset, limit=samples, early_exit=early_exit, out=Path(out) / "stream")
        if s["mismatches"] or not s["complete"] or "instructions_per_inference" not in s:
            raise EmulatorError(f"{board}: the early-exit stream did not complete bit-exactly: {s.get('error', '')}")
        summary = early_exit_summary(qnet, x, sim, early_exit, y)
        cpi = rep["snn"]["cycles_per_instruction"]
        snn_ee = {
            "accuracy": summary["accuracy"],
            **per_inference(b, s["instructions_per_inference"], cpi),
            "steps_mean": summary["steps_mean"],
            "margin": early_exit,
            "samples_measured": s["samples"],
            "mismatches": s["mismatches"],
        }
        rep["snn_early_exit"] = snn_ee
        rep["ratio_early_exit"] = ratios(snn_ee, rep["ann"])
    return rep
