"""Parsed cluster objects and the parsing of raw API dicts into them.

Input is what the API server or a YAML file gives (camelCase dicts); records from
``netpol.collect.normalize`` are accepted through their ``to_api()``. Both sources
must mean the same, so the parser follows the API's defaulting: the API drops empty lists
(``ingress: []`` comes back absent) and fills in ``policyTypes``, therefore isolation is
read from ``policyTypes`` when present and defaulted from the rules when absent.

Invalid policy content never crashes the analysis. It is recorded as a ``PolicyError``
naming the policy and the field, and given the narrowest meaning:

1. An invalid selector, peer, port entry or rule matches nothing; the rest of the policy
   still applies (its pods stay isolated), so an error never widens what is allowed.
2. An ``except`` entry outside its ``cidr`` (the API rejects it) is applied as a set
   difference, which removes only what lies inside the cidr.
3. A policy whose own ``podSelector`` or ``policyTypes`` is invalid is ignored, as the
   API server would refuse the whole object: we cannot know which pods it meant.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from dataclasses import field as dc_field

from .ipsets import NO_IPS, IPSet, ip_to_int
from .ports import PortSpec, parse_port
from .selectors import Selector, parse_selector
from .workloads import controlling_workload

FROM_TEMPLATE_ANNOTATION = "netpol-auditor.io/from-template"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# Pod states. Only ACTIVE pods take part in traffic.
ACTIVE = "active"
HOST_NETWORK = "host-network"
INACTIVE = "inactive"


class InputError(ValueError):
    """An object the engine cannot read at all (not a mapping, no name, a bad address)."""


@dataclass(frozen=True, slots=True)
class PolicyError:
    """A part of a NetworkPolicy the API server would reject; reported, never raised."""

    policy: str  # "namespace/name"
    field: str  # "spec.ingress[0].from[1].ipBlock.except[0]"
    message: str
    kind: str = "NetworkPolicy"  # or a cluster policy kind (tiers.py), "cnp/name" in policy

    def __str__(self) -> str:
        return f"{self.kind} {self.policy}: {self.field}: {self.message}"

    def to_dict(self) -> dict:
        return {"policy": self.policy, "field": self.field, "message": self.message}


@dataclass(slots=True)
class Namespace:
    name: str
    labels: dict[str, str]


@dataclass(slots=True)
class Node:
    name: str
    pod_cidrs: list[str]
    addresses: list[str]
    labels: dict[str, str] = dc_field(default_factory=dict)  # for cluster policies' nodes peers


@dataclass(slots=True)
class Service:
    namespace: str
    name: str
    cluster_ips: list[str]


@dataclass(slots=True, eq=False)
class Pod:
    namespace: str
    name: str
    labels: dict[str, str]
    ips: tuple[str, ...] = ()
    host_network: bool = False
    phase: str = ""
    node_name: str = ""
    # {(name, protocol, number)} of the named container ports.
    named_ports: frozenset[tuple[str, str, int]] = frozenset()
    from_template: bool = False
    workload: str = ""  # "Deployment/web", or "" when the pod has no owner (workloads.py)
    ip_values: tuple[int, ...] = ()
    # spec.serviceAccountName; Kubernetes runs a pod without one as "default".
    service_account: str = "default"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def workload_id(self) -> str:
        """``Kind/name`` of the pod's workload; a pod without an owner is ``Pod/name``."""
        return self.workload or f"Pod/{self.name}"

    @property
    def workload_key(self) -> str:
        """``namespace/Kind/name``: the workload as graph edges and what-if name it."""
        return f"{self.namespace}/{self.workload_id}"

    @property
    def state(self) -> str:
        """ACTIVE, HOST_NETWORK or INACTIVE.

        A pod synthesised from a workload template (no live pod was given) counts as
        running with an unknown IP. A pod with an IP and no phase (hand-written YAML) counts
        as running; any other phase, or no IP, takes it out of traffic.
        """
        if self.host_network:
            return HOST_NETWORK
        if self.from_template:
            return ACTIVE
        if self.ips and self.phase in ("", "Running"):
            return ACTIVE
        return INACTIVE

    @property
    def inactive_reason(self) -> str:
        if not self.ips:
            return "has no IP"
        return f"is {self.phase or 'not running'}"


@dataclass(frozen=True, slots=True)
class Peer:
    """One entry of ``from``/``to``. Selectors are None when absent; an invalid peer has
    ``valid=False`` and matches nothing."""

    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPSet | None = None
    ip_block_text: dict | None = None
    valid: bool = True

    def to_dict(self) -> dict:
        out: dict = {}
        if self.pod_selector is not None:
            out["podSelector"] = self.pod_selector.to_dict()
        if self.namespace_selector is not None:
            out["namespaceSelector"] = self.namespace_selector.to_dict()
        if self.ip_block_text is not None:
            out["ipBlock"] = self.ip_block_text
        return out


@dataclass(frozen=True, slots=True)
class Rule:
    """An ingress or egress rule. ``peers``/``ports`` None means "every peer"/"every port"
    (the field was missing or empty). An invalid rule matches nothing."""

    index: int
    peers: tuple[Peer, ...] | None = None
    ports: tuple[PortSpec, ...] | None = None
    valid: bool = True

    @property
    def has_named_ports(self) -> bool:
        return bool(self.ports) and any(p.named for p in self.ports)


@dataclass(slots=True, eq=False)
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    affects_ingress: bool
    affects_egress: bool
    id: int = -1

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _api(obj):
    """Records from netpol.collect.normalize carry ``to_api()``; dicts pass through."""
    return obj.to_api() if hasattr(obj, "to_api") else obj


def _metadata(obj, kind: str, *, namespaced: bool) -> tuple[str, str, dict, dict]:
    if not isinstance(obj, dict):
        raise InputError(f"{kind}: not a mapping")
    md = obj.get("metadata")
    if not isinstance(md, dict) or not md.get("name") or not isinstance(md["name"], str):
        raise InputError(f"{kind}: metadata.name is missing")
    labels = md.get("labels") or {}
    if not isinstance(labels, dict):
        raise InputError(f"{kind} {md['name']}: metadata.labels is not a mapping")
    namespace = (md.get("namespace") or "default") if namespaced else ""
    if not isinstance(namespace, str):
        raise InputError(f"{kind} {md['name']}: metadata.namespace is not a string")
    return md["name"], namespace, {str(k): str(v) for k, v in labels.items()}, md


def parse_namespace(obj) -> Namespace:
    """The API server always sets kubernetes.io/metadata.name to the name; so do we, so
    hand-written namespaces select the same as live ones."""
    name, _, labels, _ = _metadata(_api(obj), "Namespace", namespaced=False)
    labels[NAMESPACE_NAME_LABEL] = name
    return Namespace(name=name, labels=labels)


def parse_node(obj) -> Node:
    obj = _api(obj)
    name, _, labels, _ = _metadata(obj, "Node", namespaced=False)
    spec = obj.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
    addresses = [
        a["address"]
        for a in (obj.get("status") or {}).get("addresses") or []
        if isinstance(a, dict)
        and a.get("type") in ("InternalIP", "ExternalIP")
        and a.get("address")
    ]
    for value in addresses:
        _check_ip(value, f"Node {name}: status.addresses")
    for value in cidrs:
        try:
            IPSet.from_cidr(value)
        except ValueError:
            raise InputError(f"Node {name}: spec.podCIDRs: {value!r} is not a CIDR") from None
    return Node(name=name, pod_cidrs=cidrs, addresses=addresses, labels=labels)


def parse_service(obj) -> Service:
    obj = _api(obj)
    name, namespace, _, _ = _metadata(obj, "Service", namespaced=True)
    spec = obj.get("spec") or {}
    ips = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
    ips = [ip for ip in ips if ip and ip != "None"]
    for value in ips:
        _check_ip(value, f"Service {namespace}/{name}: spec.clusterIPs")
    return Service(namespace=namespace, name=name, cluster_ips=ips)


def _check_ip(value, where: str) -> int:
    try:
        return ip_to_int(value)
    except (ValueError, AttributeError):
        raise InputError(f"{where}: {value!r} is not an IP address") from None


def _workload(md: dict, labels: dict[str, str]) -> str:
    kind, name = controlling_workload(md, labels)
    return f"{kind}/{name}" if kind or name else ""


def parse_pod(obj) -> Pod:
    obj = _api(obj)
    name, namespace, labels, md = _metadata(obj, "Pod", namespaced=True)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ips = [p["ip"] for p in status.get("podIPs") or () if isinstance(p, dict) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    values = tuple(_check_ip(ip, f"Pod {namespace}/{name}: status.podIPs") for ip in ips)
    named = set()
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for p in container.get("ports") or ():
            if p.get("name") and isinstance(p.get("containerPort"), int):
                named.add((p["name"], p.get("protocol") or "TCP", p["containerPort"]))
    annotations = md.get("annotations") or {}
    service_account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    if not isinstance(service_account, str):
        raise InputError(f"Pod {namespace}/{name}: spec.serviceAccountName is not a string")
    return Pod(
        namespace=namespace,
        name=name,
        labels=labels,
        ips=tuple(ips),
        host_network=bool(spec.get("hostNetwork")),
        phase=status.get("phase") or "",
        node_name=spec.get("nodeName") or "",
        named_ports=frozenset(named),
        from_template=annotations.get(FROM_TEMPLATE_ANNOTATION) == "true",
        workload=_workload(md, labels),
        ip_values=values,
        service_account=service_account,
    )


def parse_policy(obj) -> tuple[Policy | None, list[PolicyError]]:
    """A NetworkPolicy and the problems found in it (see the module docstring)."""
    obj = _api(obj)
    name, namespace, _, _ = _metadata(obj, "NetworkPolicy", namespaced=True)
    key = f"{namespace}/{name}"
    problems: list[tuple[str, str]] = []

    def report():
        return [PolicyError(key, f, m) for f, m in problems]

    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        problems.append(("spec", "must be a mapping; policy ignored"))
        return None, report()
    before = len(problems)
    pod_selector = parse_selector(spec.get("podSelector") or {}, "spec.podSelector", problems)
    types = spec.get("policyTypes") or []
    if not isinstance(types, list) or any(t not in ("Ingress", "Egress") for t in types):
        problems.append(("spec.policyTypes", f"{types!r}: entries must be Ingress or Egress"))
    if len(problems) > before:
        problems[-1] = (problems[-1][0], problems[-1][1] + "; policy ignored")
        return None, report()

    ingress = _parse_rules(spec.get("ingress"), "spec.ingress", "from", namespace, problems)
    egress = _parse_rules(spec.get("egress"), "spec.egress", "to", namespace, problems)
    if types:
        affects_ingress, affects_egress = "Ingress" in types, "Egress" in types
    else:
        # Defaulting: Ingress always; Egress when the policy has egress rules.
        affects_ingress, affects_egress = True, bool(spec.get("egress"))
    policy = Policy(
        namespace=namespace,
        name=name,
        pod_selector=pod_selector,
        ingress=ingress if affects_ingress else (),
        egress=egress if affects_egress else (),
        affects_ingress=affects_ingress,
        affects_egress=affects_egress,
    )
    return policy, report()


def _parse_rules(rules, path: str, peers_key: str, namespace: str, problems) -> tuple[Rule, ...]:
    if rules is None:
        return ()
    if not isinstance(rules, list):
        problems.append((path, "must be a list; no rule of this direction matches"))
        return (Rule(index=0, valid=False),)
    out = []
    for i, rule in enumerate(rules):
        where = f"{path}[{i}]"
        if rule is None:
            rule = {}
        if not isinstance(rule, dict):
            problems.append((where, "must be a mapping; the rule matches nothing"))
            out.append(Rule(index=i, valid=False))
            continue
        peers = rule.get(peers_key)
        ports = rule.get("ports")
        if peers is not None and not isinstance(peers, list):
            problems.append((f"{where}.{peers_key}", "must be a list; the rule matches nothing"))
            out.append(Rule(index=i, valid=False))
            continue
        if ports is not None and not isinstance(ports, list):
            problems.append((f"{where}.ports", "must be a list; the rule matches nothing"))
            out.append(Rule(index=i, valid=False))
            continue
        out.append(
            Rule(
                index=i,
                peers=tuple(
                    _parse_peer(p, f"{where}.{peers_key}[{j}]", problems)
                    for j, p in enumerate(peers)
                )
                if peers
                else None,
                ports=tuple(
                    parse_port(p, f"{where}.ports[{j}]", problems) for j, p in enumerate(ports)
                )
                if ports
                else None,
            )
        )
    return tuple(out)


_INVALID_PEER = Peer(valid=False)


def _parse_peer(obj, path: str, problems) -> Peer:
    if not isinstance(obj, dict):
        problems.append((path, "must be a mapping; the peer matches nothing"))
        return _INVALID_PEER
    kinds = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if obj.get(k) is not None]
    if not kinds:
        problems.append(
            (path, "needs podSelector, namespaceSelector or ipBlock; the peer matches nothing")
        )
        return _INVALID_PEER
    if "ipBlock" in kinds and len(kinds) > 1:
        problems.append(
            (path, "ipBlock cannot be combined with a selector; the peer matches nothing")
        )
        return _INVALID_PEER
    if "ipBlock" in kinds:
        return _parse_ip_block(obj["ipBlock"], f"{path}.ipBlock", problems)
    before = len(problems)
    pod_sel = (
        parse_selector(obj["podSelector"], f"{path}.podSelector", problems)
        if "podSelector" in kinds
        else None
    )
    ns_sel = (
        parse_selector(obj["namespaceSelector"], f"{path}.namespaceSelector", problems)
        if "namespaceSelector" in kinds
        else None
    )
    if len(problems) > before:
        problems[-1] = (problems[-1][0], problems[-1][1] + "; the peer matches nothing")
        return _INVALID_PEER
    return Peer(pod_selector=pod_sel, namespace_selector=ns_sel)


def _parse_ip_block(block, path: str, problems) -> Peer:
    if not isinstance(block, dict):
        problems.append((path, "must be a mapping; the peer matches nothing"))
        return _INVALID_PEER
    cidr = block.get("cidr")
    try:
        net = (
            ipaddress.ip_network(cidr.strip(), strict=False)
            if isinstance(cidr, str) and "/" in cidr
            else None
        )
    except ValueError:
        net = None
    if net is None:
        problems.append((f"{path}.cidr", f"{cidr!r} is not a CIDR; the peer matches nothing"))
        return _INVALID_PEER
    excepts = block.get("except") or []
    if not isinstance(excepts, list):
        problems.append((f"{path}.except", "must be a list; the peer matches nothing"))
        return _INVALID_PEER
    allowed = IPSet.from_cidr(cidr)
    removed = NO_IPS
    for i, text in enumerate(excepts):
        where = f"{path}.except[{i}]"
        try:
            sub = ipaddress.ip_network(text.strip(), strict=False)
        except (ValueError, AttributeError):
            problems.append((where, f"{text!r} is not a CIDR; the peer matches nothing"))
            return _INVALID_PEER
        if sub.version != net.version or not sub.subnet_of(net) or sub.prefixlen <= net.prefixlen:
            problems.append(
                (where, f"{text} is not strictly inside {cidr}; applied as a set difference")
            )
        removed = removed | IPSet.from_cidr(text)
    text = {"cidr": cidr, **({"except": list(excepts)} if excepts else {})}
    return Peer(ip_block=allowed - removed, ip_block_text=text)
