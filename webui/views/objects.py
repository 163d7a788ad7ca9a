"""Pod, workload and policy pages, and "explain this connection".

The answers come from the engine's model of the page's snapshot (``engine_model``,
cached per process) through ``netpol.summaries``; these views only look the object up,
add its findings and render. ``?snapshot=ID`` shows an older complete snapshot, and every
link between these pages keeps it.
"""

from __future__ import annotations

import json
import re

from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse

from auditor.access import require_role
from auditor.models import ClusterPolicy, CniObject, NetworkPolicy
from auditor.selectors import findings_of
from auditor.storage import engine_model
from netpol import summaries as objects
from netpol.engine import CLUSTER_POLICY_KINDS, PROTOCOLS, InputError

from .common import get_cluster, render_problem, snapshot_for
from .paths import blast_of

FINDINGS_CAP = 50
RULE_ANCHOR = re.compile(r"^(ingress|egress)-\d{1,4}$")


def _context(request, cluster, snapshot) -> dict:
    """What every object page shares: the snapshot, and the query that keeps it in links."""
    pinned = bool(request.GET.get("snapshot"))
    return {
        "cluster": cluster,
        "snapshot": snapshot,
        "pinned": pinned,
        "keep": f"snapshot={snapshot.pk}" if pinned else "",
    }


def _findings(snapshot, namespace: str, refs: list[str]) -> dict:
    """Findings whose objects name any of ``refs``, most severe first, capped.

    ``object_refs`` is a JSON list; matching the quoted string finds whole entries only
    ("Pod/shop/web-1" does not match "Pod/shop/web-10"). The text match runs only over
    the object's namespace and the cluster-wide findings: an indexed cut that keeps
    the page fast when a snapshot has tens of thousands of findings."""
    match = Q()
    for ref in refs:
        match |= Q(object_refs__icontains=json.dumps(ref))
    found = findings_of(snapshot).filter(Q(namespace=namespace) | Q(namespace=""), match)
    return {"rows": list(found[:FINDINGS_CAP]), "count": found.count(), "cap": FINDINGS_CAP}


def _explain_form(me: str, traffic: dict) -> dict:
    """The form prefilled from this object towards the first workload it can reach."""
    form = {"from": me, "to": "", "port": "", "protocol": "TCP"}
    for ns in (traffic.get("outbound") or {}).get("namespaces", []):
        for w in ns["workloads"]:
            to = (
                f"{w['namespace']}/{w['name']}"
                if w["kind"] == "Pod"
                else f"{w['namespace']}/{w['kind']}/{w['name']}"
            )
            if w["probe"] and to != me:
                return {**form, "to": to, "port": str(w["probe"][1]), "protocol": w["probe"][0]}
    return form


@require_role("viewer")
def pod_detail(request, name, namespace, pod):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    summary = objects.pod_summary(engine_model(snapshot), f"{namespace}/{pod}")
    if summary is None:
        return render_problem(
            request, cluster, f"Snapshot #{snapshot.pk} has no pod {namespace}/{pod}.", status=404
        )
    return render(
        request,
        "webui/pod.html",
        {
            **_context(request, cluster, snapshot),
            **summary,
            "findings": _findings(snapshot, namespace, summary["refs"]),
            "explain_form": _explain_form(summary["pod"]["key"], summary["traffic"]),
            "protocols": PROTOCOLS,
        },
    )


@require_role("viewer")
def workload_detail(request, name, namespace, kind, workload):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    if kind == "Pod":  # a pod without an owner is its own workload: its page is the pod's
        url = reverse("webui:pod", args=[cluster.name, namespace, workload])
        return redirect(url + (f"?snapshot={snapshot.pk}" if request.GET.get("snapshot") else ""))
    summary = objects.workload_summary(engine_model(snapshot), namespace, kind, workload)
    if summary is None:
        return render_problem(
            request,
            cluster,
            f"Snapshot #{snapshot.pk} has no pod of a {kind} named {namespace}/{workload}.",
            status=404,
        )
    w = summary["workload"]
    context = _context(request, cluster, snapshot)
    me = f"{w['namespace']}/{w['kind']}/{w['name']}"
    return render(
        request,
        "webui/workload.html",
        {
            **context,
            **summary,
            "blast": blast_of(cluster, engine_model(snapshot), me, context.get("keep", "")),
            "findings": _findings(snapshot, namespace, summary["refs"]),
            "me": f"{w['namespace']}/{w['kind']}/{w['name']}",
            "explain_form": _explain_form(
                f"{w['namespace']}/{w['kind']}/{w['name']}", summary["traffic"]
            ),
            "protocols": PROTOCOLS,
        },
    )


@require_role("viewer")
def policy_detail(request, name, namespace, policy):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    stored = NetworkPolicy.objects.filter(
        snapshot=snapshot, namespace=namespace, name=policy
    ).first()
    if stored is None:
        return render_problem(
            request,
            cluster,
            f"Snapshot #{snapshot.pk} has no NetworkPolicy {namespace}/{policy}.",
            status=404,
        )
    highlight = request.GET.get("rule", "")
    return render(
        request,
        "webui/policy.html",
        {
            **_context(request, cluster, snapshot),
            **objects.policy_summary(engine_model(snapshot), namespace, policy),
            "policy": {"namespace": namespace, "name": policy},
            "yaml": objects.policy_yaml(namespace, policy, stored.spec),
            "findings": _findings(snapshot, namespace, [f"NetworkPolicy/{namespace}/{policy}"]),
            # The rule (and its peer and port entries) an explanation pointed at.
            "highlight": highlight if RULE_ANCHOR.match(highlight) else "",
            "highlight_peer": _index_param(request, "peer"),
            "highlight_port": _index_param(request, "port"),
        },
    )


@require_role("viewer")
def kind_policy_detail(request, name, kind, policy, namespace=""):
    """A policy of another kind than NetworkPolicy (a ClusterNetworkPolicy, an Admin or
    Baseline AdminNetworkPolicy, a Cilium policy): where it sits in the order of
    evaluation, what it selects, its rules in order, and its YAML."""
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    model = engine_model(snapshot)
    found = next(
        (
            p
            for key, p in objects.other_kind_policies(model).items()
            if _is_page_of(objects.policy_ref(model, key), kind, namespace, policy)
        ),
        None,
    )
    stored = _stored_policy(snapshot, kind, namespace, policy, getattr(found, "tier", ""))
    where = f"{namespace}/{policy}" if namespace else policy
    # A kind the cluster's plugin does not read is kept beside the model, never in it
    # (netpol/enforcement.py): its page shows it, and says it filters nothing.
    unenforced = (
        objects.unenforced_policy(model, kind, namespace, policy) if found is None else None
    )
    if found is None and stored is None and unenforced is None:
        return render_problem(
            request, cluster, f"Snapshot #{snapshot.pk} has no {kind} {where}.", status=404
        )
    if found is not None:
        key = found.key
    else:  # stored, but the engine dropped it as invalid: its errors say why
        key = f"{CLUSTER_POLICY_KINDS[kind][0]}/{policy}" if kind in CLUSTER_POLICY_KINDS else ""
    found_findings = _findings(snapshot, namespace, [f"{kind}/{where}"])
    if unenforced is not None:
        summary = {"found": True, "detailed": False, "errors": [], "unenforced": unenforced}
    else:
        summary = objects.kind_policy_summary(model, key)
    return render(
        request,
        "webui/kind_policy.html",
        {
            **_context(request, cluster, snapshot),
            **summary,
            "kind": kind,
            "name": policy,
            "namespace": namespace,
            "where": where,
            "yaml": objects.manifest_yaml(
                kind,
                namespace,
                stored.name,
                stored.spec,
                getattr(stored, "specs", None),
                getattr(stored, "api_version", ""),
            )
            if stored
            else "",
            "findings": found_findings,
            "np042": next(
                (
                    reverse("webui:finding", args=[cluster.name, f.pk])
                    for f in found_findings["rows"]
                    if f.rule == "NP042"
                ),
                "",
            ),
        },
    )


def _is_page_of(ref: dict, kind: str, namespace: str, policy: str) -> bool:
    return (ref["api_kind"], ref["namespace"], ref["name"]) == (kind, namespace, policy)


def _stored_policy(snapshot, kind: str, namespace: str, policy: str, tier: str = ""):
    """The stored row of a policy of another kind: a ClusterPolicy row, or a CniObject
    row for Cilium's kinds (whose ``specs`` entries the engine names ``NAME#i``) and
    Calico's (``CalicoNetworkPolicy`` in the URL is Calico's ``NetworkPolicy``; a
    crd.projectcalico.org/v1 name carries its tier, "security.x", the engine's is "x")."""
    if kind in CLUSTER_POLICY_KINDS:
        return ClusterPolicy.objects.filter(snapshot=snapshot, kind=kind, name=policy).first()
    if kind.startswith("Calico"):
        names = [policy, f"{tier}.{policy}"] if tier else [policy]
        return (
            CniObject.objects.filter(
                snapshot=snapshot,
                kind=kind.removeprefix("Calico"),
                namespace=namespace,
                name__in=names,
            )
            .exclude(api_version="")
            .first()
        )
    return CniObject.objects.filter(
        snapshot=snapshot, kind=kind, namespace=namespace, name=policy.split("#", 1)[0]
    ).first()


def _index_param(request, key: str) -> int | None:
    value = request.GET.get(key, "")
    return int(value) if value.isdigit() and len(value) < 5 else None


@require_role("viewer")
def explain_connection(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    form = {key: request.GET.get(key, "").strip() for key in ("from", "to", "port")}
    form["protocol"] = request.GET.get("protocol", "").strip().upper() or "TCP"
    context = {**_context(request, cluster, snapshot), "form": form, "protocols": PROTOCOLS}
    if not any(form[key] for key in ("from", "to", "port")):
        return render(request, "webui/reach.html", context)
    model = engine_model(snapshot)
    try:
        question = objects.parse_question(
            model, form["from"], form["to"], form["port"], form["protocol"]
        )
        result = objects.explain(model, question)
    except InputError as exc:
        return render(request, "webui/reach.html", {**context, "error": str(exc)}, status=400)
    return render(request, "webui/reach.html", {**context, "result": result})
