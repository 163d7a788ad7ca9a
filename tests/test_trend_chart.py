"""The overview's trend chart has axes, dates and the latest values, from the figures."""

from __future__ import annotations

from datetime import UTC, datetime

from webui.charts import BOTTOM, HEIGHT, TOP, trend


def _points():
    return [
        {"id": 1, "date": datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "score": 20, "coverage": 50.0},
        {"id": 2, "date": datetime(2026, 12, 2, 9, 0, tzinfo=UTC), "score": None, "coverage": 60.0},
        {"id": 3, "date": datetime(2026, 12, 3, 9, 30, tzinfo=UTC), "score": 38, "coverage": 74.5},
    ]


def test_axes_dates_values_and_tooltips():
    chart = trend(_points())
    assert [g["label"] for g in chart["grid"]] == ["0", "50", "100"]
    assert chart["grid"][0]["y"] == HEIGHT - BOTTOM and chart["grid"][2]["y"] == TOP
    assert [x["text"] for x in chart["x_labels"]] == ["Dec 01 09:00", "Dec 03 09:30"]
    score, coverage = chart["series"]
    assert score.last["text"] == "38" and coverage.last["text"] == "74.5%"
    # A snapshot whose analysis is not finished has no score dot, and the line skips it.
    assert [d["label"] for d in score.dots] == ["#1 2026-12-01 09:00: score 20", "#3 2026-12-03 09:30: score 38"]
    assert len(score.points.split()) == 2 and len(coverage.points.split()) == 3


def test_close_end_values_do_not_overlap():
    points = _points()
    points[-1]["score"], points[-1]["coverage"] = 70, 71.0
    score, coverage = trend(points)["series"]
    assert abs(score.last["y"] - coverage.last["y"]) >= 11


def test_the_overview_draws_the_chart(client_as, demo_snapshot):
    from auditor.models import Snapshot

    Snapshot.objects.create(
        cluster=demo_snapshot.cluster, status="complete", finished_at=demo_snapshot.finished_at,
        content_hash=demo_snapshot.content_hash,
    )
    page = client_as("viewer").get("/").content.decode()
    assert 'class="trend-chart"' in page and ">100</text>" in page and "<title>#" in page
