"""Tests that need a tool (compiler, QEMU, clang/libFuzzer, PlatformIO, a package) ask for it here.

Without the tool such a test is skipped, so a user's checkout still runs the rest. With
``EDGESNN_REQUIRE_TOOLCHAINS=1`` (set by ``.ci/run``) it *fails*, naming what is missing, so CI
can never pass having checked none of the device claims. Every test that asks is counted as a
device test in the suite's summary (``conftest.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

REQUIRE = os.environ.get("EDGESNN_REQUIRE_TOOLCHAINS") == "1"
CURRENT: dict = {}  # the running test's node, set by conftest's autouse fixture


def _mark_device() -> None:
    node = CURRENT.get("node")
    if node is not None and node.get_closest_marker("device") is None:
        node.add_marker("device")


def missing_tool(what: str, missing: list[str]) -> None:
    """Skip, or fail under EDGESNN_REQUIRE_TOOLCHAINS=1, naming what is missing."""
    _mark_device()
    msg = f"{what} needs {', '.join(missing)}"
    if REQUIRE:
        pytest.fail(f"{msg}, which is missing (EDGESNN_REQUIRE_TOOLCHAINS=1)", pytrace=False)
    pytest.skip(msg, allow_module_level=True)


def need_tools(*tools: str, what: str = "this test") -> None:
    """Programs on PATH (cc, arm-none-eabi-gcc, qemu-system-arm, pio, ...)."""
    _mark_device()
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        missing_tool(what, missing)


def need_modules(*modules: str, what: str = "this test") -> None:
    """Importable Python packages (vendor simulators, torch-side exporters, ...)."""
    _mark_device()
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        missing_tool(what, [f"the Python package {m}" for m in missing])


def import_or_skip(module: str, what: str = "this test"):
    """``pytest.importorskip`` that fails under EDGESNN_REQUIRE_TOOLCHAINS=1."""
    need_modules(module, what=what)
    return importlib.import_module(module)


def need_board_tools(board, what: str | None = None) -> None:
    """The compiler and, for emulated boards, the emulator a board builds and runs with."""
    tools = [board.toolchain["cc"]] + ([board.qemu["binary"]] if board.kind == "qemu" else [])
    need_tools(*tools, what=what or board.name)


def need_lava(what: str = "the Lava check") -> None:
    """Lava in its own Python 3.10 environment (tools/install_kits.sh), as edgesnn.kits finds it."""
    _mark_device()
    from edgesnn.errors import BoardError
    from edgesnn.kits import loihi2

    try:
        loihi2.lava_version(loihi2.lava_python())
    except BoardError as e:
        missing_tool(what, [str(e)])
