"""Host-side simulation of the quantized firmware in your own tests.

Build the C that edgesnn generates for a model, run it on the host (or an emulated board) on
your inputs, and hold it to the golden simulator, spike for spike and state for state::

    from edgesnn.testing import assert_firmware_matches

    def test_my_model_on_the_firmware():
        qnet = edgesnn.api.load("model.qsnn")
        x = np.random.default_rng(0).random((20, 25, qnet.n_inputs)) < 0.2
        assert_firmware_matches(qnet, x)            # raises FirmwareMismatch naming the first difference

With pytest the ``edgesnn_firmware`` fixture (registered by this module as a pytest plugin)
does the same with a build folder per test: ``edgesnn_firmware.check(qnet, x)``.

A failure reads, e.g.::

    firmware differs from the golden simulator at sample 3, timestep 7, layer 0, neuron 12:
    membrane v: simulator 10422, firmware 10421 (4 of 12000 values differ in 2 of 20 samples)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.firmware.golden import FirmwareRun
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.fixedpoint.simulate import SimResult

QUANTITIES = {"v": "membrane v", "i": "synaptic current i", "spikes": "spike"}


class FirmwareMismatch(AssertionError):
    """The firmware computed something other than the golden simulator."""


def first_difference(sim: SimResult, run: FirmwareRun) -> dict[str, Any] | None:
    """The first (sample, timestep, layer, neuron, quantity) at which two records differ, in
    the order the firmware computes them, with both values; None if they are equal."""
    best: dict[str, Any] | None = None
    for layer, (a, b) in enumerate(zip(sim.recorded(), run.record)):
        for key in ("v", "i", "spikes"):
            if key not in a:
                continue
            diff = np.argwhere(np.asarray(a[key]) != np.asarray(b[key]))
            if len(diff):
                s, t, n = (int(v) for v in diff[0])
                cand = {
                    "sample": s,
                    "timestep": t,
                    "layer": layer,
                    "neuron": n,
                    "quantity": QUANTITIES[key],
                    "simulator": int(a[key][s, t, n]),
                    "firmware": int(b[key][s, t, n]),
                }
                if best is None or (s, t, layer) < (best["sample"], best["timestep"], best["layer"]):
                    best = cand
    if best is None:
        for what, x, y in (("prediction", sim.prediction, run.prediction), ("synaptic events", sim.synops, run.synops)):
            bad = np.flatnonzero(np.asarray(x) != np.asarray(y))
            if len(bad):
                s = int(bad[0])
                return {"sample": s, "quantity": what, "simulator": int(x[s]), "firmware": int(y[s])}
    return best


def _describe(d: dict[str, Any]) -> str:
    where = f"sample {d['sample']}"
    if "timestep" in d:
        where += f", timestep {d['timestep']}, layer {d['layer']}, neuron {d['neuron']}"
    return f"{where}: {d['quantity']}: simulator {d['simulator']}, firmware {d['firmware']}"


def assert_firmware_matches(
    qnet: QuantNetwork,
    inputs: np.ndarray,
    *,
    board: str = "host",
    build_dir: str | Path | None = None,
    sanitize: bool = True,
) -> dict[str, Any]:
    """Build the generated firmware for ``board``, run ``inputs`` (samples, timesteps, n_inputs)
    of 0/1 through it and compare with the golden simulator; raise :class:`FirmwareMismatch`
    naming the first difference. On the host every state is compared (under ASan/UBSan when
    ``sanitize``); on emulated boards a CRC-32 of every state per sample, prediction and
    synaptic events. Returns the counts compared."""
    from edgesnn.firmware import golden, hostbuild
    from edgesnn.firmware.boards import get_board
    from edgesnn.firmware.build import build
    from edgesnn.firmware.verify import verify
    from edgesnn.fixedpoint import simulate_int
    from edgesnn.fixedpoint.simulate import check_inputs

    x = check_inputs(inputs, qnet.n_inputs)
    b = get_board(board)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(build_dir) if build_dir is not None else Path(tmp)
        if b.family == "host":
            res = build(
                qnet, b, out, app="golden_host", extra_cflags=tuple(hostbuild.SANITIZE_FLAGS) if sanitize else ()
            )
            sim = simulate_int(qnet, x, record=True)
            run = hostbuild.run_host(qnet, res.elf, x)
            counts = golden.count_mismatches(sim, run)
            d = first_difference(sim, run)
            if d is not None:
                raise FirmwareMismatch(
                    f"firmware differs from the golden simulator at {_describe(d)} ({counts['mismatched_values']} of "
                    f"{counts['values_compared']} values differ in {counts['mismatched_samples']} of "
                    f"{counts['samples']} samples)"
                )
            if counts["mismatched_samples"]:  # same states: the prediction, synaptic events or updates differ
                raise FirmwareMismatch(
                    f"firmware agrees with the golden simulator on every state but not on the prediction, synaptic "
                    f"events or neuron updates performed, in {counts['mismatched_samples']} of {counts['samples']} samples"
                )
            return counts
        v = verify(qnet, b, x, out)
        if v["mismatches"]:
            raise FirmwareMismatch(
                f"{board}: {v['mismatches']} of {v['samples']} samples differ from the golden "
                "simulator (state CRC, prediction, synaptic events or neuron updates); run the same inputs on "
                "board 'host' to see the first differing timestep, layer and neuron"
            )
        return v


class FirmwareChecker:
    """What the ``edgesnn_firmware`` fixture gives a test: ``check(qnet, inputs, board=...)``."""

    def __init__(self, base: Path):
        self.base, self.runs = base, 0

    def check(self, qnet: QuantNetwork, inputs: np.ndarray, *, board: str = "host", sanitize: bool = True) -> dict:
        self.runs += 1
        return assert_firmware_matches(
            qnet, inputs, board=board, build_dir=self.base / f"fw{self.runs}", sanitize=sanitize
        )


try:  # a pytest plugin (entry point ``pytest11``) when pytest is there; plain helpers otherwise
    import pytest

    @pytest.fixture
    def edgesnn_firmware(tmp_path: Path) -> FirmwareChecker:
        """Builds and runs the generated firmware for a model and compares it with the simulator."""
        return FirmwareChecker(tmp_path)
except ImportError:  # pragma: no cover
    pass
