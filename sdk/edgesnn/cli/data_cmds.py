"""Data commands: ``data info``, ``events from-video``, ``plot KIND``. Thin: the work is in
``edgesnn.data`` and ``edgesnn.plot``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgesnn import api
from edgesnn.cli.common import JsonOpt, LazyBar, emit, handles_errors

data_app = typer.Typer(no_args_is_help=True, help="Inspect data sets (built-in names or .npz files).")
events_app = typer.Typer(no_args_is_help=True, help="Event-camera data: the DVS pixel model.")


@data_app.command("info")
@handles_errors
def data_info_cmd(
    dataset: Annotated[str, typer.Argument(help="Built-in name (digits, saccade-digits) or a .npz file.")],
    json_out: JsonOpt = False,
):
    """Kind, samples per split, input shape, timesteps and classes of a data set."""
    emit(api.data_info(dataset), json_out)


@data_app.command("import")
@handles_errors
def data_import_cmd(
    folder: Annotated[
        Path,
        typer.Argument(
            help="train/ and test/ folders of class folders of recordings (.bin, .raw, .dat, .aedat4, .aedat), "
            "DVS128 Gesture's folder (recordings with _labels.csv), or SHD/SSC NAME_train.h5 (or its folder)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(help="The .npz to write: events, a stream (DVS128 Gesture) or spikes (SHD/SSC) (docs/data.md)."),
    ] = Path("events.npz"),
    sensor_size: Annotated[
        Optional[tuple[int, int]], typer.Option(help="Sensor width and height (default: inferred from the events).")
    ] = None,
    dt_ms: Annotated[Optional[float], typer.Option(help="SHD/SSC: timestep, ms (default 10).")] = None,
    channels: Annotated[
        Optional[int], typer.Option(help="SHD/SSC: input channels (default: largest unit + 1).")
    ] = None,
    json_out: JsonOpt = False,
):
    """Turn recordings as published (event-camera folders, DVS128 Gesture, SHD) into an .npz."""
    with LazyBar(None, "reading recordings", not json_out) as bar:
        res = api.data_import(
            folder,
            out,
            sensor_size=sensor_size,
            dt_ms=dt_ms,
            channels=channels,
            progress=lambda done, total: bar.update(advance=1, total=total),
        )
    emit(res, json_out)


@events_app.command("from-video")
@handles_errors
def from_video_cmd(
    frames: Annotated[Path, typer.Argument(help="A .npy (T, H, W[, 3]) or a video/GIF imageio reads.")],
    out: Annotated[Path, typer.Option(help="The events .npz to write (docs/data.md).")] = Path("events.npz"),
    fps: Annotated[Optional[float], typer.Option(help="Frames per second (default: the file's, else 30).")] = None,
    threshold_on: Annotated[float, typer.Option(help="ON contrast threshold (log intensity).")] = 0.2,
    threshold_off: Annotated[float, typer.Option(help="OFF contrast threshold (log intensity).")] = 0.2,
    mismatch: Annotated[float, typer.Option(help="Per-pixel threshold spread (standard deviation).")] = 0.03,
    refractory_us: Annotated[float, typer.Option(help="Refractory period per pixel, µs.")] = 0.0,
    noise_hz: Annotated[float, typer.Option(help="Background events per pixel per second.")] = 0.0,
    seed: Annotated[int, typer.Option()] = 0,
    label: Annotated[int, typer.Option(min=0, help="Label stored with the clip.")] = 0,
    json_out: JsonOpt = False,
):
    """Turn frames into ON/OFF events with a DVS pixel model (ESIM/v2e-style)."""
    res = api.events_from_video(
        frames,
        out,
        fps=fps,
        threshold_on=threshold_on,
        threshold_off=threshold_off,
        mismatch=mismatch,
        refractory_us=refractory_us,
        noise_hz=noise_hz,
        seed=seed,
        label=label,
    )
    emit(res, json_out)


@events_app.command("from-audio")
@handles_errors
def from_audio_cmd(
    audio: Annotated[Path, typer.Argument(help="A WAV or FLAC file (8 or 16 kHz; several channels are mixed).")],
    out: Annotated[Path, typer.Option(help="The spikes .npz to write (docs/data.md).")] = Path("spikes.npz"),
    channels: Annotated[int, typer.Option(min=8, max=64, help="Band-pass channels, mel spaced.")] = 16,
    dt_ms: Annotated[float, typer.Option(help="Timestep, ms (a whole number of audio samples).")] = 10.0,
    mode: Annotated[str, typer.Option(help="Spike threshold: adaptive (loudness-invariant) or fixed.")] = "adaptive",
    label: Annotated[int, typer.Option(min=0, help="Label stored with the recording.")] = 0,
    plot: Annotated[Optional[Path], typer.Option(help="Also draw the waveform over the spikes (PNG).")] = None,
    json_out: JsonOpt = False,
):
    """Turn audio into spikes with the integer audio front end (docs/fixed-point.md)."""
    emit(
        api.events_from_audio(audio, out, channels=channels, dt_ms=dt_ms, mode=mode, label=label, plot=plot),
        json_out,
    )


@handles_errors
def plot_cmd(
    kind: Annotated[
        str, typer.Argument(help="raster, events, confusion, quantization, timesteps, energy, energy-stream or stream.")
    ],
    model: Annotated[Optional[Path], typer.Argument(help="A model (.nir or .qsnn); not needed for events.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Data set (default: the model's).")] = None,
    sample: Annotated[int, typer.Option(min=0, help="Which test sample (raster, events, quantization).")] = 0,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("plot.png"),
    from_stream: Annotated[
        Optional[Path], typer.Option(help="raster: a `stream --save-output` file instead of the simulator.")
    ] = None,
    timesteps: Annotated[
        str, typer.Option(help="timesteps: the values to try (comma-separated); events: the bins.")
    ] = "",
    reports: Annotated[
        str,
        typer.Option(
            help="energy: `edgesnn energy --json` outputs, comma-separated; energy-stream: one --duty-sweep report."
        ),
    ] = "",
    start: Annotated[float, typer.Option(min=0, help="stream: window start in the test recording (s).")] = 0.0,
    seconds: Annotated[float, typer.Option(min=0.01, help="stream: window length (s).")] = 30.0,
    json_out: JsonOpt = False,
):
    """Plot spikes, events, a confusion matrix, quantization error, accuracy vs timesteps or vs energy."""
    steps = [int(s) for s in timesteps.split(",") if s.strip()]
    files = [r.strip() for r in reports.split(",") if r.strip()]
    emit(
        api.plot(
            kind, model, dataset=dataset, sample=sample, out=out, from_stream=from_stream, timesteps=steps,
            reports=files, start=start, seconds=seconds,
        ),
        json_out,
    )  # fmt: skip
