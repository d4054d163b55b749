"""Quantized networks <-> ``.qsnn`` files: a numpy ``.npz`` archive (no pickle) holding a JSON
header and one int array per table. The header carries the format and contract versions and
the content hash, which is recomputed on load: a file whose tables changed is refused.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from edgesnn.errors import ModelFileError
from edgesnn.fixedpoint.qnetwork import QuantConnection, QuantLayer, QuantNetwork
from edgesnn.ir.geometry import ConvGeometry, Pool2d
from edgesnn.ir.graph import SpikeGate

FORMAT = "edgesnn.qsnn"
FORMAT_VERSION = 1
_TABLES = ("weight", "recurrent", "bias", "alpha_syn", "alpha_mem", "threshold", "v_reset", "scale")


def _layer_header(L: QuantLayer) -> dict:
    head: dict = {"shift": L.shift, "reset": L.reset}
    if L.conv is not None:
        head["conv"] = L.conv.as_dict()
    if L.pool is not None:
        head["pool"] = L.pool.as_dict()
    return head


def to_bytes(qnet: QuantNetwork) -> bytes:
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "contract_version": qnet.contract_version,
        "n_inputs": int(qnet.n_inputs),
        "weight_bits": qnet.weight_bits,
        "state_bits": qnet.state_bits,
        "readout": qnet.readout,
        "input_spec": qnet.input_spec,
        "name": qnet.name,
        "dialect": qnet.dialect,
        "layers": [_layer_header(L) for L in qnet.layers],
        "hash": qnet.content_hash,
    }
    if not qnet.is_chain:  # a graph (ir.graph); a chain's file stays as it was
        header["sources"] = list(qnet.sources)
        header["connections"] = [c.as_dict() for c in qnet.connections]
        if qnet.gates:
            header["gates"] = [g.as_dict() for g in qnet.gates]
    arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    for i, L in enumerate(qnet.layers):
        for name in _TABLES:
            arr = getattr(L, name)
            if arr is not None:
                arrays[f"l{i}.{name}"] = np.asarray(arr)
    for i, c in enumerate(qnet.connections):
        arrays[f"c{i}.weight"] = np.asarray(c.weight)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types a kwarg as bool
    return buf.getvalue()


def from_bytes(data: bytes, source: str = "<bytes>") -> QuantNetwork:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(bytes(arrays.pop("header")).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise ModelFileError(f"{source}: corrupt quantized model ({e})") from None
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not an edgesnn quantized model")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{source}: file format version {header.get('format_version')} is not supported")
    try:
        layers = []
        for i, lh in enumerate(header["layers"]):
            tables = {n: arrays.get(f"l{i}.{n}") for n in _TABLES}
            conv = ConvGeometry(**lh["conv"]) if "conv" in lh else None
            pool = Pool2d(**lh["pool"]) if "pool" in lh else None
            layers.append(QuantLayer(shift=lh["shift"], reset=lh["reset"], conv=conv, pool=pool, **tables))  # type: ignore[arg-type]
        connections = []
        for i, ch in enumerate(header.get("connections", [])):
            conv = ConvGeometry(**ch["conv"]) if "conv" in ch else None
            pool = Pool2d(**ch["pool"]) if "pool" in ch else None
            w = arrays[f"c{i}.weight"]
            connections.append(QuantConnection(ch["source"], ch["target"], w, conv=conv, pool=pool))
        qnet = QuantNetwork(
            n_inputs=header["n_inputs"],
            layers=tuple(layers),
            weight_bits=header["weight_bits"],
            state_bits=header["state_bits"],
            readout=header["readout"],
            input_spec=header["input_spec"],
            name=header["name"],
            contract_version=header["contract_version"],
            dialect=header.get("dialect", "edgesnn"),  # files written before dialects existed
            sources=tuple(header.get("sources", ())),
            connections=tuple(connections),
            gates=tuple(SpikeGate(**g) for g in header.get("gates", [])),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{source}: invalid quantized model ({e})") from None
    if qnet.content_hash != header.get("hash"):
        raise ModelFileError(f"{source}: content hash mismatch (file is corrupt or was edited)")
    return qnet
