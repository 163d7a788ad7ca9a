"""Tiny server-side charts: SVG polylines, so the trend needs no chart library."""

from __future__ import annotations


def polyline(values: list[float | None], *, width: int = 240, height: int = 48, low: float = 0.0, high: float = 100.0) -> str:
    """SVG ``points`` for ``values`` on a fixed scale; gaps (None) are skipped."""
    points = []
    step = width / max(len(values) - 1, 1)
    span = (high - low) or 1.0
    for i, value in enumerate(values):
        if value is None:
            continue
        y = height - (min(max(value, low), high) - low) / span * height
        points.append(f"{i * step:.1f},{y:.1f}")
    return " ".join(points)
