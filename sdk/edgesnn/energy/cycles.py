"""Cycles from executed instructions: a per-instruction-class cycle table for each core, applied
to the instruction mix of one traced inference (QEMU ``-d in_asm,exec,nochain``).

QEMU counts instructions exactly but models no timing. The tables take each class's cycle count
from the core's Technical Reference Manual, with these simplifications (stated in the report):
no wait states (flash at full speed), no credit for pipelined neighbouring loads/stores, taken
branches at 1 + P with P = 2 (the TRMs give 1-3), conditional branches at 2 (the mean of taken
and not taken), divisions at 7 (2-12). The mix of the traced inference gives cycles per
instruction, which scales the exact instruction counts of every measured inference.

- Cortex-M3: Cortex-M3 TRM r2p1, Table 18-1 (processor instruction timings): ALU 1; MUL 1, MLA 2;
  SMULL/UMULL 3-5 (4 here), SMLAL/UMLAL 4-7 (5 here); LDR/STR 2; LDM/STM/PUSH/POP 1 + N;
  SDIV/UDIV 2-12.
- Cortex-M4: Cortex-M4 TRM r0p1, Table 3-1: as the M3, but every multiply and multiply-
  accumulate, long ones and the DSP extension (SMLAD, SMMLAR, SXTAB16, ...) included, takes 1.
- Cortex-M0: Cortex-M0 TRM r0p0, Table 3-1 (with the single-cycle multiplier): ALU and MUL 1;
  LDR/STR 2; LDM/STM/PUSH/POP 1 + N; B 3, BL 4, BX/BLX 3, conditional B 3 taken / 1 not.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from edgesnn.errors import EmulatorError
from edgesnn.firmware.boards import Board
from edgesnn.firmware.qemu import qemu_command

_COND = "eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le"
_LONG_MUL = {"smull", "umull", "smlal", "umlal"}
_MUL = {"mul", "muls", "mla", "mls"}


def _registers(operands: str) -> int:
    """Registers in a {list}: r4-r7 counts 4."""
    m = re.search(r"\{([^}]*)\}", operands)
    if not m:
        return 1
    n = 0
    for part in m.group(1).split(","):
        part = part.strip()
        if "-" in part:
            a, b = (int(re.sub(r"\D", "", x) or 0) for x in part.split("-"))
            n += b - a + 1
        elif part:
            n += 1
    return n


def instruction_cycles(cpu: str, mnemonic: str, operands: str) -> int:
    """Cycles of one instruction on ``cpu`` (cortex-m0, cortex-m0plus, cortex-m3, cortex-m4)."""
    m = mnemonic.lower().split(".")[0]
    if m in ("b", "bl", "blx", "bx", "cbz", "cbnz") or re.fullmatch(f"b({_COND})", m):
        if cpu.startswith("cortex-m0"):
            return {"bl": 4}.get(m, 3 if m in ("b", "bx", "blx") else 2)
        return 2 if (re.fullmatch(f"b({_COND})", m) or m in ("cbz", "cbnz")) else 3
    if m in ("push", "pop") or m.startswith(("ldm", "stm")):
        return 1 + _registers(operands) + (2 if m == "pop" and "pc" in operands else 0)
    if m in ("ldrd", "strd"):
        return 3
    if m.startswith(("ldr", "str")):
        return 2 + (2 if m.startswith("ldr") and operands.split(",")[0].strip() == "pc" else 0)
    if m in ("sdiv", "udiv"):
        return 7
    if m in _LONG_MUL or m.rstrip("s") in _LONG_MUL:
        if cpu == "cortex-m3":
            return 5 if m.startswith(("smlal", "umlal")) else 4
        return 1
    if m in _MUL and cpu == "cortex-m3" and m.startswith(("mla", "mls")):
        return 2
    return 1


_IN_LINE = re.compile(r"^0x([0-9a-f]+):\s+(?:[0-9a-f]{4,8}\s+)+(\S+)\s*(.*)$")
_TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def parse_trace(log: str) -> tuple[dict[int, list[tuple[int, str, str]]], Counter]:
    """(translation blocks by start address: [(pc, mnemonic, operands)], executions per start)."""
    blocks: dict[int, list[tuple[int, str, str]]] = {}
    counts: Counter = Counter()
    current: list[tuple[int, str, str]] | None = None
    for line in log.splitlines():
        if line.startswith("IN:"):
            current = []
            continue
        m = _IN_LINE.match(line.strip())
        if m and current is not None:
            pc = int(m.group(1), 16)
            if not current:
                blocks[pc] = current
            current.append((pc, m.group(2), m.group(3)))
            continue
        if not line.strip():
            current = None
        t = _TRACE.match(line)
        if t:
            counts[int(t.group(1), 16)] += 1
    return blocks, counts


def function_ranges(nm_output: str, pattern: str) -> list[tuple[int, int]]:
    """[start, end) of the functions whose names match ``pattern`` (``nm -S`` output)."""
    out = []
    for line in nm_output.splitlines():
        p = line.split()
        if len(p) == 4 and p[2].lower() == "t" and re.fullmatch(pattern, p[3]):
            start = int(p[0], 16) & ~1
            out.append((start, start + int(p[1], 16)))
    return out


def traced_mix(board: Board, elf: Path, functions: str, timeout: float = 300) -> dict:
    """Run ``elf`` once under QEMU with translation-block tracing and return the instruction
    mix and cycles of the code inside ``functions`` (a regex over symbol names)."""
    from edgesnn.firmware.build import run_tool, tool_path

    ranges = function_ranges(run_tool([tool_path(board, "nm"), "-S", str(elf)], "nm"), functions)
    if not ranges:
        raise EmulatorError(f"no function matching {functions!r} in {elf.name}")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace.log"
        cmd = [*qemu_command(board, elf, serial="null"), "-d", "in_asm,exec,nochain", "-D", str(log)]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EmulatorError(f"{board.name}: the traced run did not finish within {timeout:.0f} s") from None
        blocks, counts = parse_trace(log.read_text(errors="replace"))
    cpu = board.cpu
    instructions = cycles = 0
    classes: Counter = Counter()
    for start, n in counts.items():
        for pc, mnem, ops in blocks.get(start, []):
            if not any(a <= pc < b for a, b in ranges):
                continue
            c = instruction_cycles(cpu, mnem, ops)
            instructions += n
            cycles += n * c
            classes[mnem.lower().split(".")[0]] += n
    if instructions == 0:
        raise EmulatorError(f"{board.name}: the trace holds no instruction of {functions!r}")
    return {
        "instructions": instructions,
        "cycles": cycles,
        "cycles_per_instruction": cycles / instructions,
        "top_mnemonics": dict(classes.most_common(8)),
    }
