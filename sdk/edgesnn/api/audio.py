"""Audio: the integer front end (``fixedpoint/audio.py``) on a recording of your own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.api.model import PathLike
from edgesnn.errors import ArgumentError, DatasetError


def events_from_audio(
    audio: PathLike,
    out: PathLike,
    *,
    channels: int = 16,
    dt_ms: float = 10.0,
    mode: str = "adaptive",
    label: int = 0,
    plot: PathLike | None = None,
) -> dict[str, Any]:
    """Run the integer audio front end (docs/fixed-point.md, "Audio front end") on an audio file
    (WAV, FLAC, …; 8 or 16 kHz) and write its spikes as a spikes data file holding the recording
    as sample 0 of both splits (every command that reads a data set reads it). ``plot`` also
    draws the waveform over the spikes of each channel. Result: ``sample_rate``, ``seconds``,
    ``channels``, ``centers_hz``, ``timesteps``, ``dt_us``, ``spikes``, ``spikes_per_channel``.

    ```python
    edgesnn.api.events_from_audio("yes.wav", "yes.npz", channels=16, plot="yes.png")
    ```
    """
    from edgesnn.data.audio import read_audio
    from edgesnn.data.npzfile import write_spikes
    from edgesnn.fixedpoint.audio import design_front_end, front_end_spikes

    samples, rate = read_audio(audio)
    try:
        fe = design_front_end(rate, channels, dt_ms=dt_ms, mode=mode)
    except ValueError as e:
        raise ArgumentError(
            f"{audio}: {e}" + (" (resample it, e.g. sox IN -r 16000 OUT)" if "Hz" in str(e) else "")
        ) from None
    spikes = front_end_spikes(fe, samples)
    if spikes.shape[0] == 0:
        raise DatasetError(f"{audio}: {len(samples)} samples are shorter than one timestep ({fe.samples_per_step})")
    y = np.array([label])
    write_spikes(out, (spikes[None], y), (spikes[None], y))
    res: dict[str, Any] = {
        "out": str(out),
        "sample_rate": rate,
        "seconds": len(samples) / rate,
        "channels": fe.channels,
        "centers_hz": [round(c, 1) for c in fe.centers_hz],
        "timesteps": int(spikes.shape[0]),
        "dt_us": fe.dt_us,
        "mode": fe.mode,
        "spikes": int(spikes.sum()),
        "spikes_per_channel": spikes.sum(axis=0).tolist(),
    }
    if plot is not None:
        from edgesnn.plot.figures import audio_spikes

        res["plot"] = str(audio_spikes(samples, rate, spikes, fe.dt_us, fe.centers_hz, Path(audio).name, Path(plot)))
    return res
