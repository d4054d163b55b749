"""Chip dialects of the integer contract: the named variants of the LIF arithmetic that
neuromorphic chips compute (docs/fixed-point.md, "Dialects").

A ``QuantNetwork`` carries its dialect by name. Its ``QuantLayer`` fields keep their roles but
each dialect gives them its chip's meaning (the table below); the golden simulator
(``fixedpoint.simulate_kits``) and the quantization-aware forward (``train.kit_qat``) implement
the per-step rules, and tests hold the two and the vendor simulators to each other bit for bit.

============  ==========================  ===============================  ==========================
field         ``edgesnn`` (MCU firmware)  ``xylo`` (SynSense Xylo)         ``loihi2`` (Intel, Lava)
============  ==========================  ===============================  ==========================
weight        int, ``weight_bits``        int8 in [-127, 127]              int7 in [-63, 63] (Lava
                                                                           stores 2w: mixed-sign
                                                                           weights lose their LSB)
shift         ``acc << shift``            weight shift, 0..7               weight_exp + 1, 0..8
alpha_syn     Q0.16 multiplier            dash_syn, 1..15 (required)       du, 0..4095 (required)
alpha_mem     Q0.16 multiplier            dash_mem, 0..15                  dv, 0..4095
threshold     ``v > threshold``           ``v >= threshold`` (int16)       ``v > threshold``; vth << 6,
                                                                           one per layer
bias          added to the drive          added to v each step (int16)     ``mant << exp`` (13-bit
                                                                           mantissa, exp 0..7)
reset         subtract or to a value      subtract, several spikes a step  to zero
state         ``state_bits``, saturating  16-bit, saturating               24-bit: u wraps, v clips
delay         none                        layers after the first read the  every layer reads the
                                          previous step's spikes           previous step's spikes
============  ==========================  ===============================  ==========================

Recurrent weights always read the previous step's spikes.

``speck`` (SynSense Speck / DynapCNN, as Sinabs models it: ``sinabs.layers.IAF`` with
``MultiSpike`` after ``backend/dynapcnn/discretize.py``): dense or convolutional layers with sum
pooling; weights int8 (Sinabs' discretisation uses -128 too), no shift, no leak; per step ``v +=
acc + bias``; ``n = floor(v / threshold)`` spikes where ``v > 0`` (so ``v >= threshold`` fires,
several a step); ``v -= n * threshold``; then ``v = max(v, threshold_low)``, which the layer's
``v_reset`` field holds (one value per layer, as is the threshold). No upper clamp is modelled.

``akida`` (BrainChip Akida) is the ``edgesnn`` arithmetic restricted to what Akida computes:
stateless neurons (``alpha_mem`` 0: ``v = x`` each step, spike ``x > threshold``), no synaptic
current, no recurrence, weights in [-7, 7]; its simulation is the edgesnn dialect's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dialect:
    """One named arithmetic variant: its fixed widths and parameter ranges, checked by
    ``check_network``."""

    name: str
    summary: str
    weight_limit: int  # weights lie in [-weight_limit, weight_limit]
    state_bits: int
    shift_range: tuple[int, int]
    decay_range: tuple[int, int]  # alpha_mem and alpha_syn
    syn_decay_min: int  # smallest alpha_syn (xylo: dash 0 would clear the input before use)
    current_based: bool  # every layer has a synaptic current
    reset: str | None  # the one reset the chip does, or None (any)
    uniform_decay: bool  # one decay per layer (Lava's LIF takes scalars)

    @property
    def weight_bits(self) -> int:
        return int(self.weight_limit).bit_length() + 1

    def delayed(self, index: int) -> bool:
        """Does layer ``index`` read the previous step's spikes of the layer before it?"""
        if self.name == "loihi2":
            return True
        return self.name == "xylo" and index > 0


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect("edgesnn", "edgesnn's own contract (MCU firmware)", 127, 24, (0, 24), (0, 65536), 0, False, None, False),
        Dialect("xylo", "SynSense Xylo: shift decays, 16-bit saturating state", 127, 16, (0, 7), (0, 15), 1, True,
                "subtract", False),
        Dialect("loihi2", "Intel Loihi 2 (Lava fixed_pt): 12-bit decays, 24-bit state", 63, 24, (0, 8), (0, 4095),
                0, True, "to_value", True),
        Dialect("speck", "SynSense Speck / DynapCNN: non-leaky IAF, 8-bit weights, 16-bit state", 128, 16, (0, 0),
                (65536, 65536), 0, False, "subtract", False),
        # Akida computes edgesnn's arithmetic restricted to no state: v = x, 4-bit weights
        Dialect("akida", "BrainChip Akida: stateless, 4-bit weights, 1-bit activations", 7, 24, (0, 24), (0, 0), 0,
                False, None, False),
    )
}  # fmt: skip

#: Xylo's spike-count caps per step (xylosim XyloIAFNeuron.h): input channel, hidden, readout.
XYLO_MAX_INPUT_SPIKES, XYLO_MAX_SPIKES, XYLO_MAX_OUT_SPIKES = 15, 31, 1
#: Loihi 2: states are 24 bits; synaptic input and thresholds are aligned 6 bits up.
LOIHI_UV_BITS, LOIHI_ACT_SHIFT, LOIHI_DECAY_SHIFT = 24, 6, 12


def get_dialect(name: str) -> Dialect:
    if name not in DIALECTS:
        raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}")
    return DIALECTS[name]


# --- the per-step integer rules -------------------------------------------------------------


def xylo_decay(x: np.ndarray, dash: np.ndarray | int) -> np.ndarray:
    """Xylo's decrement: ``x >> dash`` (arithmetic), and at least one LSB toward zero."""
    d = np.right_shift(x, dash)
    return np.where((d == 0) & (x != 0), np.sign(x), d)


def xylo_wrap16(x: np.ndarray) -> np.ndarray:
    """int16 conversion in C (two's complement wrap): only ``-(-32768)`` ever needs it."""
    return ((x + 32768) & 0xFFFF) - 32768


def clip16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -32768, 32767)


def xylo_neuron(i, v, dash_syn, dash_mem, bias, threshold, max_spikes: int):
    """One Xylo neuron update after the spikes were delivered into ``i``; updates ``i`` and ``v``
    in place and returns the spike counts (0..max_spikes). XyloIAFNeuron::evolve."""
    i -= xylo_decay(i, dash_syn)
    dv = xylo_wrap16(-xylo_decay(v, dash_mem))
    dv = clip16(clip16(dv + i) + bias)
    v[...] = clip16(v + dv)
    n = np.where(v >= threshold, np.minimum(v // threshold, max_spikes), 0)
    v -= n * threshold
    return n


def xylo_order_free(i, pos, neg):
    """Where adding a step's positive and negative increments (their sums ``pos``, ``neg``) to
    ``i`` in any order never leaves int16: there the sequential saturating adds equal the plain
    sum; elsewhere they must be replayed in the chip's order (``xylo_replay``). numpy or torch."""
    return (i + pos <= 32767) & (i + neg >= -32768)


def xylo_deliver(i: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Add the step's sums into ``i`` where that is order-free (``xylo_order_free``); returns
    that mask. The rest must be replayed (``xylo_replay``)."""
    ok = xylo_order_free(i, pos, neg)
    np.add(i, pos + neg, out=i, where=ok)
    return ok


def xylo_replay(x: int, w_row: np.ndarray, counts: np.ndarray, r_row=None, rec_counts=None) -> int:
    """One neuron's current ``x`` after a step's spikes are added one by one with int16
    saturation (XyloIAFNeuron::receiveSpike's safe_add) in XyloSim's order: input channels
    ascending, each spike of a count in turn (increment ``w_row[k]``), then recurrent sources
    likewise (``r_row``, ``rec_counts``)."""
    sources = [(w_row, counts)] + ([(r_row, rec_counts)] if r_row is not None else [])
    for row, c in sources:
        for k in np.flatnonzero(c):
            for _ in range(int(c[k])):
                x = min(32767, max(-32768, x + int(row[k])))
    return x


def loihi_decay(x: np.ndarray, d: np.ndarray | int) -> np.ndarray:
    """Lava's decay: ``sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (rounds toward zero)."""
    p = x * (4096 - np.asarray(d, np.int64))
    return np.sign(p) * (np.abs(p) >> LOIHI_DECAY_SHIFT)


def loihi_wrap_u(d: np.ndarray) -> np.ndarray:
    """Lava's 24-bit current wrap, as written in ``AbstractPyLifModelFixed.subthr_dynamics``."""
    m = 1 << (LOIHI_UV_BITS - 1)
    w = np.where(d > m, d - 2 * m, d)
    return np.where(w <= -m, d + 2 * m, w)


def loihi_neuron(a, u, v, du, dv, bias, threshold):
    """One Lava LIF step (PyLifModelBitAcc) on synaptic input ``a`` (Dense's output); updates ``u``
    and ``v`` in place and returns the spikes."""
    m = 1 << (LOIHI_UV_BITS - 1)
    u[...] = loihi_wrap_u(loihi_decay(u, du + 1) + (a << LOIHI_ACT_SHIFT))
    v[...] = np.clip(loihi_decay(v, dv) + u + bias, -m + 1, m - 1)
    z = v > threshold
    v[z] = 0
    return z


def loihi_bias_parts(bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mantissa, exponent) with ``mant << exp == bias``, 13-bit mantissa and exponent 0..7; raises
    ValueError naming a bias that has no such form."""
    b = np.asarray(bias, np.int64)
    exp = np.zeros_like(b)
    mant = b.copy()
    while True:
        big = (np.abs(mant) > 4095) & (mant % 2 == 0) & (exp < 7)
        if not big.any():
            break
        mant[big] //= 2
        exp[big] += 1
    bad = (mant < -4096) | (mant > 4095)
    if bad.any():
        j = int(np.argmax(bad))
        raise ValueError(f"bias[{j}] = {int(b[j])} is not a 13-bit mantissa shifted by 0..7")
    return mant, exp


def loihi_bias_round(bias: np.ndarray) -> np.ndarray:
    """The nearest bias Loihi can hold: a 13-bit mantissa shifted by the smallest exponent."""
    b = np.asarray(bias, np.int64)
    out = b.copy()
    for e in range(1, 8):
        big = np.abs(out) > 4095 * (1 << (e - 1))
        out = np.where(big, ((b + (1 << (e - 1))) >> e) << e, out)
    lim = 4095 << 7
    return np.clip(out, -lim, lim)


# --- what a network in a dialect must satisfy -------------------------------------------------


def check_network(qnet) -> None:
    """Raise ValueError naming the layer, field and value outside the network's dialect."""
    d = get_dialect(qnet.dialect)
    if d.name == "edgesnn":
        return
    if qnet.state_bits != d.state_bits:
        raise ValueError(f"dialect {d.name}: state_bits must be {d.state_bits}, got {qnet.state_bits}")
    for li, L in enumerate(qnet.layers):
        where = f"dialect {d.name}, layer {li}"
        if d.name == "speck" and (L.alpha_syn is not None or L.recurrent is not None):
            raise ValueError(f"{where}: Speck neurons are non-leaky IAF (no synaptic current, no recurrence)")
        if d.name == "akida" and (L.alpha_syn is not None or L.recurrent is not None):
            raise ValueError(f"{where}: Akida neurons are stateless (no synaptic current, no recurrence)")
        if (L.conv is not None or L.pool is not None) and d.name != "speck":
            raise ValueError(f"{where}: convolutions and pooling are not in this dialect (dense layers only)")
        if d.name == "speck" and L.pool is not None and L.pool.kind != "sum":
            raise ValueError(f"{where}: Speck pools by summing spikes")
        if d.name == "speck" and L.conv is not None and L.conv.groups != 1:
            raise ValueError(f"{where}: DynapCNN convolutions have one group")
        for name in ("weight", "recurrent"):
            arr = getattr(L, name)
            if d.name == "speck":  # Sinabs' discretisation uses the whole int8 range [-128, 127]
                if arr is not None and (arr.max(initial=0) > 127 or arr.min(initial=0) < -128):
                    raise ValueError(f"{where}: {name} outside int8")
                continue
            if arr is not None and np.abs(arr).max(initial=0) > d.weight_limit:
                raise ValueError(f"{where}: {name} magnitude {int(np.abs(arr).max())} exceeds {d.weight_limit}")
        lo, hi = d.shift_range
        if not lo <= L.shift <= hi:
            raise ValueError(f"{where}: shift {L.shift} is outside [{lo}, {hi}]")
        if d.current_based and L.alpha_syn is None:
            raise ValueError(f"{where}: neurons need a synaptic current (alpha_syn)")
        lo, hi = d.decay_range
        for name in ("alpha_mem", "alpha_syn"):
            a = getattr(L, name)
            if a is None:
                continue
            low = d.syn_decay_min if name == "alpha_syn" else lo
            if a.min() < low or a.max() > hi:
                raise ValueError(f"{where}: {name} must lie in [{low}, {hi}], got [{int(a.min())}, {int(a.max())}]")
            if d.uniform_decay and (a != a[0]).any():
                raise ValueError(f"{where}: {name} must be one value per layer")
        if d.reset is not None and L.reset != d.reset:
            raise ValueError(f"{where}: reset must be {d.reset!r}, got {L.reset!r}")
        if d.name == "loihi2":
            if (L.v_reset != 0).any():
                raise ValueError(f"{where}: neurons reset to 0")
            if (L.threshold % 64 != 0).any() or L.threshold.max() > ((1 << 17) - 1) << 6:
                raise ValueError(f"{where}: thresholds must be vth << 6 with vth < 2**17")
            if (L.threshold != L.threshold[0]).any():
                raise ValueError(f"{where}: threshold must be one value per layer (Lava's LIF vth)")
            loihi_bias_parts(L.bias)
        if d.name == "speck" and ((L.threshold != L.threshold[0]).any() or (L.v_reset != L.v_reset[0]).any()):
            raise ValueError(f"{where}: threshold and threshold_low (v_reset) are one value per layer")
        if d.name == "xylo" and (L.threshold.max() > 32767 or np.abs(L.bias).max(initial=0) > 32767):
            raise ValueError(f"{where}: thresholds and biases are int16")
