"""What each ``edgesnn plot KIND`` shows, gathered from models, data sets and saved streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesnn.errors import ArgumentError, DatasetError, ModelFileError
from edgesnn.plot import figures

KINDS = ("raster", "events", "confusion", "quantization", "timesteps", "energy", "energy-stream", "stream")


def _model(path: Path):
    from edgesnn.formats import load_model

    return load_model(path)


def _sample_index(k: int, n: int) -> int:
    if not 0 <= k < n:
        raise DatasetError(f"sample {k} is out of range: the split has {n} samples")
    return k


def plot_raster(
    model_path: Path | None, dataset: str | None, sample: int, out: Path, stream_file: Path | None = None
) -> dict:
    """Input and every layer's spikes of one test sample, from the golden simulator (or the
    float simulation of a float model), or input and output spikes from a saved device stream."""
    if stream_file is not None:
        if not Path(stream_file).is_file():
            raise DatasetError(f"stream output not found: {stream_file}")
        with np.load(stream_file, allow_pickle=False) as z:
            missing = [k for k in ("inputs", "spikes", "prediction", "labels") if k not in z.files]
            if missing:
                raise DatasetError(f"{stream_file}: key {missing[0]!r} missing (not a `stream --save-output` file)")
            k = _sample_index(sample, len(z["prediction"]))
            rows = [("input", z["inputs"][k]), ("output (device)", z["spikes"][k])]
            title = f"{stream_file.name}: sample {k}, label {int(z['labels'][k])}, device predicted {int(z['prediction'][k])}"
        return {"plot": str(figures.raster(rows, title, out)), "sample": k, "source": "device stream"}
    if model_path is None:
        raise ArgumentError("raster needs a MODEL (or {from_stream} FILE)", names=["from_stream"])
    from edgesnn.data.datasets import model_inputs
    from edgesnn.fixedpoint import simulate

    m = _model(model_path)
    x, y, ds = model_inputs(m, dataset, "test", None, str(model_path))
    k = _sample_index(sample, len(x))
    r = simulate(m, x[k : k + 1], record=True)
    rows = [("input", x[k])] + [(f"layer {i}", rec["spikes"][0]) for i, rec in enumerate(r.recorded())]
    title = (
        f"{Path(model_path).name} on {ds.name}: test sample {k}, label {int(y[k])}, predicted {int(r.prediction[0])}"
    )
    return {
        "plot": str(figures.raster(rows, title, out)),
        "sample": k,
        "source": "simulator",
        "prediction": int(r.prediction[0]),
        "label": int(y[k]),
    }


def plot_events(
    dataset: str, sample: int, out: Path, timesteps: int | None = None, downsample: int = 1, split: str = "test"
) -> dict:
    """The ON/OFF frames of one sample of an events data set, binned as the models see them."""
    from edgesnn.data.datasets import open_dataset

    ds = open_dataset(dataset)
    if ds.kind != "events":
        raise DatasetError(f"data set {ds.name!r} holds {ds.kind}, not events")
    spec = ds.resolve({"timesteps": timesteps, "downsample": downsample})
    part = ds.events(split)
    k = _sample_index(sample, len(part))
    from edgesnn.data.events import bin_split
    from edgesnn.data.npzfile import EventSplit

    one = EventSplit(part.sample(k), np.array([0, part.offsets[k + 1] - part.offsets[k]]), part.y[k : k + 1])
    frames = bin_split(one, ds.sensor, spec["timesteps"], downsample=spec["downsample"])[0]
    shape = ds.input_shape(spec)
    n_events = len(one.events)
    title = f"{Path(ds.name).name}: {split} sample {k}, label {int(part.y[k])}, {n_events} events"
    return {
        "plot": str(figures.event_frames(frames.reshape((-1,) + tuple(shape)), title, out)),
        "sample": k,
        "events": n_events,
        "timesteps": spec["timesteps"],
    }


def plot_confusion(model_path: Path, dataset: str | None, out: Path) -> dict:
    from edgesnn.data.datasets import model_inputs
    from edgesnn.fixedpoint import simulate

    m = _model(model_path)
    x, y, ds = model_inputs(m, dataset, "test", None, str(model_path))
    pred = simulate(m, x).prediction
    classes = max(ds.classes, m.n_outputs)
    path = figures.confusion(y, pred, classes, f"{Path(model_path).name} on {ds.name} (test split)", out)
    return {"plot": str(path), "accuracy": float(np.mean(pred == y)), "samples": len(y)}


def plot_quantization(model_path: Path, dataset: str | None, sample: int, out: Path) -> dict:
    """Float vs integer membrane per layer on one sample; saturation counts on the test split.

    A float model is quantized as trained; a quantized model is compared with the float network
    it approximates (its dequantized twin). Membranes are shown in units of the threshold."""
    from edgesnn.data.datasets import model_inputs
    from edgesnn.fixedpoint import QuantNetwork, simulate_float, simulate_int
    from edgesnn.fixedpoint.dequantize import dequantize
    from edgesnn.fixedpoint.quantize import quantize_as_trained

    m = _model(model_path)
    if isinstance(m, QuantNetwork):
        qnet, net = m, dequantize(m)
    else:
        net, qnet = m, quantize_as_trained(m)
    x, y, ds = model_inputs(m, dataset, "test", None, str(model_path))
    k = _sample_index(sample, len(x))
    rf = simulate_float(net, x[k : k + 1], record=True)
    ri = simulate_int(qnet, x[k : k + 1], record=True)
    sat = simulate_int(qnet, x, count_saturation=True, backend="numpy").saturations
    layers = []
    for i, (FL, QL) in enumerate(zip(net.layers, qnet.layers)):
        thr_f = np.where(np.isfinite(FL.neurons.threshold), FL.neurons.threshold, 1.0)
        unit = (QL.scale if QL.scale is not None else np.ones(QL.n_out)) / (1 << QL.shift)
        layers.append(
            {
                "name": f"layer {i} ({QL.n_out})",
                "saturations": int(sat[i]),
                "v_float": rf.recorded()[i]["v"][0] / thr_f,
                "v_int": ri.recorded()[i]["v"][0] * unit / thr_f,
            }
        )
    title = f"{Path(model_path).name} on {ds.name}: test sample {k}"
    return {
        "plot": str(figures.quantization(layers, title, out)),
        "sample": k,
        "saturations": [L["saturations"] for L in layers],
        "max_abs_membrane_difference": [float(np.abs(L["v_float"] - L["v_int"]).max()) for L in layers],
    }


def plot_timesteps(model_path: Path, dataset: str | None, out: Path, steps: list[int]) -> dict:
    """Accuracy of the model when each test sample is encoded/binned into T steps."""
    from edgesnn.data.datasets import dataset_of, open_dataset
    from edgesnn.fixedpoint import simulate

    m = _model(model_path)
    ds = open_dataset(dataset_of(m, dataset, str(model_path)))
    if ds.kind == "spikes":
        raise DatasetError(f"data set {ds.name!r} holds spikes of fixed length; timesteps cannot vary")
    if not steps or min(steps) < 1:
        raise ValueError(f"timesteps must be >= 1, got {steps}")
    from edgesnn.data.datasets import check_model_fits

    spec = ds.model_spec(m.input_spec)
    check_model_fits(ds, spec, m.n_inputs, str(model_path))
    points = {}
    for t in sorted(set(steps)):
        x, y = ds.spikes("test", {**spec, "timesteps": t})
        points[t] = simulate(m, x).accuracy(y)
    path = figures.timesteps_curve(points, f"{Path(model_path).name} on {ds.name} (test split)", out)
    return {"plot": str(path), "accuracy_by_timesteps": {str(t): a for t, a in points.items()}}


def plot_energy(reports: list[Path], out: Path) -> dict:
    """Accuracy vs energy per inference from `edgesnn energy --json` reports (one or more: e.g.
    rate and latency coding, event data), each contributing its SNN, early-exit SNN and ANN."""
    import json

    from edgesnn.plot import figures

    if not reports:
        raise ArgumentError("plot energy needs {reports}: files written by `edgesnn energy --json`", names=["reports"])
    points = []
    for path in reports:
        try:
            r = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not an energy report ({e})") from None
        if not isinstance(r, dict) or "snn" not in r or "ann" not in r:
            raise ValueError(f"{path}: not an energy report (no snn and ann)")
        name = Path(path).stem
        for key, kind, label in (
            ("snn", "snn", name),
            ("snn_early_exit", "snn", f"{name}, early exit {r.get('snn_early_exit', {}).get('margin')}"),
            ("ann", "ann", f"{name} ANN"),
        ):
            row = r.get(key)
            if row and row.get("energy_uj") is not None:
                points.append(
                    {"label": label, "kind": kind, "energy_uj": row["energy_uj"], "accuracy": row["accuracy"]}
                )
    if not points:
        raise ValueError("the reports hold no energy figures (their board files have no [energy] table)")
    board = json.loads(Path(reports[0]).read_text()).get("board", "?")
    path = figures.energy_points(points, f"accuracy vs energy per inference on {board}", out)
    return {"plot": "energy", "out": str(path), "points": len(points)}


def plot_energy_stream(report: Path, out: Path) -> dict:
    """Energy per hour against duty from one `edgesnn energy --dataset STREAM --duty-sweep --json` report."""
    import json

    try:
        rep = json.loads(Path(report).read_text())
        sweep = rep["duty_sweep"]
        rows = sweep["rows"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{report}: not a duty-sweep energy report (run edgesnn energy --duty-sweep --json): {e}"
        ) from None
    title = f"energy per hour of stream against duty on {rep.get('board', '?')}"
    path = figures.energy_duty(rows, title, out, sweep.get("crossover_duty_percent"))
    return {"plot": "energy-stream", "out": str(path), "duties": len(rows)}


def plot_stream(model_path: Path, dataset: str | None, out: Path, start_s: float = 0.0, seconds: float = 30.0) -> dict:
    """A window of a stream model's run over the test recording (the golden model from the
    recording's start, so every state is the one the device has there): input event rate,
    segments, detections (scored by ``data.scoring``) and the decision rule's readout traces."""
    from edgesnn.data.datasets import open_stream
    from edgesnn.data.scoring import match
    from edgesnn.fixedpoint import decision as D
    from edgesnn.fixedpoint.continuous import StreamRunner

    m = _model(model_path)
    rule = getattr(m, "decision", None)
    if rule is None:
        raise ModelFileError(f"{model_path}: plot stream takes a quantized stream model with its decision rule")
    if not (start_s >= 0 and seconds > 0):
        raise ValueError(f"the window must start at >= 0 s and last > 0 s, got {start_s}, {seconds}")
    ds = open_stream(dataset or m.input_spec.get("dataset") or "")
    spec = ds.model_spec(m.input_spec)
    dt = spec["dt_us"]
    total = ds.steps("test", spec)
    a = min(int(start_s * 1e6 // dt), total - 1)
    b = min(total, a + max(1, int(seconds * 1e6 // dt)))
    runner = StreamRunner(m, rule)
    if a:
        for c in range(0, a, 4096):
            runner.run(ds.frames("test", spec, c, min(a, c + 4096)))
    a0 = runner.state.decision.a.copy() if runner.state.decision is not None else None
    x = ds.frames("test", spec, a, b)
    r = runner.run(x)
    # the readout traces from the scores the rule held at the window's start
    scores = D._scores(r.spikes, rule.decay_shift, a0 if a0 is not None else np.zeros(m.n_outputs, np.int64))
    seg = ds.recording("test").segments
    in_win = seg[(seg[:, 1] > a * dt) & (seg[:, 0] < b * dt)]
    t_det = (r.detect_steps + 1) * dt
    hit, _ = match(seg, t_det, r.detect_classes, 500_000)
    hits = set(int(h) for h in hit if h >= 0)
    dets = [(float(t) / 1e6, int(c), k in hits) for k, (t, c) in enumerate(zip(t_det, r.detect_classes))]
    t = (np.arange(a, b) + 0.5) * dt / 1e6
    title = f"{Path(model_path).name} on {ds.name} (test), {a * dt / 1e6:.1f}-{b * dt / 1e6:.1f} s"
    path = figures.stream_timeline(
        t,
        x.sum(axis=1) / (dt / 1e6),
        np.column_stack([in_win[:, 0] / 1e6, in_win[:, 1] / 1e6, in_win[:, 2]]),
        dets,
        scores,
        rule.threshold,
        ds.class_names,
        title,
        out,
    )
    return {
        "plot": str(path),
        "start_s": a * dt / 1e6,
        "seconds": (b - a) * dt / 1e6,
        "segments": len(in_win),
        "detections": len(dets),
    }


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown plot {kind!r}; choose one of {', '.join(KINDS)}")


def need_model(kind: str, model: Path | None) -> Path:
    if model is None:
        raise ModelFileError(f"plot {kind} needs a MODEL")
    return model
