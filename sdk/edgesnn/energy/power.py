"""Average power of firmware that wakes on a timer tick, works, and sleeps (docs/energy.md,
"Energy per hour").

Over one second of stream: the core runs ``active_cycles`` at the board's clock (run current
per MHz from the board file), wakes ``wakeups`` times (each charged ``wake_us`` at the run
current) and sleeps for the rest (``sleep_ua``). Under QEMU only executed instructions are
counted; the sleep time is what is left of the second, so the counts and this model together
give the energy of an always-on deployment::

    P_run   = ua_per_mhz * f_MHz * volts                          (uW)
    active  = active_cycles / f                                  (s per s)
    P       = active * P_run + (1 - active) * sleep_ua * volts + wakeups * wake_us * 1e-6 * P_run
    E_hour  = P * 3600 / 1000                                    (mJ)
"""

from __future__ import annotations

from typing import Any

from edgesnn.errors import EmulatorError
from edgesnn.firmware.boards import Board, get_board

#: Cycles to take one sensor event from its FIFO and bin it into the current timestep (decode
#: x, y, polarity, form the channel, set its bit or add to its count): the same estimate for the
#: SNN and both ANNs, so input handling weighs the same on every side (an estimate, not measured).
BIN_CYCLES_PER_EVENT = 8.0


def energy_figures(board: Board) -> dict[str, Any]:
    """The board file's [energy] table, checked to hold what the stream model needs."""
    e = board.get("energy")
    if not e:
        raise EmulatorError(f"board {board.name} has no [energy] figures in its board file")
    missing = [k for k in ("ua_per_mhz", "volts", "sleep_ua", "wake_us") if k not in e]
    if missing:
        raise EmulatorError(f"board {board.name}'s [energy] table lacks {', '.join(missing)} (docs/energy.md)")
    return e


def counting_board(board: Board) -> Board:
    """The emulated board that counts this board's instructions: itself when emulated, else the
    one its [energy] table names (``emulated_by``)."""
    if board.kind == "qemu":
        return board
    e = board.get("energy") or {}
    if "emulated_by" not in e:
        raise EmulatorError(f"board {board.name} is not emulated and its [energy] table names no emulated_by board")
    return get_board(e["emulated_by"])


def average_power(board: Board, active_cycles_per_s: float, wakeups_per_s: float) -> dict[str, Any]:
    """Average power, energy per hour and active fraction (module docstring)."""
    e = energy_figures(board)
    f = float(board.clock_hz)
    p_run = e["ua_per_mhz"] * f / 1e6 * e["volts"]  # uW while running
    active = active_cycles_per_s / f
    if active > 1.0:
        raise EmulatorError(
            f"{board.name}: the work needs {active:.2f} s per second of stream at {f / 1e6:g} MHz: it cannot keep up"
        )
    p_sleep = e["sleep_ua"] * e["volts"]
    p_wake = wakeups_per_s * e["wake_us"] * 1e-6 * p_run
    p = active * p_run + (1.0 - active) * p_sleep + p_wake
    return {
        "average_power_uw": round(p, 3),
        "energy_mj_per_hour": round(p * 3.6, 3),
        "active_fraction": round(active, 6),
        "run_power_uw": round(p_run, 1),
        "sleep_power_uw": round(p_sleep, 3),
        "wake_power_uw": round(p_wake, 3),
    }
