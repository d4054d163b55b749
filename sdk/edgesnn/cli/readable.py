"""Human output of a command's result: one ``key: value`` line per figure, nested results as
indented lines, figures rounded, fractions as percentages, no Python reprs. ``--json`` prints
the exact values; this is for reading."""

from __future__ import annotations

import math
import re
from typing import Any

#: Keys whose value is a fraction of 1, shown as a percentage.
PERCENT = re.compile(r"(accuracy|agreement|fraction|duty|sparsity)")


def number(v: float | int, percent: bool = False) -> str:
    """A figure rounded for reading: 4 significant digits, thousands grouped, no float noise."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if not math.isfinite(v):
        return "-" if math.isnan(v) else ("∞" if v > 0 else "-∞")
    if percent:
        return f"{v:.2%}"
    if v == 0:
        return "0"
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    if abs(v) >= 0.001:
        return f"{v:.4g}"
    return f"{v:.3g}"


def size(n: int) -> str:
    """Bytes as a board's data sheet writes them: KB below a megabyte, then MB, GB (binary)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale and (n % scale == 0 or unit == "KB"):
            return f"{n / scale:.4g} {unit}"
    return f"{n} B"


def table(headers: list[str], rows: list[list[str]], console: Any) -> None:
    """A rich table where it fits the console's width; else one block of lines per row (the
    first cell, then ``header: cell``), so that no cell is ever cut or wrapped mid-word."""
    from rich.table import Column, Table

    t = Table(*(Column(h, no_wrap=True) for h in headers))
    for r in rows:
        t.add_row(*r)
    natural = 1 + sum(3 + max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers))
    if natural <= console.width:  # each column: a space either side and a rule
        console.print(t)
        return
    for r in rows:
        console.print(r[0], highlight=False)
        for h, c in zip(headers[1:], r[1:]):
            console.print(f"  {h}: {c}", highlight=False)


def value(key: str, v: Any) -> str:
    """One scalar (or a list of scalars) as text."""
    if v is None:
        return "-"
    if isinstance(v, (bool, int, float)):
        return number(v, bool(PERCENT.search(key)) and isinstance(v, float))
    if isinstance(v, (list, tuple)):
        if v and ("shape" in key or key.endswith("size")):  # (2, 32, 32) as 2 × 32 × 32
            return " × ".join(value(key, x) for x in v)
        return ", ".join(value(key, x) for x in v) if v else "none"
    return str(v)


def _scalar(v: Any) -> bool:
    if isinstance(v, dict):
        return False
    if isinstance(v, (list, tuple)):
        return all(_scalar(x) and not isinstance(x, (list, tuple)) for x in v)
    return True


def lines(result: dict[str, Any], indent: int = 0) -> list[str]:
    """The result as indented lines (values already plain: no numpy, no paths)."""
    pad = "  " * indent
    out: list[str] = []
    for k, v in result.items():
        label = str(k).replace("_", " ")
        if _scalar(v):
            out.append(f"{pad}{label}: {value(str(k), v)}")
        elif isinstance(v, dict):
            out.append(f"{pad}{label}:" + ("" if v else " none"))
            out.extend(lines(v, indent + 1))
        else:  # a list of dicts or of lists: one block per item
            out.append(f"{pad}{label}:")
            for item in v:
                sub = lines(item, indent + 2) if isinstance(item, dict) else [f"{pad}    {value(str(k), item)}"]
                if sub:
                    sub[0] = f"{pad}  - " + sub[0].lstrip()
                out.extend(sub)
    return out
