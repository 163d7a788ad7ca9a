"""The namespace page: coverage each way, policies, workloads, flows, findings, its graph
neighbourhood and a what-if for it, with links to each of them."""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import Count
from django.shortcuts import render
from django.urls import reverse

from auditor.access import require_role
from auditor.models import NetworkPolicy, Pod
from auditor.selectors import analysis_of, findings_of, stored_report
from auditor.storage import engine_model
from netpol import graph
from netpol import summaries as objects

from .common import get_cluster, render_problem, snapshot_for

FINDINGS_SHOWN = 50
WORKLOADS_SHOWN = 200

DEFAULT_DENY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-all
  namespace: {namespace}
spec:
  podSelector: {{}}
  policyTypes: [Ingress, Egress]
"""


def _direction(counts, direction) -> dict:
    isolated = getattr(counts, direction)
    return {
        "name": direction,
        "pods": isolated.pods,
        "of": counts.pods,
        "percent": round(100 * isolated.pod_ratio) if isolated.pod_ratio is not None else None,
        "workloads": isolated.workloads,
        "of_workloads": counts.workloads,
    }


@require_role("viewer")
def namespace_page(request, name, namespace):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    model = engine_model(snapshot)
    if namespace not in model.namespaces:
        return render_problem(
            request,
            cluster,
            f"Snapshot #{snapshot.pk} has no namespace {namespace[:100]}.",
            status=404,
        )
    pinned = bool(request.GET.get("snapshot"))
    keep = f"snapshot={snapshot.pk}" if pinned else ""
    analysis = analysis_of(snapshot)
    report = stored_report(analysis)
    stored = report.coverage.namespaces.get(namespace) if report else None
    coverage = None
    if stored:
        coverage = {
            "directions": [
                _direction(stored.counts, "ingress"),
                _direction(stored.counts, "egress"),
            ],
            "percent": stored.counts.percent,
            "deny_ingress": objects.coverage_policy_refs(
                model, namespace, stored.default_deny_ingress
            ),
            "deny_egress": objects.coverage_policy_refs(
                model, namespace, stored.default_deny_egress
            ),
            "score": report.score.namespaces.get(namespace),
            "host_network": stored.counts.host_network_pods,
        }
    policies = list(
        NetworkPolicy.objects.filter(snapshot=snapshot, namespace=namespace)
        .order_by("name")
        .values_list("name", flat=True)
    )
    workloads = list(
        Pod.objects.filter(snapshot=snapshot, namespace=namespace)
        .values("workload_kind", "workload_name", "name")
        .annotate(pods=Count("id"))
        .order_by("workload_kind", "workload_name", "name")
    )
    # A pod without an owner is its own workload; the others are counted per owner.
    rows: dict[tuple, dict] = {}
    for w in workloads:
        key = (w["workload_kind"], w["workload_name"]) if w["workload_name"] else ("Pod", w["name"])
        row = rows.setdefault(
            key, {"kind": key[0], "name": key[1], "namespace": namespace, "pods": 0}
        )
        row["pods"] += w["pods"]
    findings = findings_of(snapshot).filter(namespace=namespace)
    graph_url = reverse("webui:graph", args=[cluster.name])
    with_keep = lambda params: "?" + "&".join(q for q in (urlencode(params), keep) if q)  # noqa: E731
    peers = graph.namespace_peers(model, namespace)
    rule = cluster.team_rule()
    return render(
        request,
        "webui/namespace.html",
        {
            "cluster": cluster,
            "snapshot": snapshot,
            "namespace": namespace,
            "labels": sorted(model.namespaces[namespace].labels.items()),
            "group": graph.groups_of(model, rule).of[graph.flows.index_of(model).number[namespace]],
            "team_of": rule.team_of(namespace, model.namespaces[namespace].labels),
            "team_source": rule.source_of(namespace, model.namespaces[namespace].labels),
            "analysis": analysis,
            "coverage": coverage,
            "policies": policies,
            "other_policies": objects.other_policies_about(model, namespace=namespace),
            "unenforced": objects.unenforced_policies(model, namespace=namespace),
            "workloads": list(rows.values())[:WORKLOADS_SHOWN],
            "workload_count": len(rows),
            "findings": {
                "rows": list(findings[:FINDINGS_SHOWN]),
                "count": findings.count(),
                "cap": FINDINGS_SHOWN,
            },
            "peers": peers,
            "keep": keep,
            "pinned": pinned,
            "links": {
                "around": graph_url + with_keep({"around": namespace}),
                "workloads": graph_url + with_keep({"namespace": namespace}),
                "findings": reverse("webui:findings", args=[cluster.name])
                + with_keep({"namespace": namespace}),
                "whatif": reverse("webui:whatif", args=[cluster.name])
                + "?"
                + urlencode({"q": namespace, "yaml": DEFAULT_DENY.format(namespace=namespace)}),
                "reports": reverse("webui:reports", args=[cluster.name]),
            },
            "elements_url": reverse("webui:graph_elements", args=[cluster.name])
            + with_keep({"around": namespace}),
        },
    )
