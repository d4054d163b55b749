"""``spoken-commands-stream``: an always-on microphone that now and then hears a word (an audio
stream file, docs/data.md "Streams"). **Synthetic speech** from espeak-ng, as ``spoken-commands``
(``data.spoken``), whose voices, split and per-word recipe it reuses.

Recipe (deterministic, seeded; ``VERSION`` changes whenever it does):

1. **Words**: each is one of the ten commands (``spoken.COMMANDS``, the segments' classes) or,
   with probability ``DISTRACTOR_P``, one of ``spoken.OTHER_WORDS``: a distractor, spoken but not
   a segment, so a detection on it is a false alarm. Voices as ``spoken-commands``: every accent
   with the train variants in the train recording, the test variants in the test one (no test
   voice is heard in training); speed, pitch and peak level drawn as there.
2. **Timing**: the recording starts with a gap; after each word comes a gap of ``g * U(0.5,
   1.5)`` (at least ``MIN_GAP_S``), ``g`` chosen so that words fill ``SPEECH_FRACTION`` of the
   recording: at least 80 % of it is non-speech. A command's segment is its trimmed span
   ``[onset, onset + length]``.
3. **Noise floor**: the whole recording carries noise, in blocks of ``NOISE_BLOCK_S``, each white
   or pink (equal odds) at an RMS level uniform in dB over ``NOISE_DBFS``; a word's SNR follows
   from its level and its block's (``snr_db_{split}`` records each command's).
4. int16 at 16 kHz; ``TRAIN_S`` s of train and ``TEST_S`` s of test recording.

The file is cached as ``spoken-commands-stream-v{VERSION}-{espeak hash}.npz`` (see
``spoken.cache_path``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgesnn.data import spoken
from edgesnn.data.npzfile import save_npz
from edgesnn.data.saccade import cache_dir

NAME = "spoken-commands-stream"
VERSION = 1
TRAIN_S, TEST_S = 3600, 900
SPEECH_FRACTION = 0.18
DISTRACTOR_P = 0.2
MIN_GAP_S = 0.4
NOISE_BLOCK_S = 10.0
NOISE_DBFS = (-66.0, -42.0)
RATE = spoken.SAMPLE_RATE
MEAN_WORD_S = 0.42  # espeak-ng's trimmed words at 120-200 wpm: 0.39 s median, measured


def cache_path() -> Path:
    tag = hashlib.sha256(spoken.espeak_version().encode()).hexdigest()[:8]
    return cache_dir() / f"{NAME}-v{VERSION}-{tag}.npz"


def _plan(split: str, seconds: float) -> list[tuple[str, int, int, int, int, float]]:
    """(voice, class or -1, word index, speed, pitch, peak) of each word in order: class -1 is a
    distractor (word index into OTHER_WORDS)."""
    rng = spoken._rng("stream", split)
    variants = [v for v in spoken.VARIANTS if (v in spoken.TEST_VARIANTS) == (split == "test")]
    n = int(seconds * SPEECH_FRACTION / MEAN_WORD_S * 1.2) + 8  # more than fit; the timing cuts
    out = []
    for _ in range(n):
        voice = f"{spoken.ACCENTS[int(rng.integers(len(spoken.ACCENTS)))]}+{variants[int(rng.integers(len(variants)))]}"
        if rng.random() < DISTRACTOR_P:
            cls, word = -1, int(rng.integers(len(spoken.OTHER_WORDS)))
        else:
            cls = int(rng.integers(len(spoken.COMMANDS)))
            word = cls
        speed = int(rng.integers(spoken.SPEED_WPM[0], spoken.SPEED_WPM[1] + 1))
        pitch = int(rng.integers(spoken.PITCH[0], spoken.PITCH[1] + 1))
        out.append((voice, cls, word, speed, pitch, float(rng.uniform(*spoken.PEAK_DBFS))))
    return out


def _word(item: tuple) -> np.ndarray:
    voice, cls, word, speed, pitch, peak_db = item
    text = spoken.COMMANDS[word] if cls >= 0 else spoken.OTHER_WORDS[word]
    x = spoken.synthesize(text, voice, speed, pitch)
    return x * (10 ** (peak_db / 20) / np.abs(x).max())


def record(split: str, seconds: float, progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """One recording: ``audio`` int16, ``segments`` (K, 3), ``snr_db`` per segment, ``speech``
    (every word's [onset, offset] µs, distractors included)."""
    rng = spoken._rng("stream-timing", split)
    plan = _plan(split, seconds)
    n = int(seconds * RATE)
    x = np.zeros(n)
    spans, cls_of = [], []
    gap = MEAN_WORD_S * (1 - SPEECH_FRACTION) / SPEECH_FRACTION
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        t = 0
        for k, w in enumerate(pool.map(_word, plan)):
            if progress is not None:
                progress(k)
            t += int(RATE * max(MIN_GAP_S, gap * rng.uniform(0.5, 1.5)))
            if t + len(w) > n:
                break
            x[t : t + len(w)] = w
            spans.append((t, t + len(w)))
            cls_of.append(plan[k][1])
            t += len(w)
    block = int(NOISE_BLOCK_S * RATE)
    noise_rms = np.zeros(-(-n // block))
    for b, a in enumerate(range(0, n, block)):
        m = min(block, n - a)
        z = spoken._noise(rng, m)
        noise_rms[b] = 10 ** (rng.uniform(*NOISE_DBFS) / 20)
        x[a : a + m] += z * (noise_rms[b] / np.sqrt(np.mean(z**2)))
    cmd = [(a, b, c) for (a, b), c in zip(spans, cls_of) if c >= 0]
    # a command's SNR: its span's power (speech and noise) over its block's noise power
    snr = [10 * np.log10(max(np.mean(x[a:b] ** 2), 1e-20) / noise_rms[a // block] ** 2) for a, b, _ in cmd]
    segs = [(a * 1_000_000 // RATE, -(-b * 1_000_000 // RATE), c) for a, b, c in cmd]
    audio = np.clip(np.floor(x * 32767 + 0.5), -32768, 32767).astype(np.int16)
    speech_us = np.array([(a * 1_000_000 // RATE, -(-b * 1_000_000 // RATE)) for a, b in spans], np.int64)
    return {
        "audio": audio,
        "segments": np.array(segs, np.int64).reshape(-1, 3),
        "snr_db": np.array(snr, np.float64),
        "speech_us": speech_us.reshape(-1, 2),
    }


def ensure(progress: Callable[[int, int], None] | None = None) -> Path:
    """The cached file, made on first use (a minute or two on two cores)."""
    path = cache_path()
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, np.ndarray] = {}
    plans = {"train": TRAIN_S, "test": TEST_S}
    total = sum(len(_plan(s, sec)) for s, sec in plans.items())
    base = 0
    for split, sec in plans.items():

        def tick(k: int, b: int = base) -> None:
            if progress is not None:
                progress(b + k, total)

        r = record(split, sec, tick)
        base += len(_plan(split, sec))
        out[f"audio_{split}"] = r["audio"]
        out[f"segments_{split}"] = r["segments"]
        out[f"snr_db_{split}"] = r["snr_db"]
        out[f"speech_us_{split}"] = r["speech_us"]
    if progress is not None:
        progress(total, total)
    out.update(
        sample_rate=np.asarray(RATE, np.int64),
        class_names=np.asarray(spoken.COMMANDS, str),
        espeak_version=np.asarray(spoken.espeak_version(), str),
    )
    save_npz(path, out)  # atomic
    return path
