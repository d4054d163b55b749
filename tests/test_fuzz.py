"""A short libFuzzer run of the C protocol decoder under ASan/UBSan (the long run: docs/protocol.md)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.toolchains import missing_tool

pytestmark = pytest.mark.device

ROOT = Path(__file__).resolve().parents[1]


def _runner():
    spec = importlib.util.spec_from_file_location("run_fuzz", ROOT / "tools" / "fuzz" / "run_fuzz.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["run_fuzz"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_c_decoder_survives_fuzzing(tmp_path):
    mod = _runner()
    if mod.find_clang() is None:
        missing_tool("fuzzing the C decoder", ["clang-14 with libFuzzer (libclang-rt-14-dev)"])
    out = mod.run(10, tmp_path)
    assert out["crashes"] == 0 and out["exit_code"] == 0, out
    assert out["inputs_tried"] and out["inputs_tried"] > 10_000
