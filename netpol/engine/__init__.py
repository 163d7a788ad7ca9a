"""The policy engine: exact NetworkPolicy semantics on plain data, no Django.

Entry point: ``ClusterModel.from_objects(...)`` (see ``cluster.py``). Everything a caller
outside the engine needs is exported here; the submodules are the engine's own:

* ``model``      parsing raw API objects, validation errors (``PolicyError``)
* ``workloads``  which workload a pod belongs to
* ``selectors``  label selectors, per object and as bitsets over a population
* ``ports``      port entries, named ports, port sets over TCP/UDP/SCTP
* ``ipsets``     IPv4/IPv6 interval sets (ipBlock with except)
* ``classes``    pod equivalence classes
* ``evaluate``   the fast class/bitset evaluation
* ``tiers``      ClusterNetworkPolicy / AdminNetworkPolicy tiers around NetworkPolicy
* ``reference``  a plain per-pod evaluation the property tests compare against
* ``explain``    ``reach`` verdicts with the deciding policies and rules
* ``allowed``    the compact allowed set, graph edges, the matrix
* ``exposure``   external CIDRs per pod and port
* ``compact``    the stored form of a built model (``model_to_bytes``, ``model_from_bytes``)
* ``incremental`` a model with some policies changed, from its base (``with_policies``)
"""

from .allowed import AllowedConnections
from .calico import cluster_tier_name
from .cluster import (
    CATEGORIES,
    NO_TRAFFIC_CATEGORY,
    UNDEFINED_CATEGORY,
    ClusterModel,
    PodIsolation,
    isolation_category,
)
from .compact import model_from_bytes, model_to_bytes
from .evaluate import EGRESS, INGRESS, CompiledRule, Evaluation
from .explain import Verdict
from .exposure import ExternalExposure
from .gcpause import gc_paused
from .incremental import changed_edges
from .ipsets import ALL_IPS, IPV4_BASE, NO_IPS, IPSet, cidr_set, int_to_ip, ip_to_int
from .model import (
    ACTIVE,
    FROM_TEMPLATE_ANNOTATION,
    HOST_NETWORK,
    INACTIVE,
    NAMESPACE_NAME_LABEL,
    InputError,
    Pod,
    Policy,
    PolicyError,
    parse_policy,
)
from .ports import ALL_PORTS, NO_PORTS, PROTOCOLS, PortSet
from .ranges import DeclaredCidrs, infer_pod_cidrs
from .selectors import LabelIndex, Selector
from .tiers import (
    BASELINE_TIER,
    CLUSTER_POLICY_KINDS,
    DENY_ACTION,
    PASS_ACTION,
    ClusterPolicy,
    parse_cluster_policy,
)
from .workloads import controlling_workload, owning_workload

__all__ = [
    "cluster_tier_name",
    "BASELINE_TIER",
    "DENY_ACTION",
    "PASS_ACTION",
    "ACTIVE",
    "ALL_IPS",
    "ALL_PORTS",
    "CATEGORIES",
    "CLUSTER_POLICY_KINDS",
    "EGRESS",
    "FROM_TEMPLATE_ANNOTATION",
    "HOST_NETWORK",
    "INACTIVE",
    "INGRESS",
    "IPV4_BASE",
    "NAMESPACE_NAME_LABEL",
    "NO_IPS",
    "NO_PORTS",
    "NO_TRAFFIC_CATEGORY",
    "PROTOCOLS",
    "UNDEFINED_CATEGORY",
    "AllowedConnections",
    "ClusterModel",
    "ClusterPolicy",
    "CompiledRule",
    "DeclaredCidrs",
    "Evaluation",
    "ExternalExposure",
    "IPSet",
    "InputError",
    "LabelIndex",
    "Pod",
    "PodIsolation",
    "Policy",
    "PolicyError",
    "PortSet",
    "Selector",
    "infer_pod_cidrs",
    "Verdict",
    "changed_edges",
    "cidr_set",
    "controlling_workload",
    "gc_paused",
    "int_to_ip",
    "ip_to_int",
    "model_from_bytes",
    "model_to_bytes",
    "isolation_category",
    "owning_workload",
    "parse_cluster_policy",
    "parse_policy",
]
