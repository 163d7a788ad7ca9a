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

A team's report (``team``, ``namespaces``: netpol.teams) holds only the team's findings,
namespaces, compliance results, changes and waivers, and its coverage summed over its
namespaces; the score stays the cluster's, and the content says so (``team``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from django.utils import timezone

from auditor.models import HIGH_OR_ABOVE, Finding, Report, Snapshot, Waiver
from auditor.selectors import findings_of, snapshot_diff
from netpol.findings.catalogue import CIS_532, RULES, SEVERITIES
from netpol.findings.coverage import coverage_percent
from netpol.findings.score import DOCS
from netpol.findings.stored import StoredReport
from netpol.teams import describe

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


# What each family of Snapshot.other_policy_counts counts, as a report names it.
_FAMILY_WORDS = {
    "cluster-wide": ("cluster-wide policy", "cluster-wide policies"),
    "Cilium": ("Cilium policy", "Cilium policies"),
    "Calico": (
        "Calico object (policies, tiers, network sets)",
        "Calico objects (policies, tiers, network sets)",
    ),
    "Calico staged": (
        "Calico staged policy (never enforced)",
        "Calico staged policies (never enforced)",
    ),
}


def policies_text(snapshot: Snapshot) -> str:
    """The snapshot's policies by kind: "1 NetworkPolicy, 5 Calico objects (...)"; a
    bare count of NetworkPolicies said nothing of a Calico or Cilium cluster's."""
    n = snapshot.policy_count
    parts = [f"{n} NetworkPolic{'y' if n == 1 else 'ies'}"]
    for family, count in snapshot.other_policy_counts():
        one, many = _FAMILY_WORDS.get(family, (family, family))
        parts.append(f"{count} {one if count == 1 else many}")
    return ", ".join(parts)


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


def coverage_summary(report: StoredReport, namespaces: frozenset[str] | None = None) -> dict:
    """Cluster-wide coverage from an analysis report, flat, with the score's percentage;
    of ``namespaces`` only (a team's), summed over them, when given."""
    if namespaces is not None:
        return _team_coverage(report, namespaces)
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


def _team_coverage(report: StoredReport, namespaces: frozenset[str]) -> dict:
    counts = [
        report.coverage.namespaces[n].counts
        for n in sorted(namespaces)
        if n in report.coverage.namespaces
    ]
    pods, workloads = sum(c.pods for c in counts), sum(c.workloads for c in counts)
    out = {
        "pods": pods,
        "workloads": workloads,
        "host_network_pods": sum(c.host_network_pods for c in counts),
    }
    for direction in ("ingress", "egress"):
        isolated = sum(getattr(c, direction).pods for c in counts)
        isolated_workloads = sum(getattr(c, direction).workloads for c in counts)
        out[f"{direction}_pods"] = isolated
        out[f"{direction}_workloads"] = isolated_workloads
        out[f"{direction}_pod_ratio"] = round(isolated / pods, 4) if pods else None
        out[f"{direction}_workload_ratio"] = (
            round(isolated_workloads / workloads, 4) if workloads else None
        )
    out["percent"] = coverage_percent(pods, out["ingress_pods"], out["egress_pods"])
    return out


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


def _baseline_from_snapshot(snapshot: Snapshot, namespaces: frozenset[str] | None = None) -> dict:
    analysis = snapshot.analysis
    rows = Finding.objects.filter(snapshot=snapshot)
    if namespaces is not None:
        rows = rows.filter(namespace__in=sorted(namespaces))
    return {
        "kind": "snapshot",
        "report_id": None,
        "snapshot_id": snapshot.pk,
        "at": snapshot.finished_at.isoformat(),
        "findings": {f.fingerprint: _finding(f) for f in rows},
        "coverage": coverage_summary(StoredReport.from_dict(analysis.report), namespaces),
        "score": analysis.score,
    }


def changes(
    snapshot: Snapshot,
    findings: list[dict],
    coverage: dict,
    score,
    baseline: dict | None,
    namespaces: frozenset[str] | None = None,
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
        diff = snapshot_diff(old_snapshot, snapshot, cap=CHANGE_LIST_CAP, namespaces=namespaces)
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
    team: str = "",
    namespaces: frozenset[str] | None = None,
) -> dict:
    """The content; with ``team``, of its ``namespaces`` only (see the module's docstring)."""
    now = timezone.now()
    analysis = snapshot.analysis
    data = StoredReport.from_dict(analysis.report)
    if not team:
        namespaces = None
    elif namespaces is None:
        namespaces = frozenset()
    mine = (lambda name: True) if namespaces is None else (lambda name: name in namespaces)  # noqa: E731
    rows = findings_of(snapshot)
    if namespaces is not None:
        rows = rows.filter(namespace__in=sorted(namespaces))
    findings = sorted((_finding(f) for f in rows), key=_rank)
    open_findings = [f for f in findings if not f["waived"]]
    counts = Counter(f["severity"] for f in open_findings)
    coverage = coverage_summary(data, namespaces)
    compliance = [
        c.to_dict() for c in data.compliance if namespaces is None or c.namespace in namespaces
    ]
    if previous is not None:
        baseline = _baseline_from_report(previous)
    elif baseline_snapshot is not None:
        baseline = _baseline_from_snapshot(baseline_snapshot, namespaces)
    else:
        baseline = None
    schedule = report.schedule
    head = headline(data)
    if namespaces is not None:
        # The sentence, drivers and first fixes explain the cluster's score, not the team's.
        head.update(
            reason="",
            drivers=[],
            fix_first=[],
            namespaces={n: v for n, v in head["namespaces"].items() if n in namespaces},
        )
        head["cis_532"] = {
            "pass": sum(c["status"] == "pass" for c in compliance if c["control"] == CIS_532),
            "total": sum(c["control"] == CIS_532 for c in compliance),
        }
    present = {f["fingerprint"] for f in findings}
    kept_waivers = waivers(snapshot.cluster, present, now)
    if namespaces is not None:
        # A waiver is the team's when its finding is (a waiver names no namespace).
        for key in ("active", "expired"):
            kept_waivers[key] = [w for w in kept_waivers[key] if w["in_snapshot"]]
    return {
        "team": None
        if namespaces is None
        else {
            "name": team,
            "label": describe(team),
            "namespaces": sorted(namespaces),
            "score_of": "cluster",
        },
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
            "policies_text": policies_text(snapshot),
            "warnings": list(snapshot.warnings or [])[:20],
        },
        "summary": {
            "score": analysis.score,
            "score_formula": data.score.formula,
            "namespace_scores": {n: v for n, v in data.score.namespaces.items() if mine(n)},
            "headline": head,
            "coverage": coverage,
            "namespaces_without_policy": [n for n in data.coverage.without_policy if mine(n)],
            "namespaces_without_default_deny": {
                "ingress": [n for n in data.coverage.without_default_deny_ingress if mine(n)],
                "egress": [n for n in data.coverage.without_default_deny_egress if mine(n)],
            },
            "cni": {
                "status": data.cni.status,
                "plugins": list(data.cni.plugins),
                "warning": data.cni.warning,
            },
            "counts": {s: counts.get(s, 0) for s in SEVERITIES},
            "open": len(open_findings),
            "waived": len(findings) - len(open_findings),
            "total": len(findings),
            "compliance": {
                "pass": sum(c["status"] == "pass" for c in compliance),
                "total": len(compliance),
            },
        },
        "top_offenders": top_offenders(findings),
        "changes": changes(snapshot, findings, coverage, analysis.score, baseline, namespaces),
        "waivers": kept_waivers,
        "compliance": compliance,
        "namespaces": [row for row in namespace_rows(data, findings) if mine(row["namespace"])],
        "rules": {
            rule_id: RULES[rule_id].to_dict()
            for rule_id in sorted({f["rule"] for f in findings})
            if rule_id in RULES
        },
        "findings": findings,
    }
