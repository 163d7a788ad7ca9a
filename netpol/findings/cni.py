"""Which network plugin the cluster runs, and whether it enforces NetworkPolicy.

Detected from the pods (and their workloads) in kube-system and in the namespaces the
plugins install themselves into, by workload or pod name and by the usual labels. Flannel
alone does not enforce policies; with Calico beside it (Canal) it does. The AWS VPC CNI
enforces them only when its network policy agent is enabled, which the pods do not show,
so alone it leaves the answer unknown. The table of plugins is ``netpol/enforcement.py``'s.

NP042: policies of a kind the plugin does not enforce (``model.unenforced``), one finding
per kind, with the pods they would have isolated (or, cluster-wide kinds, decided for).
"""

from __future__ import annotations

from netpol.collect.kinds import KIND_TABLE
from netpol.enforcement import (
    CLUSTER_KINDS,
    PLUGIN_NAMESPACES,
    PLUGINS,
    kind_of,
    plugins_of,
    titled,
)
from netpol.engine import EGRESS, INGRESS, ClusterModel, gc_paused

from .finding import Finding, make, plural, short_list, workload_ref

ENFORCING = "enforcing"
NOT_ENFORCING = "not enforcing"
UNKNOWN = "unknown"

WARNING = (
    "The cluster's network plugin does not enforce NetworkPolicy ({plugins}): no policy "
    "applies, every connection is allowed whatever this finding says."
)


def detect(model: ClusterModel) -> dict:
    """``{"status", "plugins", "evidence": {plugin: [objects]}, "warning"}``."""
    evidence: dict[str, set[str]] = {}
    for pod in model.pods:
        if pod.namespace not in PLUGIN_NAMESPACES:
            continue
        workload = pod.workload_id
        for plugin in plugins_of(pod.namespace, workload.partition("/")[2], pod.labels):
            evidence.setdefault(plugin, set()).add(workload_ref(pod.namespace, workload))
    found = sorted(evidence)
    enforcing = [p for p in found if PLUGINS[p][0] is True]
    if enforcing:
        status = ENFORCING
    elif any(PLUGINS[p][0] is False for p in found) and not any(
        PLUGINS[p][0] is None for p in found
    ):
        status = NOT_ENFORCING
    else:
        status = UNKNOWN
    out = {
        "status": status,
        "plugins": found,
        "evidence": {p: sorted(v) for p, v in sorted(evidence.items())},
        "warning": "",
    }
    if status == NOT_ENFORCING:
        out["warning"] = WARNING.format(plugins=", ".join(found))
    enforcement = getattr(model, "enforcement", None) or {}
    out["applied"] = {
        "choice": enforcement.get("choice", "any"),
        "plugins": enforcement.get("plugins", []),
        "source": enforcement.get("source", "given"),
        "assumed": enforcement.get("assumed", {}),
    }
    out["unenforced"] = unenforced(model)
    return out


# Calico's kinds that select no pod themselves: they matter through Calico's policies.
_CALICO_SUPPORT = ("projectcalico.org/Tier", "projectcalico.org/NetworkSet")
_CALICO_SUPPORT += ("projectcalico.org/GlobalNetworkSet",)


def _object_ref(obj: dict) -> str:
    """``Kind/ns/name`` (``Kind/name`` when cluster-scoped); Calico's kinds prefixed
    ``Calico`` as their pages name them, since Calico's NetworkPolicy shares the name."""
    metadata = obj.get("metadata") or {}
    kind = obj.get("kind") or "?"
    if kind_of(obj).startswith("projectcalico.org/"):
        kind = "Calico" + kind
    namespace = metadata.get("namespace") or ""
    name = metadata.get("name") or "?"
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def unenforced(model: ClusterModel) -> list[dict]:
    """Per kind of policy the model holds but does not apply (``model.unenforced``): its
    objects, and the running pods it would have changed. A policy of Cilium or Calico
    counts the pods it would isolate that nothing isolates now (evaluated with the
    unenforced kind alone over the cluster's pods); a cluster-wide policy counts the pods
    its subject holds, whose traffic it would decide."""
    # One pause for every kind's parse: each parse's own pause ended in a collection
    # over the whole model (0.3 s at 50k pods).
    with gc_paused():
        return _unenforced(model)


def _unenforced(model: ClusterModel) -> list[dict]:
    by_kind: dict[str, list[dict]] = {}
    for obj in getattr(model, "unenforced", ()) or ():
        by_kind.setdefault(kind_of(obj), []).append(obj)
    support = [o for k in _CALICO_SUPPORT for o in by_kind.get(k, ())]
    out = []
    for key, objects in sorted(by_kind.items()):
        if key in _CALICO_SUPPORT:
            continue  # a Tier or a network set alone filters nothing
        extra = support if key.startswith("projectcalico.org/") else []
        pods = _pods_changed(model, key, objects + extra)
        out.append(
            {
                "kind": ("Calico " if key.startswith("projectcalico.org/") else "")
                + (KIND_TABLE[key].kind if key in KIND_TABLE else key),
                "key": key,
                "objects": sorted(_object_ref(o) for o in objects),
                "with": sorted(_object_ref(o) for o in extra),
                "pods": [p.key for p in pods],
                "workloads": sorted({workload_ref(p.namespace, p.workload_id) for p in pods}),
                "namespaces": sorted({p.namespace for p in pods}),
                "decides": key in CLUSTER_KINDS,
            }
        )
    return out


def _pods_changed(model: ClusterModel, key: str, objects: list[dict]) -> list:
    argument = KIND_TABLE[key].argument if key in KIND_TABLE else ""
    if argument not in ("cluster_policies", "cilium_policies", "calico_policies"):
        return []
    # The unenforced kind, parsed by the engine (a throwaway model: nothing of ``model``
    # is renumbered).
    parsed = ClusterModel.from_objects(**{argument: objects})
    if argument == "calico_policies":
        return _isolated_by_calico(model, parsed)
    # Cilium and cluster-wide policies select by namespace and pod labels only, which
    # the model's classes already tell apart: their subjects are evaluated over those
    # classes, as the engine's compile steps do, without building a second model (3.4 s
    # for 2,000 Cilium policies at 50k pods, most of it classes and rules nobody reads;
    # docs/benchmarks.md).
    ev = model.evaluation
    if argument == "cluster_policies":
        bits = 0
        for policy in parsed.cluster_policies:
            subject = ev.ns_index.eval(policy.subject_namespaces)
            if policy.subject_pods is not None:
                subject &= ev.pod_index.eval(policy.subject_pods)
            bits |= subject
    else:
        isolating = {INGRESS: 0, EGRESS: 0}
        for policy in parsed.cilium_policies:
            directions = [d for d in (INGRESS, EGRESS) if policy.default_deny[d]]
            if not directions:
                continue
            selector = policy.selector
            subject = ev.ns_index.eval(selector.namespaces) & ev.pod_index.eval(selector.pods)
            if policy.namespace is not None:
                subject &= ev.ns_mask(policy.namespace)
            for d in directions:
                isolating[d] |= subject
        # The pods it would isolate that nothing isolates now.
        bits = 0
        for d, classes in isolating.items():
            bits |= classes & ~ev.isolated_bits(d)
    if not bits:
        return []
    # The classes hold the active pods only; the answer lists them in the model's order.
    keys = {p.key for p in ev.pods_in(bits)}
    return [p for p in model.pods if p.key in keys]


def _isolated_by_calico(model: ClusterModel, parsed: ClusterModel) -> list:
    """Calico's kinds alone evaluated over this cluster's pods: isolation by a tier comes
    from the tier walk (default actions, service accounts, network sets), which only the
    engine's evaluation of a model holding them gives."""
    alone = ClusterModel(
        namespaces=list(model.namespaces.values()),
        pods=model.pods,
        nodes=model.nodes,
        policies=[],
        services=model.services,
        declared_cidrs=model.declared,
        calico_policies=parsed.calico_policies,
        calico_tiers=parsed.calico_tiers,
        calico_network_sets=parsed.calico_network_sets,
        service_accounts=getattr(model, "service_accounts", ()),
    )
    # Per direction once, on class bitsets (a question per pod and direction recomputed
    # the tiers' isolation each time: 1.5 s of 2 s at 50k pods).
    mine, theirs = model.evaluation, alone.evaluation
    keys = set()
    for d in (INGRESS, EGRESS):
        isolated_now = mine.isolated_bits(d)
        for pod in theirs.pods_in(theirs.isolated_bits(d)):
            c = mine.class_of.get(pod.key)
            if c is not None and not isolated_now >> c & 1:
                keys.add(pod.key)
    return [p for p in model.pods if p.key in keys] if keys else []


def findings(cni: dict) -> list[Finding]:
    return _plugin_findings(cni) + [_np042(cni, kind) for kind in cni.get("unenforced", ())]


def _np042(cni: dict, kind: dict) -> Finding:
    applied = cni["applied"]
    runs = titled(applied["plugins"]) or "no known plugin"
    how = (
        "as found among its pods"
        if applied["source"] == "detected"
        else f"as given (--cni {applied['choice']})"
    )
    n, pods = len(kind["objects"]), kind["pods"]
    plural_kind = kind["kind"][:-1] + "ies" if kind["kind"].endswith("Policy") else kind["kind"]
    what = f"{n} {kind['kind'] if n == 1 else plural_kind}"
    they = "it" if n == 1 else "they"
    if kind["decides"]:
        effect = (
            f"{they} would decide the traffic of {plural(len(pods), 'pod')} "
            f"({short_list(kind['namespaces'])})"
            if pods
            else f"{'its subject holds' if n == 1 else 'their subjects hold'} no running pod"
        )
    else:
        effect = (
            f"{they} would isolate {plural(len(pods), 'pod')} that nothing isolates now "
            f"({short_list(kind['namespaces'])}), open to every connection"
            if pods
            else f"{they} would isolate no pod that is open now"
        )
    namespaces = {o.split("/")[1] for o in kind["objects"] if o.count("/") == 2}
    return make(
        "NP042",
        f"{what} {'is' if n == 1 else 'are'} not enforced: the cluster runs {runs} ({how}), "
        f"which does not read {kind['kind']}; {effect}. Objects: {short_list(kind['objects'])}.",
        kind["objects"] + kind["workloads"],
        identity={"kind": kind["key"]},
        namespace=next(iter(namespaces)) if len(namespaces) == 1 else "",
        evidence={
            "kind": kind["kind"],
            "plugins": applied["plugins"],
            "source": applied["source"],
            "objects": kind["objects"],
            "with": kind["with"],
            "pods": len(pods),
            "namespaces": kind["namespaces"],
        },
        workloads=kind["workloads"],
    )


def _plugin_findings(cni: dict) -> list[Finding]:
    objects = [o for p in cni["plugins"] for o in cni["evidence"][p]]
    if cni["status"] == NOT_ENFORCING:
        return [
            make(
                "NP038",
                f"The cluster runs {', '.join(cni['plugins'])} ({', '.join(objects)}) and no "
                "plugin that enforces NetworkPolicy: every policy in the cluster is ignored.",
                objects,
                identity={},
                evidence={"plugins": cni["plugins"], "evidence": cni["evidence"]},
            )
        ]
    if cni["status"] == UNKNOWN:
        seen = f" (found: {', '.join(cni['plugins'])})" if cni["plugins"] else ""
        return [
            make(
                "NP039",
                "No network plugin known to enforce NetworkPolicy was found among the pods of "
                f"{', '.join(PLUGIN_NAMESPACES[:3])} and the other plugin namespaces{seen}; "
                "whether the policies are enforced is unknown.",
                objects,
                identity={},
                evidence={"plugins": cni["plugins"], "evidence": cni["evidence"]},
            )
        ]
    return []
