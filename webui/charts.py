"""Tiny server-side charts: SVG drawn from numbers, so the trend needs no chart library.

``trend()`` returns the geometry of a small line chart of score and coverage (0-100 on
both) with its axes: gridlines at 0, 50 and 100, the first and last dates under the x
axis, a dot per snapshot carrying its own figures as a tooltip, and the latest values
written beside the last dots.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 300, 96
LEFT, RIGHT, TOP, BOTTOM = 28, 64, 8, 18  # room for the y labels, last values, x labels


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: str  # the polyline's "x,y x,y ..."
    dots: list[dict]  # {"x", "y", "label"}
    last: dict | None  # {"x", "y", "text"} beside the last dot


def _x(i: int, n: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (i / max(n - 1, 1))


def _y(value: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - min(max(value, 0.0), 100.0) / 100.0)


def polyline(values: list[float | None]) -> str:
    """SVG ``points`` for values on 0-100; gaps (None) are skipped."""
    return " ".join(f"{_x(i, len(values)):.1f},{_y(v):.1f}" for i, v in enumerate(values) if v is not None)


def _series(name: str, css: str, values: list[float | None], labels: list[str], unit: str) -> Series:
    dots = [
        {"x": round(_x(i, len(values)), 1), "y": round(_y(v), 1), "label": f"{labels[i]}: {name} {v:g}{unit}"}
        for i, v in enumerate(values)
        if v is not None
    ]
    last = None
    if dots:
        value = next(v for v in reversed(values) if v is not None)
        last = {"x": WIDTH - RIGHT + 6, "y": dots[-1]["y"] + 4, "text": f"{value:g}{unit}"}
    return Series(name, css, polyline(values), dots, last)


def trend(points: list[dict]) -> dict:
    """Chart geometry for ``points`` (oldest first), each ``{"id", "date", "score",
    "coverage"}``; a figure may be None (analysis not finished)."""
    labels = [f"#{p['id']} {p['date']:%Y-%m-%d %H:%M}" for p in points]
    score = _series("score", "line-score", [p["score"] for p in points], labels, "")
    coverage = _series("coverage", "line-coverage", [p["coverage"] for p in points], labels, "%")
    if score.last and coverage.last and abs(score.last["y"] - coverage.last["y"]) < 11:
        # Keep the two end labels apart when the values are close.
        low, high = sorted((score.last, coverage.last), key=lambda d: d["y"])
        high["y"] = low["y"] + 11
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "series": [score, coverage],
        "grid": [{"y": round(_y(v), 1), "label": str(v)} for v in (0, 50, 100)],
        "x_left": LEFT,
        "x_right": WIDTH - RIGHT,
        "x_labels": (
            [
                {"x": LEFT, "anchor": "start", "text": f"{points[0]['date']:%b %d %H:%M}"},
                {"x": WIDTH - RIGHT, "anchor": "end", "text": f"{points[-1]['date']:%b %d %H:%M}"},
            ]
            if len(points) > 1
            else []
        ),
        "count": len(points),
    }
