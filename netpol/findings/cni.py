"""Which network plugin the cluster runs, and whether it enforces NetworkPolicy.

Detected from the pods (and their workloads) in kube-system and in the namespaces the
plugins install themselves into, by workload or pod name and by the usual labels. Flannel
alone does not enforce policies; with Calico beside it (Canal) it does. The AWS VPC CNI
enforces them only when its network policy agent is enabled, which the pods do not show,
so alone it leaves the answer unknown.
"""

from __future__ import annotations

from netpol.engine import ClusterModel

from .finding import Finding, make, workload_ref

PLUGIN_NAMESPACES = (
    "kube-system",
    "kube-flannel",
    "calico-system",
    "tigera-operator",
    "cilium",
    "kube-router",
    "antrea-system",
)

# plugin -> (enforces, workload/pod name prefixes, (label key, value) pairs)
PLUGINS: dict[str, tuple[bool | None, tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "calico": (
        True,
        ("calico-node", "calico-typha", "calico-kube-controllers"),
        (("k8s-app", "calico-node"), ("k8s-app", "calico-kube-controllers")),
    ),
    "canal": (True, ("canal",), (("k8s-app", "canal"),)),
    "cilium": (
        True,
        ("cilium", "anetd"),
        (("k8s-app", "cilium"), ("app.kubernetes.io/name", "cilium-agent")),
    ),
    "antrea": (True, ("antrea-agent", "antrea-controller"), (("app", "antrea"),)),
    "kube-router": (True, ("kube-router",), (("k8s-app", "kube-router"),)),
    "weave": (True, ("weave-net",), (("name", "weave-net"),)),
    "azure-npm": (True, ("azure-npm",), (("k8s-app", "azure-npm"),)),
    "gke-network-policy": (True, ("netd",), (("k8s-app", "netd"),)),
    "flannel": (
        False,
        ("kube-flannel", "flannel"),
        (("app", "flannel"), ("k8s-app", "flannel")),
    ),
    "aws-vpc-cni": (None, ("aws-node",), (("k8s-app", "aws-node"),)),
}

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
        name = workload.partition("/")[2]
        for plugin, (_, prefixes, labels) in PLUGINS.items():
            by_name = any(name == p or name.startswith(p + "-") for p in prefixes)
            if by_name or any(pod.labels.get(k) == v for k, v in labels):
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
    return out


def findings(cni: dict) -> list[Finding]:
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
