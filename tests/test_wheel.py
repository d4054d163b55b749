"""The built wheel carries boards/ and firmware_templates/: installed into a fresh virtual
environment (not editable, no checkout on the path), it lists boards, builds and verifies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from edgesnn.fixedpoint import quantize
from edgesnn.formats import save_model
from edgesnn.ir import LIF, Dense, Network
from tests.toolchains import need_tools

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_in_a_fresh_venv_builds_and_verifies_firmware(tmp_path):
    need_tools("cc", what="building firmware from the installed wheel")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", str(dist)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wheel = next(dist.glob("edgesnn-*.whl"))
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())  # the dashboard's page works offline: its files ship
    for f in ("index.html", "dashboard.js", "dashboard.css"):
        assert f"edgesnn/web/static/{f}" in names, f
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    work = tmp_path / "work"
    work.mkdir()
    rng = np.random.default_rng(0)
    net = Network(
        n_inputs=64,
        layers=(
            Dense(rng.normal(0, 0.3, (16, 64)), np.zeros(16), LIF(np.full(16, 0.9), np.ones(16))),
            Dense(rng.normal(0, 0.3, (10, 16)), np.zeros(10), LIF(np.full(10, 0.9), np.ones(10))),
        ),
        input_spec={"dataset": "digits", "encoding": "rate", "timesteps": 10, "seed": 0},
    )
    save_model(quantize(net), work / "q.qsnn")
    env = {k: v for k, v in os.environ.items() if k not in ("EDGESNN_ROOT", "PYTHONPATH")}
    exe = str(venv / "bin" / "edgesnn")

    def run(*args):
        p = subprocess.run([exe, *args, "--json"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import edgesnn.firmware.paths as p; print(p.project_root())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed package's own copy, not the checkout
    assert {"host", "qemu-mps2-an385"} <= {b["name"] for b in run("boards")["boards"]}
    assert run("build", "q.qsnn", "--board", "host", "--out", "b")["flash_runtime_bytes"] > 0
    v = run("verify", "q.qsnn", "--board", "host", "--limit", "40")
    assert v["mismatches"] == 0 and v["values_compared"] > 0
    assert run("version")["version"] == __import__("edgesnn").__version__
