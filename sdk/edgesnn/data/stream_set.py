"""A stream file as a data set: whole recordings as timesteps, and training windows cut from them.

Input spec of a stream model (stored in the model file): ``dataset``, ``encoding = "stream"``,
``modality``, ``dt_us`` (timestep; default 10 ms, a spikes file's own), ``downsample`` (events),
``denoise_us`` (events: the background-activity filter, ``streams.activity_filter``; 0 = off),
``window`` and ``stride`` (timesteps of a training window and between window starts; default
30 and 5, audio 100 and 10), ``min_overlap`` (timesteps; default 5, audio 100), ``background``
(the background class index = the number of classes), ``background_ratio`` (default 1.0),
``seed``. Audio streams add ``channels``, ``audio_mode`` and ``front_end`` (the front end's
integers, as per-sample audio: a model's own is applied as it is, else one is designed for
``channels`` bands and ``dt_us``); their timesteps are the front end's spikes over the whole
recording (``fixedpoint.audio.front_end_spikes``, run once per split and kept).

Windows (docs/data.md, "Training on streams"): the window starting at timestep s covers
``[s, s + window)``; a segment covers timesteps ``onset // dt .. ceil(offset / dt) - 1``. A
window is labelled with a segment's class when it shares at least ``min(min_overlap, the
segment's length)`` timesteps with it; a window that shares timesteps with no segment is
background (class ``background``); any other window (a sliver of a segment, or two segments)
is left out as ambiguous. Background windows are thinned to ``background_ratio`` times the
number of labelled windows, keeping evenly spaced ones (deterministic), because most of a
recording is background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesnn.data.events import frame_shape
from edgesnn.data.streams import Recording, StreamFile, activity_filter, event_frames, event_rates
from edgesnn.errors import DatasetError

DEFAULT_DT_US = 10_000
DEFAULT_WINDOW, DEFAULT_STRIDE, DEFAULT_MIN_OVERLAP = 30, 5, 5
DEFAULT_WINDOWS = (DEFAULT_WINDOW, DEFAULT_STRIDE, DEFAULT_MIN_OVERLAP)
#: audio (10 ms steps): 1 s windows every 100 ms, labelled only when they hold a whole word
#: (min(min_overlap, the segment's length) timesteps: a word is under a second)
AUDIO_WINDOWS = (100, 10, 100)


@dataclass(frozen=True, eq=False)
class StreamSet:
    """A validated stream data set (``kind == "stream"``)."""

    name: str
    file: StreamFile
    kind: str = "stream"
    _filtered: dict = field(default_factory=dict, repr=False)  # (split, denoise_us) -> events

    @property
    def modality(self) -> str:
        return self.file.modality

    @property
    def classes(self) -> int:
        """Output classes of a model: the segments' classes and one for background."""
        return self.file.classes + 1

    @property
    def class_names(self) -> list[str]:
        names = list(self.file.class_names or [str(c) for c in range(self.file.classes)])
        return names + ["background"]

    def recording(self, split: str) -> Recording:
        return self.file.split(split)

    def resolve(self, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        s = {k: v for k, v in (spec or {}).items() if v is not None}
        if s.get("encoding") not in (None, "stream"):
            raise DatasetError(f"data set {self.name!r} is a stream: encoding {s['encoding']!r} does not apply")
        if self.modality == "audio":
            fe = self._front_end(s)
            s["dt_us"] = fe.dt_us
        win, stride, overlap = AUDIO_WINDOWS if self.modality == "audio" else DEFAULT_WINDOWS
        dt = int(s.get("dt_us", self.file.dt_us or DEFAULT_DT_US))
        if self.file.dt_us is not None and dt != self.file.dt_us:
            raise DatasetError(
                f"data set {self.name!r} holds spikes of {self.file.dt_us} µs steps; dt_us {dt} does not apply"
            )
        out: dict[str, Any] = {
            "dataset": self.name,
            "encoding": "stream",
            "modality": self.modality,
            "dt_us": dt,
            "downsample": int(s.get("downsample", 1)),
            "denoise_us": int(s.get("denoise_us", 0)),
            "window": int(s.get("window", win)),
            "stride": int(s.get("stride", stride)),
            "min_overlap": int(s.get("min_overlap", overlap)),
            "background": self.file.classes,
            "background_ratio": float(s.get("background_ratio", 1.0)),
            "seed": int(s.get("seed", 0)),
        }
        for key in ("dt_us", "downsample", "window", "stride", "min_overlap"):
            if out[key] < 1:
                raise DatasetError(f"{key} must be >= 1, got {out[key]}")
        if out["denoise_us"] < 0:
            raise DatasetError(f"denoise_us must be >= 0, got {out['denoise_us']}")
        if out["denoise_us"] and self.modality != "events":
            raise DatasetError("denoise_us applies to event streams only")
        if not out["background_ratio"] > 0:
            raise DatasetError(f"background_ratio must be > 0, got {out['background_ratio']}")
        if self.modality != "events" and out["downsample"] != 1:
            raise DatasetError("downsample applies to event streams only")
        if self.modality == "audio":
            out.update(channels=fe.channels, audio_mode=fe.mode, front_end=fe.as_dict())
        return out

    def _front_end(self, s: dict[str, Any]):
        """An audio stream's front end: the spec's own (a model's), held to the file's sample
        rate, else one designed from ``channels``, ``dt_us`` and ``audio_mode``. Its timestep
        must be a whole number of µs (segments are in µs)."""
        from edgesnn.data.datasets import DEFAULT_AUDIO_CHANNELS
        from edgesnn.fixedpoint.audio import AudioFrontEnd, design_front_end

        rate = int(self.file.sample_rate or 0)
        try:
            if s.get("front_end") is not None:
                fe = AudioFrontEnd.from_dict(s["front_end"])
                if fe.sample_rate != rate:
                    raise DatasetError(
                        f"the model's audio front end takes {fe.sample_rate} Hz, data set {self.name!r} holds "
                        f"{rate} Hz audio (resample it, e.g. sox IN -r {fe.sample_rate} OUT)"
                    )
                if "dt_us" in s and int(s["dt_us"]) != fe.dt_us:
                    raise DatasetError(f"dt_us {s['dt_us']} differs from the front end's timestep ({fe.dt_us} µs)")
            else:
                dt = int(s.get("dt_us", DEFAULT_DT_US))
                fe = design_front_end(
                    rate,
                    int(s.get("channels", DEFAULT_AUDIO_CHANNELS)),
                    dt_ms=dt / 1000.0,
                    mode=str(s.get("audio_mode", "adaptive")),
                )
        except ValueError as e:
            raise DatasetError(f"data set {self.name!r}: {e}") from None
        if fe.samples_per_step * 1_000_000 % rate:
            raise DatasetError(
                f"data set {self.name!r}: a timestep of {fe.samples_per_step} samples at {rate} Hz is not a whole "
                "number of µs; choose dt_us a multiple of 1000"
            )
        return fe

    def front_end(self, spec: dict[str, Any] | None = None):
        """The audio front end (``fixedpoint.audio.AudioFrontEnd``) of an audio stream's spec."""
        from edgesnn.fixedpoint.audio import AudioFrontEnd

        s = self.resolve(spec)
        if "front_end" not in s:
            raise DatasetError(f"data set {self.name!r} is a {self.modality} stream: it has no audio front end")
        return AudioFrontEnd.from_dict(s["front_end"])

    def pcm(self, split: str, spec: dict[str, Any] | None, start: int, stop: int) -> np.ndarray:
        """Timesteps ``start .. stop-1`` of an audio recording as int16 PCM (steps, samples per
        timestep), zeros past its last sample: what a device with the front end is sent."""
        from edgesnn.fixedpoint.audio import pcm_int16

        fe = self.front_end(spec)
        D = fe.samples_per_step
        rec = self.recording(split)
        assert rec.audio is not None
        out = np.zeros((stop - start) * D, np.int16)
        part = rec.audio[start * D : stop * D]
        out[: len(part)] = pcm_int16(part)
        return out.reshape(stop - start, D)

    def _audio_spikes(self, split: str, s: dict[str, Any]) -> np.ndarray:
        """A split's whole recording through the front end (steps, channels), padded with zeros to
        whole timesteps; computed once per split and front end, then kept."""
        from edgesnn.fixedpoint.audio import front_end_spikes

        fe = self.front_end(s)
        key = ("audio", split, fe)
        if key not in self._filtered:
            for old in [k for k in self._filtered if k[0] == "audio" and k[2] != fe]:
                del self._filtered[old]
            T = self.steps(split, s)
            self._filtered[key] = front_end_spikes(fe, self.pcm(split, s, 0, T).reshape(-1))
        return self._filtered[key]

    def model_spec(self, input_spec: dict[str, Any]) -> dict[str, Any]:
        """A model's recorded stream settings applied to this data set."""
        keep = (
            "dt_us", "downsample", "denoise_us", "window", "stride", "min_overlap", "background_ratio", "seed",
            "front_end",
        )  # fmt: skip
        return self.resolve({k: input_spec[k] for k in keep if k in input_spec})

    def input_shape(self, spec: dict[str, Any] | None = None) -> tuple[int, ...]:
        if self.modality == "events":
            assert self.file.sensor_size is not None
            return frame_shape(self.file.sensor_size, self.resolve(spec)["downsample"])
        if self.modality == "audio":
            return (self.front_end(spec).channels,)
        rec = self.file.train
        assert rec.x is not None
        return (int(rec.x.shape[1]),)

    def n_inputs(self, spec: dict[str, Any] | None = None) -> int:
        return int(np.prod(self.input_shape(spec)))

    def steps(self, split: str, spec: dict[str, Any] | None = None, seconds: float | None = None) -> int:
        """Timesteps of a split's recording (or of its first ``seconds``)."""
        s = self.resolve(spec)
        dur = self.recording(split).duration_us
        if seconds is not None:
            if not seconds > 0:
                raise DatasetError(f"seconds must be > 0, got {seconds}")
            dur = min(dur, int(round(seconds * 1e6)))
        return -(-dur // s["dt_us"])

    def frames(self, split: str, spec: dict[str, Any] | None, start: int, stop: int) -> np.ndarray:
        """Timesteps ``start .. stop-1`` of a split's recording as (steps, channels) bool."""
        s = self.resolve(spec)
        rec = self.recording(split)
        if rec.modality == "events":
            sensor = self.file.sensor_size
            assert sensor is not None  # validated: an events file has one
            return event_frames(self.events(split, s), sensor, s["dt_us"], start, stop, s["downsample"])
        src = self._audio_spikes(split, s) if rec.modality == "audio" else rec.x
        assert src is not None
        out = np.zeros((stop - start, src.shape[1]), bool)
        part = src[start:stop]
        out[: len(part)] = part
        return out

    def events(self, split: str, spec: dict[str, Any] | None = None) -> np.ndarray:
        """A split's events as the model takes them: through the activity filter when
        ``denoise_us`` is set (filtered once per split and setting, then kept)."""
        s = self.resolve(spec)
        rec = self.recording(split)
        if rec.events is None or self.file.sensor_size is None:
            raise DatasetError(f"data set {self.name!r} holds no events")
        if not s["denoise_us"]:
            return rec.events
        key = (split, s["denoise_us"])
        if key not in self._filtered:
            self._filtered[key] = activity_filter(rec.events, self.file.sensor_size, s["denoise_us"])
        return self._filtered[key]

    def segment_steps(self, split: str, spec: dict[str, Any] | None = None) -> np.ndarray:
        """Segments in timesteps: (K, 3) first step, one past the last step, class."""
        dt = self.resolve(spec)["dt_us"]
        seg = self.recording(split).segments
        return np.stack([seg[:, 0] // dt, -(-seg[:, 1] // dt), seg[:, 2]], axis=1)

    def window_index(self, split: str, spec: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start timesteps and labels of the training windows (module docstring)."""
        s = self.resolve(spec)
        T, W = self.steps(split, s), s["window"]
        starts = np.arange(0, max(T - W, 0) + 1, s["stride"], dtype=np.int64)
        seg = self.segment_steps(split, s)
        lab = np.full(len(starts), s["background"], np.int64)
        hits = np.zeros(len(starts), np.int64)
        touched = np.zeros(len(starts), np.int64)
        for on, off, c in seg:
            lo = np.searchsorted(starts, on - W, side="right")
            hi = np.searchsorted(starts, off, side="left")
            ov = np.minimum(starts[lo:hi] + W, off) - np.maximum(starts[lo:hi], on)
            touched[lo:hi] += ov > 0
            good = ov >= min(s["min_overlap"], off - on)
            hits[lo:hi] += good
            lab[lo:hi][good] = c
        labelled = (hits == 1) & (touched == 1)
        background = touched == 0
        n_bg = int(min(background.sum(), max(1, round(s["background_ratio"] * labelled.sum()))))
        bg_idx = np.flatnonzero(background)
        bg_keep = bg_idx[np.linspace(0, len(bg_idx) - 1, n_bg).round().astype(np.int64)] if n_bg else bg_idx[:0]
        keep = np.sort(np.concatenate([np.flatnonzero(labelled), np.unique(bg_keep)]))
        return starts[keep], lab[keep]

    def spikes(self, split: str, spec: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Training windows (N, window, channels) bool and their labels."""
        s = self.resolve(spec)
        starts, labels = self.window_index(split, s)
        if len(starts) == 0:
            raise DatasetError(f"data set {self.name!r}: the {split} recording is shorter than one window")
        W = s["window"]
        T = self.steps(split, s)
        x = np.zeros((len(starts), W, self.n_inputs(s)), bool)
        chunk = 20_000
        for c0 in range(0, T, chunk):
            c1 = min(T, c0 + chunk + W)
            sel = np.flatnonzero((starts >= c0) & (starts < c0 + chunk))
            if len(sel) == 0:
                continue
            fr = self.frames(split, s, c0, c1)
            for k in sel:
                x[k] = fr[starts[k] - c0 : starts[k] - c0 + W]
        return x, labels

    def info(self) -> dict[str, Any]:
        f = self.file
        res: dict[str, Any] = {
            "dataset": self.name,
            "kind": "stream",
            "modality": f.modality,
            "classes": f.classes,
            "class_names": list(f.class_names) if f.class_names else None,
        }
        if f.sensor_size is not None:
            res["sensor_size"] = list(f.sensor_size)
        if f.sample_rate is not None:
            res["sample_rate"] = f.sample_rate
        if f.dt_us is not None:
            res["dt_us"] = f.dt_us
        unit = "events" if f.modality == "events" else "spikes"
        for split in ("train", "test"):
            rec = f.split(split)
            rates = event_rates(rec)
            res[f"duration_s_{split}"] = rec.duration_us / 1e6
            res[f"segments_{split}"] = int(len(rec.segments))
            res[f"duty_cycle_{split}"] = rec.duty_cycle
            if f.modality != "audio":
                res[f"{unit}_per_s_inside_{split}"] = rates["inside"]
                res[f"{unit}_per_s_outside_{split}"] = rates["outside"]
        return res
