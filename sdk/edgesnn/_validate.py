"""Field checks shared by the configuration dataclasses; errors name the field and its value."""

from __future__ import annotations


def require_at_least_one(obj, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(obj, name)!r}")


def require_within(obj, lo: int, hi: int, *names: str) -> None:
    for name in names:
        v = getattr(obj, name)
        if not lo <= v <= hi:
            raise ValueError(f"{name} = {v} is outside [{lo}, {hi}]")
