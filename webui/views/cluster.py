from django.db.models import Count, Q
from django.shortcuts import render
from django.urls import reverse

from auditor.access import require_role
from auditor.models import HIGH_OR_ABOVE, Finding, NetworkPolicy, Pod
from auditor.selectors import analysis_of, stored_report, team_figures
from netpol.enforcement import titled
from netpol.findings.catalogue import CIS_532
from netpol.findings.stored import StoredReport

from ..tables import page_of, sort_rows
from .common import get_cluster, snapshot_for, team_for

NAMESPACE_SORTS = {"name", "pods", "coverage", "score", "findings", "policies"}
SEARCH_LIMIT = 50


def namespace_rows(snapshot, report: StoredReport | None) -> list[dict]:
    """One row per namespace from the stored report and the finding counts."""
    if report is None:
        return []
    counts = {
        row["namespace"]: row
        for row in Finding.objects.filter(snapshot=snapshot)
        .values("namespace")
        .annotate(
            findings=Count("id"),
            high=Count("id", filter=Q(severity__in=HIGH_OR_ABOVE)),
        )
    }
    rows = []
    for name, ns in report.coverage.namespaces.items():
        c = ns.counts
        rows.append(
            {
                "name": name,
                "pods": c.pods,
                "workloads": c.workloads,
                "policies": ns.policies,
                "coverage": c.percent,
                "ingress_ratio": c.ingress.pod_ratio,
                "egress_ratio": c.egress.pod_ratio,
                "deny_ingress": bool(ns.default_deny_ingress),
                "deny_egress": bool(ns.default_deny_egress),
                "score": report.score.namespaces.get(name),
                "why": report.score.namespace(name),
                "findings": counts.get(name, {}).get("findings", 0),
                "high": counts.get(name, {}).get("high", 0),
                "host_network": c.host_network_pods,
            }
        )
    return rows


def _cis(report: StoredReport | None) -> dict | None:
    """CIS 5.3.2 results as the score's reason counts them: passed, of namespaces."""
    if report is None:
        return None
    results = [c for c in report.compliance if c.control == CIS_532]
    return {"passed": sum(c.passed for c in results), "total": len(results)}


def _filter(rows: list[dict], q: str, show: str) -> list[dict]:
    if q:
        rows = [r for r in rows if q in r["name"]]
    if show == "uncovered":
        rows = [r for r in rows if r["coverage"] is not None and r["coverage"] < 100]
    elif show == "no-default-deny":
        rows = [r for r in rows if not (r["deny_ingress"] and r["deny_egress"])]
    elif show == "no-policy":
        rows = [r for r in rows if not r["policies"]]
    return rows


def search(snapshot, q: str, team=None) -> dict:
    """Pods, workloads and policies whose name (or namespace) contains ``q``, of ``team``'s
    namespaces when one is chosen."""
    match = Q(name__icontains=q) | Q(namespace__icontains=q)
    narrow = team.filter if team else (lambda queryset: queryset)
    pods = narrow(Pod.objects.filter(match, snapshot=snapshot)).order_by("namespace", "name")
    workloads = (
        narrow(Pod.objects.filter(Q(workload_name__icontains=q), snapshot=snapshot))
        .exclude(workload_name="")
        .values("namespace", "workload_kind", "workload_name")
        .annotate(pods=Count("id"))
        .order_by("namespace", "workload_name")
    )
    policies = narrow(NetworkPolicy.objects.filter(match, snapshot=snapshot)).order_by(
        "namespace", "name"
    )
    return {
        "pods": list(pods.values("namespace", "name", "workload_name")[:SEARCH_LIMIT]),
        "workloads": list(workloads[:SEARCH_LIMIT]),
        "policies": list(policies.values("namespace", "name")[:SEARCH_LIMIT]),
        "limit": SEARCH_LIMIT,
    }


def unenforced_notice(cluster, snapshot) -> dict | None:
    """What NP042 found, for the overview: how many objects of kinds the plugin does not
    enforce are kept, which plugin, and a link to the finding (the list when several
    kinds have one each). From the stored findings: no model is loaded."""
    found = list(Finding.objects.filter(snapshot=snapshot, rule="NP042").order_by("id"))
    if not found:
        return None
    objects = sum(len(f.evidence.get("objects") or ()) for f in found)
    plugins = titled(found[0].evidence.get("plugins") or ()) or "no known plugin"
    if len(found) == 1:
        url = reverse("webui:finding", args=[cluster.name, found[0].pk])
    else:
        url = reverse("webui:findings", args=[cluster.name]) + "?rule=NP042"
    return {"objects": objects, "plugins": plugins, "url": url}


@require_role("viewer")
def namespaces(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    team, problem = team_for(request, cluster, snapshot)
    if problem:
        return problem
    analysis = analysis_of(snapshot)
    report = stored_report(analysis)
    q = request.GET.get("q", "").strip()
    show = request.GET.get("show", "all")
    rows = [r for r in namespace_rows(snapshot, report) if team.keeps(r["name"])]
    rows = _filter(rows, q.lower(), show)
    rows, sort = sort_rows(rows, request.GET.get("sort", "name"), NAMESPACE_SORTS, "name")
    return render(
        request,
        "webui/cluster.html",
        {
            "cluster": cluster,
            "snapshot": snapshot,
            "analysis": analysis,
            "report": report,
            "cis": _cis(report),
            "team": team,
            "unenforced": unenforced_notice(cluster, snapshot),
            "team_figures": team_figures(snapshot, report, team.namespaces) if team.team else None,
            "page": page_of(rows, request),
            "sort": sort,
            "q": q,
            "show": show,
            "results": search(snapshot, q, team) if len(q) >= 2 else None,
        },
    )
