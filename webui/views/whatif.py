"""What-if: try NetworkPolicies against the current snapshot before applying them.

One form, posted back to itself. "Run" computes the comparison (``netpol.whatif``)
synchronously on the cached engine model; the policy search and pager buttons post the
same form without running it, so the pasted YAML and the policies marked for removal
survive browsing a long policy list.
"""

from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from auditor.access import require_role
from auditor.models import Finding, NetworkPolicy
from auditor.storage import engine_model
from netpol import whatif

from .common import get_cluster, snapshot_for
from .flows import whatif_flows

POLICIES_PER_PAGE = 25
# Rows of each result list drawn; the totals always count all of them.
SHOWN_FINDINGS = 100
SHOWN_CONNECTIONS = 200
SHOWN_NAMESPACE_PAIRS = 50

EXAMPLE = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-all
  namespace: my-namespace
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""


@require_http_methods(["GET", "POST"])
@require_role("auditor")
def whatif_page(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    data = request.POST if request.method == "POST" else request.GET
    text = data.get("yaml", "")
    remove = sorted({key.strip() for key in data.getlist("remove") if key.strip()})
    q = data.get("q", "").strip()
    policies = _policy_page(snapshot, q, data.get("page"))
    on_page = {f"{p['namespace']}/{p['name']}" for p in policies}
    context = {
        "cluster": cluster,
        "snapshot": snapshot,
        "yaml": text,
        "example": EXAMPLE,
        "q": q,
        "policies": policies,
        "marked_elsewhere": [k for k in remove if k not in on_page],
        "remove": set(remove),
        "max_bytes": whatif.MAX_INPUT_BYTES,
        "max_bytes_text": f"{whatif.MAX_INPUT_BYTES:,}",
        "max_size": f"{whatif.MAX_INPUT_BYTES / 2**20:g} MiB",
    }
    status = 200
    running = request.method == "POST" and "browse" not in data and "page" not in data
    if running:
        try:
            pasted, notes = whatif.read_policies(text)
            result = whatif.compare(engine_model(snapshot), add=pasted, remove=set(remove))
        except whatif.WhatIfInputError as exc:
            context["problem"] = str(exc)
            status = 400
        else:
            context.update(notes=notes, result=_shown(result, snapshot))
    if context.get("result"):
        context["flows"] = whatif_flows(cluster, snapshot, text, remove)
    return render(request, "webui/whatif.html", context, status=status)


def _policy_page(snapshot, q: str, page):
    """One page of the snapshot's policies, those whose namespace or name contains ``q``."""
    policies = NetworkPolicy.objects.filter(snapshot=snapshot).order_by("namespace", "name")
    if q:
        policies = policies.filter(Q(name__icontains=q) | Q(namespace__icontains=q))
    return Paginator(policies.values("namespace", "name"), POLICIES_PER_PAGE).get_page(page)


def _shown(result: dict, snapshot) -> dict:
    """The result as the page draws it: long lists cut, totals whole, and each finding
    that goes away linked to its stored page."""
    findings, connections = result["findings"], result["connections"]
    removed = findings["removed"][:SHOWN_FINDINGS]
    stored = dict(
        Finding.objects.filter(
            snapshot=snapshot, fingerprint__in=[f["fingerprint"] for f in removed]
        ).values_list("fingerprint", "pk")
    )
    for f in removed:
        f["pk"] = stored.get(f["fingerprint"])
    return {
        **result,
        "finding_panels": [
            {
                "title": "Findings removed",
                "rows": removed,
                "total": len(findings["removed"]),
                "counts": findings["removed_counts"],
                "empty": "No finding goes away.",
            },
            {
                "title": "Findings added",
                "rows": findings["added"][:SHOWN_FINDINGS],
                "total": len(findings["added"]),
                "counts": findings["added_counts"],
                "empty": "No new finding.",
            },
        ],
        "connection_panels": [
            {
                "title": "Connections gained",
                "rows": connections["gained"][:SHOWN_CONNECTIONS],
                "total": len(connections["gained"]),
                "empty": "No connection becomes allowed.",
            },
            {
                "title": "Connections lost",
                "rows": connections["lost"][:SHOWN_CONNECTIONS],
                "total": len(connections["lost"]),
                "empty": "No connection becomes denied.",
            },
        ],
        "connections": {"by_namespace": connections["by_namespace"][:SHOWN_NAMESPACE_PAIRS]},
        "namespace_pairs": len(connections["by_namespace"]),
    }
