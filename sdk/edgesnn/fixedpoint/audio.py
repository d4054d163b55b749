"""The audio front end of the integer contract: int16 PCM -> band-pass channels -> spikes.

docs/fixed-point.md, section "Audio front end", is its prose; the two change together. Every
step is integer (int64 intermediates, int32 states); the only rounding is the contract's
``rshift_round_half_up``. Per channel k and audio sample n:

    w[n] = sat32(rshift_round_half_up((x[n] << (A + F - b_k)) - a1_k * w[n-1] - a2_k * w[n-2], A))
    y[n] = w[n] - w[n-2]                              (band-pass: AR part, then MA part 1 - z^-2)
    r[n] = |y[n]| >> F                                (full-wave rectified, back to input units)
    theta[n] = max(max_j(m_j[n-1] >> E), eps) << S    (adaptive threshold, shared by all channels; fixed: eps << S)
    m[n] = sat32(m[n-1] - (m[n-1] >> E) + r[n])       (envelope: 2^E x the mean of r over ~2^E samples)
    u[n] = sat32(u[n-1] + r[n]);  spike if u[n] >= theta[n], then u[n] -= theta[n]   (integrate and fire)

and channel k spikes in timestep t if it spiked at any of the audio samples t*D .. t*D + D - 1
(D audio samples per timestep). A = 14 (coefficient fraction bits), F = 8 (fraction bits of w);
sat32 clamps to int32 (never wraps); S <= E keeps theta inside int32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgesnn.fixedpoint.contract import rshift_round_half_up, to_int_round_half_up

#: fraction bits of the filter coefficients a1, a2 (|a1| < 2, 0 <= a2 < 1)
COEF_BITS = 14
#: fraction bits of the band-pass state w
FRAC_BITS = 8
#: the states w, m, u are int32: the design keeps |w| under 2^30 for any int16 input
STATE_LIMIT = 2**31 - 1
SAMPLE_RATES = (8000, 16000)
CHANNELS_RANGE = (8, 64)
MODES = ("adaptive", "fixed")


@dataclass(frozen=True)
class AudioFrontEnd:
    """An integer audio front end (module docstring): per-channel coefficients ``a1``, ``a2``
    (Q2.14, the AR part of a 2nd-order band-pass), input attenuation shifts ``b``, the envelope
    shift ``envelope_shift`` (E), threshold floor ``eps`` and threshold shift ``spike_shift`` (S),
    ``mode`` (adaptive: one threshold from the loudest channel's envelope; fixed: eps << S), ``samples_per_step`` (D)
    and ``sample_rate`` (Hz). ``centers_hz`` records the design, for plots and reports only."""

    sample_rate: int
    a1: tuple[int, ...]
    a2: tuple[int, ...]
    b: tuple[int, ...]
    envelope_shift: int
    spike_shift: int
    eps: int
    samples_per_step: int
    mode: str = "adaptive"
    centers_hz: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.a1)
        if self.sample_rate not in SAMPLE_RATES:
            raise ValueError(
                f"sample_rate {self.sample_rate} Hz: the front end takes {' or '.join(map(str, SAMPLE_RATES))} Hz"
            )
        if not CHANNELS_RANGE[0] <= n <= CHANNELS_RANGE[1]:
            raise ValueError(f"{n} channels: the front end has {CHANNELS_RANGE[0]} to {CHANNELS_RANGE[1]}")
        if len(self.a2) != n or len(self.b) != n:
            raise ValueError(f"a1, a2 and b need one value per channel: got {n}, {len(self.a2)}, {len(self.b)}")
        one = 1 << COEF_BITS
        for k, (a1, a2, b) in enumerate(zip(self.a1, self.a2, self.b)):
            # inside the stability triangle of the quantized poles: |a2| < 1 and |a1| < 1 + a2
            if not (0 <= a2 < one and abs(a1) < one + a2 and -2 * one <= a1 < 2 * one):
                raise ValueError(f"channel {k}: a1 = {a1}, a2 = {a2} (Q2.{COEF_BITS}) are not a stable band-pass")
            if not 0 <= b <= COEF_BITS + FRAC_BITS:
                raise ValueError(f"channel {k}: b = {b} outside 0..{COEF_BITS + FRAC_BITS}")
        if not 1 <= self.envelope_shift <= 20:
            raise ValueError(f"envelope_shift {self.envelope_shift} outside 1..20")
        if not 0 <= self.spike_shift <= min(16, self.envelope_shift):
            raise ValueError(f"spike_shift {self.spike_shift} outside 0..min(16, envelope_shift {self.envelope_shift})")
        if not 1 <= self.eps < 2**15:
            raise ValueError(f"eps {self.eps} outside 1..32767")
        if self.samples_per_step < 1:
            raise ValueError(f"samples_per_step {self.samples_per_step} must be at least 1")
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: choose {' or '.join(MODES)}")

    @property
    def channels(self) -> int:
        return len(self.a1)

    @property
    def dt_us(self) -> int:
        return self.samples_per_step * 1_000_000 // self.sample_rate


def mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def design_front_end(
    sample_rate: int = 16000,
    channels: int = 16,
    *,
    f_low: float = 100.0,
    f_high: float | None = None,
    scale: str = "mel",
    dt_ms: float = 10.0,
    envelope_ms: float = 64.0,
    spike_shift: int | None = None,
    eps: int = 32,
    mode: str = "adaptive",
) -> AudioFrontEnd:
    """A front end for ``channels`` bands between ``f_low`` and ``f_high`` (default 0.45 x the
    sample rate), centers spaced evenly on the mel (or log) scale, each band spanning its
    neighbours' centers (RBJ constant-peak band-pass, bilinear transform, quantized to Q2.14).
    ``b`` per channel normalizes the band's peak gain to about 2^F and keeps the state under
    2^30 for any int16 input (the L1 norm of the quantized AR impulse response bounds it).
    ``envelope_ms`` sets E (2^E samples of averaging), ``spike_shift`` S (default: a steady
    band spikes about every 2^S samples, S chosen for about one spike per timestep)."""
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample_rate {sample_rate} Hz: the front end takes {' or '.join(map(str, SAMPLE_RATES))} Hz")
    f_high = 0.45 * sample_rate if f_high is None else f_high
    if not 0 < f_low < f_high <= 0.45 * sample_rate:
        raise ValueError(f"bands {f_low:g}..{f_high:g} Hz must lie in (0, {0.45 * sample_rate:g}] Hz")
    D = sample_rate * dt_ms / 1000.0
    if D < 1 or abs(D - round(D)) > 1e-9:
        raise ValueError(f"dt_ms {dt_ms:g}: a timestep must be a whole number of audio samples at {sample_rate} Hz")
    if scale == "mel":
        edges = mel_to_hz(np.linspace(mel(f_low), mel(f_high), channels + 2))
    elif scale == "log":
        edges = np.geomspace(f_low, f_high, channels + 2)
    else:
        raise ValueError(f"scale {scale!r}: choose mel or log")
    centers = edges[1:-1]
    a1s, a2s, bs = [], [], []
    for k, f0 in enumerate(centers):
        w0 = 2 * math.pi * f0 / sample_rate
        bw_oct = math.log2(edges[k + 2] / edges[k]) / 2  # half the span of the neighbours' centers
        alpha = math.sin(w0) * math.sinh(math.log(2) / 2 * bw_oct * w0 / math.sin(w0))
        a1 = int(to_int_round_half_up(-2 * math.cos(w0) / (1 + alpha) * 2**COEF_BITS))
        a2 = int(to_int_round_half_up((1 - alpha) / (1 + alpha) * 2**COEF_BITS))
        a1s.append(a1)
        a2s.append(a2)
        bs.append(_attenuation(a1, a2))
    E = max(1, round(math.log2(max(envelope_ms, 1e-3) * sample_rate / 1000.0)))
    S = min(E, max(0, round(math.log2(D)))) if spike_shift is None else spike_shift
    return AudioFrontEnd(
        sample_rate, tuple(a1s), tuple(a2s), tuple(bs), E, S, eps, int(round(D)), mode, tuple(float(c) for c in centers)
    )


def _attenuation(a1: int, a2: int) -> int:
    """b: the smallest shift that brings the band's peak gain to at most 2^F and bounds |w| by
    2^30 for any int16 input (rounding adds at most 1/2 a step, bounded by the same norm)."""
    c1, c2 = a1 / 2**COEF_BITS, a2 / 2**COEF_BITS
    cur, prev1, prev2, l1 = 1.0, 0.0, 0.0, 0.0
    for _ in range(1 << 20):  # h[n] = -c1 h[n-1] - c2 h[n-2], h[0] = 1, until it has died away
        l1 += abs(cur)
        prev2, prev1 = prev1, cur
        cur = -c1 * prev1 - c2 * prev2
        if abs(cur) < 1e-12 and abs(prev1) < 1e-12:
            break
    g = (1 - c2) / 2  # the MA part's gain at the center is 1 / g of the AR gain normalized
    b = max(0, math.ceil(math.log2(1 / max(g, 1e-9))))
    while (2**15 * 2.0 ** (FRAC_BITS - b) + 0.5) * l1 >= 2**30 and b < COEF_BITS + FRAC_BITS:
        b += 1
    return b


def pcm_int16(audio: np.ndarray) -> np.ndarray:
    """int16 samples as they are; float samples in [-1, 1] as round_half_up(x * 32767), clipped."""
    a = np.asarray(audio)
    if a.dtype == np.int16:
        return a.astype(np.int64)
    if a.dtype.kind != "f":
        raise ValueError(f"audio must be int16 or float in [-1, 1], got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError("audio holds NaN or infinite samples")
    return np.clip(to_int_round_half_up(a.astype(np.float64) * 32767.0), -32768, 32767)


def front_end_spikes(fe: AudioFrontEnd, audio: np.ndarray) -> np.ndarray:
    """The front end on one recording (int16, or float in [-1, 1]): spikes (T, channels) bool,
    T = len(audio) // samples_per_step (a last partial timestep is dropped)."""
    x = pcm_int16(audio)
    if x.ndim != 1:
        raise ValueError(f"audio must be one channel (S,), got shape {x.shape}")
    D, N = fe.samples_per_step, fe.channels
    T = len(x) // D
    a1, a2 = np.array(fe.a1, np.int64), np.array(fe.a2, np.int64)
    up = COEF_BITS + FRAC_BITS - np.array(fe.b, np.int64)
    E, S, eps, adaptive = fe.envelope_shift, fe.spike_shift, fe.eps, fe.mode == "adaptive"
    w1, w2, m, u = (np.zeros(N, np.int64) for _ in range(4))
    out = np.zeros((T, N), bool)
    for n in range(T * D):
        acc = (x[n] << up) - a1 * w1 - a2 * w2
        w = np.clip(rshift_round_half_up(acc, COEF_BITS), -STATE_LIMIT - 1, STATE_LIMIT)
        r = np.abs(w - w2) >> FRAC_BITS
        theta = max(int((m >> E).max()), eps) << S if adaptive else eps << S  # one for all channels
        m = np.minimum(m - (m >> E) + r, STATE_LIMIT)  # both stay >= 0: only the top can saturate
        u = np.minimum(u + r, STATE_LIMIT)
        fired = u >= theta
        u = np.where(fired, u - theta, u)
        out[n // D] |= fired
        w2, w1 = w1, w
    return out
