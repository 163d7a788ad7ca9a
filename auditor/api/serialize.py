"""The API's shapes: model rows to plain dicts, one function per schema component.

Each function here has a twin in ``schema.COMPONENTS`` of the same name; the tests
check every answer against it. What a cluster needs to be reached (API URL, token,
kubeconfig and CA paths) is never written out: only what the dashboard shows.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from auditor.models import Analysis, ApiToken, Cluster, Finding, Report, Snapshot
from netpol.findings.catalogue import CIS_532, RULES, SEVERITIES
from netpol.findings.score import DOCS
from netpol.findings.stored import StoredReport


def _seconds(delta) -> float | None:
    return round(delta.total_seconds(), 3) if delta is not None else None


def _analysis_of(snapshot: Snapshot) -> Analysis | None:
    try:
        return snapshot.analysis
    except Analysis.DoesNotExist:
        return None


def snapshot_summary(snapshot: Snapshot) -> dict:
    """``Snapshot``: status, times and sizes, and the score and counts once analysed."""
    analysis = _analysis_of(snapshot)
    done = analysis is not None and analysis.status == Analysis.Status.COMPLETE
    return {
        "id": snapshot.pk,
        "cluster": snapshot.cluster.name,
        "status": snapshot.status,
        "trigger": snapshot.trigger,
        "created_at": snapshot.created_at,
        "started_at": snapshot.started_at,
        "finished_at": snapshot.finished_at,
        "duration_seconds": _seconds(snapshot.duration),
        "error": snapshot.error,
        "counts": snapshot.object_counts(),
        "score": analysis.score if done else None,
        "finding_counts": dict(analysis.finding_counts) if done else None,
        "url": reverse("api:snapshot", args=[snapshot.cluster.name, snapshot.pk]),
    }


def snapshot_detail(snapshot: Snapshot) -> dict:
    """``SnapshotDetail``: the summary, its warnings and the analysis with its report."""
    analysis = _analysis_of(snapshot)
    return {
        **snapshot_summary(snapshot),
        "server_version": snapshot.server_version,
        "warnings": [str(w) for w in snapshot.warnings],
        "analysis": None
        if analysis is None
        else {
            "status": analysis.status,
            "started_at": analysis.started_at,
            "finished_at": analysis.finished_at,
            "error": analysis.error,
            "score": analysis.score,
            "finding_counts": dict(analysis.finding_counts),
            "headline": headline(analysis),
            # Coverage, score per namespace, compliance and CNI, as the findings code wrote them.
            "report": analysis.report,
        },
        "findings_url": reverse("api:findings", args=[snapshot.cluster.name])
        + f"?snapshot={snapshot.pk}",
    }


def headline(analysis: Analysis) -> dict | None:
    """``Headline``: the score with its reason, drivers and first fixes, for the cluster
    and each namespace, as the overview and the namespaces table show them."""
    if analysis.status != Analysis.Status.COMPLETE:
        return None
    report = StoredReport.from_dict(analysis.report)
    score = report.score
    namespaces = {}
    for name in sorted(score.namespaces):
        ns = score.namespace(name)
        if ns is not None:
            # The remediation is the rule's (in ``fix_first`` and the catalogue), not repeated
            # for each of 2,000 namespaces.
            fixes = [{k: v for k, v in d.items() if k != "remediation"} for d in ns.fix_first]
            namespaces[name] = {"score": ns.score, "reason": ns.reason, "fix_first": fixes}
    return {
        "score": score.cluster,
        "coverage": report.coverage.cluster.percent,
        "cis_passed": sum(c.passed for c in report.compliance if c.control == CIS_532),
        "cis_total": sum(1 for c in report.compliance if c.control == CIS_532),
        "reason": score.reason,
        "drivers": list(score.by_rule),
        "causes": list(score.drivers),
        "fix_first": list(score.fix_first),
        "namespaces": namespaces,
        "docs": DOCS,
    }


def cluster(cluster: Cluster, current: Snapshot | None) -> dict:
    """``Cluster``: what the overview shows of it, and its current snapshot."""
    return {
        "name": cluster.name,
        "description": cluster.description,
        "source": cluster.source,
        "enabled": cluster.enabled,
        "snapshot_interval": cluster.snapshot_interval,
        "created_at": cluster.created_at,
        "current_snapshot": snapshot_summary(current) if current is not None else None,
        "url": reverse("api:cluster", args=[cluster.name]),
    }


def finding(finding: Finding, cluster_name: str) -> dict:
    """``Finding``: one row of the findings list (``waived`` comes from ``findings_of``)."""
    return {
        "id": finding.pk,
        "snapshot": finding.snapshot_id,
        "rule": finding.rule,
        "severity": finding.severity,
        "title": finding.title,
        "message": finding.message,
        "namespace": finding.namespace,
        "objects": list(finding.object_refs),
        "fingerprint": finding.fingerprint,
        "workloads": list(finding.workloads),
        "aliases": list(finding.aliases),
        "waived": bool(getattr(finding, "waived", False)),
        "url": reverse("api:finding", args=[cluster_name, finding.pk]),
    }


def finding_group(group: dict) -> dict:
    """``FindingGroup``: one row of ``selectors.finding_groups``."""
    return {
        "key": group["key"],
        "findings": group["findings"],
        "workloads": group["workloads"] or 0,
        "counts": {s: group[f"n_{s}"] for s in SEVERITIES if group[f"n_{s}"]},
    }


def finding_detail(row: Finding, cluster_name: str) -> dict:
    """``FindingDetail``: the row, its evidence and snippet, and the rule's guidance."""
    rule = RULES.get(row.rule)
    return {
        **finding(row, cluster_name),
        "evidence": row.evidence,
        "snippet": row.snippet,
        "warnings": [str(w) for w in row.warnings],
        "rule_info": None
        if rule is None
        else {
            "title": rule.title,
            "category": rule.category,
            "why": rule.why,
            "remediation": rule.remediation,
            "compliance": list(rule.compliance),
        },
    }


def report(row: Report, cluster_name: str) -> dict:
    """``Report``: one run of a report schedule, without its content (lists defer it)."""
    return {
        "id": row.pk,
        "cluster": cluster_name,
        "schedule": None
        if row.schedule is None
        else {"id": row.schedule.pk, "name": row.schedule.name},
        "team": (row.schedule.team or None) if row.schedule else None,
        "snapshot": row.snapshot_id,
        "status": row.status,
        "trigger": row.trigger,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "error": row.error,
        "changed": row.changed,
        "score": row.score,
        "counts": dict(row.counts),
        "new_count": row.new_count,
        "resolved_count": row.resolved_count,
        "url": reverse("api:report", args=[cluster_name, row.pk]),
    }


def team(row: dict, cluster_name: str, snapshot_id: int) -> dict:
    """``Team``: a row of ``selectors.teams_summary`` with the link to its findings."""
    return {
        "team": row["team"],
        "label": row["label"],
        "namespaces": row["namespaces"],
        "pods": row["pods"],
        "coverage": row["coverage"],
        "counts": dict(row["counts"]),
        "findings": row["findings"],
        "findings_url": reverse("api:findings", args=[cluster_name])
        + "?"
        + urlencode({"snapshot": snapshot_id, "team": row["team"]}),
    }


def report_detail(row: Report, cluster_name: str) -> dict:
    """``ReportDetail``: the run and its content, the JSON every export is made from."""
    return {**report(row, cluster_name), "content": row.content}


def me(token: ApiToken, role: str) -> dict:
    return {
        "username": token.user.get_username(),
        "role": role,
        "token": {"name": token.name, "prefix": token.prefix, "created_at": token.created_at},
    }
