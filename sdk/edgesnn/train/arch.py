"""Network architectures for training: built-in names and architecture files.

An architecture is a list of layer specs, resolved against the data's input shape:

    {"type": "conv", "channels": 8, "kernel": 3, "stride": 1, "padding": 1, "groups": 1}
    {"type": "pool", "kind": "sum" | "avg" | "max", "kernel": 2, "stride": 2}   (pools the next layer's input)
    {"type": "dense", "units": 64, "recurrent": false}   (recurrent: the layer's own spikes of the previous step)

A spiking layer may be named (``name``; default ``h1``, ``h2``, … in order, the class layer
``out``) and may say what it reads: ``inputs = ["input", "h1"]``. The first is what its own
weights read (pooled by a ``pool`` before it); each further one is a connection of the graph
(``ir.graph``: summed into the same population, one more weight matrix, same timestep). By default a
layer reads the one before it. Names must be earlier layers (or ``input``): a layer's own spikes of
the previous step are ``recurrent = true``. A dense layer's further inputs are weight matrices; a
convolution's are maps of its own output shape, added one to one with a learned weight per
channel (a residual connection into the population: SEW-ResNet's ADD).

SEW-ResNet's other block outputs are gates on a layer's spikes (``ir.graph.SpikeGate``):
``sew = "or"`` or ``"iand"`` with ``sew_with = "h2"`` makes the layer emit ``a OR s`` or
``(NOT a) AND s`` of its own spikes ``a`` and the spikes ``s`` of ``h2``, an earlier layer of
the same shape (the block's input); every later reader gets the gated spikes.

Every network ends with a dense layer of one neuron per class, added when the file's last
layer is not already one with ``units = "classes"``. Files are TOML (``[[layer]]`` tables) or
JSON (``{"layers": [...]}``); see docs/training.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import tomllib

from edgesnn.errors import ArchitectureError
from edgesnn.ir.geometry import ConvGeometry, Pool2d
from edgesnn.ir.graph import GATE_OPS

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
    source: int = -2  # the layer (or -1, the input) its own weights read; -2: the one before it
    extra: tuple[tuple[int, int], ...] = ()  # a graph's further inputs: (source, its size) each
    name: str = ""
    gate: tuple[str, int] | None = None  # a SEW gate on its spikes: (op, the earlier layer it reads)


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


def _names(specs: list[dict]) -> list[str]:
    names, k = [], 0
    for i, s in enumerate(specs):
        if s.get("type") == "pool":
            names.append("")
            continue
        k += 1
        default = "out" if i == len(specs) - 1 else f"h{k}"
        n = s.get("name", default)
        if not isinstance(n, str) or not n or n == "input" or n in names:
            raise ArchitectureError(f"layer {i} ({s.get('type')!r}): name {n!r} must be a new word other than 'input'")
        names.append(n)
    return names


def _inputs(s: dict, where: str, known: dict[str, int], previous: int) -> list[int]:
    """The sources a layer spec names (-1: the input), its own first."""
    names = s.get("inputs")
    if names is None:
        return [previous]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ArchitectureError(f'{where}: inputs must be a list of layer names or "input", got {names!r}')
    out = []
    for n in names:
        if n not in known:
            raise ArchitectureError(
                f"{where}: input {n!r} is not the input or an earlier layer ({', '.join(known)}); "
                "a layer's own last spikes are recurrent = true"
            )
        out.append(known[n])
    if len(set(out)) != len(out):
        raise ArchitectureError(f"{where}: inputs {names} name one source twice")
    return out


def resolve(specs: list[dict], input_shape: tuple[int, ...], classes: int) -> list[LayerSpec]:
    """Shapes for every layer, validated; the class layer appended when missing."""
    in_shape: tuple[int, ...] = tuple(int(v) for v in input_shape)
    out: list[LayerSpec] = []
    shapes: dict[int, tuple[int, ...]] = {-1: in_shape}
    pool_spec: dict | None = None
    specs = list(specs)
    if not specs or specs[-1].get("type") != "dense" or specs[-1].get("units") != "classes":
        specs.append({"type": "dense", "units": "classes"})
    names = _names(specs)
    known = {"input": -1}
    for i, s in enumerate(specs):
        where = f"layer {i} ({s.get('type')!r})"
        kind = s.get("type")
        try:
            if kind == "pool":
                if pool_spec is not None:
                    raise ArchitectureError(f"{where}: two poolings in a row")
                pool_spec = dict(s, where=where)
                continue
            if kind not in ("conv", "dense"):
                raise ArchitectureError(f"{where}: type must be conv, pool or dense")
            srcs = _inputs(s, where, known, len(out) - 1)
            shape = shapes[srcs[0]]
            pool = None
            if pool_spec is not None:
                pw = pool_spec.pop("where")
                if len(shape) != 3:
                    raise ArchitectureError(f"{pw}: pooling needs a (C, H, W) map, got shape {shape}")
                k = _int(pool_spec, "kernel", 2, pw)
                pool = Pool2d(str(pool_spec.get("kind", "sum")), k, shape, pool_spec.get("stride"))  # type: ignore[arg-type]
                shape, pool_spec = pool.out_shape, None
            extra = tuple((src, int(math.prod(shapes[src]))) for src in srcs[1:])
            if kind == "conv":
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
                for src in srcs[1:]:  # a residual: one to one from a map of this layer's shape
                    if src < 0:
                        raise ArchitectureError(f"{where}: a convolution's further inputs are layers, not the input")
                    if shapes[src] != g.out_shape:
                        raise ArchitectureError(
                            f"{where}: input {names_of(known, src)!r} makes {shapes[src]} but the layer makes "
                            f"{g.out_shape}; a convolution's further inputs are maps of its own shape"
                        )
                spec = LayerSpec(
                    units=g.n_out, conv=g, pool=pool, n_syn=g.n_in, source=srcs[0], extra=extra, name=names[i]
                )
                shapes[len(out)] = g.out_shape
            else:
                units = classes if s.get("units") == "classes" else _int(s, "units", None, where)
                rec = s.get("recurrent", False)
                if not isinstance(rec, bool):
                    raise ArchitectureError(f"{where}: recurrent must be true or false, got {rec!r}")
                spec = LayerSpec(
                    units=units,
                    pool=pool,
                    n_syn=int(math.prod(shape)),
                    recurrent=rec,
                    source=srcs[0],
                    extra=extra,
                    name=names[i],
                )
                shapes[len(out)] = (units,)
            gate = _gate(s, where, known, shapes, shapes[len(out)])
            if gate is not None:
                if spec.recurrent:
                    raise ArchitectureError(f"{where}: a gated layer (sew) cannot be recurrent")
                spec = replace(spec, gate=gate)
            known[names[i]] = len(out)
            out.append(spec)
        except ArchitectureError:
            raise
        except ValueError as e:  # a geometry's own validation
            raise ArchitectureError(f"{where}: {e}") from None
    if pool_spec is not None:
        raise ArchitectureError(f"{pool_spec['where']}: pooling must come before a layer")
    return out


def _gate(s: dict, where: str, known: dict[str, int], shapes: dict, own: tuple[int, ...]) -> tuple[str, int] | None:
    """A layer spec's SEW gate (``sew``, ``sew_with``), checked; None without one."""
    op, other = s.get("sew"), s.get("sew_with")
    if op is None and other is None:
        return None
    if op not in GATE_OPS:
        raise ArchitectureError(f"{where}: sew must be one of {', '.join(map(repr, GATE_OPS))}, got {op!r}")
    if not isinstance(other, str) or other not in known or known[other] < 0:
        raise ArchitectureError(
            f"{where}: sew_with must name an earlier layer ({', '.join(k for k in known if k != 'input')}), got {other!r}"
        )
    if shapes[known[other]] != own:
        raise ArchitectureError(
            f"{where}: sew_with {other!r} makes {shapes[known[other]]} but the layer makes {own}; a gate joins equal shapes"
        )
    return str(op), known[other]


def names_of(known: dict[str, int], index: int) -> str:
    return next(k for k, v in known.items() if v == index)


def graph_of(specs: list[LayerSpec]) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
    """(sources, extra (source, target) pairs) of resolved specs: what ``ir.Network`` takes."""
    sources = tuple(sp.source for sp in specs)
    extra = [(src, t) for t, sp in enumerate(specs) for src, _ in sp.extra]
    return sources, extra
