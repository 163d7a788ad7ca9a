"""A report's content: everything its formats show, as JSON, computed once.

Steps of ``build_content``:

1. Summary of the snapshot's analysis: score, coverage, network plugin, compliance,
   open (unwaived) findings by severity.
2. Findings, each marked waived or not, and the catalogue text of their rules, so the
   report renders the same after the catalogue changes.
3. Top offenders: namespaces and workloads with the most open critical and high findings.
4. Changes since the baseline: the previous report of the schedule (from its stored
   content, so pruned snapshots do not matter), or for a schedule's first report the
   analysed snapshot before this one. New and resolved findings by fingerprint, score
   and coverage deltas, and policy changes when both snapshots still exist.
5. Waivers in force, and those that ended in the last ``LAPSED_WAIVER_DAYS``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from django.utils import timezone

from auditor.models import HIGH_OR_ABOVE, Finding, Report, Snapshot, Waiver
from auditor.selectors import findings_of, snapshot_diff
from netpol.findings.catalogue import CIS_532, RULES, SEVERITIES
from netpol.findings.score import DOCS
from netpol.findings.stored import StoredReport

VERSION = 1
TOP = 10
WORKLOAD_KINDS = {
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
}
LAPSED_WAIVER_DAYS = 90
EXPIRING_SOON_DAYS = 14
CHANGE_LIST_CAP = 200
# Coverage measures whose movement counts as "something changed"; pod counts do not
# (a scaled deployment is not news to a security team).
COVERAGE_RATIOS = (
    "percent",
    "ingress_pod_ratio",
    "egress_pod_ratio",
    "ingress_workload_ratio",
    "egress_workload_ratio",
)


def headline(data: StoredReport) -> dict:
    """The score and why, as the overview shows it (``netpol/findings/headline.py``): the
    sentence, points per rule, first fixes, and per namespace its score, sentence and the
    points each cause (by fingerprint) costs it."""
    score = data.score
    namespaces = {}
    for name in sorted(score.namespaces):
        ns = score.namespace(name)
        if ns is not None:
            namespaces[name] = {
                "score": ns.score,
                "reason": ns.reason,
                "points": {d["fingerprint"]: d["points"] for d in ns.drivers if d["fingerprint"]},
            }
    cis = [c for c in data.compliance if c.control == CIS_532]
    return {
        "reason": score.reason,
        "drivers": list(score.by_rule),
        "fix_first": list(score.fix_first),
        "cis_532": {"pass": sum(c.passed for c in cis), "total": len(cis)},
        "namespaces": namespaces,
        "docs": DOCS,
    }


def coverage_summary(report: StoredReport) -> dict:
    """Cluster-wide coverage from an analysis report, flat, with the score's percentage."""
    cluster = report.coverage.cluster
    return {
        "pods": cluster.pods,
        "workloads": cluster.workloads,
        "ingress_pods": cluster.ingress.pods,
        "egress_pods": cluster.egress.pods,
        "ingress_workloads": cluster.ingress.workloads,
        "egress_workloads": cluster.egress.workloads,
        "ingress_pod_ratio": cluster.ingress.pod_ratio,
        "egress_pod_ratio": cluster.egress.pod_ratio,
        "ingress_workload_ratio": cluster.ingress.workload_ratio,
        "egress_workload_ratio": cluster.egress.workload_ratio,
        "host_network_pods": cluster.host_network_pods,
        # As the dashboard counts it: isolated (pod, direction) pairs over all of them.
        "percent": cluster.percent,
    }


def namespace_rows(data: StoredReport, findings: list[dict]) -> list[dict]:
    """Per namespace: its score, pods isolated in and out, open findings by severity."""
    open_counts: dict[str, Counter] = defaultdict(Counter)
    for f in findings:
        if not f["waived"] and f["namespace"]:
            open_counts[f["namespace"]][f["severity"]] += 1
    rows = []
    for name in sorted(set(data.coverage.namespaces) | set(open_counts)):
        ns = data.coverage.namespaces.get(name)
        counts = open_counts.get(name, Counter())
        rows.append(
            {
                "namespace": name,
                "score": data.score.namespaces.get(name),
                "pods": ns.counts.pods if ns else 0,
                "ingress_pods": ns.counts.ingress.pods if ns else 0,
                "egress_pods": ns.counts.egress.pods if ns else 0,
                "counts": {s: counts.get(s, 0) for s in SEVERITIES},
            }
        )
    return rows


def _finding(f: Finding) -> dict:
    return {
        "id": f.pk,
        "rule": f.rule,
        "severity": f.severity,
        "category": RULES[f.rule].category if f.rule in RULES else "",
        "title": f.title,
        "message": f.message,
        "namespace": f.namespace,
        "objects": list(f.object_refs),
        "evidence": f.evidence,
        "warnings": list(f.warnings),
        # No snippet: the fix's YAML is on the finding's page, and would add a quarter to the size.
        "fingerprint": f.fingerprint,
        "waived": bool(getattr(f, "waived", False)),
    }


def brief(finding: dict) -> dict:
    """A finding as the changes list shows it."""
    keys = ("rule", "severity", "title", "message", "namespace", "fingerprint", "waived")
    out = {key: finding.get(key) for key in keys}
    out["objects"] = list(finding.get("objects") or [])[:5]
    out["object_count"] = len(finding.get("objects") or [])
    return out


def _rank(finding: dict) -> tuple:
    return (SEVERITIES.index(finding["severity"]), finding["rule"], finding.get("namespace") or "")


def top_offenders(findings: list[dict]) -> dict:
    """Namespaces and workloads by open critical+high findings, then by all open ones."""
    namespaces: dict[str, Counter] = defaultdict(Counter)
    workloads: dict[str, Counter] = defaultdict(Counter)
    for f in findings:
        if f["waived"]:
            continue
        serious = f["severity"] in HIGH_OR_ABOVE
        if f["namespace"]:
            namespaces[f["namespace"]]["total"] += 1
            namespaces[f["namespace"]]["serious"] += serious
            namespaces[f["namespace"]][f["severity"]] += 1
        refs = [r for r in f["objects"] if r.split("/", 1)[0] in WORKLOAD_KINDS]
        # A bare pod (no controller) is its own workload.
        refs = refs or [r for r in f["objects"] if r.startswith("Pod/")]
        for ref in dict.fromkeys(refs):
            workloads[ref]["total"] += 1
            workloads[ref]["serious"] += serious

    def ranked(counts: dict[str, Counter], key: str) -> list[dict]:
        rows = [
            {
                key: name,
                "high_or_above": c["serious"],
                "total": c["total"],
                **({"critical": c["critical"], "high": c["high"]} if key == "namespace" else {}),
            }
            for name, c in counts.items()
            if c["serious"]
        ]
        rows.sort(key=lambda row: (-row["high_or_above"], -row["total"], row[key]))
        return rows[:TOP]

    return {
        "namespaces": ranked(namespaces, "namespace"),
        "workloads": ranked(workloads, "workload"),
    }


def _waiver(w: Waiver, now, present: set[str]) -> dict:
    active = w.is_active(now)
    return {
        "id": w.pk,
        "rule": w.rule,
        "summary": w.summary,
        "reason": w.reason,
        "author": w.author.get_username() if w.author else "",
        "created_at": w.created_at.isoformat(),
        "expires_at": w.expires_at.isoformat(),
        "revoked_at": w.revoked_at.isoformat() if w.revoked_at else None,
        "ended": None if active else ("revoked" if w.revoked_at else "expired"),
        "expires_soon": active and w.expires_at < now + timedelta(days=EXPIRING_SOON_DAYS),
        "fingerprint": w.fingerprint,
        "in_snapshot": w.fingerprint in present,
    }


def waivers(cluster, present: set[str], now) -> dict:
    lapsed_since = now - timedelta(days=LAPSED_WAIVER_DAYS)
    rows = Waiver.objects.filter(cluster=cluster).select_related("author").order_by("expires_at")
    active = [_waiver(w, now, present) for w in rows if w.is_active(now)]
    lapsed = [
        _waiver(w, now, present)
        for w in rows
        if not w.is_active(now) and (w.revoked_at or w.expires_at) >= lapsed_since
    ]
    lapsed.sort(key=lambda w: w["revoked_at"] or w["expires_at"], reverse=True)
    return {
        "active": active,
        "expired": lapsed[:CHANGE_LIST_CAP],
        "lapsed_window_days": LAPSED_WAIVER_DAYS,
    }


def _baseline_from_report(previous: Report) -> dict:
    content = previous.content or {}
    return {
        "kind": "report",
        "report_id": previous.pk,
        "snapshot_id": (content.get("snapshot") or {}).get("id"),
        "at": (content.get("snapshot") or {}).get("finished_at"),
        "findings": {f["fingerprint"]: f for f in content.get("findings") or []},
        "coverage": (content.get("summary") or {}).get("coverage") or {},
        "score": (content.get("summary") or {}).get("score"),
    }


def _baseline_from_snapshot(snapshot: Snapshot) -> dict:
    analysis = snapshot.analysis
    return {
        "kind": "snapshot",
        "report_id": None,
        "snapshot_id": snapshot.pk,
        "at": snapshot.finished_at.isoformat(),
        "findings": {f.fingerprint: _finding(f) for f in Finding.objects.filter(snapshot=snapshot)},
        "coverage": coverage_summary(StoredReport.from_dict(analysis.report)),
        "score": analysis.score,
    }


def changes(
    snapshot: Snapshot, findings: list[dict], coverage: dict, score, baseline: dict | None
) -> dict:
    if baseline is None:
        return {
            "baseline": None,
            "changed": True,
            "new": [],
            "resolved": [],
            "new_count": 0,
            "resolved_count": 0,
            "coverage": {},
            "score": None,
            "policies": None,
        }
    now_by_fp = {f["fingerprint"]: f for f in findings}
    before = baseline["findings"]
    new = sorted((now_by_fp[fp] for fp in now_by_fp.keys() - before.keys()), key=_rank)
    resolved = sorted((before[fp] for fp in before.keys() - now_by_fp.keys()), key=_rank)
    delta = {}
    for key in (
        "percent",
        "pods",
        "workloads",
        "ingress_pod_ratio",
        "egress_pod_ratio",
        "ingress_workload_ratio",
        "egress_workload_ratio",
    ):
        old, new_value = baseline["coverage"].get(key), coverage.get(key)
        if isinstance(old, int | float) and isinstance(new_value, int | float):
            delta[key] = {"old": old, "new": new_value, "change": round(new_value - old, 4)}
    score_delta = None
    if baseline["score"] is not None and score is not None:
        score_delta = {
            "old": baseline["score"],
            "new": score,
            "change": round(score - baseline["score"], 2),
        }
    coverage_moved = any(delta[key]["change"] for key in COVERAGE_RATIOS if key in delta)
    policies = None
    old_snapshot = (
        Snapshot.objects.filter(pk=baseline["snapshot_id"]).first()
        if baseline["snapshot_id"]
        else None
    )
    if old_snapshot is not None and old_snapshot.pk != snapshot.pk:
        diff = snapshot_diff(old_snapshot, snapshot, cap=CHANGE_LIST_CAP)
        policies = {
            key: diff[name]["items"]
            for key, name in (
                ("added", "policies_added"),
                ("removed", "policies_removed"),
                ("changed", "policies_changed"),
                ("newly_exposed", "pods_newly_exposed"),
                ("newly_uncovered", "pods_newly_uncovered"),
            )
        }
    elif old_snapshot is not None:
        policies = {
            "added": [],
            "removed": [],
            "changed": [],
            "newly_exposed": [],
            "newly_uncovered": [],
        }
    return {
        "baseline": {key: baseline[key] for key in ("kind", "report_id", "snapshot_id", "at")},
        "changed": bool(new or resolved or coverage_moved),
        "new": [brief(f) for f in new[:CHANGE_LIST_CAP]],
        "resolved": [brief(f) for f in resolved[:CHANGE_LIST_CAP]],
        "new_count": len(new),
        "resolved_count": len(resolved),
        "coverage": delta,
        "score": score_delta,
        "policies": policies,
    }


def build_content(
    *,
    report: Report,
    snapshot: Snapshot,
    previous: Report | None,
    baseline_snapshot: Snapshot | None,
) -> dict:
    now = timezone.now()
    analysis = snapshot.analysis
    data = StoredReport.from_dict(analysis.report)
    findings = sorted((_finding(f) for f in findings_of(snapshot)), key=_rank)
    open_findings = [f for f in findings if not f["waived"]]
    counts = Counter(f["severity"] for f in open_findings)
    coverage = coverage_summary(data)
    compliance = [c.to_dict() for c in data.compliance]
    if previous is not None:
        baseline = _baseline_from_report(previous)
    elif baseline_snapshot is not None:
        baseline = _baseline_from_snapshot(baseline_snapshot)
    else:
        baseline = None
    schedule = report.schedule
    return {
        "version": VERSION,
        "report_id": report.pk,
        "generated_at": now.isoformat(),
        "cluster": {"name": snapshot.cluster.name, "description": snapshot.cluster.description},
        "schedule": schedule and {"id": schedule.pk, "name": schedule.name, "when": schedule.when},
        "trigger": report.trigger,
        "snapshot": {
            "id": snapshot.pk,
            "finished_at": snapshot.finished_at.isoformat(),
            "server_version": snapshot.server_version,
            **snapshot.object_counts(),
            "warnings": list(snapshot.warnings or [])[:20],
        },
        "summary": {
            "score": analysis.score,
            "score_formula": data.score.formula,
            "namespace_scores": data.score.namespaces,
            "headline": headline(data),
            "coverage": coverage,
            "namespaces_without_policy": list(data.coverage.without_policy),
            "namespaces_without_default_deny": {
                "ingress": list(data.coverage.without_default_deny_ingress),
                "egress": list(data.coverage.without_default_deny_egress),
            },
            "cni": {"status": data.cni.status, "plugins": list(data.cni.plugins), "warning": data.cni.warning},
            "counts": {s: counts.get(s, 0) for s in SEVERITIES},
            "open": len(open_findings),
            "waived": len(findings) - len(open_findings),
            "total": len(findings),
            "compliance": {"pass": data.compliance_passed, "total": len(compliance)},
        },
        "top_offenders": top_offenders(findings),
        "changes": changes(snapshot, findings, coverage, analysis.score, baseline),
        "waivers": waivers(snapshot.cluster, {f["fingerprint"] for f in findings}, now),
        "compliance": compliance,
        "namespaces": namespace_rows(data, findings),
        "rules": {
            rule_id: RULES[rule_id].to_dict()
            for rule_id in sorted({f["rule"] for f in findings})
            if rule_id in RULES
        },
        "findings": findings,
    }
