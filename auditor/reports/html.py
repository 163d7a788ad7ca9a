"""What the HTML page and the email templates need from a report's content.

The stored content keeps times as ISO strings (it is JSON); templates get datetimes,
and the few figures they show precomputed, so the templates stay free of logic.
"""

from __future__ import annotations

import copy
from datetime import datetime

from netpol.findings.catalogue import SEVERITIES

PAGE_FINDINGS_CAP = 500


def counts_text(counts: dict) -> str:
    """``6 high, 17 medium, 12 low``."""
    return ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts.get(s)) or "no open findings"


def _at(value):
    return datetime.fromisoformat(value) if isinstance(value, str) and value else value


def failing_checks(content: dict) -> list[dict]:
    """The compliance checks that fail, by namespace then control."""
    return sorted(
        (k for k in content.get("compliance") or [] if k["status"] != "pass"),
        key=lambda k: (k["namespace"], k["control"]),
    )


def display(content: dict) -> dict:
    if not content:
        return {}
    c = copy.deepcopy(content)
    c["generated_at"] = _at(c["generated_at"])
    c["snapshot"]["finished_at"] = _at(c["snapshot"]["finished_at"])
    baseline = c["changes"].get("baseline")
    if baseline:
        baseline["at"] = _at(baseline["at"])
    for group in ("active", "expired"):
        for w in c["waivers"][group]:
            for key in ("created_at", "expires_at", "revoked_at"):
                w[key] = _at(w[key])
    counts = c["summary"]["counts"]
    c["counts_text"] = counts_text(counts)
    c["severity_rows"] = [{"severity": s, "count": counts.get(s, 0)} for s in SEVERITIES]
    # A page of 17,000 rows helps no one: the rest are in the CSV and on the findings page.
    c["findings_shown"] = c["findings"][:PAGE_FINDINGS_CAP]
    c["findings_more"] = max(0, len(c["findings"]) - PAGE_FINDINGS_CAP)
    c["failing_checks"] = failing_checks(c)
    c["severity_names"] = list(SEVERITIES)
    for row in c.get("namespaces") or []:  # absent from reports made before the table
        row["severity_counts"] = [row["counts"].get(s, 0) for s in SEVERITIES]
    cov = c["changes"].get("coverage") or {}
    c["coverage_change"] = cov.get("percent")
    c["coverage_rows"] = [
        {
            "label": label,
            "old": _shown(key, cov[key]["old"]),
            "new": _shown(key, cov[key]["new"]),
            "change": _shown(key, cov[key]["change"], signed=True),
        }
        for key, label in COVERAGE_LABELS.items()
        if key in cov
    ]
    return c


COVERAGE_LABELS = {
    "percent": "Coverage (pod directions isolated)",
    "ingress_pod_ratio": "Pods isolated for ingress",
    "egress_pod_ratio": "Pods isolated for egress",
    "ingress_workload_ratio": "Workloads isolated for ingress",
    "egress_workload_ratio": "Workloads isolated for egress",
    "pods": "Running pods",
    "workloads": "Workloads",
}


def _shown(key: str, value, *, signed: bool = False) -> str:
    """Ratios as percentages, the coverage percentage in points when it is a change."""
    sign = "+" if signed and value > 0 else ""
    if key.endswith("_ratio"):
        return f"{sign}{100 * value:.1f}{' points' if signed else '%'}"
    if key == "percent":
        return f"{sign}{value:g}{' points' if signed else '%'}"
    return f"{sign}{value:g}"
