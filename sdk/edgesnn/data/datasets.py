"""Data sets: built-in names or a user's ``.npz`` file, as spike inputs for every command.

Built-in:

* ``digits`` (features): the 1797 handwritten 8x8 digits (UCI) shipped inside scikit-learn.
  Split: stratified, 25 % test. For each class c = 0..9 in order, the indices of that class are
  permuted by one ``numpy.random.default_rng(0)`` (shared across classes) and the first
  ``round(0.25 * count)`` go to the test split: 1347 train and 450 test samples, the same on
  every machine. Pixels (0..16) become intensities x / 16.
* ``saccade-digits`` (events): the same digits and split recorded by the DVS pixel model along
  three saccades (:mod:`edgesnn.data.saccade`), sensor 32x32x2, cached after first use.
* ``digits-rows`` (spikes): the same digits and split fed row by row over time, for recurrent
  networks and inputs as narrow as a neuromorphic kit's (8 channels, one per column): row r
  occupies timesteps ``4r .. 4r+3`` (32 steps in all), and a pixel of intensity v spikes in the
  first ``round_half_up(4 v)`` of its row's four steps (a deterministic count code).

Any other name is a path to a ``.npz`` file of kind features, spikes or events
(``docs/data.md``). :func:`open_dataset` reads and validates it; :meth:`Dataset.spikes` turns a
split into the (samples, timesteps, channels) 0/1 array every command runs on, following the
*input spec* a model records (``dataset``, ``encoding``, ``timesteps``, ``seed``, and for events
``downsample`` and ``denoise_us``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from edgesnn.data import importing
from edgesnn.data.encoding import ENCODINGS, encode
from edgesnn.data.events import bin_split, events_per_sample, frame_shape
from edgesnn.data.npzfile import ArraySplit, EventSplit, read_data_file
from edgesnn.errors import ArgumentError, DatasetError, did_you_mean

BUILTIN = (
    "digits", "saccade-digits", "digits-rows", "saccade-digits-stream", "spoken-commands", "spoken-commands-stream",
)  # fmt: skip
#: digits-rows: timesteps per image row
ROW_STEPS = 4
DATASETS = BUILTIN  # kept for callers that list the names
DEFAULT_TIMESTEPS = 25
DEFAULT_AUDIO_CHANNELS = 16
DEFAULT_SPEC = {"dataset": "digits", "encoding": "rate", "timesteps": DEFAULT_TIMESTEPS, "seed": 0}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # intensities in [0, 1], (samples, channels)
    y: np.ndarray  # labels (samples,)


def digits_splits() -> tuple[Split, Split]:
    """The built-in digits train/test split (intensities x / 16)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = d.data / 16.0, d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test_idx.extend(rng.permutation(idx)[: int(round(len(idx) * 0.25))].tolist())
    test_mask = np.zeros(len(y), bool)
    test_mask[test_idx] = True
    return Split(x[~test_mask], y[~test_mask]), Split(x[test_mask], y[test_mask])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated data set. ``train``/``test`` hold intensities in [0, 1] (features), 0/1
    spikes (spikes) or event streams (events)."""

    name: str
    kind: str
    train: ArraySplit | EventSplit
    test: ArraySplit | EventSplit
    classes: int
    sensor_size: tuple[int, int, int] | None = None
    names: tuple[str, ...] | None = None  # the file's class_names, if it has them
    sample_rate: int | None = None  # audio: Hz
    # what is derived from the data once, per data set (audio: the front end's spikes)
    derived: dict = field(default_factory=dict, repr=False)

    @property
    def class_names(self) -> list[str]:
        """One name per class: the file's, else the class numbers."""
        return list(self.names) if self.names else [str(c) for c in range(self.classes)]

    def split(self, split: str) -> ArraySplit | EventSplit:
        if split not in ("train", "test"):
            raise DatasetError(f"unknown split {split!r}; use 'train' or 'test'")
        return self.train if split == "train" else self.test

    def arrays(self, split: str) -> ArraySplit:
        """A features or spikes split."""
        part = self.split(split)
        if not isinstance(part, ArraySplit):
            raise DatasetError(f"data set {self.name!r} holds {self.kind}, not arrays")
        return part

    def events(self, split: str) -> EventSplit:
        """An events split."""
        part = self.split(split)
        if not isinstance(part, EventSplit):
            raise DatasetError(f"data set {self.name!r} holds {self.kind}, not events")
        return part

    @property
    def sensor(self) -> tuple[int, int, int]:
        """(W, H, P) of an events data set."""
        if self.sensor_size is None:
            raise DatasetError(f"data set {self.name!r} holds {self.kind}, not events: no sensor size")
        return self.sensor_size

    def resolve(self, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """The complete input spec for this data set: defaults filled in, options checked."""
        s = {k: v for k, v in (spec or {}).items() if v is not None}
        out: dict[str, Any] = {"dataset": self.name, "seed": int(s.get("seed", 0))}
        enc = s.get("encoding")
        if self.kind == "features":
            enc = enc or "rate"
            if enc not in ENCODINGS:
                raise DatasetError(f"unknown encoding {enc!r}; choose one of {', '.join(ENCODINGS)}")
            out.update(encoding=enc, timesteps=int(s.get("timesteps", DEFAULT_TIMESTEPS)))
        else:
            if enc not in (None, self.kind):
                raise DatasetError(f"data set {self.name!r} holds {self.kind}: encoding {enc!r} does not apply")
            out["encoding"] = self.kind
            if self.kind == "audio":
                out.update(self._audio_spec(s))
            elif self.kind == "spikes":
                T = int(self.arrays("train").x.shape[1])
                if int(s.get("timesteps", T)) != T:
                    raise DatasetError(
                        f"data set {self.name!r} holds spikes of {T} timesteps; "
                        f"timesteps {s['timesteps']} does not apply"
                    )
                out["timesteps"] = T
            else:
                out.update(
                    timesteps=int(s.get("timesteps", DEFAULT_TIMESTEPS)),
                    downsample=int(s.get("downsample", 1)),
                    denoise_us=int(s.get("denoise_us", 0)),
                )
        if out["timesteps"] < 1:
            raise DatasetError(f"timesteps must be >= 1, got {out['timesteps']}")
        return out

    def _audio_spec(self, s: dict[str, Any]) -> dict[str, Any]:
        """channels, dt_ms and audio_mode of the audio front end, and the front end itself
        (``front_end``: its integer fields, which a model keeps and hashes). A spec that carries
        a front end (a model's) is held to it; else one is designed from the three. The timesteps
        follow from the samples' length (S // D, as the front end runs)."""
        from edgesnn.fixedpoint.audio import AudioFrontEnd

        if s.get("front_end") is not None:
            try:
                fe = AudioFrontEnd.from_dict(s["front_end"])
            except ValueError as e:
                raise DatasetError(f"the model's audio front end is invalid: {e}") from None
            if fe.sample_rate != self.sample_rate:
                raise DatasetError(
                    f"the model's audio front end takes {fe.sample_rate} Hz, data set {self.name!r} holds "
                    f"{self.sample_rate} Hz audio (resample it, e.g. sox IN -r {fe.sample_rate} OUT)"
                )
            out = {"channels": fe.channels, "dt_ms": fe.dt_us / 1000.0, "audio_mode": fe.mode}
        else:
            out = {
                "channels": int(s.get("channels", DEFAULT_AUDIO_CHANNELS)),
                "dt_ms": float(s.get("dt_ms", 10.0)),
                "audio_mode": str(s.get("audio_mode", "adaptive")),
            }
            fe = self._design(out)
        T = int(self.arrays("train").x.shape[1]) // fe.samples_per_step
        if T < 1 or int(s.get("timesteps", T)) != T:
            raise DatasetError(
                f"data set {self.name!r} holds audio of {self.arrays('train').x.shape[1]} samples: {T} timesteps "
                f"of {out['dt_ms']:g} ms" + (f"; timesteps {s['timesteps']} does not apply" if T >= 1 else "")
            )
        out["timesteps"] = T
        out["front_end"] = fe.as_dict()
        return out

    def _design(self, spec: dict[str, Any]):
        from edgesnn.fixedpoint.audio import design_front_end

        try:
            return design_front_end(
                int(self.sample_rate or 0),
                int(spec["channels"]),
                dt_ms=float(spec["dt_ms"]),
                mode=str(spec["audio_mode"]),
            )
        except ValueError as e:
            raise DatasetError(f"data set {self.name!r}: {e}") from None

    def front_end(self, spec: dict[str, Any] | None = None):
        """The audio front end (``fixedpoint.audio.AudioFrontEnd``, the contract's encoder for
        sound) of a spec: the one it carries, else the one its options design."""
        from edgesnn.fixedpoint.audio import AudioFrontEnd

        return AudioFrontEnd.from_dict(self.resolve(spec)["front_end"])

    def spec_with(self, timesteps: int | None, seed: int = 0) -> dict[str, Any]:
        """The resolved spec with ``timesteps`` where the data set lets the caller choose them
        (a spikes file keeps its own)."""
        return self.resolve({"timesteps": timesteps if self.kind not in ("spikes", "audio") else None, "seed": seed})

    def model_spec(self, input_spec: dict[str, Any]) -> dict[str, Any]:
        """A model's recorded input spec applied to this data set: a rate/latency encoding does not
        apply to spikes or events, the rest (timesteps, seed, downsampling) does."""
        spec = {**input_spec, "dataset": self.name}
        if self.kind != "features" and spec.get("encoding") in ENCODINGS:
            del spec["encoding"]
        return spec

    def input_shape(self, spec: dict[str, Any] | None = None) -> tuple[int, ...]:
        """Shape of one timestep's input: (features,), (channels,) or (P, H, W) for events."""
        if self.kind == "events":
            return frame_shape(self.sensor, self.resolve(spec)["downsample"])
        if self.kind == "audio":
            return (self.resolve(spec)["channels"],)
        return (int(self.arrays("train").x.shape[-1]),)

    def n_inputs(self, spec: dict[str, Any] | None = None) -> int:
        return int(np.prod(self.input_shape(spec)))

    def spikes(self, split: str, spec: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Input spikes (samples, timesteps, channels), bool, and labels of one split.

        Rate coding of the test split uses ``seed + 1`` so that its noise differs from training.
        """
        s = self.resolve(spec)
        if self.kind == "features":
            part = self.arrays(split)
            seed = s["seed"] + (1 if split == "test" else 0)
            return encode(part.x, s["encoding"], s["timesteps"], seed), part.y
        if self.kind == "spikes":
            part = self.arrays(split)
            return part.x, part.y
        if self.kind == "audio":
            return _audio_spikes(self, split, s), self.arrays(split).y
        ev = self.events(split)
        x = bin_split(ev, self.sensor, s["timesteps"], downsample=s["downsample"], denoise_us=s["denoise_us"] or None)
        return x, ev.y

    def static(self, split: str, spec: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One vector in [0, 1] per sample, for ANNs: the intensities (features), else each
        channel's spike rate over the sample's timesteps."""
        if self.kind == "features":
            part = self.arrays(split)
            return part.x, part.y
        x, y = self.spikes(split, spec)
        return x.mean(axis=1), y

    def info(self) -> dict[str, Any]:
        res: dict[str, Any] = {
            "dataset": self.name,
            "kind": self.kind,
            "samples_train": len(self.train),
            "samples_test": len(self.test),
            "input_shape": list(self.input_shape()),
            "timesteps": int(self.arrays("train").x.shape[1]) if self.kind == "spikes" else None,
            "classes": self.classes,
        }
        if self.kind == "audio":
            spec = self.resolve()
            lengths = np.concatenate([self.arrays(p).lengths for p in ("train", "test")])  # type: ignore[attr-defined]
            res.update(
                sample_rate=self.sample_rate,
                timesteps=spec["timesteps"],
                dt_ms=spec["dt_ms"],
                seconds_per_sample_mean=float(lengths.mean() / (self.sample_rate or 1)),
            )
        elif self.kind != "spikes":
            res["timesteps_default"] = DEFAULT_TIMESTEPS
        if self.kind == "events":
            n = np.concatenate([events_per_sample(self.events("train")), events_per_sample(self.events("test"))])
            res.update(
                sensor_size=list(self.sensor),
                events_per_sample_mean=float(n.mean()),
                events_per_sample_min=int(n.min()),
                events_per_sample_max=int(n.max()),
            )
        return res


_CACHE: dict[tuple, Any] = {}  # (key) -> Dataset; ("subset", name) -> (base, Dataset)
#: ``progress(label, done, total)`` while a built-in data set is made on first use (the CLI draws
#: a bar with it; None: silent)
GENERATION_PROGRESS: Callable[[str, int, int], None] | None = None


def _progress(done: int, total: int) -> None:
    if GENERATION_PROGRESS is not None:
        GENERATION_PROGRESS("making spoken-commands (once)", done, total)


def _stream_progress(done: int, total: int) -> None:
    if GENERATION_PROGRESS is not None:
        GENERATION_PROGRESS("making spoken-commands-stream (once)", done, total)


def _audio_spikes(ds: Dataset, split: str, spec: dict[str, Any]) -> np.ndarray:
    """Every sample of an audio split through the front end (N, T, channels), computed once per
    data set, split and front end; kept with the data set for the last front end asked for."""
    from edgesnn.fixedpoint.audio import front_end_spikes

    fe = ds.front_end(spec)
    key = ("audio", split, fe)
    if key not in ds.derived:
        for old in [k for k in ds.derived if k[2] != fe]:  # another front end's: they can be large
            del ds.derived[old]
        x = ds.arrays(split).x
        T = x.shape[1] // fe.samples_per_step
        ds.derived[key] = np.concatenate(
            [front_end_spikes(fe, x[i : i + 1024]) for i in range(0, len(x), 1024)]
            or [np.zeros((0, T, fe.channels), bool)]
        )  # batches: the pcm as int64 is 8 bytes a sample
    return ds.derived[key]


def is_stream(name: str) -> bool:
    """Whether a data set name or file is a stream (one recording per split with segments)."""
    from edgesnn.data import saccade_stream
    from edgesnn.data.streams import is_stream_file

    name = str(name)
    if saccade_stream.parse(name) is not None or name == "spoken-commands-stream":
        return True
    if name not in BUILTIN and importing.layout(name) == "labelled":
        return True
    p = Path(name)
    if name in BUILTIN or p.suffix != ".npz" or not p.is_file():
        return False
    try:
        with np.load(p, allow_pickle=False) as z:
            return is_stream_file(getattr(z, "files", ()))
    except Exception:  # an unreadable file: open_dataset names the cause
        return False


_STREAMS: dict[tuple, Any] = {}


def open_stream(name: str):
    """A stream data set (``data.stream_set.StreamSet``) by built-in name or path."""
    from edgesnn.data import saccade_stream
    from edgesnn.data.stream_set import StreamSet
    from edgesnn.data.streams import read_stream_file

    name = str(name)
    opts = saccade_stream.parse(name)
    if opts is not None:
        path = saccade_stream.ensure(opts["duty"])
    elif name == "spoken-commands-stream":
        from edgesnn.data import spoken_stream

        path = spoken_stream.ensure(_stream_progress)
    else:
        path = data_path(name)
    key = _file_key(name, path)
    if key not in _STREAMS:
        _STREAMS.clear()
        _STREAMS[key] = StreamSet(name, read_stream_file(path))
    return _STREAMS[key]


def data_path(name: str) -> Path:
    """The file behind a data set name: a folder of recordings or an SHD file is imported into
    the cache first (``data.importing``), any other name is taken as a path."""
    if name not in BUILTIN and importing.layout(name) is not None:
        return importing.cached(name)
    return Path(name)


def _file_key(name: str, path: Path) -> tuple:
    """A data file's cache key (path, modification time, size); an unknown name fails here."""
    if not path.exists():
        raise DatasetError(
            f"unknown data set {name!r}{did_you_mean(name, BUILTIN)}: not a built-in name ({', '.join(BUILTIN)}) "
            "and no such file"
        )
    st = os.stat(path)
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def open_any(name: str):
    """A per-sample data set (:class:`Dataset`) or a stream (``StreamSet``)."""
    return open_stream(name) if is_stream(name) else _open_samples(str(name))


def open_dataset(name: str) -> Dataset:
    """A built-in data set by name, or a ``.npz`` file by path (read once per process)."""
    name = str(name)
    if is_stream(name):
        raise DatasetError(
            f"data set {name!r} is a stream (one recording per split with segments), not samples: "
            "train, simulate, stream, verify and plot stream take it"
        )
    return _open_samples(name)


def _open_samples(name: str) -> Dataset:
    """``open_dataset`` once the name is known not to be a stream."""
    from edgesnn.data import subset

    part = subset.parse(name)
    if part is not None:  # NAME:classes=...: the base data set, kept to those classes
        base = _open_samples(part[0])  # cached (one base at a time); its subsets are kept beside it
        held = _CACHE.get(("subset", name))
        if held is None or held[0] is not base:
            held = (base, subset.subset(base, part[1], name))
            _CACHE[("subset", name)] = held
        return held[1]
    if name in ("digits", "digits-rows"):
        key: tuple = (name,)
    elif name == "saccade-digits":
        from edgesnn.data import saccade

        key = ("saccade-digits", str(saccade.ensure()))
    elif name == "spoken-commands":
        from edgesnn.data import spoken

        key = ("spoken-commands", str(spoken.ensure(_progress)))
    else:
        path = data_path(name)
        key = _file_key(name, path)
    if key in _CACHE:
        return _CACHE[key]
    if name == "digits":
        dtr, dte = digits_splits()
        ds = Dataset("digits", "features", ArraySplit(dtr.x, dtr.y), ArraySplit(dte.x, dte.y), 10)
    elif name == "digits-rows":
        dtr, dte = digits_splits()
        ds = Dataset(name, "spikes", ArraySplit(rows_code(dtr.x), dtr.y), ArraySplit(rows_code(dte.x), dte.y), 10)
    else:
        f = read_data_file(key[1] if name in ("saccade-digits", "spoken-commands") else path)
        tr: ArraySplit | EventSplit = f.train
        te: ArraySplit | EventSplit = f.test
        if f.kind == "features":
            tr, te = _minmax(cast(ArraySplit, tr), cast(ArraySplit, te))
        ds = Dataset(name, f.kind, tr, te, f.classes, f.sensor_size, f.class_names, f.sample_rate)
    _CACHE.clear()  # one data set at a time: they can be large
    _CACHE[key] = ds
    return ds


def builtin_sizes() -> dict[str, tuple[int, int]]:
    """(input channels, classes) of each built-in per-sample data set at its default spec, read
    without generating any file: saccade-digits is the digits rendered on its sensor, so its
    size follows from ``saccade.SENSOR`` (opening it would render 1797 samples first)."""
    from edgesnn.data import saccade, spoken

    dtr, _ = digits_splits()
    classes = int(dtr.y.max()) + 1
    return {
        "digits": (int(dtr.x.shape[1]), classes),
        "digits-rows": (int(rows_code(dtr.x[:1]).shape[-1]), classes),
        "saccade-digits": (int(np.prod(frame_shape(saccade.SENSOR))), classes),
        "spoken-commands": (DEFAULT_AUDIO_CHANNELS, len(spoken.CLASS_NAMES)),
    }


def rows_code(x: np.ndarray, row_steps: int = ROW_STEPS) -> np.ndarray:
    """8x8 intensities (N, 64) in [0, 1] -> spikes (N, 8 * row_steps, 8): row r in timesteps
    r*row_steps .. (r+1)*row_steps - 1, column j spiking in the first round_half_up(row_steps * v)
    of them."""
    img = np.asarray(x, np.float64).reshape(-1, 8, 8)
    counts = np.floor(img * row_steps + 0.5).astype(np.int64)  # (N, row, column)
    step = np.arange(row_steps).reshape(1, 1, row_steps, 1)
    spikes = step < counts[:, :, None, :]  # (N, row, step, column)
    return spikes.reshape(len(img), 8 * row_steps, 8)


def _minmax(tr: ArraySplit, te: ArraySplit) -> tuple[ArraySplit, ArraySplit]:
    """Scale features to [0, 1] by the training split's per-feature minimum and maximum
    (test values outside that range are clipped; a constant feature becomes 0)."""
    lo, hi = tr.x.min(axis=0), tr.x.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)

    def f(x):
        return np.clip((x - lo) / span, 0.0, 1.0)

    return ArraySplit(f(tr.x), tr.y), ArraySplit(f(te.x), te.y)


def load(name: str) -> tuple[Split, Split]:
    """(train, test) of one vector in [0, 1] per sample (:meth:`Dataset.static`)."""
    ds = open_dataset(name)
    return Split(*ds.static("train")), Split(*ds.static("test"))


def encoded(name: str, split: str, spec: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Input spikes (samples, timesteps, channels) and labels of one split of a data set."""
    return open_dataset(name).spikes(split, spec)


def check_model_fits(ds: Any, spec: dict | None, n_inputs: int, model: str = "the model") -> None:
    """One line naming both shapes when a model and a data set disagree."""
    shape = ds.input_shape(spec)
    if int(np.prod(shape)) != int(n_inputs):
        raise DatasetError(
            f"data set {ds.name!r} gives inputs of shape {tuple(shape)} ({int(np.prod(shape))} channels) "
            f"but {model} takes {n_inputs} inputs"
        )


def dataset_of(model: Any, dataset: str | None, model_name: str = "the model") -> str:
    """The data set to run a model on: ``dataset``, else the one the model records; a model
    that records none is refused (guessing one would report a figure on data it never saw)."""
    name = dataset or model.input_spec.get("dataset")
    if not name:
        raise ArgumentError(
            f"{model_name} records no data set: name one ({{dataset}} NAME or FILE.npz)", names=["dataset"]
        )
    return str(name)


def model_audio(
    model, dataset: str | None, split: str = "test", limit: int | None = None, model_name: str = "the model"
) -> tuple[np.ndarray, np.ndarray, Dataset]:
    """An audio model's input as the device takes it: int16 PCM (samples, audio samples), whole
    timesteps of its front end, and labels, from an audio data set (default: its own)."""
    from edgesnn.fixedpoint.audio import pcm_int16

    ds = open_any(dataset_of(model, dataset, model_name))
    if not isinstance(ds, Dataset) or ds.kind != "audio":
        raise DatasetError(f"{model_name} has an audio front end: it takes an audio data set, not {ds.name!r}")
    spec = ds.model_spec(model.input_spec)
    check_model_fits(ds, spec, model.n_inputs, model_name)
    fe = ds.front_end(spec)
    part = ds.arrays(split)
    x = part.x[:limit] if limit else part.x
    S = x.shape[1] // fe.samples_per_step * fe.samples_per_step
    return pcm_int16(x[:, :S]).astype(np.int16), (part.y[:limit] if limit else part.y), ds


def model_inputs(
    model, dataset: str | None, split: str = "test", limit: int | None = None, model_name: str = "the model"
) -> tuple[np.ndarray, np.ndarray, Any]:
    """A model's inputs from a data set (default: the one it was trained on), shapes checked."""
    ds = open_any(dataset_of(model, dataset, model_name))  # a stream gives its windows
    spec = ds.model_spec(model.input_spec)
    check_model_fits(ds, spec, model.n_inputs, model_name)
    x, y = ds.spikes(split, spec)
    return (x[:limit], y[:limit], ds) if limit else (x, y, ds)
