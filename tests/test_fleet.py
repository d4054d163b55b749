"""Fleets and the dashboard with devices, tested as a person would: several host devices in one
process, the page in headless Chromium showing what /api/devices reports, a device killed
mid-stream shown as gone, a browser that reconnects, class names that hold HTML."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesnn.api as es
from edgesnn.cli.app import app
from edgesnn.data.datasets import digits_splits
from edgesnn.formats import save_model
from tests.test_firmware_boards import digits_like_model
from tests.toolchains import import_or_skip, need_tools

pytestmark = pytest.mark.device
runner = CliRunner()
XSS = "<script>window.pwned=1</script>"
IMG = '<img src=x onerror="window.pwned=2">'
SHOTS = Path(os.environ.get("EDGESNN_SCREENSHOTS", "build/screenshots"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    need_tools("cc", what="the host board")
    d = tmp_path_factory.mktemp("fleet")
    save_model(digits_like_model(seed=3, hidden=40, cuba=True), d / "m.qsnn")
    tr, te = digits_splits()  # the digits as a data file of the user's, its class names hostile
    names = [XSS, IMG] + [f"digit {c}" for c in range(2, 10)]
    np.savez(d / "named.npz", x_train=tr.x, y_train=tr.y, x_test=te.x, y_test=te.y, class_names=np.array(names))
    return d


def test_fleet_json_lines_are_tagged_and_summed(model, tmp_path):
    r = runner.invoke(
        app, ["stream", str(model / "m.qsnn"), "--board", "host", "--devices", "3", "--limit", "12",
              "--out", str(tmp_path), "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    rows = [x for x in lines if "sample" in x]
    assert sorted({x["device"] for x in rows}) == ["host-0", "host-1", "host-2"]
    for dev in ("host-0", "host-1", "host-2"):
        assert [x["sample"] for x in rows if x["device"] == dev] == list(range(12))
        (ident,) = [x["identity"] for x in lines if "identity" in x and x["device"] == dev]
        assert ident["model_hash"] == f"{es.load(model / 'm.qsnn').hash32:08x}" and ident["total"] == 12
    s = lines[-1]
    assert s["devices"] == 3 and s["samples"] == 36 and s["mismatches"] == 0 and s["complete"] and not s["errors"]
    assert [d["samples"] for d in s["per_device"]] == [12, 12, 12]
    assert all(x["match"] for x in rows) and s["accuracy"] == np.mean([x["correct"] for x in rows])


def test_deploy_devices_serves_them_and_stream_takes_their_ports(model, tmp_path):
    p = subprocess.Popen(
        [sys.executable, "-m", "edgesnn", "deploy", str(model / "m.qsnn"), "--board", "host", "--devices", "2",
         "--out", str(tmp_path), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        info = json.loads(p.stdout.readline())
        ports = [d["port"] for d in info["devices"]]
        assert len(set(ports)) == 2
        r = runner.invoke(app, ["stream", str(model / "m.qsnn"), "--port", ports[0], "--port", ports[1],
                                "--limit", "5", "--json"])  # fmt: skip
        assert r.exit_code == 0, r.output
        s = json.loads(r.stdout.splitlines()[-1])
        assert [d["device"] for d in s["per_device"]] == ports and s["samples"] == 10 and s["mismatches"] == 0
        r = runner.invoke(app, ["dashboard", str(model / "m.qsnn"), "--port", ports[0], "--port", ports[1],
                                "--limit", "4", "--dashboard-port", "0", "--linger", "0", "--json"])  # fmt: skip
        assert r.exit_code == 0, r.output
        s = json.loads(r.stdout.splitlines()[-1])
        assert s["devices"] == 2 and s["samples"] == 8 and s["mismatches"] == 0 and s["complete"]
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0


@pytest.mark.parametrize(
    "args, says",
    [
        (["--dashboard", "--dashboard-host", "0.0.0.0"], "--token"),
        (["--token", "abcdefgh12"], "--dashboard"),
        (["--devices", "2", "--port", "/dev/null"], "--devices"),
        (["--live", "dv://127.0.0.1:1", "--devices", "2"], "--live"),
        (["--devices", "2", "--dataset", "missing.npz"], "missing.npz"),
        (["--devices", "2", "--realtime"], "--realtime"),
    ],
)
def test_refusals_come_in_one_line_before_any_build(model, tmp_path, args, says):
    r = runner.invoke(app, ["stream", str(model / "m.qsnn"), "--board", "host", "--out", str(tmp_path / "b"), *args])
    assert r.exit_code != 0 and says in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "b").exists()


def browser():
    need_tools("chromium", "chromedriver", what="the dashboard's browser test")
    webdriver = import_or_skip("selenium.webdriver", "the dashboard's browser test")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,1000"):
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def field(drv, device, name):
    from selenium.webdriver.common.by import By

    return drv.find_element(By.CSS_SELECTOR, f'section[data-device="{device}"] [data-field="{name}"]').text


def wait_for(check, seconds=60, what="the page"):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if check():
                return
        except Exception:  # the element is not drawn yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not show it within {seconds} s")


def test_the_page_shows_what_api_devices_reports_and_no_html_from_names(model, tmp_path):
    cmd = [sys.executable, "-m", "edgesnn", "stream", str(model / "m.qsnn"), "--board", "host", "--devices", "2",
           "--dataset", str(model / "named.npz"), "--limit", "150", "--out", str(tmp_path), "--dashboard",
           "--dashboard-port", "0", "--linger", "120", "--json"]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    drv = None
    try:
        url = re.search(r"dashboard: (http://\S+)", p.stderr.readline()).group(1)
        drv = browser()
        drv.get(url)
        # JSON lines until the summary: then every device is done and the figures are final
        summary = next(json.loads(x) for x in p.stdout if '"fleet": true' in x)
        api = json.loads(urllib.request.urlopen(url + "api/devices", timeout=10).read())["devices"]
        assert [d["samples"] for d in api] == [150, 150] and summary["samples"] == 300
        for d in api:
            wait_for(lambda: field(drv, d["device"], "samples") == f"{d['samples']} of 150", what=d["device"])
            assert field(drv, d["device"], "accuracy") == f"{d['accuracy'] * 100:.1f} %"
            assert field(drv, d["device"], "mismatches") == str(d["mismatches"]) == "0"
            assert field(drv, d["device"], "status") == "done"
            assert d["model_hash"] in field(drv, d["device"], "identity")
        legend = drv.find_element("css selector", "section .legend").text
        assert XSS in legend and IMG in legend  # shown as the text it is
        assert drv.execute_script("return window.pwned === undefined && document.scripts.length === 1")
        assert drv.find_elements("css selector", "section img") == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(SHOTS / "dashboard.png"))
        assert (SHOTS / "dashboard.png").stat().st_size > 10_000
    finally:
        if drv is not None:
            drv.quit()
        p.send_signal(signal.SIGTERM)
        p.wait(20)


def test_a_device_killed_mid_stream_is_shown_gone_and_a_reconnecting_page_resumes(model, tmp_path):
    from edgesnn.web import Dashboard, FleetState

    members = es.deploy_fleet(model / "m.qsnn", "host", devices=2, out=tmp_path)
    state = FleetState("kill test")
    dash = Dashboard(state, port=0).start()
    drv = browser()
    killed = threading.Event()

    def on_row(name, row):
        state.row(name, row)
        if name == "host-1" and row["sample"] == 30 and not killed.is_set():
            os.kill(members[1].pid, signal.SIGKILL)
            killed.set()
        if name == "host-0":
            time.sleep(0.01)  # the other device keeps streaming while the page looks

    try:
        drv.get(dash.url)
        s = es.stream_fleet(
            model / "m.qsnn", members=members, timeout=0.5, on_start=state.start, on_row=on_row, on_end=state.end
        )
        gone, ok = s["per_device"][1], s["per_device"][0]
        assert killed.is_set() and gone["error"] and gone["samples"] == 31 and ok["complete"]
        wait_for(lambda: field(drv, "host-1", "status") == "gone", what="host-1 gone")
        assert field(drv, "host-1", "error").startswith("device gone: ")
        wait_for(lambda: field(drv, "host-0", "status") == "done", what="host-0 done")  # next update, 0.25 s
        assert field(drv, "host-1", "samples").startswith(f"{gone['samples']} of ")
        api = {d["device"]: d for d in json.loads(urllib.request.urlopen(dash.url + "api/devices").read())["devices"]}
        assert api["host-1"]["status"] == "gone" and api["host-0"]["samples"] == ok["samples"]
        SHOTS.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(SHOTS / "dashboard-device-gone.png"))
        # the server goes away and comes back on the same port: the page reconnects by itself
        port = dash.port
        dash.stop()
        wait_for(lambda: drv.find_element("id", "link").text == "reconnecting…", what="the lost link")
        one_more = {"sample": 999, "label": 0, "prediction": 0, "correct": True, "match": True, "latency_ms": 1.0}
        state.row("host-0", one_more)  # what the page missed while it was away
        dash = Dashboard(state, port=port).start()
        wait_for(lambda: drv.find_element("id", "link").text == "live", what="the resumed link")
        wait_for(
            lambda: field(drv, "host-0", "samples").startswith(f"{ok['samples'] + 1:,} of"), what="resumed figures"
        )
    finally:
        drv.quit()
        dash.stop()
        es.stop_fleet(members)


def test_fleet_load_tool_short_run(tmp_path):
    """CI's short version of tools/fleet_load.py: 8 emulated devices and the dashboard at once."""
    from edgesnn.firmware.boards import get_board
    from tests.toolchains import need_board_tools

    need_board_tools(get_board("qemu-mps2-an385"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import fleet_load

    save_model(digits_like_model(seed=3, hidden=40, cuba=True), tmp_path / "m.qsnn")
    r = fleet_load.run(str(tmp_path / "m.qsnn"), "qemu-mps2-an385", 8, 20.0, 10, 5.0, str(tmp_path / "b"))
    assert r["devices"] == 8 and all(p["samples"] >= 10 for p in r["per_device"])
    assert r["lost_samples"] == 0 and r["mismatches"] == 0 and r["errors"] == 0 and not r["dashboard_problems"]
    assert all(0 < p["emulator_cpu_fraction"] <= 1.5 for p in r["per_device"])
    assert r["page_messages"] > 0 and r["dashboard_polls"] > 0
