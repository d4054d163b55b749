"""Golden vectors: encode inputs for the C harnesses and decode/compare what they computed.

The host harness writes every state (compared array by array); the embedded harness reports a
per-sample CRC-32 (zlib's) of the same stream: every value in harness order (per timestep, per
layer: v[0..n), i[0..n) if current-based, spike flags[0..n)) as 4 little-endian bytes, neurons
in the device's order (``layout.device_order``: feature maps are HWC there). Any one
differing value, or a burst of them up to 32 bits, changes it, and unlike a weighted sum two
compensating errors do not cancel; the embedded harness also reports prediction and synaptic
events.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from edgesnn.firmware.layout import device_order
from edgesnn.fixedpoint.qnetwork import QuantNetwork
from edgesnn.fixedpoint.simulate import SimResult


def write_golden(path, qnet: QuantNetwork, inputs: np.ndarray, sim: SimResult) -> None:
    """Golden vectors as an .npz: the inputs, then every layer's spikes, v and (current-based) i
    at every timestep (arrays indexed sample, timestep, neuron), predictions and the model hash."""
    arrays = {
        "inputs": np.asarray(inputs, bool),
        "prediction": sim.prediction,
        "synops": sim.synops,
        "hash": np.frombuffer(qnet.content_hash.encode(), np.uint8),
    }
    for i, rec in enumerate(sim.recorded()):
        for key, arr in rec.items():
            arrays[f"layer{i}_{key}"] = arr
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # numpy's stub types a kwarg as bool


def events_of(inputs: np.ndarray) -> list[list[np.ndarray]]:
    """Per sample and timestep, the indices of the inputs that spiked."""
    return [[np.flatnonzero(step).astype(np.uint16) for step in sample] for sample in np.asarray(inputs, bool)]


def host_input_bytes(inputs: np.ndarray) -> bytes:
    n, steps = inputs.shape[:2]
    parts = [np.array([n, steps], "<u4").tobytes()]
    for sample in events_of(inputs):
        for ev in sample:
            parts.append(np.array([len(ev)], "<u2").tobytes() + ev.astype("<u2").tobytes())
    return b"".join(parts)


@dataclass
class FirmwareRun:
    """What a harness computed, as arrays shaped like ``SimResult.record``."""

    record: list[dict[str, np.ndarray]]
    prediction: np.ndarray
    synops: np.ndarray
    updates: np.ndarray | None = None  # neuron updates performed per sample (idle skipping)


def parse_host_output(qnet: QuantNetwork, data: bytes, n: int, steps: int) -> FirmwareRun:
    fields = []
    for li, L in enumerate(qnet.layers):
        fields.append((f"v{li}", "<i4", (L.n_out,)))
        if L.current_based:
            fields.append((f"i{li}", "<i4", (L.n_out,)))
        fields.append((f"z{li}", "u1", (L.n_out,)))
    step_dt = np.dtype(fields)
    sample_dt = np.dtype([("steps", step_dt, (steps,)), ("pred", "<u2"), ("synops", "<u4"), ("updates", "<u4")])
    if len(data) != n * sample_dt.itemsize:
        raise ValueError(f"harness wrote {len(data)} bytes, expected {n * sample_dt.itemsize}")
    arr = np.frombuffer(data, sample_dt)
    rec = []
    for li, L in enumerate(qnet.layers):
        order = device_order(L)  # device neuron k is host neuron order[k]
        sel = slice(None) if order is None else np.argsort(order)  # host neuron j is device neuron sel[j]
        entry = {
            "spikes": arr["steps"][f"z{li}"][..., sel].astype(bool),
            "v": arr["steps"][f"v{li}"][..., sel].astype(np.int64),
        }
        if L.current_based:
            entry["i"] = arr["steps"][f"i{li}"][..., sel].astype(np.int64)
        rec.append(entry)
    return FirmwareRun(
        record=rec,
        prediction=arr["pred"].astype(np.int64),
        synops=arr["synops"].astype(np.int64),
        updates=arr["updates"].astype(np.int64),
    )


def count_mismatches(sim: SimResult, run: FirmwareRun) -> dict:
    """Exact comparison of every spike and state; returns counts of differing values."""
    return compare(sim, run)[0]


def compare(sim: SimResult, run: FirmwareRun) -> tuple[dict, np.ndarray]:
    """``count_mismatches`` and which samples differ (bool per sample)."""
    out = {
        "samples": int(sim.prediction.shape[0]),
        "values_compared": 0,
        "mismatched_values": 0,
        "mismatched_samples": 0,
    }
    bad_sample = np.zeros(sim.prediction.shape[0], bool)
    for a, b in zip(sim.recorded(), run.record):
        for key in a:
            diff = a[key] != b[key]
            out["values_compared"] += int(diff.size)
            out["mismatched_values"] += int(diff.sum())
            bad_sample |= diff.reshape(diff.shape[0], -1).any(axis=1)
    bad_sample |= sim.prediction != run.prediction
    bad_sample |= sim.synops != run.synops
    if sim.membrane_updates is not None and run.updates is not None:  # idle skipping did what the rule says
        bad_sample |= sim.membrane_updates != run.updates
    out["mismatched_samples"] = int(bad_sample.sum())
    return out, bad_sample


def spike_digests(spikes: np.ndarray) -> np.ndarray:
    """Per sample, CRC-32 of its input spikes (samples, timesteps, channels) as the self-check
    chains them: each timestep's bitmap, ceil(channels / 8) bytes, bit k of byte k / 8 LSB first."""
    rows = np.packbits(np.asarray(spikes, bool), axis=2, bitorder="little")
    return np.array([zlib.crc32(r.tobytes()) for r in rows], np.uint64)


def step_values(qnet: QuantNetwork, record: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Every value the digest covers, per timestep in harness order (module docstring): from
    per-layer records (..., T, n) to (..., T, values) little-endian int32, neurons in device order
    (``runtime/esnn.c`` ``esnn_digest_step``)."""
    cols = []
    for L, rec in zip(qnet.layers, record):
        order = device_order(L)
        sel = slice(None) if order is None else order  # the harness writes in device order
        cols.append(rec["v"][..., sel])
        if L.current_based:
            cols.append(rec["i"][..., sel])
        cols.append(rec["spikes"][..., sel].astype(np.int64))
    return np.ascontiguousarray(np.concatenate(cols, axis=-1).astype("<i4"))


def digests(qnet: QuantNetwork, sim: SimResult) -> np.ndarray:
    """Per-sample digest of the recorded states in harness order (see module docstring)."""
    vals = step_values(qnet, sim.recorded())
    return np.array([zlib.crc32(v.tobytes()) for v in vals], np.uint64)
