"""The quantized network: integer tables and parameters of the contract, plus its content hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np

from edgesnn.fixedpoint import contract as C


def _frozen_int(name: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=True)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
    arr.flags.writeable = False
    return arr


def _check_within(name: str, arr: np.ndarray, lo: int, hi: int) -> None:
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(idx)} = {int(arr[idx])} is outside [{lo}, {hi}]")


@dataclass(frozen=True, eq=False)
class QuantLayer:
    """One fully connected layer in the integer contract (docs/fixed-point.md, "Timestep")::

        acc  = sum(weight[j, k] for active inputs k) + sum(recurrent[j, k] for k spiked at t-1)
        x    = acc * 2**shift + bias
        i    = sat(rshift_round_half_up(i * alpha_syn, 16) + x)     (current-based only)
        v    = sat(rshift_round_half_up(v * alpha_mem, 16) + (i or x))
        z    = v > threshold
        v    = sat(v - threshold) | v_reset   where z

    ``scale`` (float, per neuron) is informational: ``v * scale / 2**shift`` is the float-model
    membrane. It is not part of the hash.
    """

    weight: np.ndarray
    bias: np.ndarray
    shift: int
    alpha_mem: np.ndarray
    threshold: np.ndarray
    reset: str = "subtract"
    v_reset: np.ndarray | None = None
    alpha_syn: np.ndarray | None = None
    recurrent: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __post_init__(self):
        w = _frozen_int("weight", self.weight)
        if w.ndim != 2:
            raise ValueError(f"weight must be 2-d, got shape {w.shape}")
        n = w.shape[0]
        object.__setattr__(self, "weight", w)
        for name in ("bias", "alpha_mem", "threshold"):
            object.__setattr__(self, name, _frozen_int(name, getattr(self, name), (n,)))
        vr = np.zeros(n, np.int64) if self.v_reset is None else self.v_reset
        object.__setattr__(self, "v_reset", _frozen_int("v_reset", vr, (n,)))
        if self.alpha_syn is not None:
            object.__setattr__(self, "alpha_syn", _frozen_int("alpha_syn", self.alpha_syn, (n,)))
        if self.recurrent is not None:
            object.__setattr__(self, "recurrent", _frozen_int("recurrent", self.recurrent, (n, n)))
        if self.scale is not None:
            s = np.array(self.scale, dtype=np.float64)
            s.flags.writeable = False
            object.__setattr__(self, "scale", s)
        if not (0 <= int(self.shift) <= C.MAX_SHIFT):
            raise ValueError(f"shift {self.shift!r} is outside [0, {C.MAX_SHIFT}]")
        object.__setattr__(self, "shift", int(self.shift))
        if self.reset not in ("subtract", "to_value"):
            raise ValueError(f"reset must be 'subtract' or 'to_value', got {self.reset!r}")
        for name in ("alpha_mem", "alpha_syn"):
            if getattr(self, name) is not None:
                _check_within(name, getattr(self, name), 0, C.DECAY_ONE)
        if (self.threshold <= 0).any():
            i = int(np.argmax(self.threshold <= 0))
            raise ValueError(f"threshold[{i}] = {int(self.threshold[i])} must be > 0")

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def current_based(self) -> bool:
        return self.alpha_syn is not None

    def neuron_step(self, x: np.ndarray, i: np.ndarray | None, v: np.ndarray, state_bits: int) -> np.ndarray:
        """Steps 3-6 of the contract for this layer's neurons (``contract.neuron_step`` with this
        layer's parameters), updating ``i`` and ``v`` in place; returns the spikes."""
        return C.neuron_step(
            x,
            i,
            v,
            alpha_syn=self.alpha_syn,
            alpha_mem=self.alpha_mem,
            threshold=self.threshold,
            reset_subtract=self.reset == "subtract",
            v_reset=cast(np.ndarray, self.v_reset),  # filled in by __post_init__
            state_bits=state_bits,
        )


@dataclass(frozen=True, eq=False)
class QuantNetwork:
    """A network in the integer contract. Bit widths are parameters, checked against every table."""

    n_inputs: int
    layers: tuple[QuantLayer, ...]
    weight_bits: int = 8
    state_bits: int = 24
    readout: str = "spike_count"
    input_spec: dict[str, Any] = field(default_factory=dict)
    name: str = "network"
    contract_version: int = C.CONTRACT_VERSION

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.contract_version != C.CONTRACT_VERSION:
            raise ValueError(
                f"contract version {self.contract_version} is not supported (this edgesnn implements "
                f"{C.CONTRACT_VERSION}); re-quantize the float model"
            )
        lo, hi = C.WEIGHT_BITS_RANGE
        if not lo <= self.weight_bits <= hi:
            raise ValueError(f"weight_bits {self.weight_bits!r} is outside [{lo}, {hi}]")
        lo, hi = C.STATE_BITS_RANGE
        if not lo <= self.state_bits <= hi:
            raise ValueError(f"state_bits {self.state_bits!r} is outside [{lo}, {hi}]")
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        q = C.weight_limit(self.weight_bits)
        s_lo, s_hi = C.state_limits(self.state_bits)
        n = int(self.n_inputs)
        for li, layer in enumerate(self.layers):
            if layer.n_in != n:
                raise ValueError(f"layer {li} expects {layer.n_in} inputs but receives {n}")
            fan_in = layer.n_in + (layer.n_out if layer.recurrent is not None else 0)
            if fan_in * (q + 1) > C.ACC_LIMIT:
                raise ValueError(f"layer {li}: fan-in {fan_in} can overflow the int32 accumulator")
            for name in ("weight", "recurrent"):
                arr = getattr(layer, name)
                if arr is not None:
                    _check_within(f"layer {li} {name}", arr, -q, q)
            for name in ("bias", "threshold", "v_reset"):
                _check_within(f"layer {li} {name}", getattr(layer, name), s_lo, s_hi)
            n = layer.n_out

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @cached_property
    def content_hash(self) -> str:
        """sha256 over everything the firmware computes with (not names or float scales)."""
        h = hashlib.sha256()
        head = {
            "contract": self.contract_version,
            "n_inputs": int(self.n_inputs),
            "weight_bits": self.weight_bits,
            "state_bits": self.state_bits,
            "readout": self.readout,
            "layers": [
                {
                    "shift": L.shift,
                    "reset": L.reset,
                    "cuba": L.current_based,
                    "rec": L.recurrent is not None,
                    "shape": list(L.weight.shape),
                }
                for L in self.layers
            ],
        }
        h.update(json.dumps(head, sort_keys=True).encode())
        for L in self.layers:
            for arr in (L.weight, L.recurrent, L.bias, L.alpha_syn, L.alpha_mem, L.threshold, L.v_reset):
                if arr is not None:
                    h.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
        return h.hexdigest()

    @property
    def hash32(self) -> int:
        """The 32-bit id the firmware reports: the first 4 bytes of the hash, big-endian."""
        return int(self.content_hash[:8], 16)
