"""The dashboard's state and server, without devices: bounded memory, /api/devices, the token,
the loopback default, the Host check, read-only routes, a websocket that resumes."""

import json
import urllib.error
import urllib.request

import pytest

from edgesnn.errors import ArgumentError
from tests.toolchains import import_or_skip

import_or_skip("starlette", "the dashboard (the web extra)")
import_or_skip("uvicorn", "the dashboard (the web extra)")
from edgesnn.web import Dashboard, FleetState  # noqa: E402
from edgesnn.web import state as S  # noqa: E402


def sample_row(i, label, pred, match=True, latency=1.0):
    return {
        "sample": i, "total": 10_000, "prediction": pred, "label": label, "correct": pred == label, "match": match,
        "counts": [0, 1], "synops": 5, "steps": 4, "latency_ms": latency, "input_events": 3,
        "retransmissions": i // 1000, "damaged_frames": 0, "output_spikes": [[0, pred], [3, pred]],
    }  # fmt: skip


def fed_state(n=10_000):
    st = FleetState("t")
    st.start("dev", {"board": "host", "kind": "samples", "class_names": ["a", "b"], "total": n})
    for i in range(n):
        st.row("dev", sample_row(i, i % 2, (i % 3) % 2, match=i != 7, latency=0.5 + i % 5))
    return st


def test_state_counts_every_row_and_keeps_bounded_history():
    st = fed_state()
    (d,) = st.devices()
    right = sum((i % 2) == ((i % 3) % 2) for i in range(10_000))
    assert d["samples"] == 10_000 and d["mismatches"] == 1 and d["accuracy"] == right / 10_000
    assert d["retransmissions"] == 9 and d["last_prediction"] == (9999 % 3) % 2
    assert d["last_prediction_name"] == ["a", "b"][d["last_prediction"]]
    (v,) = st.views()
    assert len(v["history"]) == S.HISTORY and v["history"][-1][0] == 9999
    assert len(v["raster"]) == S.RASTER_SPIKES and v["raster"][-1] == [4 * 9999 + 3, d["last_prediction"]]
    assert sum(v["latency_counts"]) == 10_000 and v["latency_ms_median"] == 2.5
    assert len(json.dumps(v)) < 200_000  # what one update sends for a device, however long it ran


def test_a_device_that_fails_is_kept_as_gone_with_its_error():
    st = fed_state(5)
    st.add_device("other")
    st.end("dev", {"samples": 5, "retransmissions": 2, "error": "device did not answer"})
    by = {d["device"]: d for d in st.devices()}
    assert by["dev"]["status"] == "gone" and by["dev"]["error"] == "device did not answer"
    assert by["dev"]["samples"] == 5 and by["dev"]["retransmissions"] == 2
    assert by["other"]["status"] == "starting"
    v0 = {v["device"]: v["version"] for v in st.views()}
    assert st.views(v0) == []  # nothing changed since
    st.row("other", sample_row(0, 0, 0))
    assert [v["device"] for v in st.views(v0)] == ["other"]


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_api_devices_is_json_for_scripts_and_every_route_is_read_only():
    st = fed_state(50)
    with Dashboard(st, port=0) as dash:
        base = f"http://127.0.0.1:{dash.port}"
        code, body, headers = get(base + "/api/devices")
        assert code == 200 and headers["content-type"] == "application/json"
        (d,) = json.loads(body)["devices"]
        for key in ("board", "samples", "accuracy", "mismatches", "retransmissions", "last_prediction"):
            assert key in d
        assert d["samples"] == 50 and d["board"] == "host"
        code, body, headers = get(base + "/")
        assert code == 200 and b"dashboard.js" in body and "script-src 'self'" in headers["content-security-policy"]
        assert get(base + "/static/dashboard.js")[0] == 200 and get(base + "/static/dashboard.css")[0] == 200
        for method in ("POST", "PUT", "DELETE"):
            assert get(base + "/api/devices", method=method)[0] == 405
        # a page elsewhere that rebinds its name to 127.0.0.1 cannot read the devices
        assert get(base + "/api/devices", {"Host": "evil.example"})[0] == 403
        assert get(f"http://localhost:{dash.port}/api/devices")[0] == 200


def test_another_address_needs_a_token_and_then_every_request_carries_it():
    with pytest.raises(ArgumentError, match="token"):
        Dashboard(FleetState(), host="0.0.0.0", port=0)
    with pytest.raises(ArgumentError, match="8 characters"):
        Dashboard(FleetState(), host="0.0.0.0", port=0, token="short")
    st = fed_state(3)
    with Dashboard(st, host="0.0.0.0", port=0, token="s3cret-token") as dash:
        base = f"http://127.0.0.1:{dash.port}"
        assert dash.url.endswith("?token=s3cret-token")
        for path in ("/", "/api/devices", "/api/state", "/static/dashboard.js"):
            assert get(base + path)[0] == 403, path
            assert get(base + path + "?token=wrong-token")[0] == 403, path
        assert get(base + "/api/devices?token=s3cret-token")[0] == 200
        assert get(base + "/api/devices", {"Authorization": "Bearer s3cret-token"})[0] == 200
        code, _, headers = get(base + "/?token=s3cret-token")
        cookie = headers["set-cookie"].split(";")[0]
        assert code == 200 and "httponly" in headers["set-cookie"].lower()
        assert get(base + "/static/dashboard.js", {"Cookie": cookie})[0] == 200  # the page's own requests
        ws = import_or_skip("websockets.sync.client", "the websocket test")
        with pytest.raises(Exception, match="1008|403|rejected"):
            with ws.connect(f"ws://127.0.0.1:{dash.port}/ws", open_timeout=5) as c:
                c.recv(timeout=5)
        with ws.connect(f"ws://127.0.0.1:{dash.port}/ws?token=s3cret-token", open_timeout=5) as c:
            assert json.loads(c.recv(timeout=5))["type"] == "snapshot"


def test_the_websocket_gives_the_state_then_changes_and_ignores_what_the_page_sends():
    ws = import_or_skip("websockets.sync.client", "the websocket test")
    st = fed_state(20)
    with Dashboard(st, port=0) as dash:
        url = f"ws://127.0.0.1:{dash.port}/ws"
        with ws.connect(url, open_timeout=5) as c:
            snap = json.loads(c.recv(timeout=5))
            assert snap["type"] == "snapshot" and snap["devices"][0]["samples"] == 20
            c.send(json.dumps({"command": "stop", "device": "dev"}))  # no route takes commands
            st.row("dev", sample_row(20, 0, 0))
            upd = json.loads(c.recv(timeout=5))
            assert upd["type"] == "update" and upd["devices"][0]["samples"] == 21
        with ws.connect(url, open_timeout=5) as c:  # a browser that reconnects gets it all again
            assert json.loads(c.recv(timeout=5))["devices"][0]["samples"] == 21
    assert st.devices()[0]["status"] == "streaming"


def test_a_port_in_use_is_refused_in_one_line():
    with Dashboard(FleetState(), port=0) as dash:
        with pytest.raises(ArgumentError, match=f"cannot listen on 127.0.0.1:{dash.port}.*dashboard_port"):
            Dashboard(FleetState(), port=dash.port)
