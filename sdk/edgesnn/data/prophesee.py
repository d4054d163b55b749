"""Prophesee RAW (EVT 2.0 / 3.0) and DAT recordings, read by ``expelliarmus``.

Its reader is called only inside the reader process (:mod:`edgesnn.data.sandbox`): measured here,
it never returns on files whose header it cannot see the end of, and it prints its errors from
C. What can be checked first is checked here, in Python: a file that ends inside its ``%``
header, and one whose first event word begins with ``%`` (0x25), which expelliarmus reads as
header text (it then misreads the file, or never returns on a short one). RAW files have no
end-of-header mark expelliarmus honours, and its own writer makes such files when the first
event's time is 2368..2431 µs (modulo 16,384 µs) in EVT 2.0.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edgesnn.data.events import time_sorted
from edgesnn.data.npzfile import EVENT_DTYPE
from edgesnn.errors import DatasetError, first_line


def _header_lines(path: Path, limit: int = 1 << 16) -> list[str]:
    """The ``%`` lines at the start of a Prophesee file (text; at most ``limit`` bytes read).
    A file that ends inside its header is refused here: expelliarmus's reader never returns on
    one (measured)."""
    try:
        with open(path, "rb") as f:
            head = f.read(limit)
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror})") from None
    lines, at = [], 0
    while at < len(head) and head[at : at + 1] == b"%":
        end = head.find(b"\n", at)
        text = head[at + 1 : end if end >= 0 else len(head)]
        if any(b < 0x20 and b not in b"\t\r" or b > 0x7E for b in text):
            # event words whose first byte is 0x25 ('%'): RAW files have no end-of-header mark that
            # expelliarmus honours, so its reader takes them for header text and misreads the file
            raise DatasetError(
                f"{path}: its first event word starts with the byte '%' (0x25), which the RAW reader "
                "(expelliarmus) takes for header text; this file cannot be read without misreading it"
            )
        if end < 0:
            raise DatasetError(f"{path}: ends inside its '%' header (truncated?)")
        lines.append(text.decode("ascii", "replace").strip())
        at = end + 1
    if lines and at >= len(head) and len(head) < limit:
        raise DatasetError(f"{path}: a '%' header and no events after it (truncated?)")
    return lines


def _prophesee_sensor(lines: list[str]) -> tuple[int, int] | None:
    """The sensor (W, H) a Prophesee header names, if it does."""
    fields: dict[str, str] = {}
    for ln in lines:
        key, _, rest = ln.partition(" ")
        fields[key.lower()] = rest.strip()
        if key.lower() == "format":  # "% format EVT3;height=720;width=1280"
            kv = dict(part.split("=", 1) for part in rest.split(";") if "=" in part)
            if "width" in kv and "height" in kv:
                fields["width"], fields["height"] = kv["width"], kv["height"]
    if "x" in fields.get("geometry", ""):  # "% geometry 1280x720"
        fields["width"], fields["height"] = fields["geometry"].split("x", 1)
    try:
        return (int(fields["width"]), int(fields["height"])) if "width" in fields and "height" in fields else None
    except ValueError:
        return None


def _from_fields(t, x, y, p) -> np.ndarray:
    ev = np.empty(len(t), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, np.asarray(p) != 0
    return time_sorted(ev)


@contextmanager
def _c_stderr():
    """What C code writes to file descriptor 2 meanwhile, caught (a list filled on exit) instead
    of reaching the terminal beside our one-line error."""
    said = [""]
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            said[0] = tmp.read(4096).decode("utf-8", "replace")


def read_prophesee(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """A Prophesee ``.raw`` (EVT 2.0 / 3.0, by its header) or ``.dat`` file, with its sensor."""
    from expelliarmus import Wizard

    lines = _header_lines(path)
    if path.suffix.lower() == ".dat":
        encoding = "dat"
    else:
        spec = " ".join(ln.lower() for ln in lines if ln.lower().startswith(("evt", "format")))
        if "evt 3" in spec or "evt3" in spec:
            encoding = "evt3"
        elif "evt 2" in spec or "evt2" in spec:
            encoding = "evt2"
        else:
            raise DatasetError(
                f"{path}: no '% evt 2.0' or '% evt 3.0' line in its header: not a RAW file edgesnn reads"
            )
    what = f"{path}: not a readable Prophesee {encoding.upper()} file"
    try:
        with _c_stderr() as said:  # its C reader prints "ERROR: ..." and returns None
            arr = Wizard(encoding=encoding).read(str(path))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # the C reader's errors come as several types
        raise DatasetError(f"{what} ({first_line(e)})") from None
    if arr is None:
        cause = said[0].strip().splitlines()[0].removeprefix("ERROR: ").rstrip(".") if said[0].strip() else "no events"
        raise DatasetError(f"{what} ({cause})")
    return _from_fields(arr["t"], arr["x"], arr["y"], arr["p"]), _prophesee_sensor(lines)
