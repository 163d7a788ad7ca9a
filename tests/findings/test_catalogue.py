"""The catalogue: one place, complete, rendered to docs/findings.md."""

from __future__ import annotations

import re
from pathlib import Path

from netpol.findings import catalogue
from netpol.findings.catalogue import RULES, SEVERITIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "findings.md"


def test_rules_are_complete_and_ids_stable_in_form():
    assert len(RULES) >= 25
    for rule_id, rule in RULES.items():
        assert re.fullmatch(r"NP\d{3}", rule_id)
        assert rule.severity in SEVERITIES
        assert rule.category in catalogue.CATEGORIES
        assert rule.title and rule.why and rule.remediation
        assert set(rule.compliance) <= set(catalogue.CONTROLS)


def test_to_dict_for_the_ui():
    data = catalogue.to_dict()
    assert [r["id"] for r in data["rules"]] == list(RULES)
    assert data["severities"] == list(SEVERITIES)


def test_committed_docs_are_current():
    assert DOC.read_text() == catalogue.render_markdown(), (
        "docs/findings.md is stale: python -m netpol.findings > docs/findings.md"
    )
