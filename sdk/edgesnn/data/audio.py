"""Audio files as users have them: WAV, FLAC (and what else libsndfile reads) through soundfile.

``read_audio`` gives one channel of samples, int16 where the file holds 8- or 16-bit PCM
(exact), else float32 in [-1, 1], with its sample rate; damaged, empty or non-finite audio
fails in one line naming the file. Several channels are mixed down to one (their mean).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesnn.errors import DatasetError, first_line

#: libsndfile subtypes read exactly as int16
INT16_SUBTYPES = ("PCM_16", "PCM_S8", "PCM_U8")


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples (S,), sample_rate) of an audio file."""
    try:
        import soundfile as sf
    except ImportError:
        raise DatasetError("reading audio files needs soundfile: pip install 'edgesnn[audio]'") from None
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
        dtype = "int16" if info.subtype in INT16_SUBTYPES else "float32"
        data, rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as e:  # libsndfile's refusals
        raise DatasetError(f"{path}: not an audio file soundfile can read ({first_line(e)})") from None
    if data.shape[0] == 0:
        raise DatasetError(f"{path}: the file holds no audio samples")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise DatasetError(f"{path}: the audio holds NaN or infinite samples")
    if data.shape[1] > 1:  # mixed down: the mean of the channels, rounded half up for integers
        mean = data.astype(np.float64).mean(axis=1)
        data = np.floor(mean + 0.5).astype(np.int16) if data.dtype == np.int16 else mean.astype(np.float32)
    else:
        data = data[:, 0]
    if data.dtype.kind == "f" and np.abs(data).max() > 1.0:
        raise DatasetError(f"{path}: float samples must lie in [-1, 1] (largest magnitude {np.abs(data).max():.3g})")
    return data, int(rate)
