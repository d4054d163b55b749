"""Every example runs with its default settings and prints what it promises (each < 2 minutes)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.toolchains import import_or_skip, need_lava, need_modules, need_tools

pytestmark = pytest.mark.device
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CASES = {  # script: (tools it needs, a line it must print)
    "quickstart.py": (("cc", "arm-none-eabi-gcc", "qemu-system-arm"), "mismatches with the simulator 0"),
    "snntorch_nir.py": (("cc",), "spike agreement with snnTorch 100.0000%"),
    "snntorch_conv_nir.py": (("cc",), "imported as conv (conv+dense): spike agreement with snnTorch 100.0000%"),
    "tflite_convert.py": (("cc",), "SNN, 100 timesteps:"),
    "own_data.py": (("cc",), "mismatches 0"),
    "native_recordings.py": (
        ("cc", "arm-none-eabi-gcc", "qemu-system-arm"),
        "the four formats import to identical events and labels: True",
    ),
    "on_device_learning.py": (("cc",), "mismatches with the host 0"),
    "custom_board/run.py": (
        ("arm-none-eabi-gcc", "qemu-system-arm"),
        "verified on my-m3 (QEMU): 40 samples, mismatches 0",
    ),
    "embed_c/run.py": (("cc",), "predictions equal to the simulator: True"),
    "neuromorphic_kits.py": ((), "loihi2: 100 samples, 236800 spikes compared with Lava: mismatches 0"),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs(script, tmp_path):
    tools, expect = CASES[script]
    need_tools(*tools, what=f"examples/{script}")
    if script in ("snntorch_nir.py", "snntorch_conv_nir.py", "tflite_convert.py"):
        import_or_skip("ai_edge_litert" if script == "tflite_convert.py" else "snntorch", what=f"examples/{script}")
    if script == "neuromorphic_kits.py":
        need_modules("rockpool", "xylosim", what=f"examples/{script}")
        need_lava(what=f"examples/{script}")
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    seconds = time.monotonic() - t0
    print(f"--- examples/{script} ({seconds:.1f} s)\n{p.stdout}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert expect in p.stdout
    if script == "native_recordings.py":
        assert "host firmware mismatches 0" in p.stdout and "SHD layout on qemu-mps2-an385:" in p.stdout
        assert p.stdout.rstrip().endswith("mismatches 0")
    if script == "neuromorphic_kits.py":
        assert "xylo-imu: 100 samples, 236800 spikes compared with XyloSim: mismatches 0" in p.stdout


def test_users_firmware_test_with_the_pytest_fixture(tmp_path):
    need_tools("cc", what="examples/test_my_firmware.py")
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES / "test_my_firmware.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "1 passed" in p.stdout
