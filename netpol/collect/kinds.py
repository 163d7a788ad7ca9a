"""The one registry of the object kinds a snapshot holds.

Each kind's record type (``normalize``), the ``ClusterModel.from_objects`` keyword it
goes to, the snapshot's count field, and where the API serves its all-namespaces list.
Collectors, storage, the CLI, metrics and the test API server all read this table.

The table is keyed by kind, qualified by API group where the kind name alone is not
enough: Calico's ``NetworkPolicy`` is ``projectcalico.org/NetworkPolicy``, and Calico's
kinds all carry that prefix so one name covers both groups that serve them
(``projectcalico.org/v3``, the aggregated API server, preferred; else
``crd.projectcalico.org/v1``, the CRDs Calico stores them in; never both).
"""

from __future__ import annotations

from dataclasses import dataclass

from .normalize import (
    CalicoRecord,
    CiliumPolicyRecord,
    ClusterPolicyRecord,
    NamespaceRecord,
    NetworkPolicyRecord,
    NodeRecord,
    PodRecord,
    ServiceAccountRecord,
    ServiceRecord,
)

CALICO_PREFIX = "projectcalico.org/"
# Where Calico's kinds are served, in order of preference.
CALICO_VERSIONS = (("projectcalico.org", "v3"), ("crd.projectcalico.org", "v1"))
CALICO_API_VERSIONS = tuple(f"{g}/{v}" for g, v in CALICO_VERSIONS)


@dataclass(frozen=True, slots=True)
class Kind:
    kind: str
    record: type
    argument: str  # keyword of ClusterModel.from_objects
    count_field: str  # field of a stored snapshot, and the metrics' "kind" label without "_count"
    plural: str  # the API's resource name
    group: str  # "" is the core group; the preferred one when several serve the kind
    version: str
    optional: bool  # a snapshot can do without it: absence or a 403 is a warning
    # Listed only when the server's discovery (/apis) offers its group and version (or
    # one of ``alternatives``, or one of ``wanted_with``): a cluster without that API is
    # normal, not a warning.
    discovered: bool = False
    # Other (group, version)s serving the same kind, after ``group``/``version``.
    alternatives: tuple[tuple[str, str], ...] = ()
    # "group/version"s whose presence makes this kind worth listing (ServiceAccounts
    # matter only to Calico's serviceAccountSelector).
    wanted_with: tuple[str, ...] = ()
    key: str = ""  # the table's key; the kind unless the kind name is shared

    def __post_init__(self):
        if not self.key:
            object.__setattr__(self, "key", self.kind)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def versions(self) -> tuple[tuple[str, str], ...]:
        """Every (group, version) serving the kind, preferred first."""
        return ((self.group, self.version), *self.alternatives)

    @property
    def api_versions(self) -> tuple[str, ...]:
        return tuple(f"{g}/{v}" if g else v for g, v in self.versions)

    def path_in(self, group: str, version: str) -> str:
        """The URL path of the all-namespaces list in one of its ``versions``."""
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        return f"{prefix}/{self.plural}"

    @property
    def path(self) -> str:
        """The URL path of the all-namespaces list (the preferred version's)."""
        return self.path_in(self.group, self.version)

    def served_from(self, offered: set[str]) -> tuple[str, str] | None:
        """The (group, version) to list, given the ``group/version``s discovery offers;
        None when the kind is not to be listed."""
        if not self.discovered:
            return self.group, self.version
        if self.wanted_with:
            return (self.group, self.version) if offered.intersection(self.wanted_with) else None
        for group, version in self.versions:
            if f"{group}/{version}" in offered:
                return group, version
        return None

    def key_of(self, group: str, kind: str) -> bool:
        """Whether an object of this API group and kind is of this entry."""
        return kind == self.kind and group in {g for g, _ in self.versions}


def _calico(kind: str, plural: str, argument: str, count_field: str) -> Kind:
    (group, version), *alternatives = CALICO_VERSIONS
    return Kind(
        kind,
        CalicoRecord,
        argument,
        count_field,
        plural,
        group,
        version,
        True,
        True,
        tuple(alternatives),
        key=CALICO_PREFIX + kind,
    )


# In the order collectors fetch them.
KIND_TABLE: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind(
            "Namespace",
            NamespaceRecord,
            "namespaces",
            "namespace_count",
            "namespaces",
            "",
            "v1",
            False,
        ),
        Kind("Node", NodeRecord, "nodes", "node_count", "nodes", "", "v1", True),
        Kind("Pod", PodRecord, "pods", "pod_count", "pods", "", "v1", False),
        Kind(
            "NetworkPolicy",
            NetworkPolicyRecord,
            "policies",
            "policy_count",
            "networkpolicies",
            "networking.k8s.io",
            "v1",
            False,
        ),
        Kind("Service", ServiceRecord, "services", "service_count", "services", "", "v1", True),
        # The cluster-wide policies of the policy.networking.k8s.io group (the engine's
        # tiers.py): three kinds, one ``from_objects`` argument and one snapshot count.
        Kind(
            "ClusterNetworkPolicy",
            ClusterPolicyRecord,
            "cluster_policies",
            "cluster_policy_count",
            "clusternetworkpolicies",
            "policy.networking.k8s.io",
            "v1alpha2",
            True,
            True,
        ),
        Kind(
            "AdminNetworkPolicy",
            ClusterPolicyRecord,
            "cluster_policies",
            "cluster_policy_count",
            "adminnetworkpolicies",
            "policy.networking.k8s.io",
            "v1alpha1",
            True,
            True,
        ),
        Kind(
            "BaselineAdminNetworkPolicy",
            ClusterPolicyRecord,
            "cluster_policies",
            "cluster_policy_count",
            "baselineadminnetworkpolicies",
            "policy.networking.k8s.io",
            "v1alpha1",
            True,
            True,
        ),
        # Cilium's policies (the engine's cilium.py).
        Kind(
            "CiliumNetworkPolicy",
            CiliumPolicyRecord,
            "cilium_policies",
            "cilium_policy_count",
            "ciliumnetworkpolicies",
            "cilium.io",
            "v2",
            True,
            True,
        ),
        Kind(
            "CiliumClusterwideNetworkPolicy",
            CiliumPolicyRecord,
            "cilium_policies",
            "cilium_policy_count",
            "ciliumclusterwidenetworkpolicies",
            "cilium.io",
            "v2",
            True,
            True,
        ),
        # Calico's (the engine's calico.py): policies, tiers and network sets share one
        # argument, the engine tells them apart by kind.
        _calico("Tier", "tiers", "calico_policies", "calico_policy_count"),
        _calico("NetworkPolicy", "networkpolicies", "calico_policies", "calico_policy_count"),
        _calico(
            "GlobalNetworkPolicy", "globalnetworkpolicies", "calico_policies", "calico_policy_count"
        ),
        _calico("NetworkSet", "networksets", "calico_policies", "calico_policy_count"),
        _calico("GlobalNetworkSet", "globalnetworksets", "calico_policies", "calico_policy_count"),
        # Staged policies are stored and kept on the model for what-if, never enforced.
        _calico(
            "StagedNetworkPolicy", "stagednetworkpolicies", "staged_policies", "staged_policy_count"
        ),
        _calico(
            "StagedGlobalNetworkPolicy",
            "stagedglobalnetworkpolicies",
            "staged_policies",
            "staged_policy_count",
        ),
        _calico(
            "StagedKubernetesNetworkPolicy",
            "stagedkubernetesnetworkpolicies",
            "staged_policies",
            "staged_policy_count",
        ),
        # Who a pod runs as: Calico's serviceAccountSelector matches its labels.
        Kind(
            "ServiceAccount",
            ServiceAccountRecord,
            "service_accounts",
            "service_account_count",
            "serviceaccounts",
            "",
            "v1",
            True,
            True,
            wanted_with=CALICO_API_VERSIONS,
        ),
    )
}
KINDS = tuple(KIND_TABLE)
OPTIONAL_KINDS = frozenset(k for k, info in KIND_TABLE.items() if info.optional)


def kind_key(group: str, kind: str) -> str | None:
    """The table key of an object of API ``group`` and ``kind``, or None when no kind of
    the table is it (``extensions`` NetworkPolicies are read as networking.k8s.io's)."""
    if group == "extensions" and kind == "NetworkPolicy":
        group = "networking.k8s.io"
    key = CALICO_PREFIX + kind if group.endswith(CALICO_PREFIX.rstrip("/")) else kind
    info = KIND_TABLE.get(key)
    return key if info is not None and info.key_of(group, kind) else None
