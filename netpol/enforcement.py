"""Which policy kinds each network plugin enforces, and the plugin a cluster runs.

A kind the cluster's plugin does not read filters nothing, however strict it looks: the
engine is given only the kinds the plugin enforces; the others are kept on the model
(``ClusterModel.unenforced``) so pages can show them and NP042 can say they do nothing.

The plugin comes from the pods (``detect_plugins``: workload or pod names and the usual
labels in kube-system and the plugins' own namespaces), or is given (``netaudit --cni``).
With no plugin found, every kind is applied, and the notes say so.

``KINDS_ENFORCED`` is written from each project's documentation (the page is named on
each row). A kind is ``ENFORCED``, ``CONDITIONAL`` (only from some version, or behind a
flag or feature gate the pods do not show: applied, with the condition in the notes) or,
when absent from a row, not enforced. NetworkPolicy itself is not filtered here: whether
the plugin enforces it is NP038/NP039's business, which keeps the policies and warns on
every finding. Calico's Staged* kinds are never enforced by anyone and are kept on the
model as ``staged_policies`` whatever the plugin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .collect.kinds import KIND_TABLE, kind_key
from .engine import controlling_workload

ENFORCED = "enforced"
CONDITIONAL = "conditional"
ANY = "any"  # every kind applied: no plugin known, or ``--cni any``
AUTO = "auto"  # the plugin detected from the pods

# The namespaces plugins install themselves into.
PLUGIN_NAMESPACES = (
    "kube-system",
    "kube-flannel",
    "calico-system",
    "tigera-operator",
    "cilium",
    "kube-router",
    "antrea-system",
)

# plugin -> (enforces NetworkPolicy, workload/pod name prefixes, (label key, value) pairs).
# True, False, or None when the pods cannot tell (the AWS VPC CNI enforces policies only
# with its network policy agent enabled).
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

CALICO_KINDS = tuple(
    "projectcalico.org/" + k
    for k in ("Tier", "NetworkPolicy", "GlobalNetworkPolicy", "NetworkSet", "GlobalNetworkSet")
)
CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
CLUSTER_KINDS = ("ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
# The kinds this module decides about: every policy kind but NetworkPolicy (NP038's) and
# Calico's Staged* (never enforced).
FILTERED_KINDS = CLUSTER_KINDS + CILIUM_KINDS + CALICO_KINDS

_CALICO_ROW = {
    # docs.tigera.io/calico/latest/network-policy/policy-tiers/tiered-policy: Calico
    # NetworkPolicy and GlobalNetworkPolicy in tiers, network sets as selectable labels.
    **dict.fromkeys(CALICO_KINDS, (ENFORCED, "")),
    # Release notes 3.29 (AdminNetworkPolicy), 3.30 (BaselineAdminNetworkPolicy), 3.32
    # (ClusterNetworkPolicy v1alpha2 in the kube-admin and kube-baseline tiers; "Calico
    # v3.32 and newer won't enforce" AdminNetworkPolicy and BaselineAdminNetworkPolicy).
    "ClusterNetworkPolicy": (CONDITIONAL, "Calico 3.32 and later"),
    "AdminNetworkPolicy": (CONDITIONAL, "Calico 3.29 to 3.31 (removed in 3.32)"),
    "BaselineAdminNetworkPolicy": (CONDITIONAL, "Calico 3.30 to 3.31 (removed in 3.32)"),
}

# plugin -> {kind key: (ENFORCED or CONDITIONAL, the condition)}; a kind absent from a
# row is not enforced by that plugin. NetworkPolicy: see the module doc.
KINDS_ENFORCED: dict[str, dict[str, tuple[str, str]]] = {
    "calico": _CALICO_ROW,
    # Canal is Calico's policy engine (calico-node) on flannel's networking:
    # docs.tigera.io/calico/latest/getting-started/kubernetes/flannel/install-for-flannel
    "canal": _CALICO_ROW,
    "cilium": {
        # docs.cilium.io/en/stable/network/kubernetes/policy/: NetworkPolicy,
        # CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy, no Calico kind and no
        # v1alpha1 AdminNetworkPolicy.
        **dict.fromkeys(CILIUM_KINDS, (ENFORCED, "")),
        # The same page from 1.20 (cilium/cilium#47227): ClusterNetworkPolicy only with
        # --enable-k8s-cluster-network-policy (Helm k8sClusterNetworkPolicy.enabled), off
        # by default.
        "ClusterNetworkPolicy": (
            CONDITIONAL,
            "Cilium 1.20 and later with --enable-k8s-cluster-network-policy (off by default)",
        ),
    },
    "antrea": {
        # antrea.io/docs/main/docs/admin-network-policy/ and feature-gates.md: the
        # v1alpha1 kinds from 1.13 behind the AdminNetworkPolicy feature gate (off by
        # default, deprecated); cluster-network-policy.md: ClusterNetworkPolicy v1alpha2
        # from 2.7 behind the ClusterNetworkPolicy gate (off by default). Antrea's own
        # crd.antrea.io policies are not read by the audit.
        "AdminNetworkPolicy": (
            CONDITIONAL,
            "Antrea 1.13 and later with the AdminNetworkPolicy feature gate (off by default)",
        ),
        "BaselineAdminNetworkPolicy": (
            CONDITIONAL,
            "Antrea 1.13 and later with the AdminNetworkPolicy feature gate (off by default)",
        ),
        "ClusterNetworkPolicy": (
            CONDITIONAL,
            "Antrea 2.7 and later with the ClusterNetworkPolicy feature gate (off by default)",
        ),
    },
    # NetworkPolicy only: kube-router's network policy controller
    # (github.com/cloudnativelabs/kube-router docs/user-guide.md), Weave Net's
    # (github.com/weaveworks/weave site/kubernetes/kube-addon.md), Azure NPM
    # (learn.microsoft.com/azure/aks/use-network-policies), GKE's network policy
    # enforcement (cloud.google.com/kubernetes-engine/docs/how-to/network-policy).
    "kube-router": {},
    "weave": {},
    "azure-npm": {},
    "gke-network-policy": {},
    # Nothing: "Flannel is focused on networking. For network policy, other projects such
    # as Calico can be used" (github.com/flannel-io/flannel README).
    "flannel": {},
    # NetworkPolicy only, with the network policy agent enabled
    # (docs.aws.amazon.com/eks/latest/userguide/cni-network-policy.html).
    "aws-vpc-cni": {},
}
PLUGIN_CHOICES = tuple(KINDS_ENFORCED)
# How messages name each plugin.
TITLES = {
    "calico": "Calico",
    "canal": "Canal (Calico on flannel)",
    "cilium": "Cilium",
    "antrea": "Antrea",
    "kube-router": "kube-router",
    "weave": "Weave Net",
    "azure-npm": "Azure Network Policy Manager",
    "gke-network-policy": "GKE network policy enforcement",
    "flannel": "flannel",
    "aws-vpc-cni": "the AWS VPC CNI",
}


def titled(plugins: Iterable[str]) -> str:
    """``Calico and flannel``: plugins as messages name them."""
    names = [TITLES.get(p, p) for p in plugins]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


CNI_CHOICES = (AUTO, ANY, *PLUGIN_CHOICES)


def plugins_of(namespace: str, workload_name: str, labels: Mapping[str, str]) -> list[str]:
    """The plugins a pod (of ``namespace``, its workload's or its own name) belongs to."""
    if namespace not in PLUGIN_NAMESPACES:
        return []
    out = []
    for plugin, (_, prefixes, pairs) in PLUGINS.items():
        by_name = any(workload_name == p or workload_name.startswith(p + "-") for p in prefixes)
        if by_name or any(labels.get(k) == v for k, v in pairs):
            out.append(plugin)
    return out


def detect_plugins(pods: Iterable[dict]) -> list[str]:
    """The plugins found among API-shaped pod objects (before any model is built)."""
    found: set[str] = set()
    for pod in pods:
        pod = pod.to_api() if hasattr(pod, "to_api") else pod
        metadata = pod.get("metadata") or {}
        namespace = metadata.get("namespace") or "default"
        if namespace not in PLUGIN_NAMESPACES:
            continue
        labels = metadata.get("labels") or {}
        _, workload = controlling_workload(metadata, labels)
        found.update(plugins_of(namespace, workload or metadata.get("name", ""), labels))
    return sorted(found)


def kind_of(obj: dict) -> str:
    """The ``KIND_TABLE`` key of an API-shaped object (Calico's kinds qualified)."""
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    return kind_key(group, obj.get("kind") or "") or obj.get("kind") or "?"


@dataclass(slots=True)
class Enforcement:
    """What a plugin choice means for one cluster's objects."""

    choice: str  # AUTO, ANY or a plugin
    plugins: list[str]  # the plugins whose kinds are applied; [] with ANY
    source: str  # "detected", "given", or "none found" (every kind applied)
    # kind key -> (state, condition) of every filtered kind the plugins enforce
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)

    def enforces(self, key: str) -> bool:
        return self.source == "none found" or not self.plugins or key in self.kinds

    def to_dict(self, applied: Mapping[str, list] | None = None) -> dict:
        """The plain form kept on the model (``ClusterModel.enforcement``); ``assumed``:
        the kinds among ``applied`` that the plugins enforce only on a condition the pods
        cannot show (a version, a flag), with that condition."""
        applied = applied or {}
        return {
            "choice": self.choice,
            "plugins": list(self.plugins),
            "source": self.source,
            "assumed": {
                KIND_TABLE[k].kind: why
                for k, (state, why) in sorted(self.kinds.items())
                if state == CONDITIONAL and applied.get(k)
            },
        }


def decide(choice: str, pods: Iterable[dict]) -> Enforcement:
    """The kinds applied for ``choice`` (AUTO: the plugins found in ``pods``)."""
    if choice == ANY:
        return Enforcement(ANY, [], "given")
    if choice == AUTO:
        plugins = detect_plugins(pods)
        source = "detected"
    elif choice in KINDS_ENFORCED:
        plugins, source = [choice], "given"
    else:
        raise ValueError(f"unknown network plugin {choice!r}: use one of {', '.join(CNI_CHOICES)}")
    if not plugins:
        return Enforcement(choice, [], "none found")
    kinds: dict[str, tuple[str, str]] = {}
    for plugin in plugins:
        for key, (state, why) in KINDS_ENFORCED[plugin].items():
            # Enforced by one plugin beats conditional on another.
            if key not in kinds or (state == ENFORCED and kinds[key][0] != ENFORCED):
                kinds[key] = (state, why)
    return Enforcement(choice, plugins, source, kinds)


def split(
    objects_by_kind: Mapping[str, list[dict]], choice: str = AUTO
) -> tuple[dict[str, list[dict]], list[dict], Enforcement]:
    """``(applied by kind, unenforced objects, the decision)``: the objects of each
    ``KIND_TABLE`` key, less those of filtered kinds the plugins do not enforce."""
    enforcement = decide(choice, objects_by_kind.get("Pod", ()))
    applied: dict[str, list[dict]] = {}
    unenforced: list[dict] = []
    for key, objects in objects_by_kind.items():
        if key in FILTERED_KINDS and objects and not enforcement.enforces(key):
            unenforced.extend(o.to_api() if hasattr(o, "to_api") else o for o in objects)
        else:
            applied[key] = list(objects)
    return applied, unenforced, enforcement


def notes(
    enforcement: Enforcement, unenforced: list[dict], applied: Mapping[str, list] | None = None
) -> list[str]:
    """One line per kind ignored, and one when no plugin was found and kinds other than
    NetworkPolicy are applied for that reason, for stderr and the logs."""
    applied = applied or {}
    out = []
    counts: dict[str, int] = {}
    for obj in unenforced:
        counts[kind_of(obj)] = counts.get(kind_of(obj), 0) + 1
    runs = titled(enforcement.plugins)
    how = "detected from its pods" if enforcement.source == "detected" else "--cni"
    for key, n in counts.items():
        kind = KIND_TABLE[key].kind if key in KIND_TABLE else key
        out.append(
            f"{n} {kind} object{'s' if n != 1 else ''} ignored: the cluster runs {runs} "
            f"({how}), which does not enforce {kind}; --cni any applies them"
        )
    if enforcement.source == "none found" and any(applied.get(k) for k in FILTERED_KINDS):
        out.append(
            "no network plugin identified among the pods: every policy kind is applied; "
            "--cni PLUGIN applies only what that plugin enforces"
        )
    return out
