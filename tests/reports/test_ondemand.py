"""Reports on demand: any viewer downloads any complete snapshot's report in every
format, built once and then read from the cache; the PDF names the failing compliance
checks and gives the namespaces table; absolute links use SITE_URL."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.urls import reverse
from pypdf import PdfReader

from auditor.models import Analysis, Finding, Snapshot, Waiver
from auditor.reports import ondemand
from auditor.reports.pdf import MUTED_RGB, SEVERITY_RGB, _latin
from config.settings import site_url_from_bind
from netpol.findings.catalogue import SEVERITIES

from .conftest import take_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_cache(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.SITE_URL = "https://netpol.example.com"


@pytest.fixture
def analysed(demo_cluster):
    """The demo's analysed snapshot."""
    return take_snapshot(demo_cluster)


@pytest.fixture
def old_snapshot(demo_cluster, analysed):
    """The demo's first snapshot, no longer the current one."""
    old = analysed
    take_snapshot(demo_cluster)
    assert Snapshot.objects.filter(cluster=demo_cluster).latest("finished_at").pk != old.pk
    return old


def report_url(snapshot, fmt):
    return reverse("webui:snapshot_report", args=[snapshot.cluster.name, snapshot.pk, fmt])


def pdf_text(data: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split()
    )


def test_viewer_downloads_every_format_of_an_old_snapshot_from_the_snapshots_page(
    client_as, old_snapshot, sarif_validator
):
    viewer = client_as("viewer")
    page = viewer.get(reverse("webui:cluster_snapshots", args=["demo"])).content.decode()
    open_findings = Finding.objects.filter(snapshot=old_snapshot).count()
    for fmt in ondemand.FORMATS:
        link = report_url(old_snapshot, fmt)
        assert f'href="{link}"' in page, (
            f"the snapshots page has no {fmt} link for #{old_snapshot.pk}"
        )
        response = viewer.get(link)
        assert response.status_code == 200, (fmt, response.content[:300])
        assert response["Content-Type"] == ondemand.FORMATS[fmt][0]
        assert f"snapshot-{old_snapshot.pk}.{fmt}" in response["Content-Disposition"]
        body = response.content
        if fmt == "html":
            html = body.decode()
            assert f"snapshot #{old_snapshot.pk}" in html and "Failing compliance checks" in html
        elif fmt == "pdf":
            assert body.startswith(b"%PDF-")
            assert f"snapshot #{old_snapshot.pk}" in pdf_text(body)
        elif fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(body.decode())))
            assert len(rows) == open_findings
        elif fmt == "json":
            content = json.loads(body)
            assert (
                content["snapshot"]["id"] == old_snapshot.pk
                and len(content["findings"]) == open_findings
            )
        else:
            log = json.loads(body)
            sarif_validator.validate(log)
            assert log["runs"][0]["automationDetails"]["id"].endswith(f"snapshot-{old_snapshot.pk}")


def test_second_download_is_a_cache_hit_and_a_new_analysis_or_waiver_misses(
    client_as, demo_cluster, analysed, personas
):
    snapshot = analysed
    viewer = client_as("viewer")
    first = viewer.get(report_url(snapshot, "pdf"))
    second = viewer.get(report_url(snapshot, "pdf"))
    assert (first["X-Report-Cache"], second["X-Report-Cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert len(list(ondemand.cache_dir().glob("*.pdf"))) == 1

    # A rebuilt analysis changes the key: the next download is built afresh.
    Analysis.objects.filter(snapshot=snapshot).update(
        finished_at=snapshot.analysis.finished_at.replace(year=2030)
    )
    assert viewer.get(report_url(snapshot, "pdf"))["X-Report-Cache"] == "miss"
    assert viewer.get(report_url(snapshot, "pdf"))["X-Report-Cache"] == "hit"

    # A waiver makes a finding waived: the CSV says so after it, not the cached copy.
    before = viewer.get(report_url(snapshot, "csv"))
    finding = Finding.objects.filter(snapshot=snapshot).first()
    from datetime import timedelta

    from django.utils import timezone

    Waiver.objects.create(
        cluster=demo_cluster,
        fingerprint=finding.fingerprint,
        rule=finding.rule,
        summary=finding.title,
        reason="accepted for the test",
        author=personas["admin"],
        expires_at=timezone.now() + timedelta(days=30),
    )
    after = viewer.get(report_url(snapshot, "csv"))
    assert (before["X-Report-Cache"], after["X-Report-Cache"]) == ("miss", "miss")
    waived = {
        r["fingerprint"]: r["waived"] for r in csv.DictReader(io.StringIO(after.content.decode()))
    }
    assert waived[finding.fingerprint] == "yes"


def test_pdf_names_failing_checks_and_gives_the_namespaces_table(analysed):
    snapshot = analysed
    content = ondemand.content_of(snapshot)
    text = pdf_text(ondemand.snapshot_report(snapshot, "pdf").body)
    failing = [k for k in content["compliance"] if k["status"] == "fail"]
    assert failing, "the demo fails some compliance checks"
    assert f"Failing compliance checks ({len(failing)} of {len(content['compliance'])})" in text
    for check in failing:
        # The table wraps long cells: compare without spaces.
        squashed = text.replace(" ", "")
        assert _latin(check["evidence"]).replace(" ", "") in squashed, check
        assert check["control"].replace(" ", "") in squashed
    assert f"Namespaces ({len(content['namespaces'])})" in text
    assert "Namespace Score Pods Isolated in Isolated out Critical High Medium Low Info" in text
    for row in content["namespaces"]:
        counts = " ".join(str(row["counts"][s]) for s in SEVERITIES)
        score = "-" if row["score"] is None else f"{row['score']:g}"
        cells = f"{row['namespace']} {score} {row['pods']} {row['ingress_pods']} {row['egress_pods']} {counts}"
        assert cells in text, cells
    assert "->" not in text, "arrows are words, not ASCII"
    assert (
        f"Online: https://netpol.example.com/clusters/demo/findings/?snapshot={snapshot.pk}" in text
    )


def test_pdf_text_is_left_aligned_not_justified():
    from auditor.reports.pdf import _ReportPDF

    pdf = _ReportPDF("t")
    pdf.add_page()
    pdf.para("word " * 200)
    # Justified text sets word spacing (Tw) per line; left-aligned text never does.
    assert not re.search(rb"[\d.]+ Tw", pdf.output())


def luminance(rgb):
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_every_pdf_and_html_colour_reads_on_white():
    for name, rgb in [*SEVERITY_RGB.items(), ("muted", MUTED_RGB)]:
        ratio = 1.05 / (luminance(rgb) + 0.05)
        assert ratio >= 4.5, f"PDF {name} {rgb} is {ratio:.2f}:1 on white"
    from pathlib import Path

    template = (
        Path(__file__).resolve().parents[2] / "templates/reports/standalone.html"
    ).read_text()
    for sev, hex_ in re.findall(r"\.sev-(\w+) \{ color: #([0-9a-f]{6}); \}", template):
        rgb = tuple(int(hex_[i : i + 2], 16) for i in (0, 2, 4))
        assert 1.05 / (luminance(rgb) + 0.05) >= 4.5, sev
    assert len(re.findall(r"\.sev-(\w+) \{ color", template)) == len(SEVERITIES)


def test_links_use_site_url(client_as, analysed):
    snapshot = analysed
    html = client_as("viewer").get(report_url(snapshot, "html")).content.decode()
    assert (
        f'href="https://netpol.example.com/clusters/demo/findings/?snapshot={snapshot.pk}"' in html
    )
    assert "localhost:8000" not in html


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("127.0.0.1:8000", "http://localhost:8000"),
        ("10.1.2.3:9000", "http://10.1.2.3:9000"),
        ("[::1]:8080", "http://localhost:8080"),
        ("[fd00::5]:8080", "http://[fd00::5]:8080"),
        ("netpol.internal:80", "http://netpol.internal:80"),
    ],
)
def test_site_url_defaults_from_bind(bind, expected):
    assert site_url_from_bind(bind) == expected


def test_site_url_of_a_wildcard_bind_is_the_host_name():
    import socket

    assert site_url_from_bind("0.0.0.0:8000") == f"http://{socket.getfqdn()}:8000"


def test_a_snapshot_without_analysis_says_why(client_as, analysed):
    snapshot = analysed
    Analysis.objects.filter(snapshot=snapshot).update(status=Analysis.Status.RUNNING)
    response = client_as("viewer").get(report_url(snapshot, "pdf"))
    assert response.status_code == 404
    assert client_as("viewer").get(report_url(snapshot, "docx")).status_code == 404


def test_stranger_gets_nothing(client_as, analysed):
    snapshot = analysed
    assert client_as("stranger").get(report_url(snapshot, "html")).status_code == 403


def test_pdf_namespaces_table_keeps_the_lowest_scores_when_long(analysed):
    from auditor.reports.pdf import PDF_NAMESPACES_CAP, render_pdf

    content = ondemand.content_of(analysed)
    template = content["namespaces"][0]
    content["namespaces"] = [
        {**template, "namespace": f"team-{i:04d}", "score": i % 100}
        for i in range(PDF_NAMESPACES_CAP + 100)
    ]
    text = pdf_text(render_pdf(content))
    assert f"Namespaces ({PDF_NAMESPACES_CAP + 100})" in text
    assert (
        f"The {PDF_NAMESPACES_CAP} lowest scores of {PDF_NAMESPACES_CAP + 100} namespaces" in text
    )
    assert "team-0000 0 " in text  # score 0 is kept
    assert "team-0099 " not in text  # one of the six scored 99: the highest are left out
