"""The audio front end of the integer contract: int16 PCM -> band-pass channels -> spikes.

docs/fixed-point.md, section "Audio front end", is its prose; the two change together. Every
step is integer; products are 32 x 16 bits, shifts are arithmetic (flooring). Per channel k
and audio sample n:

    W[n] = (x[n] << g_k) + ((c1_k * W[n-1]) >> 14) + ((c2_k * W[n-2]) >> 14)   (AR part, |W| < 2^28)
    R_k += |W[n] - W[n-2]| >> F                                                (MA part 1 - z^-2, rectified)

and once per timestep (after its D samples), with m and u from the timestep before:

    theta  = max(max_j(m_j >> E), eps) << S      (adaptive: one threshold for all; fixed: eps << S)
    m_k    = sat32(m_k - (m_k >> E) + R_k)       (envelope: 2^E x the mean R over ~2^E timesteps)
    u_k    = sat32(u_k - (u_k >> E) + R_k); spike_k = u_k >= theta; u_k = u_k mod theta;  R_k = 0

F = 10 (fraction bits of W), c = round(-a * 2^14) (Q2.14), sat32 clamps to int32; the design
bounds |W| so that nothing else can overflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from edgesnn.fixedpoint.contract import to_int_round_half_up

#: fraction bits of the filter coefficients c1, c2 (Q2.14)
COEF_BITS = 14
#: fraction bits of the band-pass state W relative to the input
FRAC_BITS = 10
#: |W| stays under this for any int16 input (the C runtime keeps 4 W, and 4 W - 4 W[n-2], in an int32)
W_LIMIT = 2**28
#: m and u saturate at int32
STATE_LIMIT = 2**31 - 1
SAMPLE_RATES = (8000, 16000)
CHANNELS_RANGE = (8, 64)
MODES = ("adaptive", "fixed")


@dataclass(frozen=True)
class AudioFrontEnd:
    """An integer audio front end (module docstring): per-channel feedback coefficients ``c1``,
    ``c2`` (Q2.14: minus the AR part of a 2nd-order band-pass) and input shifts ``g``, the
    envelope shift ``envelope_shift`` (E, in timesteps), threshold floor ``eps`` and shift
    ``spike_shift`` (S), ``mode`` (adaptive: one threshold from the loudest channel's envelope;
    fixed: eps << S), ``samples_per_step`` (D) and ``sample_rate`` (Hz). ``centers_hz`` records
    the design, for plots and reports only. Refused: an unstable pair, or gains whose worst-case
    state could reach 2^28."""

    sample_rate: int
    c1: tuple[int, ...]
    c2: tuple[int, ...]
    g: tuple[int, ...]
    envelope_shift: int
    spike_shift: int
    eps: int
    samples_per_step: int
    mode: str = "adaptive"
    centers_hz: tuple[float, ...] = field(default=(), compare=False)  # design notes: not in ==

    def __post_init__(self) -> None:
        n = len(self.c1)
        if self.sample_rate not in SAMPLE_RATES:
            raise ValueError(
                f"sample_rate {self.sample_rate} Hz: the front end takes {' or '.join(map(str, SAMPLE_RATES))} Hz"
            )
        if not CHANNELS_RANGE[0] <= n <= CHANNELS_RANGE[1]:
            raise ValueError(f"{n} channels: the front end has {CHANNELS_RANGE[0]} to {CHANNELS_RANGE[1]}")
        if len(self.c2) != n or len(self.g) != n:
            raise ValueError(f"c1, c2 and g need one value per channel: got {n}, {len(self.c2)}, {len(self.g)}")
        one = 1 << COEF_BITS
        for k, (c1, c2, g) in enumerate(zip(self.c1, self.c2, self.g)):
            # poles inside the unit circle (the stability triangle): |a2| < 1, |a1| < 1 + a2
            if not (-one < c2 <= 0 and abs(c1) < one - c2 and -2 * one <= c1 < 2 * one):
                raise ValueError(f"channel {k}: c1 = {c1}, c2 = {c2} (Q2.{COEF_BITS}) are not a stable band-pass")
            if not 0 <= g <= 13:
                raise ValueError(f"channel {k}: g = {g} outside 0..13")
            bound = worst_state(c1, c2, g)
            if bound >= W_LIMIT:
                raise ValueError(f"channel {k}: g = {g} lets the state reach {bound:.3g} >= 2^28 at full scale")
        if not 1 <= self.envelope_shift <= 16:
            raise ValueError(f"envelope_shift {self.envelope_shift} outside 1..16")
        if not 0 <= self.spike_shift <= min(15, self.envelope_shift):
            raise ValueError(f"spike_shift {self.spike_shift} outside 0..min(15, envelope_shift {self.envelope_shift})")
        if not 1 <= self.eps < 2**16:
            raise ValueError(f"eps {self.eps} outside 1..65535")
        if not 1 <= self.samples_per_step <= 4096:
            raise ValueError(f"samples_per_step {self.samples_per_step} outside 1..4096")
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: choose {' or '.join(MODES)}")

    @property
    def channels(self) -> int:
        return len(self.c1)

    def as_dict(self, design: bool = True) -> dict:
        """JSON-ready fields (model files keep them in the input spec); ``design=False`` leaves
        out ``centers_hz``, which nothing computes with (the content hash takes that form)."""
        d = {
            "sample_rate": self.sample_rate, "c1": list(self.c1), "c2": list(self.c2), "g": list(self.g),
            "envelope_shift": self.envelope_shift, "spike_shift": self.spike_shift, "eps": self.eps,
            "samples_per_step": self.samples_per_step, "mode": self.mode,
        }  # fmt: skip
        if design:
            d["centers_hz"] = [round(c, 3) for c in self.centers_hz]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> AudioFrontEnd:
        """The inverse of ``as_dict``; a missing, extra or wrong-typed field is a ValueError
        naming it."""
        if not isinstance(d, dict):
            raise ValueError(f"a front end is a mapping of its fields, got {type(d).__name__}")
        need = {"sample_rate", "c1", "c2", "g", "envelope_shift", "spike_shift", "eps", "samples_per_step"}
        known = need | {"mode", "centers_hz"}
        if need - d.keys() or d.keys() - known:
            missing, extra = sorted(need - d.keys()), sorted(d.keys() - known)
            raise ValueError(f"front end fields: missing {missing}, unknown {extra}")
        ints = {}
        for k in ("sample_rate", "envelope_shift", "spike_shift", "eps", "samples_per_step"):
            if not isinstance(d[k], int) or isinstance(d[k], bool):
                raise ValueError(f"front end {k} must be an integer, got {d[k]!r}")
            ints[k] = d[k]
        seqs = {}
        for k in ("c1", "c2", "g"):
            v = d[k]
            if not isinstance(v, (list, tuple)) or not all(isinstance(e, int) and not isinstance(e, bool) for e in v):
                raise ValueError(f"front end {k} must be a list of integers")
            seqs[k] = tuple(v)
        centers = d.get("centers_hz", ())
        if not isinstance(centers, (list, tuple)) or not all(isinstance(c, (int, float)) for c in centers):
            raise ValueError("front end centers_hz must be a list of numbers")
        return cls(
            ints["sample_rate"], seqs["c1"], seqs["c2"], seqs["g"], ints["envelope_shift"], ints["spike_shift"],
            ints["eps"], ints["samples_per_step"], str(d.get("mode", "adaptive")), tuple(float(c) for c in centers),
        )  # fmt: skip

    @property
    def dt_us(self) -> int:
        return self.samples_per_step * 1_000_000 // self.sample_rate


def worst_state(c1: int, c2: int, g: int, length: int = 1 << 16) -> float:
    """A bound on |W| for any int16 input: (2^15 * 2^g + 2) x the L1 norm of the AR impulse
    response (each flooring product adds at most 1 in magnitude per step, 2 per sample)."""
    return (2**15 * 2.0**g + 2.0) * _l1(c1, c2, length)


@lru_cache(maxsize=4096)
def _l1(c1: int, c2: int, length: int) -> float:
    a, b = c1 / 2**COEF_BITS, c2 / 2**COEF_BITS
    cur, prev1, prev2, l1 = 1.0, 0.0, 0.0, 0.0
    for _ in range(length):  # h[n] = a h[n-1] + b h[n-2], h[0] = 1, until it has died away
        l1 += abs(cur)
        prev2, prev1 = prev1, cur
        cur = a * prev1 + b * prev2
        if abs(cur) < 1e-12 and abs(prev1) < 1e-12:
            break
    return l1 * 1.0001  # the float sum's own error, and the tail it stopped before


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
    envelope_ms: float = 80.0,
    spike_shift: int = 0,
    eps: int | None = None,
    mode: str = "adaptive",
) -> AudioFrontEnd:
    """A front end for ``channels`` bands between ``f_low`` and ``f_high`` (default 0.45 x the
    sample rate), centers spaced evenly on the mel (or log) scale, each band spanning its
    neighbours' centers (RBJ constant-peak band-pass, bilinear transform, quantized to Q2.14).
    ``g`` per channel brings every band's peak gain to 2^F within a factor 2, as far as the
    2^28 bound on the state allows.
    ``envelope_ms`` sets E (2^E timesteps of averaging); with S = 0 the loudest band spikes
    about once a timestep; ``eps`` (default 8 x D: a mean rectified level of 8 LSB) is the floor."""
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
    c1s, c2s, gs = [], [], []
    for k, f0 in enumerate(centers):
        w0 = 2 * math.pi * f0 / sample_rate
        bw_oct = math.log2(edges[k + 2] / edges[k]) / 2  # half the span of the neighbours' centers
        alpha = math.sin(w0) * math.sinh(math.log(2) / 2 * bw_oct * w0 / math.sin(w0))
        c1 = int(to_int_round_half_up(2 * math.cos(w0) / (1 + alpha) * 2**COEF_BITS))
        c2 = int(to_int_round_half_up(-(1 - alpha) / (1 + alpha) * 2**COEF_BITS))
        c1s.append(c1)
        c2s.append(c2)
        gs.append(_gain_shift(c1, c2))
    E = max(1, round(math.log2(max(envelope_ms / dt_ms, 1.0))))
    D = int(round(D))
    return AudioFrontEnd(
        sample_rate, tuple(c1s), tuple(c2s), tuple(gs), E, spike_shift, 8 * D if eps is None else eps, D, mode,
        tuple(float(c) for c in centers),
    )  # fmt: skip


def _gain_shift(c1: int, c2: int) -> int:
    """g = F - b, b = ceil(log2(1 / gain)) with gain = (1 - a2) / 2 the band's own gain factor,
    so that every band's peak gain is 2^F to within a factor 2; lowered while the worst-case
    state could reach 2^28 (AudioFrontEnd refuses a band too narrow even for g = 0)."""
    gain = (1 + c2 / 2**COEF_BITS) / 2  # (1 - a2) / 2: the filter's peak gain is 1 / gain
    g = max(0, FRAC_BITS - math.ceil(math.log2(1 / max(gain, 1e-9))))
    while g > 0 and worst_state(c1, c2, g) >= W_LIMIT:
        g -= 1
    return g


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
    """The front end on one recording (S,) or a batch of recordings of one length (B, S) (int16,
    or float in [-1, 1]): spikes (T, channels) or (B, T, channels) bool, T = S // samples_per_step
    (a last partial timestep is dropped). A batch runs the recordings side by side, each from a
    zero state: the same integers as one at a time, far fewer numpy calls. One long recording
    runs in pieces side by side too (``_long``): the same integers as one pass, proven so."""
    x = pcm_int16(audio)
    if x.ndim not in (1, 2):
        raise ValueError(f"audio must be one channel (S,) or a batch (B, S), got shape {x.shape}")
    if x.ndim == 1:
        T = len(x) // fe.samples_per_step
        if T >= 2 * LONG_PIECE_STEPS:
            return _long(fe, x[: T * fe.samples_per_step])
        return _run(fe, x[None], zero_state(fe, 1))[0][0]
    return _run(fe, x, zero_state(fe, x.shape[0]))[0]


#: timesteps per piece when one long recording runs as pieces side by side
LONG_PIECE_STEPS = 200


def zero_state(fe: AudioFrontEnd, batch: int) -> np.ndarray:
    """The front end's state at a timestep boundary for ``batch`` recordings: (4, B, N) int64,
    W[n-1], W[n-2], m, u (R is zero there)."""
    return np.zeros((4, batch, fe.channels), np.int64)


def _run(fe: AudioFrontEnd, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The contract over (B, S) int64 PCM from ``state`` (4, B, N): spikes (B, T, N) and the
    state after the last whole timestep."""
    B, D, N = x.shape[0], fe.samples_per_step, fe.channels
    T = x.shape[1] // D
    c1, c2, g = (np.array(v, np.int64) for v in (fe.c1, fe.c2, fe.g))
    E, S, eps, adaptive = fe.envelope_shift, fe.spike_shift, fe.eps, fe.mode == "adaptive"
    w1, w2, m, u = (a.copy() for a in state)
    out = np.zeros((B, T, N), bool)
    for t in range(T):
        R = np.zeros((B, N), np.int64)
        for n in range(t * D, (t + 1) * D):
            w = (x[:, n, None] << g) + ((c1 * w1) >> COEF_BITS) + ((c2 * w2) >> COEF_BITS)
            R += np.abs(w - w2) >> FRAC_BITS
            w2, w1 = w1, w
        theta = (np.maximum((m >> E).max(axis=1), eps) if adaptive else np.full(B, eps, np.int64)) << S
        m = np.minimum(m - (m >> E) + R, STATE_LIMIT)  # m, u >= 0: only the top can saturate
        u = np.minimum(u - (u >> E) + R, STATE_LIMIT)  # leaks as the envelope does: no tail after a sound
        out[:, t] = u >= theta[:, None]
        u = u % theta[:, None]  # every spike of the timestep is emitted (the input is whether there was one)
    return out, np.stack([w1, w2, m, u])


def _long(fe: AudioFrontEnd, x: np.ndarray) -> np.ndarray:
    """One long recording (S,) int64, S a whole number of timesteps, cut into P pieces of
    ``LONG_PIECE_STEPS`` timesteps run side by side. Piece 0 starts from the zero state; piece
    k from a guess of piece k-1's end state (first zero, then what the last pass gave), rerun
    until every piece's start equals the end its predecessor reached in the same pass. Then, by
    induction from piece 0, every piece started from the state one pass would have reached there,
    so the spikes are exactly one pass's. Two runs of a stable integer filter fed the same sound
    merge once their states meet, so a pass or two more than the first is usual; the worst case
    (no piece ever merging) is one pass per piece: slow, never wrong."""
    D, L = fe.samples_per_step, LONG_PIECE_STEPS
    T = len(x) // D
    P = -(-T // L)
    pad = np.zeros(P * L * D, np.int64)
    pad[: len(x)] = x  # the last piece's padding comes after every real timestep: it changes none
    pieces = pad.reshape(P, L * D)
    start = zero_state(fe, P)
    todo = np.arange(P)  # pieces whose start changed since they last ran
    spikes = np.zeros((P, L, fe.channels), bool)
    end = zero_state(fe, P)
    while len(todo):
        s, e = _run(fe, pieces[todo], start[:, todo])
        spikes[todo], end[:, todo] = s, e
        nxt = np.zeros((4, P, fe.channels), np.int64)
        nxt[:, 1:] = end[:, :-1]
        changed = (nxt != start).any(axis=(0, 2))
        start = nxt
        todo = np.flatnonzero(changed)
    return spikes.reshape(P * L, fe.channels)[:T]
