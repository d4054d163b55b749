"""``NAME:classes=A,B,...``: a per-sample data set kept to some of its classes, relabelled
0, 1, ... in the order given (docs/data.md, "Fewer classes"). A kit with few readout neurons
(Xylo Audio 2 has 8) takes a task that has more this way. Classes are named as the data set
names them (``class_names``) or by index; samples of other classes are left out of both splits.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgesnn.data.npzfile import ArraySplit, AudioSplit, EventSplit
from edgesnn.errors import DatasetError

OPTION = ":classes="


def parse(name: str) -> tuple[str, list[str]] | None:
    """(base name, the classes asked for) of a ``BASE:classes=...`` name, else None."""
    base, sep, rest = str(name).rpartition(OPTION)
    if not sep:
        return None
    wanted = [c.strip() for c in rest.split(",")]
    if not base or not all(wanted):
        raise DatasetError(f"{name!r}: write BASE{OPTION}A,B,... (class names or indices, comma-separated)")
    return base, wanted


def _pick(split: ArraySplit | EventSplit, keep: np.ndarray, new_label: np.ndarray) -> ArraySplit | EventSplit:
    idx = np.flatnonzero(keep[split.y])
    y = new_label[split.y[idx]]
    if isinstance(split, AudioSplit):
        return replace(split, x=split.x[idx], y=y, lengths=split.lengths[idx])
    if isinstance(split, ArraySplit):
        return replace(split, x=split.x[idx], y=y)
    starts, ends = split.offsets[idx], split.offsets[idx + 1]
    events = np.concatenate([split.events[a:b] for a, b in zip(starts, ends)] or [split.events[:0]])
    offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
    return replace(split, events=events, offsets=offsets, y=y)


def subset(ds, wanted: list[str], name: str):
    """The data set ``ds`` (``datasets.Dataset``) kept to the classes ``wanted``. Pure."""
    names = ds.class_names
    order: list[int] = []
    for w in wanted:
        if w in names:
            c = names.index(w)
        elif w.isdigit() and int(w) < ds.classes:
            c = int(w)
        else:
            raise DatasetError(f"{name!r}: data set {ds.name!r} has no class {w!r}; its classes: {', '.join(names)}")
        if c in order:
            raise DatasetError(f"{name!r}: class {w!r} is named twice")
        order.append(c)
    if len(order) < 2:
        raise DatasetError(f"{name!r}: keep at least two classes")
    keep = np.zeros(ds.classes, bool)
    keep[order] = True
    new_label = np.full(ds.classes, -1, np.int64)
    new_label[order] = np.arange(len(order))
    train, test = (_pick(ds.split(s), keep, new_label) for s in ("train", "test"))
    if len(train) == 0 or len(test) == 0:
        raise DatasetError(
            f"{name!r}: no samples of these classes in the {'train' if not len(train) else 'test'} split"
        )
    return replace(
        ds, name=name, train=train, test=test, classes=len(order), names=tuple(names[c] for c in order), derived={}
    )
