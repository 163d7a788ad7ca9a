"""JSON, CSV and SARIF of a stored report, from its content alone."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from netpol import sarif

CSV_COLUMNS = (
    "severity",
    "rule",
    "title",
    "namespace",
    "message",
    "objects",
    "object_count",
    "waived",
    "category",
    "fingerprint",
    "remediation",
    "score_points",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def report_json(content: dict) -> str:
    return json.dumps(content, indent=2, sort_keys=False)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def report_csv(content: dict) -> str:
    """One row per finding, open and waived, most severe first; objects separated by spaces."""
    rules = content.get("rules") or {}
    # The points each cause costs its namespace's score (absent from reports made before).
    points = {
        ns: row["points"]
        for ns, row in ((content.get("summary") or {}).get("headline") or {}).get("namespaces", {}).items()
    }
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for f in content["findings"]:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    f["severity"],
                    f["rule"],
                    f["title"],
                    f["namespace"],
                    f["message"],
                    " ".join(f["objects"]),
                    len(f["objects"]),
                    "yes" if f["waived"] else "no",
                    f.get("category", ""),
                    f["fingerprint"],
                    (rules.get(f["rule"]) or {}).get("remediation", ""),
                    points.get(f["namespace"], {}).get(f["fingerprint"], ""),
                )
            ]
        )
    return out.getvalue()


def report_sarif(content: dict) -> dict:
    """SARIF of a cluster report: logical locations only (a live cluster has no files);
    waived findings carry the waiver's reason as an accepted suppression."""
    reasons = {
        w["fingerprint"]: w["reason"] for w in (content.get("waivers") or {}).get("active", [])
    }
    suppressions = {
        f["fingerprint"]: reasons.get(f["fingerprint"], "waived")
        for f in content["findings"]
        if f["waived"]
    }
    cluster = content["cluster"]["name"]
    return sarif.to_sarif(
        content["findings"],
        rules=content.get("rules") or {},
        suppressions=suppressions,
        automation_id=f"netpol-auditor/{cluster}/"
        + (f"report-{content['report_id']}" if content.get("report_id") else f"snapshot-{content['snapshot']['id']}"),
        run_properties={
            "cluster": cluster,
            "report": content["report_id"],
            "snapshot": content["snapshot"]["id"],
            "score": content["summary"]["score"],
        },
        finished_at=datetime.fromisoformat(content["generated_at"]),
    )
