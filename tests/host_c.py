"""The one host-C comparison the firmware tests share: build the golden host app for a model,
run it on spikes, and require every spike and state to equal the golden simulator."""

from __future__ import annotations

from edgesnn.firmware import golden, hostbuild
from edgesnn.firmware.boards import get_board
from edgesnn.firmware.build import build
from edgesnn.fixedpoint import simulate_int
from tests.toolchains import need_tools


def host_bit_exact(qnet, x, tmp, sanitize: bool, extra_cflags: tuple[str, ...] = ()):
    """(the golden ``SimResult``, the mismatch counts) after asserting 0 mismatches."""
    need_tools("cc", what="the host firmware build")
    flags = (*(hostbuild.SANITIZE_FLAGS if sanitize else ()), *extra_cflags)
    res = build(qnet, get_board("host"), tmp, app="golden_host", extra_cflags=tuple(flags))
    sim = simulate_int(qnet, x, record=True)
    counts = golden.count_mismatches(sim, hostbuild.run_host(qnet, res.elf, x))
    assert counts["values_compared"] > 0, counts
    assert counts["mismatched_values"] == 0 and counts["mismatched_samples"] == 0, counts
    return sim, counts
