"""Always-on streams: continuous inference over a recording, the decision rule, detection metrics.

NeuroBench's metrics (Yik et al., "NeuroBench: A Framework for Benchmarking Neuromorphic
Computing Algorithms and Systems", Nature Communications 16, 1545 (2025); definitions as in its
``neurobench.metrics``), measured on the integer model over the recording:

* ``activation_sparsity``: 1 - spikes / (neurons x timesteps), over every spiking layer;
* ``synaptic_operations``: effective accumulates (``effective_acs``: one per input event per
  synapse it reaches, recurrent events included; spiking inputs need no multiply, so
  ``effective_macs`` is 0), in all, per second and per timestep;
* ``membrane_updates``: neuron state updates performed, in all and per second;
* ``footprint_bytes``: the parameters at their integer widths (weights at ``weight_bits``
  rounded up to whole bytes, each per-neuron table entry 4 bytes), what the model stores;
* ``connection_sparsity``: the fraction of weights that are zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesnn.data.scoring import DEFAULT_TOLERANCE_MS, score
from edgesnn.errors import ModelFileError
from edgesnn.fixedpoint import decision as D
from edgesnn.fixedpoint.continuous import StreamRunner
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.ir import Network

if TYPE_CHECKING:
    from edgesnn.data.stream_set import StreamSet

CHUNK = 4096


def _load(model: Any) -> tuple[Any, str]:
    """A model object, or the model in a file, and its name."""
    if isinstance(model, (Network, QuantNetwork)):
        return model, model.name
    from pathlib import Path

    from edgesnn.formats import load_model

    return load_model(Path(model)), str(model)


def stream_of(model: Any, dataset: str | None = None) -> tuple[Any, str, StreamSet, dict]:
    """A model, its name, the stream data set (default: the model's) and the model's stream
    settings applied to it; a model whose inputs do not fit the data set fails naming both."""
    from edgesnn.data.datasets import check_model_fits, open_stream

    m, name = _load(model)
    ds = open_stream(dataset or m.input_spec.get("dataset") or "")
    spec = ds.model_spec(m.input_spec)
    check_model_fits(ds, spec, m.n_inputs, name)
    return m, name, ds, spec


def run_recording(
    qnet: QuantNetwork,
    ds: StreamSet,
    split: str,
    spec: dict,
    *,
    rule: D.DecisionRule | None = None,
    seconds: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The golden model over a split's recording (or its first ``seconds``), no resets."""
    T = ds.steps(split, spec, seconds)
    runner = StreamRunner(qnet, rule)
    outs, steps, classes = [], [], []
    synops = updates = spikes = 0
    inputs = 0
    for a in range(0, T, CHUNK):
        b = min(T, a + CHUNK)
        x = ds.frames(split, spec, a, b)
        inputs += int(x.sum())
        r = runner.run(x, record=False)
        outs.append(r.spikes)
        steps.append(r.detect_steps)
        classes.append(r.detect_classes)
        synops += r.synops
        updates += r.neuron_updates
        spikes += sum(r.layer_spikes)
        if progress is not None:
            progress(b, T)
    return {
        "steps": T,
        "outputs": np.concatenate(outs),
        "detect_steps": np.concatenate(steps),
        "detect_classes": np.concatenate(classes),
        "synops": synops,
        "neuron_updates": updates,
        "input_events": inputs,
        "all_spikes": spikes,
    }


def _segments_until(ds: StreamSet, split: str, duration_us: int) -> np.ndarray:
    seg = ds.recording(split).segments
    return seg[seg[:, 1] <= duration_us]


def score_detections(
    ds: StreamSet, split: str, spec: dict, steps: np.ndarray, classes: np.ndarray, T: int, tolerance_ms: float
) -> dict:
    """The scoring rule over the first T timesteps of a split (detection time = end of its step)."""
    dt = spec["dt_us"]
    duration = min(T * dt, ds.recording(split).duration_us)
    return score(
        _segments_until(ds, split, duration),
        (np.asarray(steps, np.int64) + 1) * dt,
        classes,
        duration,
        ds.file.classes,
        tolerance_ms,
        ds.class_names[:-1],
    )


def detection_objective(
    ds: StreamSet, split: str, spec: dict, T: int, tolerance_ms: float = DEFAULT_TOLERANCE_MS
) -> Callable[[np.ndarray, np.ndarray], float]:
    """The score a detector's rule is fitted for over the first T timesteps of ``split``:
    ``detection_accuracy - 0.002 * false_alarms_per_hour - 0.0002 * latency_ms_median``."""

    def objective(steps: np.ndarray, classes: np.ndarray) -> float:
        r = score_detections(ds, split, spec, steps, classes, T, tolerance_ms)
        return (
            float(r["detection_accuracy"] or 0)
            - 0.002 * r["false_alarms_per_hour"]
            - 0.0002 * (r["latency_ms_median"] or 1000)
        )

    return objective


def fit_decision(
    qnet: QuantNetwork, ds: StreamSet, spec: dict, tolerance_ms: float = DEFAULT_TOLERANCE_MS
) -> tuple[D.DecisionRule, dict]:
    """The decision rule fitted on the train recording: the grid point with the best
    ``detection_accuracy - 0.002 * false_alarms_per_hour - 0.0002 * latency_ms_median`` (30 false
    alarms an hour cost as much as 6 points of accuracy, 100 ms of latency 2)."""
    run = run_recording(qnet, ds, "train", spec)
    T = run["steps"]
    objective = detection_objective(ds, "train", spec, T, tolerance_ms)
    rule, _ = D.fit(run["outputs"], objective, background=spec["background"], **rule_grid(spec["window"]))
    steps, classes, _ = D.run(rule, run["outputs"])
    return rule, score_detections(ds, "train", spec, steps, classes, T, tolerance_ms)


def rule_grid(window: int) -> dict[str, tuple[int, ...]]:
    """The decision rule's grid for a model's training window (timesteps): refractory times of
    10, 20, 30 and 45 steps and decay shifts 2 to 5 (time constants of 4 to 32 steps), and for
    windows longer than 45 steps (a word of audio is a second at 10 ms) also refractory times of
    0.6, 0.8 and 1 window and decay shifts up to the one whose time constant is half a window."""
    refr, decay = [10, 20, 30, 45], [2, 3, 4, 5]
    if window > 45:
        refr += [round(f * window) for f in (0.6, 0.8, 1.0)]
        decay += list(range(6, min(8, max(6, (window // 2).bit_length() - 1)) + 1))
    return {"refractories": tuple(sorted(set(refr))), "decay_shifts": tuple(decay)}


def brief(r: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a stream report."""
    keys = (
        "detection_accuracy",
        "false_alarms_per_hour",
        "latency_ms_median",
        "latency_ms_p90",
        "segments",
        "detections",
    )
    return {k: r[k] for k in keys if k in r}


def with_decision(model: Any, rule: D.DecisionRule) -> Any:
    """The model with its decision rule recorded in its input spec (float or quantized)."""
    return replace(model, input_spec={**model.input_spec, "decision": rule.as_dict()})


def static_metrics(qnet: QuantNetwork) -> dict[str, Any]:
    wbytes = -(-qnet.weight_bits // 8)
    n_w = zeros = params = 0
    for L in qnet.layers:
        for arr in (L.weight, L.recurrent):
            if arr is not None:
                n_w += arr.size
                zeros += int((arr == 0).sum())
        for arr in (L.bias, L.alpha_mem, L.alpha_syn, L.threshold, L.v_reset):
            if arr is not None:
                params += np.size(arr)
    return {"footprint_bytes": int(n_w * wbytes + 4 * params), "connection_sparsity": zeros / max(n_w, 1)}


def stream_metrics(
    qnet: QuantNetwork,
    ds: StreamSet,
    split: str = "test",
    *,
    seconds: float | None = None,
    tolerance_ms: float = DEFAULT_TOLERANCE_MS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Detections and NeuroBench metrics of a stream model over a split's recording."""
    spec = ds.model_spec(qnet.input_spec)
    rule = qnet.decision
    if rule is None:
        raise ValueError(
            "the model has no decision rule: quantize it with its stream data set (edgesnn quantize MODEL.nir)"
        )
    run = run_recording(qnet, ds, split, spec, rule=rule, seconds=seconds, progress=progress)
    T = run["steps"]
    seconds_run = T * spec["dt_us"] / 1e6
    res = score_detections(ds, split, spec, run["detect_steps"], run["detect_classes"], T, tolerance_ms)
    neurons = sum(L.n_out for L in qnet.layers)
    res.update(
        split=split,
        seconds=seconds_run,
        timesteps=T,
        dt_us=spec["dt_us"],
        input_events_per_s=run["input_events"] / seconds_run,
        activation_sparsity=1.0 - run["all_spikes"] / max(neurons * T, 1),
        synaptic_operations={
            "effective_acs": run["synops"],
            "effective_macs": 0,
            "effective_acs_per_s": run["synops"] / seconds_run,
            "effective_acs_per_timestep": run["synops"] / max(T, 1),
        },
        membrane_updates={"total": run["neuron_updates"], "per_s": run["neuron_updates"] / seconds_run},
        decision=rule.as_dict(),
        **static_metrics(qnet),
    )
    res["result"] = {  # arrays, for scripts and plots (the CLI leaves them out)
        "detect_times_s": (run["detect_steps"] + 1) * spec["dt_us"] / 1e6,
        "detect_classes": run["detect_classes"],
        "outputs": run["outputs"],
    }
    return res


def simulate_stream(
    model: Any,
    dataset: str | None = None,
    *,
    split: str = "test",
    seconds: float | None = None,
    tolerance_ms: float = 500.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Continuous inference of a quantized stream model over a recording (its first ``seconds``):
    ``detection_accuracy``, ``false_alarms_per_hour``, ``latency_ms_median``/``_p90``,
    ``per_class``, NeuroBench's workload and static metrics (``api.streams``).

    ```python
    r = edgesnn.api.simulate_stream("sacc-stream.qsnn")
    r["detection_accuracy"], r["false_alarms_per_hour"]
    ```
    """
    m, name, ds, _ = stream_of(model, dataset)
    if not isinstance(m, QuantNetwork):
        raise ModelFileError(
            f"{name}: continuous inference runs the integer model; quantize it first (edgesnn quantize)"
        )
    res = stream_metrics(m, ds, split, seconds=seconds, tolerance_ms=tolerance_ms, progress=progress)
    return {"model": str(model) if not isinstance(model, (Network, QuantNetwork)) else name, "kind": "stream", **res}


def is_stream_run(model: Any, dataset: str | None = None) -> bool:
    """Whether a model with this data set (default: its own) runs as a continuous stream."""
    from edgesnn.data.datasets import is_stream

    if dataset is not None:
        return is_stream(dataset)
    m, _ = _load(model)
    return m.input_spec.get("encoding") == "stream" and is_stream(m.input_spec.get("dataset") or "")


def stream_context(model: Any, dataset: str | None = None, split: str = "test") -> dict[str, Any]:
    """What a timeline of a stream shows besides the device's output: segments (s), class names,
    the timestep."""
    _, _, ds, spec = stream_of(model, dataset)
    seg = ds.recording(split).segments
    return {"segments_s": seg[:, :2] / 1e6, "classes": seg[:, 2], "class_names": ds.class_names, "dt_us": spec["dt_us"]}
