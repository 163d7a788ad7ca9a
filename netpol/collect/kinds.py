"""The one registry of the object kinds a snapshot holds.

Each kind's record type (``normalize``), the ``ClusterModel.from_objects`` keyword it
goes to, the snapshot's count field, and where the API serves its all-namespaces list.
Collectors, storage, the CLI, metrics and the test API server all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .normalize import (
    CiliumPolicyRecord,
    ClusterPolicyRecord,
    NamespaceRecord,
    NetworkPolicyRecord,
    NodeRecord,
    PodRecord,
    ServiceRecord,
)


@dataclass(frozen=True, slots=True)
class Kind:
    kind: str
    record: type
    argument: str  # keyword of ClusterModel.from_objects
    count_field: str  # field of a stored snapshot, and the metrics' "kind" label without "_count"
    plural: str  # the API's resource name
    group: str  # "" is the core group
    version: str
    optional: bool  # a snapshot can do without it: absence or a 403 is a warning
    # Listed only when the server's discovery (/apis) offers its group and version: a
    # cluster without that API is normal, not a warning.
    discovered: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path(self) -> str:
        """The URL path of the all-namespaces list."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{prefix}/{self.plural}"


# In the order collectors fetch them.
KIND_TABLE: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Namespace", NamespaceRecord, "namespaces", "namespace_count", "namespaces", "", "v1", False),
        Kind("Node", NodeRecord, "nodes", "node_count", "nodes", "", "v1", True),
        Kind("Pod", PodRecord, "pods", "pod_count", "pods", "", "v1", False),
        Kind("NetworkPolicy", NetworkPolicyRecord, "policies", "policy_count", "networkpolicies",
             "networking.k8s.io", "v1", False),
        Kind("Service", ServiceRecord, "services", "service_count", "services", "", "v1", True),
        # The cluster-wide policies of the policy.networking.k8s.io group (the engine's
        # tiers.py): three kinds, one ``from_objects`` argument and one snapshot count.
        Kind("ClusterNetworkPolicy", ClusterPolicyRecord, "cluster_policies",
             "cluster_policy_count", "clusternetworkpolicies", "policy.networking.k8s.io",
             "v1alpha2", True, True),
        Kind("AdminNetworkPolicy", ClusterPolicyRecord, "cluster_policies",
             "cluster_policy_count", "adminnetworkpolicies", "policy.networking.k8s.io",
             "v1alpha1", True, True),
        Kind("BaselineAdminNetworkPolicy", ClusterPolicyRecord, "cluster_policies",
             "cluster_policy_count", "baselineadminnetworkpolicies",
             "policy.networking.k8s.io", "v1alpha1", True, True),
    )
}
KINDS = tuple(KIND_TABLE)

# Cilium's policies (the engine's cilium.py), given to
# ``ClusterModel.from_objects(cilium_policies=...)``: the manifests collector reads them
# when asked (``netaudit``); snapshots do not store them yet, so a snapshot's collector
# skips them with a warning.
CLUSTER_POLICY_TABLE: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("CiliumNetworkPolicy", CiliumPolicyRecord, "cilium_policies", "",
             "ciliumnetworkpolicies", "cilium.io", "v2", True),
        Kind("CiliumClusterwideNetworkPolicy", CiliumPolicyRecord, "cilium_policies", "",
             "ciliumclusterwidenetworkpolicies", "cilium.io", "v2", True),
    )
}
OPTIONAL_KINDS = frozenset(k for k, info in KIND_TABLE.items() if info.optional)
