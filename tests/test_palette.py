"""One table of statuses and severities with their colours: every status has one, the
CSS and the PDF show the palette's values, and severities follow the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from auditor.models import (
    PALETTE,
    SEVERITY_COLOURS,
    STATUS_COLOURS,
    Analysis,
    Delivery,
    Report,
    Severity,
    Snapshot,
)
from auditor.reports.pdf import SEVERITY_RGB
from netpol.findings.catalogue import SEVERITIES

CSS = (Path(__file__).resolve().parents[1] / "static" / "css" / "app.css").read_text()


def _css_rgb(selector: str) -> tuple[int, int, int]:
    found = re.search(re.escape(selector) + r"\s*\{\s*background:\s*#([0-9a-f]{6});", CSS)
    assert found, f"{selector} has no background in app.css"
    return tuple(int(found[1][i : i + 2], 16) for i in (0, 2, 4))


def test_every_status_has_a_palette_colour():
    for model in (Snapshot, Analysis, Report, Delivery):
        for status in model.Status.values:
            assert STATUS_COLOURS[status] in PALETTE, (model.__name__, status)


def test_severities_are_the_catalogues_in_its_order():
    assert tuple(SEVERITY_COLOURS) == SEVERITIES
    assert tuple(Severity.values) == SEVERITIES
    assert Severity.CRITICAL.label == "Critical"


def test_css_and_pdf_draw_the_palette():
    for name, rgb in PALETTE.items():
        assert _css_rgb(f".badge-{name}") == rgb, name
    for severity, name in SEVERITY_COLOURS.items():
        assert _css_rgb(f".sev-{severity}") == PALETTE[name], severity
    # The PDF prints severities as text, so it darkens the hues to >= 4.5:1 on white
    # (tests/reports/test_ondemand.py); each keeps its hue's strongest channel.
    for severity, name in SEVERITY_COLOURS.items():
        assert max(range(3), key=lambda i: SEVERITY_RGB[severity][i]) == max(range(3), key=lambda i: PALETTE[name][i]), severity
