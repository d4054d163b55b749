"""``spoken-commands``: keyword spotting on synthetic speech, made offline with espeak-ng.

**Synthetic speech**, not recordings of people: a model trained on it learns espeak-ng's
formant voices, and what it scores here says nothing of how it hears a person. It exists so that
the audio path (front end, training, device) can be exercised and measured on a machine with no
download, deterministically.

Recipe (``VERSION`` changes whenever it does):

1. **Classes**: the ten commands of Google's Speech Commands (``COMMANDS``) and ``unknown``,
   spoken as one of ``OTHER_WORDS`` (its 20 other words and five more).
2. **Voices**: every pair of an English accent (``ACCENTS``, espeak-ng's 8) and a voice variant
   (``VARIANTS``, 40 of espeak-ng's: male, female, old, robotic, croaky). **Split by variant**:
   every fifth variant (8 of 40, ``TEST_VARIANTS``) is heard in the test split only, in all eight
   accents, so no test voice is heard in training.
3. **Per utterance** (a generator seeded by the voice, the repetition and the class): speed
   120 to 200 words a minute, pitch 25 to 75, one of ``REPEATS`` utterances per voice and class.
   espeak-ng's 22,050 Hz output is resampled to 16 kHz (polyphase, scipy), trimmed of silence,
   scaled to a peak of -1 to -21 dBFS (uniform in dB) and placed at a random offset in a window of
   ``SECONDS`` s.
4. **Noise** over the whole window: white or pink (1/f, equal odds), at an SNR (speech RMS over
   its trimmed span to noise RMS) drawn from ``SNRS_DB`` (``None``: clean) with equal odds.
5. int16 samples, ``lengths`` all the window's.

The file is written once to the cache folder (see ``saccade.cache_dir``) as
``spoken-commands-v1.npz`` and read from there afterwards; it records espeak-ng's version (another
version makes other audio, so the file is made again under a name with that version's hash).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgesnn.data.npzfile import save_npz
from edgesnn.data.saccade import cache_dir
from edgesnn.errors import DatasetError, first_line

VERSION = 1
NAME = "spoken-commands"
SAMPLE_RATE = 16000
SECONDS = 1.0
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
OTHER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "learn", "follow", "forward", "backward", "visual",
)  # fmt: skip
CLASS_NAMES = (*COMMANDS, "unknown")
ACCENTS = (
    "en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)  # fmt: skip
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "croak", "klatt", "klatt2",
    "klatt3", "klatt4", "adam", "Alex", "Andy", "Annie", "aunty", "boris", "david", "ed", "edward", "grandma",
    "grandpa", "john", "linda", "max", "michel", "norbert", "paul", "quincy", "rob", "steph", "travis", "victor",
)  # fmt: skip
TEST_VARIANTS = VARIANTS[4::5]
REPEATS = 2
SNRS_DB = (None, 20.0, 15.0, 10.0)
SPEED_WPM = (120, 200)
PITCH = (25, 75)
PEAK_DBFS = (-21.0, -1.0)


def espeak() -> str:
    """The espeak-ng program, or a DatasetError naming the fix."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DatasetError(f"{NAME} is made with espeak-ng, which is not installed: apt-get install espeak-ng")
    return exe


def espeak_version() -> str:
    out = subprocess.run([espeak(), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def cache_path() -> Path:
    tag = hashlib.sha256(espeak_version().encode()).hexdigest()[:8]
    return cache_dir() / f"{NAME}-v{VERSION}-{tag}.npz"


def utterances(split: str) -> list[tuple[str, str, int, int]]:
    """(accent, variant, repetition, class) of every sample of a split, in file order."""
    variants = [v for v in VARIANTS if (v in TEST_VARIANTS) == (split == "test")]
    return [
        (a, v, r, c) for a in ACCENTS for v in variants for r in range(REPEATS) for c in range(len(CLASS_NAMES))
    ]  # fmt: skip


def _rng(*key: object) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(repr((VERSION, *key)).encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def synthesize(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """One word from espeak-ng, float64 at SAMPLE_RATE, silence trimmed."""
    import io

    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        out = subprocess.run(
            [espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        audio, rate = sf.read(io.BytesIO(out.stdout), dtype="float64")
    except (subprocess.SubprocessError, RuntimeError, OSError) as e:
        raise DatasetError(f"espeak-ng failed on {word!r} in voice {voice}: {first_line(e)}") from None
    g = np.gcd(SAMPLE_RATE, int(rate))
    x = resample_poly(audio, SAMPLE_RATE // g, int(rate) // g)
    loud = np.flatnonzero(np.abs(x) > 0.01 * max(np.abs(x).max(), 1e-12))
    if loud.size == 0:
        raise DatasetError(f"espeak-ng made silence for {word!r} in voice {voice}")
    return x[loud[0] : loud[-1] + 1]


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    white = rng.standard_normal(n)
    if rng.random() < 0.5:
        return white
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    return np.fft.irfft(np.fft.rfft(white) / np.sqrt(f), n)  # pink: power falls as 1/f


def sample(accent: str, variant: str, rep: int, cls: int) -> tuple[np.ndarray, float | None]:
    """One window of the recipe: int16 (SAMPLE_RATE * SECONDS,) and its SNR in dB (None: clean)."""
    rng = _rng(accent, variant, rep, cls)
    word = COMMANDS[cls] if cls < len(COMMANDS) else OTHER_WORDS[int(rng.integers(len(OTHER_WORDS)))]
    speed, pitch = int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1)), int(rng.integers(PITCH[0], PITCH[1] + 1))
    speech = synthesize(word, f"{accent}+{variant}", speed, pitch)
    n = int(SAMPLE_RATE * SECONDS)
    speech = speech[:n]
    peak = 10 ** (rng.uniform(*PEAK_DBFS) / 20)
    speech = speech * (peak / np.abs(speech).max())
    at = int(rng.integers(0, n - len(speech) + 1))
    x = np.zeros(n)
    x[at : at + len(speech)] = speech
    snr = SNRS_DB[int(rng.integers(len(SNRS_DB)))]
    if snr is not None:
        noise = _noise(rng, n)
        x += noise * (np.sqrt(np.mean(speech**2)) / np.sqrt(np.mean(noise**2)) / 10 ** (snr / 20))
    return np.clip(np.floor(x * 32767 + 0.5), -32768, 32767).astype(np.int16), snr


def ensure(progress: Callable[[int, int], None] | None = None) -> Path:
    """The cached file, made on first use (about two minutes on two cores); ``progress(done,
    total)`` is called as samples are made."""
    path = cache_path()
    if path.is_file():
        return path
    jobs = {split: utterances(split) for split in ("train", "test")}
    total, done = sum(len(j) for j in jobs.values()), 0
    out: dict[str, np.ndarray] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for split, items in jobs.items():
            rows, snrs = [], []
            for x, snr in pool.map(lambda u: sample(*u), items):
                rows.append(x)
                snrs.append(np.nan if snr is None else snr)
                done += 1
                if progress is not None and done % 100 == 0:
                    progress(done, total)
            out[f"audio_{split}"] = np.stack(rows)
            out[f"lengths_{split}"] = np.full(len(rows), rows[0].shape[0], np.int64)
            out[f"y_{split}"] = np.array([u[3] for u in items], np.int64)
            out[f"voice_{split}"] = np.array([f"{u[0]}+{u[1]}" for u in items], str)
            out[f"snr_db_{split}"] = np.array(snrs, np.float64)  # NaN: clean
    if progress is not None:
        progress(total, total)
    out.update(
        sample_rate=np.asarray(SAMPLE_RATE, np.int64),
        classes=np.asarray(len(CLASS_NAMES), np.int64),
        class_names=np.asarray(CLASS_NAMES, str),
        espeak_version=np.asarray(espeak_version(), str),
    )
    save_npz(path, out)  # atomic: an interrupted run never leaves half a file
    return path
