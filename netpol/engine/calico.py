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

This module holds the parsed objects and their parsing; ``reference.calico_side`` is the
plain per-pod evaluation written from the documentation. The class/bitset evaluation
(``evaluate.py``) does not take Calico policies yet; see docs/semantics-calico.md.
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
# Calico's own tiers for the Kubernetes cluster-wide policies (Calico 3.29+): the Admin
# tier before ``default``, the Baseline tier after it.
TIER_ORDERS = {
    DEFAULT_TIER: 1_000_000.0,
    "adminnetworkpolicy": 1_000.0,
    "baselineadminnetworkpolicy": 10_000_000.0,
}
LAST = math.inf


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
    undecided: tuple[str, ...] = ()  # serviceAccounts, services, source ports


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
    for field in ("serviceAccountSelector",):
        if spec.get(field):
            return ignored(f"spec.{field}", "service accounts are not collected")
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
        undecided.append("serviceAccounts")
    if obj.get("services"):
        undecided.append("services")
    return CalicoEntity(**out, undecided=tuple(undecided))


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
