"""Detections in time scored against labelled segments (docs/data.md, "Scoring detections").

The rule, exactly: a segment ``[onset, offset]`` of class c is a **hit** when the first
detection inside ``[onset, offset + tolerance]`` (default 500 ms) has class c; its **latency** is
that detection's time minus the onset. Every other detection (outside all such windows, a second
one inside a window, or of the wrong class) is a **false alarm**. A detection is the hit of at
most one segment (the earliest whose window it opens), so windows that overlap when segments
are closer than the tolerance never count one detection twice.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TOLERANCE_MS = 500.0


def match(
    segments: np.ndarray, times_us: np.ndarray, classes: np.ndarray, tolerance_us: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: the index of its hit detection (-1: missed) and its latency (µs, -1)."""
    seg = np.asarray(segments, np.int64).reshape(-1, 3)
    t = np.asarray(times_us, np.int64)
    c = np.asarray(classes, np.int64)
    if len(t) > 1 and (np.diff(t) < 0).any():
        raise ValueError("detection times must be sorted")
    hit = np.full(len(seg), -1, np.int64)
    used = np.zeros(len(t), bool)
    first = np.searchsorted(t, seg[:, 0], side="left")
    for k, (_on, off, cls) in enumerate(seg):
        j = int(first[k])
        while j < len(t) and used[j] and t[j] <= off + tolerance_us:
            j += 1  # already the hit of an earlier segment: not this one's first detection
        if j < len(t) and t[j] <= off + tolerance_us and c[j] == cls:
            hit[k] = j
            used[j] = True
    latency = np.where(hit >= 0, t[np.maximum(hit, 0)] - seg[:, 0], -1) if len(t) else np.full(len(seg), -1)
    return hit, latency


def score(
    segments: np.ndarray,
    times_us: np.ndarray,
    classes: np.ndarray,
    duration_us: int,
    n_classes: int,
    tolerance_ms: float = DEFAULT_TOLERANCE_MS,
    class_names: list[str] | None = None,
) -> dict:
    """``detection_accuracy``, ``false_alarms_per_hour``, ``latency_ms_median``/``_p90``, and the
    same per class (``per_class``: keyed by class name)."""
    if not tolerance_ms >= 0:
        raise ValueError(f"tolerance must be >= 0 ms, got {tolerance_ms}")
    seg = np.asarray(segments, np.int64).reshape(-1, 3)
    c = np.asarray(classes, np.int64)
    hit, lat = match(seg, times_us, c, int(round(tolerance_ms * 1000)))
    hours = duration_us / 3.6e9
    is_hit = np.zeros(len(c), bool)
    is_hit[hit[hit >= 0]] = True

    def summary(sel_seg: np.ndarray, fa: int) -> dict:
        lats = lat[sel_seg & (hit >= 0)] / 1000.0
        n = int(sel_seg.sum())
        return {
            "segments": n,
            "hits": int((hit[sel_seg] >= 0).sum()),
            "detection_accuracy": float((hit[sel_seg] >= 0).mean()) if n else None,
            "false_alarms": fa,
            "false_alarms_per_hour": fa / hours if hours else None,
            "latency_ms_median": float(np.median(lats)) if len(lats) else None,
            "latency_ms_p90": float(np.percentile(lats, 90)) if len(lats) else None,
        }

    out = summary(np.ones(len(seg), bool), int((~is_hit).sum()))
    out["detections"] = int(len(c))
    out["tolerance_ms"] = float(tolerance_ms)
    names = class_names or [str(k) for k in range(n_classes)]
    out["per_class"] = {names[k]: summary(seg[:, 2] == k, int(((c == k) & ~is_hit).sum())) for k in range(n_classes)}
    return out
