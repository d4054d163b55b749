"""The main job, end to end: train (or reuse) -> quantize -> simulate -> build and self-check on an
emulated board -> deploy -> stream the test split; every figure that matters in one result."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.api import device, firmware, model, training
from edgesnn.api.defaults import DEFAULT_BOARD  # noqa: F401  (re-exported: the main job's board)

Say = Callable[[str], None]


def pick_board(name: str, say: Say) -> str:
    """The requested board, or ``host`` (said out loud) when its toolchain or emulator is missing."""
    from edgesnn.firmware.boards import get_board

    board = get_board(name)
    tools = [board.toolchain["cc"]] + ([board.qemu["binary"]] if board.kind == "qemu" else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return name
    say(f"[yellow]board {name} needs {', '.join(missing)}, which is not installed: falling back to the host board[/]")
    return "host"


def demo(
    out: Path | str = "runs/demo",
    *,
    epochs: int = 40,
    seed: int = 0,
    board: str = DEFAULT_BOARD,
    retrain: bool = False,
    say: Say = lambda m: None,
    train_progress: Callable[[dict], None] | None = None,
    on_row: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Run the whole story on ``digits``; ``say`` narrates the five stages, ``on_row`` gets each
    streamed sample. Result: float, integer and device accuracy, mismatches (self-check and
    stream), instructions per inference, flash and RAM."""
    from edgesnn.data.datasets import encoded
    from edgesnn.firmware.boards import counts_instructions, get_board
    from edgesnn.firmware.verify import verify
    from edgesnn.fixedpoint import simulate_int

    out = Path(out)
    float_path, q_path = out / "digits.nir", out / "digits.qsnn"
    result: dict[str, Any] = {}
    if float_path.is_file() and not retrain:
        say(f"[bold]1/5 reuse[/] {float_path} (pass --retrain to train again)")
        result["train"] = {"model": float_path, "reused": True}
    else:
        say(f"[bold]1/5 train[/] surrogate-gradient QAT on digits, {epochs} epochs")
        tr = training.train(
            "digits",
            float_path,
            epochs=epochs,
            seed=seed,
            hidden=256,
            timesteps=25,
            encoding="rate",
            progress=train_progress,
        )
        result["train"] = {k: v for k, v in (tr or {}).items() if k != "network"}
    say("[bold]2/5 quantize[/] to the integer contract")
    q = model.quantize(float_path, q_path, dataset="digits")
    result["quantize"] = {k: q[k] for k in ("model", "hash", "float_accuracy", "int_accuracy", "prediction_agreement")}
    say("[bold]3/5 simulate[/] the quantized model (golden integer simulator)")
    sim_res = model.simulate(q_path, dataset="digits", save_output=out / "digits_int_output.npz")
    result["simulate"] = {k: v for k, v in sim_res.items() if k != "result"}
    board_name = pick_board(board, say)
    say(
        f"[bold]4/5 build and self-check[/] the firmware on [bold]{board_name}[/]: every state of all test samples vs the simulator"
    )
    qnet = firmware.quantized(q_path)
    x, y = encoded("digits", "test", qnet.input_spec)
    b = get_board(board_name)
    v = verify(qnet, b, x, out / f"selfcheck-{board_name}", icount=counts_instructions(b))
    result["firmware"] = v
    say(
        f"[bold]5/5 deploy and stream[/]: the device firmware on [bold]{board_name}[/], the test split over the serial link"
    )
    sim = simulate_int(qnet, x)
    d = device.deploy(qnet, board_name, out / f"device-{board_name}")
    rows: list[dict] = []
    link: dict = {}
    error = device.stream_rows(d, x, y, sim, None, rows, on_row, link=link)
    s = device.summarize(rows, sim, y, d.hello.board, error, link)
    result["stream"] = s
    dev_build = d.build
    result.update(
        float_accuracy=q["float_accuracy"],
        int_accuracy=q["int_accuracy"],
        device_accuracy=s["accuracy"],
        synops_per_sample=result["simulate"]["synops_per_sample"],
        board=board_name,
        selfcheck_mismatches=v["mismatches"],
        stream_mismatches=s["mismatches"],
        samples=int(x.shape[0]),
        streamed=s["samples"],
        latency_ms_median=s["latency_ms_median"],
        flash_bytes=dev_build.get("flash_bytes"),
        flash_runtime_bytes=dev_build.get("flash_runtime_bytes"),
        flash_model_bytes=dev_build.get("flash_model_bytes"),
        ram_bytes=dev_build.get("ram_bytes"),
        running_accuracy=float(np.mean([r["correct"] for r in rows])) if rows else None,
    )
    for key in (
        "instructions_per_inference",
        "instructions_per_synaptic_event",
        "end_to_end_instructions_per_inference",
        "end_to_end_instructions_per_synaptic_event",
    ):
        if key in s:
            result[key] = s[key]
    if error:
        result["error"] = error
    return result
