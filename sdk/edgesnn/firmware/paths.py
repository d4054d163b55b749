"""Where the hand-written C runtime, templates and board files live (repo checkout or install)."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The folder holding firmware_templates/ and boards/ (override with EDGESNN_ROOT)."""
    env = os.environ.get("EDGESNN_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "firmware_templates").is_dir() and (parent / "boards").is_dir():
            return parent
    raise FileNotFoundError("cannot find firmware_templates/ and boards/; set EDGESNN_ROOT to the edgesnn checkout")


def templates_dir() -> Path:
    return project_root() / "firmware_templates"


def boards_dir() -> Path:
    return project_root() / "boards"
