"""Figures: one entry point for the five kinds of plot (matplotlib, extra ``plot``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgesnn.api.model import PathLike
from edgesnn.errors import ArgumentError


def plot(
    kind: str,
    model: PathLike | None = None,
    *,
    dataset: str | None = None,
    sample: int = 0,
    out: PathLike = "plot.png",
    from_stream: PathLike | None = None,
    timesteps: list[int] | None = None,
    reports: Sequence[PathLike] | None = None,
    start: float = 0.0,
    seconds: float = 30.0,
) -> dict[str, Any]:
    """Write a PNG: ``raster`` (input and every layer's spikes; or a ``stream --save-output``
    file), ``events`` (ON/OFF frames of an events data set), ``confusion``, ``quantization``
    (float vs integer membranes, saturations), ``timesteps`` (accuracy vs timesteps),
    ``energy`` (accuracy vs energy per inference from ``edgesnn energy --json`` ``reports``),
    ``energy-stream`` (energy per hour against duty from one ``edgesnn energy --duty-sweep --json`` report),
    ``stream`` (a stream model over ``seconds`` of its test recording from ``start``: event
    rate, segments, detections, readout traces).

    ```python
    edgesnn.api.plot("raster", "digits.qsnn", sample=3, out="raster.png")
    ```
    """
    from edgesnn.plot import make

    make.check_kind(kind)
    out, steps = Path(out), list(timesteps or [])
    m = Path(model) if model is not None else None
    if kind == "raster":
        return make.plot_raster(m, dataset, sample, out, Path(from_stream) if from_stream else None)
    if kind == "events":
        if dataset is None and m is not None:
            dataset = str(m)  # `plot events FILE.npz` reads naturally too
        if dataset is None:
            raise ArgumentError("plot events needs {dataset}", names=["dataset"])
        return make.plot_events(dataset, sample, out, steps[0] if steps else None)
    if kind == "confusion":
        return make.plot_confusion(make.need_model(kind, m), dataset, out)
    if kind == "stream":
        return make.plot_stream(make.need_model(kind, m), dataset, out, start, seconds)
    if kind == "energy":
        return make.plot_energy([Path(r) for r in reports or []], out)
    if kind == "energy-stream":
        if not reports or len(reports) != 1:
            raise ArgumentError(
                "plot energy-stream needs {reports}: one `edgesnn energy --duty-sweep --json` output", names=["reports"]
            )
        return make.plot_energy_stream(Path(reports[0]), out)
    if kind == "quantization":
        return make.plot_quantization(make.need_model(kind, m), dataset, sample, out)
    return make.plot_timesteps(make.need_model(kind, m), dataset, out, steps or [5, 10, 15, 25, 40, 60])
