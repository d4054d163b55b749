"""Network architectures for training: built-in names and architecture files.

An architecture is a list of layer specs, resolved against the data's input shape:

    {"type": "conv", "channels": 8, "kernel": 3, "stride": 1, "padding": 1, "groups": 1}
    {"type": "pool", "kind": "sum" | "avg" | "max", "kernel": 2, "stride": 2}   (pools the next layer's input)
    {"type": "dense", "units": 64, "recurrent": false}   (recurrent: the layer's own spikes of the previous step)

Every network ends with a dense layer of one neuron per class, added when the file's last
layer is not already one with ``units = "classes"``. Files are TOML (``[[layer]]`` tables) or
JSON (``{"layers": [...]}``); see docs/training.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import tomllib

from edgesnn.errors import ArchitectureError
from edgesnn.ir.geometry import ConvGeometry, Pool2d

#: Built-in architectures; ``mlp`` has one dense layer per hidden size (--hidden).
BUILTIN = {
    "mlp": [],
    "rnn": [],
    "conv": [
        {"type": "conv", "channels": 8, "kernel": 3, "padding": 1},
        {"type": "pool", "kind": "sum", "kernel": 2},
        {"type": "conv", "channels": 16, "kernel": 3, "padding": 1},
        {"type": "pool", "kind": "sum", "kernel": 2},
    ],
}


@dataclass(frozen=True)
class LayerSpec:
    """One resolved spiking layer: a dense layer (``conv`` None) of ``units`` or a convolution,
    with the pooling of its input."""

    units: int
    conv: ConvGeometry | None = None
    pool: Pool2d | None = None
    n_syn: int = 0  # inputs of the weights (after pooling)
    recurrent: bool = False  # dense layers only: weights from the layer's spikes of the previous step


def _int(spec: dict, key: str, default: int | None, where: str) -> int:
    v = spec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "padding" else 1):
        raise ArchitectureError(f"{where}: {key} must be a positive integer, got {v!r}")
    return v


def load(name_or_file: str, hidden: tuple[int, ...] = (256,)) -> list[dict]:
    """The layer specs of a built-in architecture or of a .toml/.json file."""
    if name_or_file == "mlp":
        return [{"type": "dense", "units": int(h)} for h in hidden]
    if name_or_file == "rnn":  # recurrent hidden layers: each takes its own spikes of the previous step
        return [{"type": "dense", "units": int(h), "recurrent": True} for h in hidden]
    if name_or_file in BUILTIN:
        return [dict(x) for x in BUILTIN[name_or_file]]
    path = Path(name_or_file)
    if not path.is_file():
        raise ArchitectureError(f"unknown model {name_or_file!r}: use {', '.join(BUILTIN)} or an architecture file")
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ArchitectureError(f"{path}: unreadable architecture file ({e})") from None
    layers = data.get("layer", data.get("layers")) if isinstance(data, dict) else None
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ArchitectureError(f'{path}: expected a list of layer tables ([[layer]] or "layers": [...])')
    return layers


def resolve(specs: list[dict], input_shape: tuple[int, ...], classes: int) -> list[LayerSpec]:
    """Shapes for every layer, validated; the class layer appended when missing."""
    shape: tuple[int, ...] = tuple(int(v) for v in input_shape)
    out: list[LayerSpec] = []
    pool: Pool2d | None = None
    specs = list(specs)
    if not specs or specs[-1].get("type") != "dense" or specs[-1].get("units") != "classes":
        specs.append({"type": "dense", "units": "classes"})
    for i, s in enumerate(specs):
        where = f"layer {i} ({s.get('type')!r})"
        kind = s.get("type")
        try:
            if kind == "pool":
                if pool is not None:
                    raise ArchitectureError(f"{where}: two poolings in a row")
                if len(shape) != 3:
                    raise ArchitectureError(f"{where}: pooling needs a (C, H, W) map, got shape {shape}")
                k = _int(s, "kernel", 2, where)
                pool = Pool2d(str(s.get("kind", "sum")), k, shape, s.get("stride"))  # type: ignore[arg-type]
                shape = pool.out_shape
            elif kind == "conv":
                if len(shape) != 3:
                    raise ArchitectureError(f"{where}: a convolution needs a (C, H, W) input, got shape {shape}")
                k, st, pad = (_int(s, key, d, where) for key, d in (("kernel", 3), ("stride", 1), ("padding", 0)))
                g = ConvGeometry(
                    (shape[0], shape[1], shape[2]),
                    _int(s, "channels", None, where),
                    (k, k),
                    (st, st),
                    (pad, pad),
                    _int(s, "groups", 1, where),
                )
                out.append(LayerSpec(units=g.n_out, conv=g, pool=pool, n_syn=g.n_in))
                pool, shape = None, g.out_shape
            elif kind == "dense":
                units = classes if s.get("units") == "classes" else _int(s, "units", None, where)
                rec = s.get("recurrent", False)
                if not isinstance(rec, bool):
                    raise ArchitectureError(f"{where}: recurrent must be true or false, got {rec!r}")
                out.append(LayerSpec(units=units, pool=pool, n_syn=int(math.prod(shape)), recurrent=rec))
                pool, shape = None, (units,)
            else:
                raise ArchitectureError(f"{where}: type must be conv, pool or dense")
        except ArchitectureError:
            raise
        except ValueError as e:  # a geometry's own validation
            raise ArchitectureError(f"{where}: {e}") from None
    return out
