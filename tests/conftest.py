"""Pin thread counts before numpy/torch load: results and timings must not depend on the machine.
Count the device tests (those that asked ``tests.toolchains`` for a tool) in the summary."""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import pytest  # noqa: E402

from tests import toolchains  # noqa: E402

_DEVICE: dict[str, str] = {}


@pytest.fixture(scope="module")
def host_device(qnet, tmp_path_factory):
    """The requesting module's ``qnet`` deployed on the host board (a process on a pty)."""
    from edgesnn.device.deploy import deploy
    from edgesnn.firmware.boards import get_board

    toolchains.need_tools("cc", what="the host board")
    with deploy(qnet, get_board("host"), tmp_path_factory.mktemp("host")) as d:
        yield d


def pytest_configure(config):
    config.addinivalue_line("markers", "device: builds or runs firmware, or needs an external tool")


def pytest_runtest_setup(item):
    toolchains.CURRENT["node"] = item  # before any fixture, so fixtures that ask are attributed


_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def pytest_runtest_logreport(report):
    if "device" not in report.keywords or (report.when != "call" and report.outcome == "passed"):
        return
    prev = _DEVICE.get(report.nodeid)
    if prev is None or _RANK[report.outcome] > _RANK[prev]:
        _DEVICE[report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter):
    outcomes = list(_DEVICE.values())
    ran = sum(o != "skipped" for o in outcomes)
    terminalreporter.write_line(
        f"device tests (compilers, emulators, fuzzers, vendor tools): {ran} ran, "
        f"{outcomes.count('passed')} passed, {outcomes.count('failed')} failed, {outcomes.count('skipped')} skipped"
        f"{' [EDGESNN_REQUIRE_TOOLCHAINS=1]' if toolchains.REQUIRE else ''}"
    )
