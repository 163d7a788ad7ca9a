"""Raw API objects to compact records: keep what analysis needs, drop the rest.

Records are plain dataclasses so the engine, the snapshot writer and the tests can all
use them without Django. ``PodRecord.to_api()`` and friends rebuild the minimal API
shape the policy engine reads, so a stored snapshot and a YAML file mean the same.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netpol.engine import CLUSTER_POLICY_KINDS, FROM_TEMPLATE_ANNOTATION, controlling_workload

from .base import CollectionError
from .validate import NAME_RULE, as_name, labels_problem, name_problem


@dataclass(slots=True)
class NamespaceRecord:
    name: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_api(self) -> dict:
        return {"kind": "Namespace", "metadata": {"name": self.name, "labels": dict(self.labels)}}


@dataclass(slots=True)
class PodRecord:
    namespace: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    ips: list[str] = field(default_factory=list)
    host_network: bool = False
    phase: str = ""
    node_name: str = ""
    workload_kind: str = ""
    workload_name: str = ""
    # [{"name": "http", "port": 8080, "protocol": "TCP"}]; unnamed ports have name "".
    container_ports: list[dict] = field(default_factory=list)
    from_template: bool = False
    service_account: str = ""  # spec.serviceAccountName: Calico's serviceAccountSelector

    def to_api(self) -> dict:
        metadata = {"name": self.name, "namespace": self.namespace, "labels": dict(self.labels)}
        if self.workload_kind:
            metadata["ownerReferences"] = [{"kind": self.workload_kind, "name": self.workload_name}]
        if self.from_template:
            metadata["annotations"] = {FROM_TEMPLATE_ANNOTATION: "true"}
        ports = [
            {
                k: v
                for k, v in (
                    ("name", p["name"]),
                    ("containerPort", p["port"]),
                    ("protocol", p["protocol"]),
                )
                if v
            }
            for p in self.container_ports
        ]
        return {
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                **({"serviceAccountName": self.service_account} if self.service_account else {}),
                "nodeName": self.node_name,
                "hostNetwork": self.host_network,
                "containers": [{"name": "c", "ports": ports}],
            },
            "status": {
                "phase": self.phase,
                "podIPs": [{"ip": ip} for ip in self.ips],
                **({"podIP": self.ips[0]} if self.ips else {}),
            },
        }


@dataclass(slots=True)
class NetworkPolicyRecord:
    namespace: str
    name: str
    spec: dict = field(default_factory=dict)  # verbatim, as the API or file gave it

    def to_api(self) -> dict:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self.spec,
        }


@dataclass(slots=True)
class NodeRecord:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    pod_cidrs: list[str] = field(default_factory=list)
    internal_ips: list[str] = field(default_factory=list)
    external_ips: list[str] = field(default_factory=list)

    def to_api(self) -> dict:
        addresses = [{"type": "InternalIP", "address": a} for a in self.internal_ips]
        addresses += [{"type": "ExternalIP", "address": a} for a in self.external_ips]
        return {
            "kind": "Node",
            "metadata": {"name": self.name, "labels": dict(self.labels)},
            "spec": {
                "podCIDRs": list(self.pod_cidrs),
                **({"podCIDR": self.pod_cidrs[0]} if self.pod_cidrs else {}),
            },
            "status": {"addresses": addresses},
        }


@dataclass(slots=True)
class ServiceRecord:
    namespace: str
    name: str
    type: str = "ClusterIP"
    cluster_ips: list[str] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=dict)
    # [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    ports: list[dict] = field(default_factory=list)

    def to_api(self) -> dict:
        return {
            "kind": "Service",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "type": self.type,
                "clusterIPs": list(self.cluster_ips),
                "selector": dict(self.selector),
                "ports": [dict(p) for p in self.ports],
            },
        }


@dataclass(slots=True)
class ClusterPolicyRecord:
    """A ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy."""

    kind: str
    name: str
    spec: dict = field(default_factory=dict)  # verbatim, as the API or file gave it

    def to_api(self) -> dict:
        version = "v1alpha2" if self.kind == "ClusterNetworkPolicy" else "v1alpha1"
        return {
            "apiVersion": f"policy.networking.k8s.io/{version}",
            "kind": self.kind,
            "metadata": {"name": self.name},
            "spec": self.spec,
        }


@dataclass(slots=True)
class CiliumPolicyRecord:
    """A CiliumNetworkPolicy (namespaced) or CiliumClusterwideNetworkPolicy."""

    kind: str
    namespace: str  # "" for CiliumClusterwideNetworkPolicy
    name: str
    spec: dict | None = None  # verbatim, as the API or file gave it
    specs: list | None = None  # the list form: several rules in one object

    def to_api(self) -> dict:
        metadata = {"name": self.name}
        if self.namespace:
            metadata["namespace"] = self.namespace
        out: dict = {"apiVersion": "cilium.io/v2", "kind": self.kind, "metadata": metadata}
        if self.spec is not None:
            out["spec"] = self.spec
        if self.specs is not None:
            out["specs"] = self.specs
        return out


@dataclass(slots=True)
class CalicoRecord:
    """A Calico object: a (Global)NetworkPolicy, Tier, (Global)NetworkSet or a Staged*
    policy, as ``projectcalico.org/v3`` or ``crd.projectcalico.org/v1`` served it."""

    kind: str
    api_version: str  # as found: the engine reads a v1 name's tier prefix
    namespace: str  # "" for the cluster-wide kinds
    name: str
    labels: dict[str, str] = field(default_factory=dict)  # network sets are selected by them
    spec: dict = field(default_factory=dict)  # verbatim, as the API or file gave it

    def to_api(self) -> dict:
        metadata: dict = {"name": self.name}
        if self.namespace:
            metadata["namespace"] = self.namespace
        if self.labels:
            metadata["labels"] = dict(self.labels)
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": metadata,
            "spec": self.spec,
        }


@dataclass(slots=True)
class ServiceAccountRecord:
    namespace: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_api(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": dict(self.labels),
            },
        }


Record = (
    NamespaceRecord
    | PodRecord
    | NetworkPolicyRecord
    | NodeRecord
    | ServiceRecord
    | ClusterPolicyRecord
    | CiliumPolicyRecord
    | CalicoRecord
    | ServiceAccountRecord
)

CALICO_API_VERSIONS = ("projectcalico.org/v3", "crd.projectcalico.org/v1")
# Calico's kinds that live in a namespace; the others are cluster-wide.
CALICO_NAMESPACED = frozenset(
    {"NetworkPolicy", "NetworkSet", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy"}
)
CALICO_KINDS = CALICO_NAMESPACED | {
    "GlobalNetworkPolicy",
    "GlobalNetworkSet",
    "Tier",
    "StagedGlobalNetworkPolicy",
}


def _meta(obj: dict, kind: str, *, namespaced: bool) -> tuple[str, str, dict]:
    """Name, namespace and labels, each checked as the API server checks them."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        raise CollectionError(f"{kind} without metadata.name")
    name = str(metadata["name"])
    if problem := name_problem(name, NAME_RULE[kind]):
        raise CollectionError(f"{kind} metadata.name: {problem}")
    namespace = str(metadata.get("namespace") or ("default" if namespaced else ""))
    if namespaced and (problem := name_problem(namespace, "label")):
        raise CollectionError(f"{kind} {name}: metadata.namespace: {problem}")
    labels = metadata.get("labels") or {}
    if not isinstance(labels, dict):
        raise CollectionError(f"{kind} {name}: metadata.labels is not a mapping")
    labels = {str(k): str(v) for k, v in labels.items()}
    if problem := labels_problem(labels):
        raise CollectionError(f"{kind} {name}: metadata.labels: {problem}")
    return name, namespace, labels


def _checked_ips(values: list[str], field: str, *, network: bool = False) -> list[str]:
    """The values, once each is a valid address (or CIDR); the error names the field."""
    check = ipaddress.ip_network if network else ipaddress.ip_address
    for value in values:
        try:
            check(value, strict=False) if network else check(value)
        except ValueError:
            what = "a CIDR" if network else "an IP address"
            raise CollectionError(f"{field}: {value!r} is not {what}") from None
    return values


def _container_ports(spec: dict) -> list[dict]:
    ports = []
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for p in container.get("ports") or []:
            number = p.get("containerPort")
            if not isinstance(number, int):
                continue
            ports.append(
                {
                    "name": p.get("name") or "",
                    "port": number,
                    "protocol": p.get("protocol") or "TCP",
                }
            )
    return ports


def normalize(kind: str, obj: dict) -> Record:
    """One raw API object of ``kind`` (a ``KIND_TABLE`` key) to its record; raises
    CollectionError on a malformed object."""
    if not isinstance(obj, dict):
        raise CollectionError(f"{kind} is not a mapping")
    try:
        return _normalize(kind, obj)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # A field of the wrong type (a mapping where a list belongs, say).
        name = (
            (obj.get("metadata") or {}).get("name", "?")
            if isinstance(obj.get("metadata"), dict)
            else "?"
        )
        raise CollectionError(
            f"{kind} {as_name(str(name))}: malformed object ({type(exc).__name__}: {exc})"
        ) from None


def _normalize(kind: str, obj: dict) -> Record:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if kind == "Namespace":
        name, _, labels = _meta(obj, kind, namespaced=False)
        return NamespaceRecord(name=name, labels=labels)
    if kind == "Pod":
        name, namespace, labels = _meta(obj, kind, namespaced=True)
        metadata = obj["metadata"]
        ips = [p["ip"] for p in status.get("podIPs") or [] if p.get("ip")]
        if not ips and status.get("podIP"):
            ips = [status["podIP"]]
        _checked_ips(ips, f"Pod {namespace}/{name}: status.podIPs")
        workload_kind, workload_name = controlling_workload(metadata, labels)
        if workload_name and (problem := name_problem(workload_name, "subdomain")):
            raise CollectionError(f"Pod {namespace}/{name}: metadata.ownerReferences name: {problem}")
        return PodRecord(
            namespace=namespace,
            name=name,
            labels=labels,
            ips=ips,
            host_network=bool(spec.get("hostNetwork")),
            phase=status.get("phase") or "",
            node_name=spec.get("nodeName") or "",
            workload_kind=workload_kind,
            workload_name=workload_name,
            container_ports=_container_ports(spec),
            from_template=(metadata.get("annotations") or {}).get(FROM_TEMPLATE_ANNOTATION)
            == "true",
            service_account=_service_account(spec, f"Pod {namespace}/{name}"),
        )
    if kind == "NetworkPolicy":
        name, namespace, _ = _meta(obj, kind, namespaced=True)
        if not isinstance(obj.get("spec", {}), dict):
            raise CollectionError(f"NetworkPolicy {namespace}/{name}: spec is not a mapping")
        return NetworkPolicyRecord(namespace=namespace, name=name, spec=obj.get("spec") or {})
    if kind == "Node":
        name, _, labels = _meta(obj, kind, namespaced=False)
        cidrs = list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        _checked_ips(cidrs, f"Node {name}: spec.podCIDRs", network=True)
        addresses = status.get("addresses") or []
        return NodeRecord(
            name=name,
            labels=labels,
            pod_cidrs=cidrs,
            internal_ips=_checked_ips(
                [a["address"] for a in addresses if a.get("type") == "InternalIP"],
                f"Node {name}: status.addresses (InternalIP)",
            ),
            external_ips=_checked_ips(
                [a["address"] for a in addresses if a.get("type") == "ExternalIP"],
                f"Node {name}: status.addresses (ExternalIP)",
            ),
        )
    if kind == "Service":
        name, namespace, _ = _meta(obj, kind, namespaced=True)
        cluster_ips = list(
            spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        )
        return ServiceRecord(
            namespace=namespace,
            name=name,
            type=spec.get("type") or "ClusterIP",
            cluster_ips=_checked_ips(
                [ip for ip in cluster_ips if ip and ip != "None"],
                f"Service {namespace}/{name}: spec.clusterIPs",
            ),
            selector={str(k): str(v) for k, v in (spec.get("selector") or {}).items()},
            ports=[
                {k: p[k] for k in ("name", "port", "targetPort", "protocol") if k in p}
                for p in spec.get("ports") or []
            ],
        )
    if kind in CLUSTER_POLICY_KINDS:
        name, _, _ = _meta(obj, kind, namespaced=False)
        if not isinstance(obj.get("spec", {}), dict):
            raise CollectionError(f"{kind} {name}: spec is not a mapping")
        return ClusterPolicyRecord(kind=kind, name=name, spec=obj.get("spec") or {})
    if kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
        namespaced = kind == "CiliumNetworkPolicy"
        name, namespace, _ = _meta(obj, kind, namespaced=namespaced)
        spec, specs = obj.get("spec"), obj.get("specs")
        if spec is not None and not isinstance(spec, dict):
            raise CollectionError(f"{kind} {name}: spec is not a mapping")
        if specs is not None and not isinstance(specs, list):
            raise CollectionError(f"{kind} {name}: specs is not a list")
        return CiliumPolicyRecord(kind, namespace if namespaced else "", name, spec, specs)
    if kind == "ServiceAccount":
        name, namespace, labels = _meta(obj, kind, namespaced=True)
        return ServiceAccountRecord(namespace=namespace, name=name, labels=labels)
    calico_kind = kind.removeprefix("projectcalico.org/")
    if calico_kind in CALICO_KINDS and calico_kind != kind:
        return _calico(calico_kind, obj)
    raise CollectionError(f"unsupported kind {kind!r}")


def _calico(kind: str, obj: dict) -> CalicoRecord:
    namespaced = kind in CALICO_NAMESPACED
    name, namespace, labels = _meta(obj, kind, namespaced=namespaced)
    shown = f"{kind} {namespace}/{name}" if namespaced else f"{kind} {name}"
    api_version = obj.get("apiVersion") or CALICO_API_VERSIONS[0]
    if api_version not in CALICO_API_VERSIONS:
        raise CollectionError(
            f"{shown}: apiVersion {api_version!r} is not Calico's "
            f"({' or '.join(CALICO_API_VERSIONS)})"
        )
    if not isinstance(obj.get("spec", {}), dict):
        raise CollectionError(f"{shown}: spec is not a mapping")
    return CalicoRecord(
        kind=kind,
        api_version=api_version,
        namespace=namespace if namespaced else "",
        name=name,
        labels=labels,
        spec=obj.get("spec") or {},
    )


def _service_account(spec: dict, shown: str) -> str:
    """``spec.serviceAccountName`` (or the deprecated ``serviceAccount``), checked."""
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or ""
    if not isinstance(name, str):
        raise CollectionError(f"{shown}: spec.serviceAccountName is not a string")
    if name and (problem := name_problem(name, "subdomain")):
        raise CollectionError(f"{shown}: spec.serviceAccountName: {problem}")
    return name
