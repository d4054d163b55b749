"""The DVS pixel model, events from real and synthetic clips, and saccade-digits."""

import os
from pathlib import Path

import numpy as np
import pytest

from edgesnn.cli.app import app
from edgesnn.data import saccade
from edgesnn.data.dvs import PixelModel, frames_to_events
from tests.cli_helpers import run_json, runner


def moving_bar(T=40, H=6, W=40, width=5, speed=0.8):
    """A bright bar sliding right over a dark background (sub-pixel, anti-aliased)."""
    x = np.arange(W)
    frames = np.zeros((T, H, W))
    for t in range(T):
        left = 2 + speed * t
        cover = np.clip(np.minimum(x + 1, left + width) - np.maximum(x, left), 0, 1)
        frames[t] = 0.1 + 0.8 * cover[None, :]
    return frames


def test_moving_edge_on_events_lead_off_events():
    ev = frames_to_events(moving_bar(), fps=100, model=PixelModel(mismatch=0.0))
    on, off = ev[ev["p"]], ev[~ev["p"]]
    assert len(on) > 50 and len(off) > 50
    checked = 0
    for x in range(40):
        a, b = on["t"][on["x"] == x], off["t"][off["x"] == x]
        if len(a) and len(b):
            assert a.min() < b.min(), x  # the leading (brightening) edge reaches each pixel first
            checked += 1
    assert checked > 20
    # at any moment the ON front is ahead (to the right) of the OFF front
    mid = np.median(ev["t"])
    win = np.abs(ev["t"] - mid) < 20_000
    assert on["x"][win[ev["p"]]].mean() > off["x"][win[~ev["p"]]].mean() + 2


def test_pixel_model_is_deterministic_sorted_and_in_bounds():
    f = moving_bar()
    m = PixelModel(mismatch=0.05, noise_hz=5.0, seed=3)
    a, b = frames_to_events(f, 100, m), frames_to_events(f, 100, m)
    assert np.array_equal(a, b) and (np.diff(a["t"]) >= 0).all()
    assert a["x"].max() < 40 and a["y"].max() < 6 and a["t"].min() >= 0 and a["t"].max() <= 39 * 10_000
    c = frames_to_events(f, 100, PixelModel(mismatch=0.05, noise_hz=5.0, seed=4))
    assert not np.array_equal(a, c)


def test_refractory_period_spaces_each_pixels_events():
    f = moving_bar(speed=0.3)
    free = frames_to_events(f, 100, PixelModel(mismatch=0.0, threshold_on=0.05, threshold_off=0.05))
    ref = frames_to_events(f, 100, PixelModel(mismatch=0.0, threshold_on=0.05, threshold_off=0.05, refractory_us=5000))
    assert len(ref) < len(free)
    for x in range(40):
        for y in range(6):
            t = ref["t"][(ref["x"] == x) & (ref["y"] == y)]
            assert (np.diff(t) >= 5000 - 1).all()  # timestamps are rounded to whole µs


def test_static_scene_gives_no_events_and_bad_frames_are_refused():
    still = np.full((5, 4, 4), 0.5)
    assert len(frames_to_events(still, 30)) == 0
    with pytest.raises(ValueError, match="at least 2 frames"):
        frames_to_events(still[:1], 30)
    with pytest.raises(ValueError, match="NaN"):
        frames_to_events(np.full((3, 2, 2), np.nan), 30)
    with pytest.raises(ValueError, match="threshold_on must be > 0"):
        PixelModel(threshold_on=0)


def test_from_video_on_a_real_clip_and_a_npy(tmp_path):
    import skimage

    gif = Path(skimage.__file__).parent / "data" / "no_time_for_that_tiny.gif"
    r = run_json("events", "from-video", str(gif), "--out", str(tmp_path / "clip.npz"))
    assert r["frames"] == 24 and r["events"] == r["on"] + r["off"] > 100 and r["on"] > 0 and r["off"] > 0
    assert r["duration_us"] > 1_000_000  # 24 frames of 70 ms
    info = run_json("data", "info", str(tmp_path / "clip.npz"))
    assert info["kind"] == "events" and info["events_per_sample_mean"] == r["events"]
    np.save(tmp_path / "bar.npy", (moving_bar() * 255).astype(np.uint8))
    r2 = run_json("events", "from-video", str(tmp_path / "bar.npy"), "--out", str(tmp_path / "bar.npz"), "--fps", "100")
    assert r2["on"] > 0 and r2["off"] > 0 and r2["sensor_size"] == [40, 6, 2]
    png = tmp_path / "ev.png"
    run_json("plot", "events", "--dataset", str(tmp_path / "bar.npz"), "--out", str(png), "--timesteps", "6")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"GIF89a garbage")
    res = runner.invoke(app, ["events", "from-video", str(bad), "--out", str(tmp_path / "x.npz")])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1 and "bad.gif" in res.stderr


def test_saccade_recording_is_deterministic():
    from edgesnn.data.datasets import digits_splits

    tr, _ = digits_splits()
    imgs = tr.x[:6].reshape(-1, 8, 8)
    a, b = saccade.record(imgs), saccade.record(imgs, batch=4)  # batching must not matter
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    W, H, _ = saccade.SENSOR
    for ev in a:
        assert 1000 < len(ev) < 5000 and (np.diff(ev["t"]) >= 0).all()
        assert ev["x"].max() < W and ev["y"].max() < H and ev["t"].max() <= 300_000


def test_saccade_digits_is_built_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path))
    info = run_json("data", "info", "saccade-digits")
    path = tmp_path / f"saccade-digits-v{saccade.VERSION}.npz"
    assert path.is_file() and not list(tmp_path.glob("*.tmp.npz"))
    assert (info["kind"], info["samples_train"], info["samples_test"], info["input_shape"], info["classes"]) == (
        "events",
        1347,
        450,
        [2, 32, 32],
        10,
    )
    assert 2000 < info["events_per_sample_mean"] < 3500
    stamp = os.stat(path).st_mtime_ns
    run_json("data", "info", "saccade-digits")
    assert os.stat(path).st_mtime_ns == stamp
    r = run_json(
        "train",
        "--dataset",
        "saccade-digits",
        "--downsample",
        "2",
        "--timesteps",
        "10",
        "--epochs",
        "2",
        "--hidden",
        "48",
        "--out",
        str(tmp_path / "s.nir"),
    )
    assert r["input_spec"]["downsample"] == 2 and r["test_accuracy"] > 0.5  # chance is 0.1
