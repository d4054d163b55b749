"""Frames from a file: a ``.npy`` array (T, H, W[, 3]) or any video/GIF that imageio reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesnn.data.dvs import PixelModel, frames_to_events
from edgesnn.data.npzfile import write_events
from edgesnn.errors import DatasetError

DEFAULT_FPS = 30.0


def read_frames(path: str | Path) -> tuple[np.ndarray, float | None]:
    """(frames, frames per second if the file says) of a clip."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"frames file not found: {path}")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False), None
        except (ValueError, OSError, EOFError) as e:
            raise DatasetError(f"{path}: not a readable .npy array ({str(e).splitlines()[0]})") from None
    try:
        import imageio.v3 as iio
    except ImportError:
        raise DatasetError("reading videos and GIFs uses imageio: pip install 'edgesnn[events]'") from None
    try:
        frames = np.asarray(iio.imread(path, index=None))
        meta = iio.immeta(path, index=None) if hasattr(iio, "immeta") else {}
    except Exception as e:  # imageio raises many types for unreadable files
        raise DatasetError(
            f"{path}: not a video or image sequence imageio can read ({str(e).splitlines()[0]})"
        ) from None
    fps = meta.get("fps")
    if not fps and meta.get("duration"):  # GIF: milliseconds per frame
        dur = meta["duration"]
        dur = float(np.mean(dur)) if isinstance(dur, (list, tuple)) else float(dur)
        fps = 1000.0 / dur if dur > 0 else None
    return frames, (float(fps) if fps else None)


def video_to_events(
    frames_path: str | Path, out: str | Path, model: PixelModel = PixelModel(), fps: float | None = None, label: int = 0
) -> dict:
    """Run the pixel model on a clip and write an events file holding it as sample 0 of both
    splits (so every command that reads a data set can read it). Returns counts."""
    frames, file_fps = read_frames(frames_path)
    fps = fps or file_fps or DEFAULT_FPS
    try:
        ev = frames_to_events(frames, fps, model)
    except ValueError as e:
        raise DatasetError(f"{frames_path}: {e}") from None
    H, W = frames.shape[1:3]
    write_events(out, ([ev], np.array([label])), ([ev], np.array([label])), (W, H, 2))
    on = int(ev["p"].sum())
    return {
        "out": str(out),
        "frames": int(frames.shape[0]),
        "fps": fps,
        "sensor_size": [W, H, 2],
        "events": int(len(ev)),
        "on": on,
        "off": int(len(ev) - on),
        "duration_us": int(ev["t"][-1] - ev["t"][0]) if len(ev) else 0,
    }
