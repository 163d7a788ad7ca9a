"""What-if: try NetworkPolicies against the current snapshot before applying them.

One form, posted back to itself. "Run" computes the comparison (``netpol.whatif``) on
the cached engine model: inside the request for a snapshot of up to
``WHATIF_INLINE_MAX_PODS`` pods, else in a worker (``auditor.whatif``): the page is
redirected to ``?run=ID``, shows the run's progress (``static/js/whatif.js`` polls
``whatif_run``) and then its stored result. The policy search and pager buttons post
the same form without running it, so the pasted YAML and the policies marked for
removal survive browsing a long policy list.

A snapshot's Calico staged policies are listed with a button for all of them and one
for each (``staged``): the run is the one of their enforced form (``netpol.staged``),
pasted and marked for removal as a user would, and its result is titled "what enforcing
the staged policies would change".
"""

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_http_methods

from auditor.access import require_role
from auditor.models import CniObject, Finding, NetworkPolicy, WhatIfRun
from auditor.storage import engine_model
from auditor.whatif.services import runs_inline, whatif_run_fail_stale, whatif_run_request
from netpol import staged, whatif

from .common import get_cluster, snapshot_for
from .flows import whatif_flows

POLICIES_PER_PAGE = 25

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
    run = None
    if request.method == "GET" and data.get("run"):
        run = get_object_or_404(WhatIfRun, pk=_id(data["run"]), snapshot__cluster=cluster)
        snapshot = run.snapshot  # the run's own snapshot, even once a newer one is in
    text = run.yaml if run else data.get("yaml", "")
    keys = run.remove if run else data.getlist("remove")
    staged_objects = _staged_objects(snapshot)
    staged_problem = ""
    if request.method == "POST" and data.get("staged"):
        # As if the user had pasted the enforced form and marked the deletions.
        only = None if data["staged"] == "all" else data["staged"]
        try:
            change = staged.staged_change(staged_objects, only=only)
        except staged.StagedPolicyError as exc:
            staged_problem = str(exc)
            text, keys = "", []
        else:
            text, keys = staged.change_yaml(change), change.remove
    remove = sorted({key.strip() for key in keys if key.strip()})
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
        "staged": _staged_rows(staged_objects),
        "from_staged": staged.is_staged_text(text),
    }
    status = 200
    running = request.method == "POST" and "browse" not in data and "page" not in data
    if running:
        try:
            if staged_problem:
                raise whatif.WhatIfInputError(staged_problem)
            pasted, notes = whatif.read_policies(text)
            if not pasted and not remove:
                raise whatif.WhatIfInputError(
                    "Nothing to try: paste at least one NetworkPolicy or mark an existing one "
                    "for removal."
                )
            if not runs_inline(snapshot):
                run = whatif_run_request(
                    snapshot=snapshot, user=request.user, text=text, remove=remove, notes=notes
                )
                url = reverse("webui:whatif", args=[cluster.name])
                return redirect(f"{url}?snapshot={snapshot.pk}&run={run.pk}#result")
            result = whatif.compare(engine_model(snapshot), add=pasted, remove=set(remove))
        except whatif.WhatIfInputError as exc:
            context["problem"] = str(exc)
            status = 400
        else:
            context.update(notes=notes, result=_shown(whatif.bounded(result), snapshot))
    elif run is not None:
        run = whatif_run_fail_stale(run=run)
        context["run"] = run
        if run.status == WhatIfRun.Status.COMPLETE:
            context.update(notes=run.notes, result=_shown(run.result, snapshot))
        elif run.status == WhatIfRun.Status.FAILED:
            context["problem"] = run.error
    if context.get("result"):
        context["flows"] = whatif_flows(cluster, snapshot, text, remove)
    return render(request, "webui/whatif.html", context, status=status)


@require_role("auditor")
def whatif_run(request, name, pk):
    """A run's state, polled by static/js/whatif.js until it is complete or failed."""
    cluster = get_cluster(name)
    run = whatif_run_fail_stale(run=get_object_or_404(WhatIfRun, pk=pk, snapshot__cluster=cluster))
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "progress": run.progress or "waiting for a worker",
            "error": run.error,
            "since": timesince(run.started_at or run.created_at),
            "waited_seconds": int((timezone.now() - run.created_at).total_seconds()),
        }
    )


def _id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404("no such what-if run") from None


def _policy_page(snapshot, q: str, page):
    """One page of the snapshot's policies, those whose namespace or name contains ``q``."""
    policies = NetworkPolicy.objects.filter(snapshot=snapshot).order_by("namespace", "name")
    if q:
        policies = policies.filter(Q(name__icontains=q) | Q(namespace__icontains=q))
    return Paginator(policies.values("namespace", "name"), POLICIES_PER_PAGE).get_page(page)


def _staged_objects(snapshot) -> list[dict]:
    """The snapshot's Calico staged policies as API objects, by kind, namespace, name."""
    rows = CniObject.objects.filter(snapshot=snapshot, kind__in=staged.STAGED_KINDS).order_by(
        "kind", "namespace", "name"
    )
    out = []
    for row in rows:
        metadata = {"name": row.name, **({"namespace": row.namespace} if row.namespace else {})}
        if row.labels:
            metadata["labels"] = row.labels
        out.append(
            {
                "apiVersion": row.api_version or "projectcalico.org/v3",
                "kind": row.kind,
                "metadata": metadata,
                "spec": row.spec or {},
            }
        )
    return out


def _staged_rows(objects: list[dict]) -> list[dict]:
    """What the page lists of each staged policy; one that cannot be tried says why
    (the others can still be tried one by one)."""
    rows = []
    for obj in objects:
        try:
            rows.append(staged.enforced(obj).to_dict())
        except staged.StagedPolicyError as exc:
            metadata = obj.get("metadata") or {}
            rows.append(
                {
                    "kind": obj["kind"],
                    "namespace": metadata.get("namespace", ""),
                    "name": metadata.get("name", ""),
                    "problem": str(exc),
                }
            )
    return rows


def _label(key: str) -> str:
    """A what-if key as the page names it: "Calico GlobalNetworkPolicy x", "NetworkPolicy ns/x"."""
    kind, _, rest = key.partition("/")
    if whatif.is_calico_key(key):
        return f"Calico {kind.removeprefix('Calico')} {rest}"
    return f"NetworkPolicy {key}"


def _shown(result: dict, snapshot) -> dict:
    """A bounded result (``whatif.bounded``) as the page draws it, each finding that goes
    away linked to its stored page."""
    findings, connections = result["findings"], result["connections"]
    removed = [dict(f) for f in findings["removed"]]
    stored = dict(
        Finding.objects.filter(
            snapshot=snapshot, fingerprint__in=[f["fingerprint"] for f in removed]
        ).values_list("fingerprint", "pk")
    )
    for f in removed:
        f["pk"] = stored.get(f["fingerprint"])
    changes = result["changes"]
    return {
        **result,
        "change_rows": [
            (css, tag, _label(key))
            for css, tag, keys in (
                ("tag-add", "added", changes["added"]),
                ("tag-replace", "replaces the existing policy", changes["replaced"]),
                ("tag-remove", "removed", changes["removed"]),
            )
            for key in keys
        ],
        "finding_panels": [
            {
                "title": "Findings removed",
                "rows": removed,
                "total": findings["removed_total"],
                "counts": findings["removed_counts"],
                "empty": "No finding goes away.",
            },
            {
                "title": "Findings added",
                "rows": findings["added"],
                "total": findings["added_total"],
                "counts": findings["added_counts"],
                "empty": "No new finding.",
            },
        ],
        "connection_panels": [
            {
                "title": "Connections gained",
                "rows": connections["gained"],
                "total": connections["gained_total"],
                "empty": "No connection becomes allowed.",
            },
            {
                "title": "Connections lost",
                "rows": connections["lost"],
                "total": connections["lost_total"],
                "empty": "No connection becomes denied.",
            },
        ],
        "namespace_pairs": connections["namespace_pairs"],
    }
