"""Shared by the benchmarks: pinned threads, a best-of-N timer, and building and running a
benchmark firmware on an emulated board."""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def best_of(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls, in seconds (the least disturbed run)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def process_env(threads: int, tmp: Path) -> dict:
    """The environment of a timed CLI process: pinned threads, and its modules' bytecode cached as
    an installed package runs (pip writes it at install; a machine that sets
    PYTHONDONTWRITEBYTECODE would otherwise compile edgesnn every run)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
    return env


def best_process_s(cmd: list[str], env: dict, repeats: int = 2) -> float:
    """Best wall time of ``repeats`` runs of the process ``cmd``, after one warm run (the kernel's
    cache, the OS page cache, bytecode)."""
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_flags(board, src: Path) -> list[str]:
    """The compile flags of a benchmark firmware for ``board`` (without the strict warnings):
    -O2, the board's own, the embedded ones, and the generated, app and HAL headers."""
    from edgesnn.firmware import build as B
    from edgesnn.firmware.paths import templates_dir

    t = templates_dir()
    return [
        "-O2",
        *board.toolchain.get("cflags", []),
        *B.EMBEDDED_FLAGS,
        f"-I{src}",
        f"-I{t / 'apps'}",
        f"-I{t / 'hal'}",
    ]


def build_bench_image(board, qnet, out: Path, headers: dict[str, str], sources, flags_for) -> tuple[Path, list[Path]]:
    """A benchmark firmware for an emulated ``board``: ``qnet``'s runtime and model sources and
    the board files in ``out/src``, ``headers`` (name: text) beside them, then every source of
    ``sources(src)`` compiled with ``flags_for(source)`` and linked with the board's script.
    Exits naming the compiler or emulator when either is missing. Returns (elf, objects)."""
    from edgesnn.firmware import build as B
    from edgesnn.firmware.hostbuild import write_model_sources

    cc = board.toolchain["cc"]
    for tool in (cc, board.qemu["binary"]):
        if shutil.which(tool) is None:
            sys.exit(f"error: {board.name} needs {tool}")
    src = out / "src"
    write_model_sources(qnet, src)
    for name, body in {**B.render_board_files(board, qnet, None), **headers}.items():
        (src / name).write_text(body)
    objs = []
    for s in sources(src):
        obj = out / "obj" / (s.stem + ".o")
        obj.parent.mkdir(parents=True, exist_ok=True)
        B.run_tool([cc, *flags_for(s), "-c", str(s), "-o", str(obj)], f"compiling {s.name}")
        objs.append(obj)
    elf = out / "bench.elf"
    link = [cc, *bench_flags(board, src), *map(str, objs), "-o", str(elf), *B.LINK_FLAGS, f"-T{src / 'link.ld'}"]
    B.run_tool([*link, "-lgcc"], "linking")
    return elf, objs


def run_bench_image(board, elf: Path, timeout: float = 600) -> tuple[list[list[str]], float, int | None, str]:
    """Run a benchmark firmware under QEMU -icount shift=7: its output lines split into words,
    the board's ticks per instruction, the timing overhead (its "T" line; None if missing) and
    the output itself (for an error message)."""
    from edgesnn.firmware.qemu import qemu_command

    run = subprocess.run(qemu_command(board, elf, icount=True), capture_output=True, timeout=timeout)
    text = run.stdout.decode(errors="replace")
    rows = [ln.split() for ln in text.splitlines()]
    overhead = next((int(p[1], 16) for p in rows if p and p[0] == "T"), None)
    return rows, float(board.timer["ticks_per_instruction_icount7"]), overhead, text
