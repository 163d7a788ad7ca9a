"""PDF (text extracted with pypdf), CSV, JSON and SARIF (validated against the 2.1.0 schema)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from pypdf import PdfReader

from auditor.models import Finding
from auditor.reports import exports
from auditor.reports.pdf import render_pdf
from auditor.services import waiver_create
from netpol import sarif

from .conftest import take_snapshot
from .helpers import build, make_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def changed_report(demo_cluster, changing_demo):
    """The demo's second weekly report: legacy arrived, the allow-all policy went."""
    _, change = changing_demo
    take_snapshot(demo_cluster)
    schedule = make_schedule(demo_cluster)
    build(schedule)
    change()
    take_snapshot(demo_cluster)
    return build(schedule)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_holds_summary_changes_offenders_and_findings(changed_report):
    data = render_pdf(changed_report.content, link="https://audit.example.com/r/2")
    assert data.startswith(b"%PDF-")
    text = " ".join(pdf_text(data).split())
    c = changed_report.content
    assert "Network policy audit: demo" in text
    assert f"Report #{changed_report.pk} of schedule 'Weekly review'" in text
    assert f"{c['summary']['score']:g}/100" in text
    # the score's sentence and first fixes, as on the dashboard
    assert f"Why: {c['summary']['headline']['reason']}" in text
    first = c["summary"]["headline"]["fix_first"][0]
    assert f"Fix first: {first['title']} ({first['rule']}" in text
    assert "How the score is computed: docs/findings.md#score" in text
    assert f"What changed since report #{changed_report.previous_id}" in text
    assert f"New findings {c['changes']['new_count']}" in text
    assert "Resolved findings" in text and "Top offenders" in text
    assert "Namespace with no NetworkPolicy" in text and "legacy" in text
    assert "Online: https://audit.example.com/r/2" in text
    # Every open finding is listed.
    assert text.count("Fix: ") == c["summary"]["open"]
    assert "Objects: NetworkPolicy/" in text


def test_pdf_of_a_first_report_and_unicode_text(demo_cluster):
    take_snapshot(demo_cluster)
    report = build(make_schedule(demo_cluster, name="Weekly — “review” → CISO"))
    text = pdf_text(render_pdf(report.content))
    assert "first report" in text
    assert 'Weekly - "review" to CISO' in text  # spelled in Latin-1, the arrow as a word


def test_csv_has_one_row_per_finding_and_defuses_formulas(changed_report):
    rows = list(csv.DictReader(io.StringIO(exports.report_csv(changed_report.content))))
    assert len(rows) == len(changed_report.content["findings"])
    assert set(rows[0]) == set(exports.CSV_COLUMNS)
    np003 = [r for r in rows if r["rule"] == "NP003" and r["namespace"] == "legacy"]
    assert (
        np003
        and np003[0]["severity"] == "high"
        and "Namespace/legacy" in np003[0]["objects"].split()
    )
    assert all(r["remediation"] for r in rows)
    # each cause's points are those the namespaces table and the API give it
    legacy = changed_report.content["summary"]["headline"]["namespaces"]["legacy"]
    assert float(np003[0]["score_points"]) == legacy["points"][np003[0]["fingerprint"]] > 0

    content = {
        "findings": [
            {
                **changed_report.content["findings"][0],
                "message": '=HYPERLINK("http://x")',
                "title": "@SUM(A1)",
            }
        ],
        "rules": {},
    }
    [row] = list(csv.DictReader(io.StringIO(exports.report_csv(content))))
    assert row["message"].startswith("'=") and row["title"].startswith("'@")


def test_json_export_is_the_stored_content(changed_report):
    assert json.loads(exports.report_json(changed_report.content)) == changed_report.content


def test_report_sarif_is_valid_with_one_result_per_finding(changed_report, sarif_validator):
    log = exports.report_sarif(changed_report.content)
    sarif_validator.validate(log)
    [run] = log["runs"]
    results = run["results"]
    findings = changed_report.content["findings"]
    assert len(results) == len(findings)
    rules = run["tool"]["driver"]["rules"]
    for result, finding in zip(results, findings, strict=True):
        assert result["ruleId"] == finding["rule"] == rules[result["ruleIndex"]]["id"]
        assert result["partialFingerprints"] == {sarif.FINGERPRINT_KEY: finding["fingerprint"]}
        assert result["level"] == sarif.LEVELS[finding["severity"]]
        logical = [loc["logicalLocations"][0]["fullyQualifiedName"] for loc in result["locations"]]
        assert set(logical) == set(finding["objects"][: sarif.MAX_LOCATIONS])
        assert all("physicalLocation" not in loc for loc in result["locations"])
    np003 = next(r for r in rules if r["id"] == "NP003")
    assert np003["defaultConfiguration"]["level"] == "error"
    assert np003["properties"]["security-severity"] == "8.0"
    assert "Remediation:" in np003["help"]["text"]
    assert run["automationDetails"]["id"] == f"netpol-auditor/demo/report-{changed_report.pk}"
    assert {r["level"] for r in results} == {"error", "warning", "note"}


def test_waived_findings_are_accepted_suppressions_in_sarif(
    demo_cluster, personas, sarif_validator
):
    snapshot = take_snapshot(demo_cluster)
    finding = Finding.objects.get(snapshot=snapshot, rule="NP003")
    waiver_create(
        finding=finding,
        author=personas["auditor"],
        reason="migrating batch off this cluster",
        expires_at=timezone.now() + timedelta(days=30),
    )
    log = exports.report_sarif(build(make_schedule(demo_cluster)).content)
    sarif_validator.validate(log)
    suppressed = [r for r in log["runs"][0]["results"] if "suppressions" in r]
    assert len(suppressed) == 1
    assert suppressed[0]["partialFingerprints"][sarif.FINGERPRINT_KEY] == finding.fingerprint
    assert suppressed[0]["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "migrating batch off this cluster",
        }
    ]


def test_sarif_caps_locations_of_a_huge_finding(sarif_validator):
    objects = [f"Pod/big/web-{i}" for i in range(250)]
    finding = {
        "rule": "NP001",
        "severity": "medium",
        "title": "t",
        "message": "m",
        "objects": objects,
        "namespace": "big",
        "fingerprint": "f" * 24,
    }
    log = sarif.to_sarif([finding])
    sarif_validator.validate(log)
    [result] = log["runs"][0]["results"]
    assert (
        len(result["locations"]) == sarif.MAX_LOCATIONS
        and result["properties"]["objectCount"] == 250
    )


def test_sarif_rule_names_are_identifiers():
    for rule in sarif.to_sarif([])["runs"][0]["tool"]["driver"]["rules"]:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", rule["name"]), rule["name"]
