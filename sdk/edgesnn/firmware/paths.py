"""Where the hand-written C runtime, templates and board files live (repo checkout or install)."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The folder holding firmware_templates/ and boards/: ``EDGESNN_ROOT`` if set, else the
    installed package (a wheel ships them as edgesnn/boards and edgesnn/firmware_templates),
    else the repository checkout this module lives in."""
    env = os.environ.get("EDGESNN_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    package = here.parents[1]  # .../edgesnn
    if (package / "firmware_templates" / "runtime").is_dir() and (package / "boards").is_dir():
        return package
    for parent in here.parents:
        if (parent / "firmware_templates").is_dir() and (parent / "boards").is_dir():
            return parent
    raise FileNotFoundError("cannot find firmware_templates/ and boards/; set EDGESNN_ROOT to the edgesnn checkout")


def templates_dir() -> Path:
    return project_root() / "firmware_templates"


def boards_dir() -> Path:
    return project_root() / "boards"
