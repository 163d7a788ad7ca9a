"""Calico NetworkPolicy and GlobalNetworkPolicy (``projectcalico.org/v3`` and the storage
form ``crd.projectcalico.org/v1``), and Tiers: parsed onto ordered tiers of first-match
rules.

Per side of a connection (ingress at the destination, egress at the source), Calico:

1. walks the tiers by ``order`` (lower first, absent last, then by name);
2. in a tier, takes the policies that select the endpoint and apply to the direction
   (``types``), by ``order`` (absent last, then by name); Kubernetes NetworkPolicies are
   policies of the ``default`` tier at order 1000 whose rules all Allow;
3. the first rule whose match holds decides: ``Allow`` or ``Deny``; ``Pass`` goes to the
   next tier; ``Log`` goes on to the next rule;
4. a tier some policy of which selected the endpoint and where no rule decided ends with
   the tier's ``defaultAction`` (``Deny`` unless the Tier says ``Pass``);
5. after the last tier (or with no policy at all): the namespace's profile, which allows.

This module holds the parsed objects, their parsing and ``CalicoTiers``, the walk on class
bitsets that ``Evaluation.allowed()``/``egress_ips()`` and ``explain`` call;
``reference.calico_side`` is the plain per-pod evaluation written from the documentation.
Decisions: docs/semantics-calico.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .calico_selectors import CalicoSelector, CalicoSelectorError, parse_calico_selector
from .ipsets import IPSet
from .model import InputError, _metadata
from .ports import PROTOCOLS, PortSpec

CALICO_KINDS = {
    "NetworkPolicy": "calico",  # only under a Calico apiVersion
    "GlobalNetworkPolicy": "gnp",
}
CALICO_GROUPS = ("projectcalico.org/v3", "crd.projectcalico.org/v1")
STAGED_KINDS = ("StagedNetworkPolicy", "StagedGlobalNetworkPolicy", "StagedKubernetesNetworkPolicy")
ACTIONS = ("Allow", "Deny", "Pass", "Log")
DEFAULT_TIER = "default"
KUBERNETES_ORDER = 1000.0
# Calico's own tiers for the Kubernetes cluster-wide policies, created by Calico with a
# fixed order and a Pass at their end: the v1alpha1 AdminNetworkPolicy and
# BaselineAdminNetworkPolicy (3.29 to 3.31), then ClusterNetworkPolicy's Admin and
# Baseline tiers (3.32: "kube-admin ... has the order of 1,000 and a default action of
# Pass. This is fixed"). Calico policies may join them too.
CLUSTER_TIERS = {
    ("AdminNetworkPolicy", "Admin"): "adminnetworkpolicy",
    ("BaselineAdminNetworkPolicy", "Baseline"): "baselineadminnetworkpolicy",
    ("ClusterNetworkPolicy", "Admin"): "kube-admin",
    ("ClusterNetworkPolicy", "Baseline"): "kube-baseline",
}
TIER_ORDERS = {
    DEFAULT_TIER: 1_000_000.0,
    "adminnetworkpolicy": 1_000.0,
    "kube-admin": 1_000.0,
    "baselineadminnetworkpolicy": 10_000_000.0,
    "kube-baseline": 10_000_000.0,
}
CLUSTER_ACTIONS = {"Accept": "Allow", "Deny": "Deny", "Pass": "Pass"}
LAST = math.inf


# The labels Calico gives every pod and namespace itself, which its selectors may name
# (Calico's NetworkPolicy reference: "projectcalico.org/name", "projectcalico.org/namespace",
# "projectcalico.org/orchestrator"). A ServiceAccount's are in ``service_account_labels``.
POD_NAMESPACE_LABEL = "projectcalico.org/namespace"
ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"
NAMESPACE_NAME_LABEL = "projectcalico.org/name"


def calico_pod_labels(namespace: str, labels: dict[str, str]) -> dict[str, str]:
    """A pod's labels as Calico's selectors see them."""
    return {**labels, POD_NAMESPACE_LABEL: namespace, ORCHESTRATOR_LABEL: "k8s"}


def calico_namespace_labels(name: str, labels: dict[str, str]) -> dict[str, str]:
    """A namespace's labels as a Calico namespaceSelector sees them."""
    return {**labels, NAMESPACE_NAME_LABEL: name}


class CalicoLabels:
    """An evaluation's label index over classes (pods' labels, or their namespaces'), with
    the labels Calico adds answered from each class's namespace: ``key`` (the namespace's
    name as value) and, for pods, the orchestrator."""

    def __init__(self, base, ns_ranges: dict[str, tuple[int, int]], key: str, pods: bool):
        self.base, self.all, self.size = base, base.all, base.size
        self._ranges, self._key = ns_ranges, key
        self._added = {key} | ({ORCHESTRATOR_LABEL} if pods else set())

    def pair_bits(self, key: str, value: str) -> int:
        if key == self._key:
            lo, hi = self._ranges.get(value, (0, 0))
            return ((1 << hi) - 1) ^ ((1 << lo) - 1)
        if key in self._added:
            return self.all if value == "k8s" else 0
        return self.base.pair_bits(key, value)

    def key_bits(self, key: str) -> int:
        return self.all if key in self._added else self.base.key_bits(key)

    def values_of(self, key: str) -> list[str]:
        if key == self._key:
            return list(self._ranges)
        if key in self._added:
            return ["k8s"]
        return self.base.values_of(key)


def cluster_tier_name(policy) -> str:
    """The Calico tier a ClusterNetworkPolicy (or v1alpha1 ANP/BANP) sits in."""
    return CLUSTER_TIERS[policy.kind, policy.tier]


def builtin_tier(name: str) -> CalicoTier:
    """A tier no Tier object describes: Calico's order for the tiers it creates, else
    last; a Pass at the end of the cluster-wide ones, else Deny."""
    action = "Pass" if name in CLUSTER_TIERS.values() else "Deny"
    return CalicoTier(name, TIER_ORDERS.get(name, LAST), action)


@dataclass(frozen=True, slots=True)
class CalicoTier:
    name: str
    order: float = LAST
    default_action: str = "Deny"  # or "Pass"


@dataclass(frozen=True, slots=True)
class CalicoEntity:
    """A rule's ``source`` or ``destination``: every field given must match (AND)."""

    nets: IPSet | None = None
    not_nets: IPSet | None = None
    selector: CalicoSelector | None = None
    not_selector: CalicoSelector | None = None
    namespace_selector: CalicoSelector | None = None
    ports: tuple[PortSpec, ...] | None = None  # destination ports; None: any
    not_ports: tuple[PortSpec, ...] = ()
    undecided: tuple[str, ...] = ()  # services, source ports
    service_accounts: ServiceAccountMatch | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccountMatch:
    """``serviceAccounts`` in a rule: pods running as a ServiceAccount named in ``names``
    (None: any name) whose labels ``selector`` matches (None: any); both given, both."""

    names: frozenset[str] | None = None
    selector: CalicoSelector | None = None

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return (self.names is None or name in self.names) and (
            self.selector is None or self.selector.matches(labels)
        )


# The label Calico gives every ServiceAccount (and Namespace) with its name, so a
# selector can name one: ``projectcalico.org/name == 'backup'``.
CALICO_NAME_LABEL = "projectcalico.org/name"


@dataclass(frozen=True, slots=True, eq=False)
class CalicoNetworkSet:
    """A NetworkSet (``namespace`` set) or GlobalNetworkSet (``namespace`` None): labels
    that rule selectors match, standing for the addresses in ``nets``."""

    namespace: str | None
    name: str
    labels: dict
    nets: IPSet

    @property
    def key(self) -> str:
        if self.namespace is None:
            return f"globalnetworkset/{self.name}"
        return f"networkset/{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class CalicoRule:
    index: int
    action: str
    protocol: str | None  # TCP, UDP, SCTP; None: any; "other" for ICMP and the rest
    not_protocol: str | None
    source: CalicoEntity
    destination: CalicoEntity
    ip_version: int | None = None
    undecided: tuple[str, ...] = ()  # http match, ...


@dataclass(slots=True, eq=False)
class CalicoPolicy:
    kind: str
    namespace: str | None  # None for GlobalNetworkPolicy
    name: str
    tier: str
    order: float
    selector: CalicoSelector
    namespace_selector: CalicoSelector | None  # GlobalNetworkPolicy only
    types: tuple[str, ...]
    ingress: tuple[CalicoRule, ...]
    egress: tuple[CalicoRule, ...]
    # spec.serviceAccountSelector over the labels of the pods' ServiceAccounts; None: all
    service_account_selector: CalicoSelector | None = None

    @property
    def key(self) -> str:
        short = CALICO_KINDS[self.kind]
        return f"{short}/{self.namespace}/{self.name}" if self.namespace else f"{short}/{self.name}"

    @property
    def precedence(self) -> tuple:
        return (self.order, self.name)


def is_calico(obj) -> bool:
    return isinstance(obj, dict) and obj.get("apiVersion") in CALICO_GROUPS


def parse_tier(obj, error_type):
    """A Tier: (CalicoTier or None, problems)."""
    name, _, _, _ = _metadata(obj, "Tier", namespaced=False)
    spec = obj.get("spec") or {}
    problems = []
    order = spec.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int | float)):
        problems.append(
            error_type(f"tier/{name}", "spec.order", "must be a number; read as last", "Tier")
        )
        order = None
    action = spec.get("defaultAction") or "Deny"
    if action not in ("Deny", "Pass"):
        problems.append(
            error_type(
                f"tier/{name}",
                "spec.defaultAction",
                f"{action!r} is not Deny or Pass; read as Deny",
                "Tier",
            )
        )
        action = "Deny"
    default_order = TIER_ORDERS.get(name, LAST)
    return CalicoTier(name, float(order) if order is not None else default_order, action), problems


def parse_calico_policy(obj, error_type):
    """A Calico NetworkPolicy or GlobalNetworkPolicy and the problems found in it, as
    ``error_type(policy, field, message, kind)``; (None, problems) when it is ignored."""
    if not isinstance(obj, dict):
        raise InputError("Calico policy: not a mapping")
    kind = obj.get("kind")
    if kind in STAGED_KINDS:
        raise InputError(f"{kind}: staged policies are what-if input, never enforced")
    if kind not in CALICO_KINDS:
        raise InputError(f"{kind}: not a Calico policy kind")
    namespaced = kind == "NetworkPolicy"
    name, namespace, _, _ = _metadata(obj, kind, namespaced=namespaced)
    namespace = namespace if namespaced else None
    short = CALICO_KINDS[kind]
    key = f"{short}/{namespace}/{name}" if namespace else f"{short}/{name}"
    problems: list[tuple[str, str]] = []

    def report():
        return [error_type(key, f, m, kind) for f, m in problems]

    def ignored(field, message):
        problems.append((field, message + "; policy ignored"))
        return None, report()

    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return ignored("spec", "must be a mapping")
    tier = spec.get("tier") or DEFAULT_TIER
    if obj.get("apiVersion") == "crd.projectcalico.org/v1" and "." in name:
        # The storage form prefixes the tier: "default.allow-dns", "security.block".
        prefix, _, rest = name.partition(".")
        if prefix == tier:
            name = rest
            key = f"{short}/{namespace}/{name}" if namespace else f"{short}/{name}"
    order = spec.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int | float)):
        return ignored("spec.order", f"{order!r} is not a number")
    account_selector = None
    if spec.get("serviceAccountSelector"):
        try:
            account_selector = parse_calico_selector(spec["serviceAccountSelector"])
        except CalicoSelectorError as exc:
            return ignored("spec.serviceAccountSelector", str(exc))
    for field in ("doNotTrack", "preDNAT"):
        if spec.get(field):
            return ignored(f"spec.{field}", "applies to host endpoints only")
    try:
        selector = parse_calico_selector(spec.get("selector"), default="all()")
    except CalicoSelectorError as exc:
        return ignored("spec.selector", str(exc))
    ns_selector = None
    if not namespaced and spec.get("namespaceSelector"):
        try:
            ns_selector = parse_calico_selector(spec["namespaceSelector"])
        except CalicoSelectorError as exc:
            return ignored("spec.namespaceSelector", str(exc))
    rules = {}
    for direction in ("ingress", "egress"):
        rules[direction] = _parse_rules(spec.get(direction), f"spec.{direction}", problems)
    types = spec.get("types")
    if types is None:
        # Calico's default: Egress when egress rules are present (alone: Egress only);
        # Ingress otherwise and whenever ingress rules are present.
        types = []
        if rules["ingress"] or not rules["egress"]:
            types.append("Ingress")
        if rules["egress"]:
            types.append("Egress")
    if not isinstance(types, list) or any(t not in ("Ingress", "Egress") for t in types):
        return ignored("spec.types", f"{types!r} is not a list of Ingress, Egress")
    policy = CalicoPolicy(
        kind=kind,
        namespace=namespace,
        name=name,
        tier=tier,
        order=float(order) if order is not None else LAST,
        selector=selector,
        namespace_selector=ns_selector,
        types=tuple(t.lower() for t in types),
        ingress=rules["ingress"],
        egress=rules["egress"],
        service_account_selector=account_selector,
    )
    return policy, report()


_MATCH_NOTHING = CalicoEntity(nets=IPSet())


def _parse_rules(rules, path, problems) -> tuple[CalicoRule, ...]:
    if rules is None:
        return ()
    if not isinstance(rules, list):
        problems.append((path, "must be a list; no rule of it applies"))
        return ()
    out = []
    for i, rule in enumerate(rules):
        where = f"{path}[{i}]"
        if not isinstance(rule, dict):
            problems.append((where, "must be a mapping; the rule is skipped"))
            continue
        action = rule.get("action")
        if action not in ACTIONS:
            # Calico's API server refuses it; a Deny of everything is the narrowest reading.
            problems.append(
                (f"{where}.action", f"{action!r} is not one of {', '.join(ACTIONS)}; read as Deny")
            )
            out.append(CalicoRule(i, "Deny", None, None, CalicoEntity(), CalicoEntity()))
            continue
        protocol = _protocol(rule.get("protocol"), f"{where}.protocol", problems)
        not_protocol = _protocol(rule.get("notProtocol"), f"{where}.notProtocol", problems)
        undecided = []
        if rule.get("http"):
            undecided.append(f"HTTP match {where}.http")
        ip_version = rule.get("ipVersion")
        source = _entity(rule.get("source"), f"{where}.source", True, problems)
        destination = _entity(rule.get("destination"), f"{where}.destination", False, problems)
        out.append(
            CalicoRule(
                i,
                action,
                protocol,
                not_protocol,
                source,
                destination,
                ip_version if ip_version in (4, 6) else None,
                tuple(undecided),
            )
        )
    return tuple(out)


def _protocol(value, where, problems) -> str | None:
    if value is None:
        return None
    text = str(value).upper()
    if text in PROTOCOLS:
        return text
    if text in ("6", "17", "132"):
        return {"6": "TCP", "17": "UDP", "132": "SCTP"}[text]
    if text in ("ICMP", "ICMPV6", "UDPLITE") or text.isdigit():
        return "other"  # a protocol outside TCP/UDP/SCTP: no port the engine models
    problems.append((where, f"{value!r} is not a protocol; the rule matches nothing"))
    return "other"


def _entity(obj, where, is_source, problems) -> CalicoEntity:
    if obj is None:
        return CalicoEntity()
    if not isinstance(obj, dict):
        problems.append((where, "must be a mapping; matches nothing"))
        return _MATCH_NOTHING
    out: dict = {}
    undecided = []
    for field, key in (("nets", "nets"), ("notNets", "not_nets")):
        if obj.get(field):
            ips = IPSet()
            for j, cidr in enumerate(obj[field]):
                try:
                    ips = ips | IPSet.from_cidr(
                        cidr if "/" in str(cidr) else f"{cidr}/{128 if ':' in str(cidr) else 32}"
                    )
                except ValueError:
                    problems.append((f"{where}.{field}[{j}]", f"{cidr!r} is not a CIDR; left out"))
            out[key] = ips
    for field, key in (
        ("selector", "selector"),
        ("notSelector", "not_selector"),
        ("namespaceSelector", "namespace_selector"),
    ):
        if obj.get(field):
            try:
                out[key] = parse_calico_selector(obj[field])
            except CalicoSelectorError as exc:
                problems.append((f"{where}.{field}", f"{exc}; matches nothing"))
                return _MATCH_NOTHING
    for field, key in (("ports", "ports"), ("notPorts", "not_ports")):
        if obj.get(field):
            if is_source:
                undecided.append(f"source {field} (source ports are not modelled)")
                continue
            out[key] = tuple(
                _port(p, f"{where}.{field}[{j}]", problems) for j, p in enumerate(obj[field])
            )
    if obj.get("serviceAccounts"):
        accounts = _service_accounts(obj["serviceAccounts"], f"{where}.serviceAccounts", problems)
        if accounts is None:
            return _MATCH_NOTHING
        out["service_accounts"] = accounts
    if obj.get("services"):
        undecided.append("services")
    return CalicoEntity(**out, undecided=tuple(undecided))


def _service_accounts(obj, where, problems) -> ServiceAccountMatch | None:
    """A rule's ``serviceAccounts``; None (the entity matches nothing) when unreadable."""
    if not isinstance(obj, dict):
        problems.append((where, "must be a mapping of names and selector; matches nothing"))
        return None
    names = obj.get("names")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        problems.append((f"{where}.names", "must be a list of names; matches nothing"))
        return None
    selector = None
    if obj.get("selector"):
        try:
            selector = parse_calico_selector(obj["selector"])
        except CalicoSelectorError as exc:
            problems.append((f"{where}.selector", f"{exc}; matches nothing"))
            return None
    return ServiceAccountMatch(frozenset(names) if names else None, selector)


def parse_network_set(obj, error_type):
    """A NetworkSet or GlobalNetworkSet: (CalicoNetworkSet, problems). A CIDR that does
    not parse is left out of the set, and reported."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in ("NetworkSet", "GlobalNetworkSet"):
        raise InputError(f"{kind}: not a Calico network set kind")
    name, namespace, labels, _ = _metadata(obj, kind, namespaced=kind == "NetworkSet")
    found = CalicoNetworkSet(namespace if kind == "NetworkSet" else None, name, labels, IPSet())
    problems = []
    nets = (obj.get("spec") or {}).get("nets") or []
    if not isinstance(nets, list):
        problems.append(error_type(found.key, "spec.nets", "must be a list of CIDRs", kind))
        nets = []
    ips = IPSet()
    for j, cidr in enumerate(nets):
        try:
            text = str(cidr)
            ips = ips | IPSet.from_cidr(
                text if "/" in text else f"{text}/{128 if ':' in text else 32}"
            )
        except ValueError:
            problems.append(
                error_type(found.key, f"spec.nets[{j}]", f"{cidr!r} is not a CIDR; left out", kind)
            )
    return CalicoNetworkSet(found.namespace, name, labels, ips), problems


def service_account_labels(service_accounts) -> dict[tuple[str, str], dict[str, str]]:
    """{(namespace, name): labels} of ServiceAccount objects (API-shaped dicts), each with
    Calico's ``projectcalico.org/name`` label set to its name."""
    out = {}
    for obj in service_accounts:
        md = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(md, dict) or not isinstance(md.get("name"), str):
            continue
        labels = md.get("labels") if isinstance(md.get("labels"), dict) else {}
        key = (md.get("namespace") or "default", md["name"])
        out[key] = {**{str(k): str(v) for k, v in labels.items()}, CALICO_NAME_LABEL: md["name"]}
    return out


def account_labels(accounts: dict, namespace: str, name: str) -> dict[str, str]:
    """The labels of a pod's ServiceAccount; one not collected has only its name label."""
    return accounts.get((namespace, name)) or {CALICO_NAME_LABEL: name}


def uses_service_accounts(policies) -> bool:
    """Does some Calico policy match pods by ServiceAccount (then classes tell them apart)?"""
    for policy in policies:
        if getattr(policy, "service_account_selector", None) is not None:
            return True
        for rule in policy.ingress + policy.egress:
            if rule.source.service_accounts or rule.destination.service_accounts:
                return True
    return False


def _port(value, where, problems) -> PortSpec:
    """A Calico port: a number, "lo:hi", or a name; the protocol comes from the rule."""
    text = str(value)
    if text.isdigit() and 1 <= int(text) <= 65535:
        return PortSpec(protocol="TCP", port=int(text))
    lo, sep, hi = text.partition(":")
    if sep and lo.isdigit() and hi.isdigit() and 1 <= int(lo) <= int(hi) <= 65535:
        return PortSpec(protocol="TCP", port=int(lo), end_port=int(hi))
    if text and not text.isdigit() and ":" not in text:
        return PortSpec(protocol="TCP", port=text)
    problems.append((where, f"{value!r} is not a port, range or name; matches nothing"))
    return PortSpec(valid=False)


# -- compiled form, over the evaluation's pod classes ----------------------------------------


def entity_sets(entity) -> list[IPSet]:
    """The address sets an entity names, to join the class key (nets match pod IPs)."""
    return [s for s in (entity.nets, entity.not_nets) if s is not None]


@dataclass(slots=True, eq=False)
class CompiledCalicoRule:
    """A rule of one direction: ``local`` the classes of the side the policy is about
    (subject and the local entity), ``classes``/``ips`` what the remote entity matches."""

    id: int
    policy: object  # CalicoPolicy, or a Kubernetes Policy of the default tier
    tier: str
    direction: str
    action: str
    index: int
    local: int
    classes: int
    ips: IPSet
    rule: CalicoRule | None  # None for a rule of another kind
    np_ports: object = None  # that rule compiled by its own kind, for its ports
    fixed_ports: object = None
    text: str = ""  # how a rule of another kind names itself

    @property
    def label(self) -> str:
        if self.text:
            return self.text
        return f"{self.policy.key} {self.direction}[{self.index}] {self.action}"

    def ports_for(self, named_ports: frozenset):
        if self.fixed_ports is not None:
            return self.fixed_ports
        if self.rule is None:
            return self.np_ports.ports_for(named_ports)
        return rule_ports(self.rule, named_ports)


def rule_ports(rule: CalicoRule, named_ports: frozenset):
    """The destination ports a Calico rule matches towards a pod with these named ports."""
    from .ports import ALL_PORTS, NO_PORTS, PortSet

    dest = rule.destination
    if rule.protocol == "other" or ((dest.ports or dest.not_ports) and rule.protocol is None):
        return NO_PORTS
    protocols = PROTOCOLS if rule.protocol is None else (rule.protocol,)
    out = NO_PORTS
    for proto in protocols:
        if dest.ports is None:
            out = out | PortSet.of(proto)
        else:
            for spec in dest.ports:
                out = out | PortSpec(proto, spec.port, spec.end_port, spec.valid).resolve(
                    named_ports
                )
    for spec in dest.not_ports:
        for proto in protocols:
            out = out - PortSpec(proto, spec.port, spec.end_port, spec.valid).resolve(named_ports)
    if rule.not_protocol is not None and rule.not_protocol != "other":
        out = out - PortSet.of(rule.not_protocol)
    return out & ALL_PORTS


class CalicoTiers:
    """Calico's tiers compiled over an evaluation's classes, the Kubernetes
    NetworkPolicies among them (``default`` tier, order 1000).

    With other kinds beside Calico (docs/semantics-calico.md, "Every kind together"):
    ClusterNetworkPolicies (and v1alpha1 ANP/BANP) are the policies of Calico's
    ``adminnetworkpolicy`` and ``baselineadminnetworkpolicy`` tiers by priority, their
    Accept read as Allow; Cilium policies are Allow-only policies of the ``default`` tier
    beside the NetworkPolicies (their deny rules are subtracted from the answer by the
    evaluation, as without Calico).

    ``order``: the tiers in walk order. ``own[direction][class]``: the rule ids about the
    class (its subject and local entity hold it) in walk order, with ``applies``: per
    tier and direction, the classes some policy of the tier selects (they meet the tier's
    end). ``towards[class]``: the egress rule ids whose remote entity holds the class.
    """

    def __init__(
        self,
        ev,
        policies: list[CalicoPolicy],
        tiers: list[CalicoTier],
        cluster_tiers=None,
        cilium=None,
    ):
        known = {t.name: t for t in tiers}
        names = {p.tier for p in policies} | {DEFAULT_TIER}
        self.tiers = {n: known.get(n) or builtin_tier(n) for n in names}
        # tier name -> the cluster-wide tier it holds ("Admin", "Baseline")
        self.cluster_tier: dict[str, str] = {}
        for policy in cluster_tiers.policies if cluster_tiers else ():
            name = cluster_tier_name(policy)
            self.cluster_tier[name] = policy.tier
            self.tiers[name] = known.get(name) or builtin_tier(name)
        self.order = sorted(self.tiers, key=lambda n: (self.tiers[n].order, n))
        self.rank = {n: i for i, n in enumerate(self.order)}
        n_classes = len(ev.classes)
        self.rules: list[CompiledCalicoRule] = []
        self.applies = {d: {t: 0 for t in self.order} for d in ("ingress", "egress")}
        # per direction and tier: (policy key, classes it selects), in walk order, to name
        # the policies that brought a pod into a tier whose end decided
        self.members = {d: {t: [] for t in self.order} for d in ("ingress", "egress")}
        self.own = {d: [[] for _ in range(n_classes)] for d in ("ingress", "egress")}
        # towards[class] and everywhere hold ids of ``shared``: the egress rules as the
        # sources' side of a connection walks them (_Towards).
        self.shared: list[_Towards] = []
        self.towards: list[list[int]] = [[] for _ in range(n_classes)]
        self.partial = 0
        self.runs: dict = {}  # _merged's answers while an evaluation walks; emptied after
        self.everywhere: list[int] = []  # shared egress rules whose remote end is every class
        self._block: tuple | None = None  # (tier, action) of the last egress rule added
        self._in_block: dict[tuple, int] = {}  # (classes, ports) -> shared id, in that block
        self._all = ev.all
        self._everywhere_named: bool | None = None
        self._np_rules: dict[int, list] = {}
        for compiled in ev.rules:
            self._np_rules.setdefault(compiled.policy.id, []).append(compiled)
        default = self.rank[DEFAULT_TIER]
        entries = [((self.rank[p.tier], p.order, p.name), self._add_calico, p) for p in policies]
        add_cluster = self._cluster_adder(cluster_tiers) if cluster_tiers is not None else None
        add_cilium = self._cilium_adder(cilium) if cilium is not None else None
        entries += [
            ((default, KUBERNETES_ORDER, f"knp.default.{p.name}"), self._add_kubernetes, p)
            for p in ev.policies
        ]
        if cluster_tiers is not None:
            for p in cluster_tiers.policies:
                rank = self.rank[cluster_tier_name(p)]
                # Calico orders them by priority; the name then the kind break ties as
                # the cluster-wide tiers do (ClusterPolicy.precedence).
                order = (rank, float(p.priority), f"{p.name}\0{p.kind}")
                entries.append((order, add_cluster, p))
        if cilium is not None:
            for p in cilium.policies:
                entries.append(((default, KUBERNETES_ORDER, f"cilium.{p.key}"), add_cilium, p))
        for _, add, policy in sorted(entries, key=lambda e: e[0]):
            add(ev, policy)
        del self._np_rules, self._in_block

    def _applies(self, direction: str, tier: str, key: str, bits: int) -> None:
        """The policy ``key`` selects ``bits`` for ``direction``: the tier takes part for them."""
        self.applies[direction][tier] |= bits
        members = self.members[direction][tier]
        if members and members[-1][0] == key:
            members[-1] = (key, members[-1][1] | bits)
        else:
            members.append((key, bits))

    def selecting(self, direction: str, tier: str, c: int) -> list[str]:
        """The keys of the policies that bring class ``c`` into ``tier`` for ``direction``."""
        return [key for key, bits in self.members[direction][tier] if bits >> c & 1]

    def isolating(self, direction: str) -> int:
        """The classes some policy of a tier ending in Deny selects for ``direction``:
        whatever no rule decides for them is denied at that tier's end."""
        bits = 0
        for tier, applies in self.applies[direction].items():
            if self.tiers[tier].default_action == "Deny":
                bits |= applies
        return bits

    def label_indexes(self, ev) -> tuple[CalicoLabels, CalicoLabels]:
        """The pods' and namespaces' label indexes as Calico's selectors see them."""
        found = getattr(self, "_label_indexes", None)
        if found is None:
            found = self._label_indexes = (
                CalicoLabels(ev.pod_index, ev.ns_ranges, POD_NAMESPACE_LABEL, True),
                CalicoLabels(ev.ns_index, ev.ns_ranges, NAMESPACE_NAME_LABEL, False),
            )
        return found

    def subject(self, ev, policy: CalicoPolicy) -> int:
        """The classes a Calico policy selects: its selector within its namespace (or its
        namespaceSelector's), and its serviceAccountSelector."""
        pods, namespaces = self.label_indexes(ev)
        bits = policy.selector.eval(pods)
        if policy.namespace is not None:
            bits &= ev.ns_mask(policy.namespace)
        if policy.namespace_selector is not None:
            bits &= policy.namespace_selector.eval(namespaces)
        if policy.service_account_selector is not None:
            bits &= policy.service_account_selector.eval(self._account_index(ev))
        return bits

    def _account_index(self, ev):
        """The labels of each class's ServiceAccount (``projectcalico.org/name`` its name),
        indexed once; the evaluation split the classes by ServiceAccount."""
        index = getattr(self, "_accounts", None)
        if index is None:
            from .selectors import LabelIndex

            if any(c.service_account is None for c in ev.classes):
                raise ValueError(
                    "Calico policies match ServiceAccounts but the classes were built without "
                    "them: build_classes(..., by_service_account=True)"
                )
            accounts = getattr(ev, "service_account_labels", None) or {}
            index = self._accounts = LabelIndex(
                [account_labels(accounts, c.namespace, c.service_account) for c in ev.classes]
            )
        return index

    def _account_bits(self, ev, match: ServiceAccountMatch) -> int:
        index = self._account_index(ev)
        bits = index.all
        if match.names is not None:
            named = 0
            for name in match.names:
                named |= index.pair_bits(CALICO_NAME_LABEL, name)
            bits &= named
        if match.selector is not None:
            bits &= match.selector.eval(index)
        return bits

    def _entity(self, ev, entity, policy) -> tuple[int, IPSet]:
        """The classes and addresses a rule's source or destination matches (docs/
        semantics-calico.md, "Rule match"): nets, then the selectors within their scope
        over pods and network sets (a set stands for its nets, pods there included), then
        the service accounts."""
        from .ipsets import ALL_IPS, NO_IPS

        if "services" in entity.undecided:
            return 0, NO_IPS
        classes, ips = ev.all, ALL_IPS
        if entity.nets is not None:
            classes &= ev.block_classes(entity.nets)
            ips = ips & entity.nets
        if entity.not_nets is not None:
            classes &= ~ev.block_classes(entity.not_nets)
            ips = ips - entity.not_nets
        accounts = entity.service_accounts
        positive = (
            entity.selector is not None
            or entity.namespace_selector is not None
            or accounts is not None
            or (policy.namespace is not None and entity.not_selector is not None)
        )
        if not positive and entity.not_selector is None:
            return classes & ev.all, ips
        pods, namespaces = self.label_indexes(ev)
        if entity.namespace_selector is not None:
            scope = entity.namespace_selector.eval(namespaces)
        elif policy.namespace is not None:
            scope = ev.ns_mask(policy.namespace)
        else:
            scope = ev.all
        sets = [
            s for s in getattr(ev, "calico_network_sets", ()) if _in_scope(ev, entity, policy, s)
        ]
        if positive:
            matched, matched_ips = scope, NO_IPS
            if entity.selector is not None:
                matched &= entity.selector.eval(pods)
            if accounts is not None:
                matched &= self._account_bits(ev, accounts)
            else:  # network sets run as no ServiceAccount
                for found in sets:
                    if _set_matches(entity.selector, found):
                        matched |= ev.block_classes(found.nets)
                        matched_ips = matched_ips | found.nets
            classes &= matched
            ips = ips & matched_ips
        if entity.not_selector is not None:
            excluded = scope & entity.not_selector.eval(pods)
            for found in sets:
                if _set_matches(entity.not_selector, found):
                    excluded |= ev.block_classes(found.nets)
                    ips = ips - found.nets
            classes &= ~excluded
        return classes & ev.all, ips

    def _add(self, rule: CompiledCalicoRule) -> None:
        self.rules.append(rule)
        for c in _positions(rule.local):
            self.own[rule.direction][c].append(rule.id)
        if rule.direction != "egress" or not rule.local or not rule.classes:
            return  # not on the way to any class: no walk towards a class meets it
        block = (rule.tier, rule.action)
        if block != self._block:
            self._block, self._in_block = block, {}
        key = (rule.classes, rule.fixed_ports) if rule.fixed_ports is not None else None
        sid = self._in_block.get(key) if key is not None else None
        if sid is not None:
            self.shared[sid].local |= rule.local  # same block, same remote end and ports
            return
        sid = len(self.shared)
        self.shared.append(_Towards(rule.tier, rule.action, rule.local, rule))
        if key is not None:
            self._in_block[key] = sid
        if rule.classes == self._all:
            self.everywhere.append(sid)  # towards every class: kept once
        else:
            for c in _positions(rule.classes):
                self.towards[c].append(sid)

    def _add_calico(self, ev, policy: CalicoPolicy) -> None:
        subject = self.subject(ev, policy)
        for direction in ("ingress", "egress"):
            if direction not in policy.types:
                continue
            self._applies(direction, policy.tier, policy.key, subject)
            for rule in getattr(policy, direction):
                if rule.undecided or rule.source.undecided or rule.destination.undecided:
                    self.partial |= subject
                mine, theirs = (
                    (rule.destination, rule.source)
                    if direction == "ingress"
                    else (rule.source, rule.destination)
                )
                local_classes, _ = self._entity(ev, mine, policy)
                classes, ips = self._entity(ev, theirs, policy)
                named = any(s.named for s in rule.destination.ports or ()) or any(
                    s.named for s in rule.destination.not_ports
                )
                self._add(
                    CompiledCalicoRule(
                        id=len(self.rules),
                        policy=policy,
                        tier=policy.tier,
                        direction=direction,
                        action=rule.action,
                        index=rule.index,
                        local=subject & local_classes,
                        classes=classes,
                        ips=ips,
                        rule=rule,
                        fixed_ports=None if named else rule_ports(rule, frozenset()),
                    )
                )

    def _add_kubernetes(self, ev, policy) -> None:
        selected = ev.selected[policy.id]
        for direction, affects in (
            ("ingress", policy.affects_ingress),
            ("egress", policy.affects_egress),
        ):
            if not affects:
                continue
            self._applies(direction, DEFAULT_TIER, policy.key, selected)
            for compiled in self._np_rules.get(policy.id, ()):
                if compiled.direction != direction:
                    continue
                text = f"Kubernetes NetworkPolicy {policy.key} {direction}[{compiled.rule.index}]"
                self._add_other(policy, DEFAULT_TIER, "Allow", selected, compiled, f"{text} Allow")

    def _add_other(self, policy, tier: str, action: str, local: int, compiled, text: str):
        """A rule of another kind (``compiled`` by its own kind: its remote end, ports and
        index) as a rule of ``tier``, about the classes ``local``."""
        self._add(
            CompiledCalicoRule(
                id=len(self.rules),
                policy=policy,
                tier=tier,
                direction=compiled.direction,
                action=action,
                index=compiled.rule.index,
                local=local,
                classes=compiled.classes,
                ips=compiled.ips,
                rule=None,
                np_ports=compiled,
                fixed_ports=compiled.fixed_ports,
                text=text,
            )
        )

    def _cluster_adder(self, cluster_tiers):
        by_policy: dict[int, list] = {}
        for compiled in cluster_tiers.rules:
            by_policy.setdefault(compiled.policy.id, []).append(compiled)

        def add(ev, policy) -> None:
            tier = cluster_tier_name(policy)
            for compiled in by_policy.get(policy.id, ()):
                if compiled.subject:
                    self._applies(compiled.direction, tier, policy.key, compiled.subject)
                rule = compiled.rule
                text = f"{policy.key} rule {rule.label} {rule.action} at priority {policy.priority}"
                action = CLUSTER_ACTIONS[rule.action]
                self._add_other(policy, tier, action, compiled.subject, compiled, text)

        return add

    def _cilium_adder(self, cilium):
        by_policy: dict[int, list] = {}
        for compiled in cilium.rules:
            if not compiled.rule.deny:
                by_policy.setdefault(compiled.policy.id, []).append(compiled)

        def add(ev, policy) -> None:
            subject = cilium.subject[policy.id]
            for direction in ("ingress", "egress"):
                if policy.default_deny[direction]:
                    self._applies(direction, DEFAULT_TIER, policy.key, subject)
            for compiled in by_policy.get(policy.id, ()):
                text = f"{compiled.label} Allow"
                self._add_other(policy, DEFAULT_TIER, "Allow", subject, compiled, text)

        return add

    # -- what the evaluation asks ------------------------------------------------------

    def key_of(self, c: int) -> tuple:
        applied = tuple(t for t in self.order if self.applies["ingress"][t] >> c & 1)
        return (tuple(self.own["ingress"][c]), applied, tuple(self.towards[c]))

    def uses_names(self, key) -> bool:
        if self._everywhere_named is None:
            self._everywhere_named = any(
                self.shared[r].rule.fixed_ports is None for r in self.everywhere
            )
        return (
            self._everywhere_named
            or any(self.rules[r].fixed_ports is None for r in key[0])
            or any(self.shared[r].rule.fixed_ports is None for r in key[2])
        )

    def segments(self, ev, key, named_ports, entry_type) -> list:
        """The allowed entries of a destination group: per port segment, the ingress walk
        at the destinations (sources as classes and addresses) AND the egress walk of
        every source towards them (module docstring of calico.py)."""
        from .ipsets import ALL_IPS, NO_IPS
        from .ports import ALL_PORTS, PortSet

        own, applied, towards = key
        ins = self._merged(self.rules, own, named_ports)
        outs = self._merged(self.shared, towards, named_ports, self.everywhere)
        points = set(ALL_PORTS.boundaries())
        for _, ports in ins + outs:
            points.update(ports.boundaries())
        points = sorted(points)
        merged: dict = {}
        for a, b in zip(points, points[1:], strict=False):
            if a not in ALL_PORTS:
                continue
            # 1. ingress at the destinations
            und, und_ip, acc, acc_ip = ev.all, ALL_IPS, 0, NO_IPS
            for tier in applied:
                pas, pas_ip = 0, NO_IPS
                for r, ports in ins:
                    if r.tier != tier or a not in ports or r.action == "Log":
                        continue
                    m, m_ip = und & r.classes, und_ip & r.ips
                    if r.action == "Allow":
                        acc, acc_ip = acc | m, acc_ip | m_ip
                    elif r.action == "Pass":
                        pas, pas_ip = pas | m, pas_ip | m_ip
                    und, und_ip = und & ~r.classes, und_ip - r.ips
                if self.tiers[tier].default_action == "Deny":
                    und, und_ip = pas, pas_ip
                else:
                    und, und_ip = und | pas, und_ip | pas_ip
            acc, acc_ip = acc | und, acc_ip | und_ip
            if not acc and not acc_ip:
                continue
            # 2. egress at the sources, over every tier in order
            und, ok = ev.all, 0
            for tier in self.order:
                pas = 0
                for r, ports in outs:
                    if r.tier != tier or a not in ports or r.action == "Log":
                        continue
                    if r.action == "Allow":
                        ok |= und & r.local
                    elif r.action == "Pass":
                        pas |= und & r.local
                    und &= ~r.local
                applies = self.applies["egress"][tier]
                if self.tiers[tier].default_action == "Deny":
                    und = (und & ~applies) | pas
                else:
                    und |= pas
            ok |= und
            classes = acc & ok
            if classes or acc_ip:
                merged.setdefault((classes, acc_ip), []).append((a, b))
        return [entry_type(PortSet(r), c, i) for (c, i), r in merged.items()]

    def _merged(self, rules, ids: tuple, named_ports: frozenset, more: list[int] = ()) -> list:
        """``_merged`` once per rule list (and named ports, when a rule names one):
        destination groups share their lists of rules. ``rules``: ``self.rules`` or
        ``self.shared``; ``more``: ids to walk too, in order (those towards every class)."""
        cache = self.runs
        uses_names = any(rules[r].fixed_ports is None for r in (*ids, *more))
        key = (rules is self.shared, ids, bool(more), named_ports if uses_names else None)
        runs = cache.get(key)
        if runs is None:
            ordered = sorted((*ids, *more)) if more else ids
            runs = cache[key] = _merged(rules, ordered, named_ports)
        return runs

    def egress_key(self, c: int) -> tuple:
        applied = tuple(t for t in self.order if self.applies["egress"][t] >> c & 1)
        return (tuple(self.own["egress"][c]), applied)

    def egress_segments(self, key) -> list:
        from .ipsets import ALL_IPS, NO_IPS
        from .ports import ALL_PORTS, PortSet

        own, applied = key
        rules = self._merged(self.rules, own, frozenset())
        points = set(ALL_PORTS.boundaries())
        for _, ports in rules:
            points.update(ports.boundaries())
        points = sorted(points)
        merged: dict = {}
        for a, b in zip(points, points[1:], strict=False):
            if a not in ALL_PORTS:
                continue
            und, ok = ALL_IPS, NO_IPS
            for tier in applied:
                pas = NO_IPS
                for r, ports in rules:
                    if r.tier != tier or a not in ports or r.action == "Log":
                        continue
                    if r.action == "Allow":
                        ok = ok | (und & r.ips)
                    elif r.action == "Pass":
                        pas = pas | (und & r.ips)
                    und = und - r.ips
                und = pas if self.tiers[tier].default_action == "Deny" else und | pas
            ok = ok | und
            if ok:
                merged.setdefault(ok, []).append((a, b))
        return [(PortSet(r), i) for i, r in merged.items()]

    def first_match(self, tier, direction, c, other_class, other_ip, port, protocol, named):
        """The first rule of ``tier`` about class ``c`` matching the other end and port."""
        for rid in self.own[direction][c]:
            r = self.rules[rid]
            if r.tier != tier or r.action == "Log":
                continue
            if not r.ports_for(named).has(port, protocol):
                continue
            if (other_class is not None and r.classes >> other_class & 1) or (
                other_class is None and other_ip is not None and other_ip in r.ips
            ):
                return r
        return None


@dataclass(slots=True)
class _Towards:
    """Egress rules as the sources' side of a connection walks them: the rules of one run
    of consecutive egress rules of one tier and action (in walk order) whose remote end and
    ports are the same, their subjects ORed. Within such a run the order of rules does not
    change the answer, so one entry stands for all; at 50k pods thousands of policies
    share, say, one DNS rule."""

    tier: str
    action: str
    local: int
    rule: CompiledCalicoRule  # the first; its remote end and ports are everyone's

    @property
    def classes(self) -> int:
        return self.rule.classes

    @property
    def ips(self) -> IPSet:
        return self.rule.ips

    @property
    def fixed_ports(self):
        return self.rule.fixed_ports

    def ports_for(self, named_ports: frozenset):
        return self.rule.ports_for(named_ports)


@dataclass(slots=True)
class _Run:
    """Adjacent rules of one tier with one action and the same ports: walking them one
    by one or at once gives the same answer, so they are walked at once."""

    tier: str
    action: str
    local: int
    classes: int
    ips: IPSet


def _merged(rules, ids, named_ports) -> list[tuple[_Run, object]]:
    out: list[tuple[_Run, object]] = []
    for rid in ids:
        r = rules[rid]
        if r.action == "Log":
            continue  # Log decides nothing
        ports = r.ports_for(named_ports)
        if out:
            last, last_ports = out[-1]
            if last.tier == r.tier and last.action == r.action and last_ports == ports:
                last.local |= r.local
                last.classes |= r.classes
                if r.ips and r.ips != last.ips:
                    last.ips = last.ips | r.ips
                continue
        out.append((_Run(r.tier, r.action, r.local, r.classes, r.ips), ports))
    return out


def _in_scope(ev, entity, policy, network_set: CalicoNetworkSet) -> bool:
    """Is a network set within a rule selector's scope: the namespaces its
    ``namespaceSelector`` matches (a GlobalNetworkSet is a global object without namespace
    labels: ``global()`` matches it), else the policy's namespace for a NetworkPolicy,
    else (GlobalNetworkPolicy) every set."""
    if entity.namespace_selector is not None:
        if network_set.namespace is None:
            return entity.namespace_selector.matches({}, is_global=True)
        ns = ev.namespaces.get(network_set.namespace)
        labels = calico_namespace_labels(network_set.namespace, ns.labels if ns else {})
        return entity.namespace_selector.matches(labels)
    if policy.namespace is not None:
        return network_set.namespace == policy.namespace
    return True


def _set_matches(selector, network_set: CalicoNetworkSet) -> bool:
    """A selector (None: every set in scope) over a network set's labels."""
    return selector is None or selector.matches(
        network_set.labels, is_global=network_set.namespace is None
    )


def _positions(bits: int) -> list[int]:
    from netpol.bits import bit_positions

    return bit_positions(bits)
