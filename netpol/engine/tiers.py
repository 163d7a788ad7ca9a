"""Cluster-wide policy tiers: ClusterNetworkPolicy (v1alpha2) and the v1alpha1
AdminNetworkPolicy / BaselineAdminNetworkPolicy, read onto the same tiers.

Each side of a connection (egress at the source pod, ingress at the destination pod)
goes through the tiers in order; the connection needs both sides to accept:

1. ``Admin`` tier: the rules of the policies whose subject holds the pod, by priority
   (lower first), then in written order. The first rule matching the peer and port
   decides: Accept or Deny; Pass (or no match) goes on to the next tier.
2. NetworkPolicy tier: a pod a NetworkPolicy isolates for the direction is decided by it.
3. ``Baseline`` tier: as the Admin tier, for what no NetworkPolicy isolated.
4. Default: allowed.

The semantics and every decision taken where the API leaves room are written down in
``docs/semantics-clusternetworkpolicy.md``. This module holds the parsed objects, their
parsing, the per-class compiled rules and the tier walk on bitsets that
``Evaluation.allowed()`` and ``egress_ips()`` call; nothing here loops over pods.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netpol.bits import bit_positions

from .ipsets import ALL_IPS, NO_IPS, IPSet, ip_to_int, peers_union
from .model import InputError, _metadata
from .ports import ALL_PORTS, NO_PORTS, PROTOCOLS, PortSet, PortSpec
from .selectors import Selector, parse_selector

ADMIN = "Admin"
BASELINE = "Baseline"
ACCEPT = "Accept"
DENY = "Deny"
PASS = "Pass"
# The names the front door gives them.
BASELINE_TIER, DENY_ACTION, PASS_ACTION = BASELINE, DENY, PASS

# kind -> (short name used in keys, apiVersion it is read from)
CLUSTER_POLICY_KINDS = {
    "ClusterNetworkPolicy": ("cnp", "policy.networking.k8s.io/v1alpha2"),
    "AdminNetworkPolicy": ("anp", "policy.networking.k8s.io/v1alpha1"),
    "BaselineAdminNetworkPolicy": ("banp", "policy.networking.k8s.io/v1alpha1"),
}
# A BaselineAdminNetworkPolicy has no priority; it sorts after every Baseline
# ClusterNetworkPolicy of priority up to 1000 (the largest the API accepts).
BANP_PRIORITY = 1001


@dataclass(frozen=True, slots=True)
class TierPeer:
    """One entry of ``from``/``to``. ``namespaces`` alone takes whole namespaces; with
    ``pods`` both must match. ``ips`` (``networks`` or the selected nodes' addresses)
    matches addresses and the pods whose IPs lie in it, except for ``nodes``, whose
    addresses are nodes'. ``domains`` cannot be decided and matches nothing we know."""

    namespaces: Selector | None = None
    pods: Selector | None = None
    ips: IPSet | None = None
    nodes: Selector | None = None
    domains: tuple[str, ...] = ()
    everything: bool = False  # a fail-closed Deny: every pod and every address
    text: str = ""


@dataclass(frozen=True, slots=True)
class TierRule:
    index: int
    name: str
    action: str  # ACCEPT, DENY or PASS (v1alpha1 "Allow" is read as ACCEPT)
    peers: tuple[TierPeer, ...]
    ports: tuple[PortSpec, ...] | None  # None: every port
    port_texts: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"`{self.name}`" if self.name else f"#{self.index}"

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(d for p in self.peers for d in p.domains)


@dataclass(slots=True, eq=False)
class ClusterPolicy:
    kind: str
    name: str
    tier: str
    priority: int
    subject_namespaces: Selector
    subject_pods: Selector | None  # None: every pod of the selected namespaces
    ingress: tuple[TierRule, ...]
    egress: tuple[TierRule, ...]
    id: int = -1

    @property
    def key(self) -> str:
        return f"{CLUSTER_POLICY_KINDS[self.kind][0]}/{self.name}"

    @property
    def precedence(self) -> tuple:
        """Lower first. Equal priorities in one tier are undefined by the API; the name
        breaks the tie so answers are stable, and ``overlaps`` reports the case."""
        return (0 if self.tier == ADMIN else 1, self.priority, self.name, self.kind)

    def selects(self, ns_labels: dict[str, str], labels: dict[str, str]) -> bool:
        return self.subject_namespaces.matches(ns_labels) and (
            self.subject_pods is None or self.subject_pods.matches(labels)
        )


def parse_cluster_policy(obj, error_type):
    """A ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy and the
    problems found in it, as ``error_type(policy, field, message, kind)``."""
    if not isinstance(obj, dict):
        raise InputError("cluster policy: not a mapping")
    kind = obj.get("kind") or "ClusterNetworkPolicy"
    if kind not in CLUSTER_POLICY_KINDS:
        raise InputError(f"{kind}: not a cluster policy kind")
    name, _, _, _ = _metadata(obj, kind, namespaced=False)
    key = f"{CLUSTER_POLICY_KINDS[kind][0]}/{name}"
    problems: list[tuple[str, str]] = []

    def report():
        return [error_type(key, f, m, kind) for f, m in problems]

    def ignored(field: str, message: str):
        problems.append((field, message + "; policy ignored"))
        return None, report()

    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return ignored("spec", "must be a mapping")
    v1alpha1 = kind != "ClusterNetworkPolicy"
    if kind == "ClusterNetworkPolicy":
        tier = spec.get("tier")
        if tier not in (ADMIN, BASELINE):
            return ignored("spec.tier", f"{tier!r} is not Admin or Baseline")
    else:
        tier = ADMIN if kind == "AdminNetworkPolicy" else BASELINE
    if kind == "BaselineAdminNetworkPolicy":
        priority = BANP_PRIORITY
    else:
        priority = spec.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
            return ignored("spec.priority", f"{priority!r} is not a number from 0 to 1000")
    subject = spec.get("subject")
    if not isinstance(subject, dict) or len(subject) != 1:
        return ignored("spec.subject", "needs exactly one of namespaces or pods")
    before = len(problems)
    if "namespaces" in subject:
        ns_sel = parse_selector(subject["namespaces"] or {}, "spec.subject.namespaces", problems)
        pod_sel = None
    elif "pods" in subject and isinstance(subject["pods"], dict):
        ns_sel, pod_sel = _namespaced_pod(subject["pods"], "spec.subject.pods", problems)
    else:
        return ignored("spec.subject", "needs exactly one of namespaces or pods")
    if len(problems) > before:
        problems[-1] = (problems[-1][0], problems[-1][1] + "; policy ignored")
        return None, report()
    allowed_actions = ("Allow", DENY) if kind == "BaselineAdminNetworkPolicy" else None
    if allowed_actions is None:
        allowed_actions = ("Allow", DENY, PASS) if v1alpha1 else (ACCEPT, DENY, PASS)
    rules = {}
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules[direction] = _parse_rules(
            spec.get(direction), f"spec.{direction}", peers_key, v1alpha1, allowed_actions, problems
        )
    policy = ClusterPolicy(
        kind=kind,
        name=name,
        tier=tier,
        priority=priority,
        subject_namespaces=ns_sel,
        subject_pods=pod_sel,
        ingress=rules["ingress"],
        egress=rules["egress"],
    )
    return policy, report()


def _namespaced_pod(obj, path: str, problems) -> tuple[Selector, Selector]:
    ns = parse_selector(obj.get("namespaceSelector") or {}, f"{path}.namespaceSelector", problems)
    pods = parse_selector(obj.get("podSelector") or {}, f"{path}.podSelector", problems)
    return ns, pods


_DENY_ALL_PEER = TierPeer(everything=True, text="everything (fail closed)")


def _parse_rules(rules, path, peers_key, v1alpha1, actions, problems) -> tuple[TierRule, ...]:
    if rules is None:
        return ()
    if not isinstance(rules, list):
        problems.append((path, "must be a list; no rule of this direction applies"))
        return ()
    out = []
    for i, rule in enumerate(rules):
        where = f"{path}[{i}]"
        if not isinstance(rule, dict):
            problems.append((where, "must be a mapping; the rule applies as Deny of everything"))
            out.append(TierRule(i, "", DENY, (_DENY_ALL_PEER,), None))
            continue
        name = rule.get("name") if isinstance(rule.get("name"), str) else ""
        action = rule.get("action")
        broken: list[str] = []  # parts the API server would reject
        if action not in actions:
            problems.append((f"{where}.action", f"{action!r} is not one of {', '.join(actions)}"))
            broken.append("action")
            action = DENY
        elif action == "Allow":
            action = ACCEPT
        peers = rule.get(peers_key)
        parsed_peers = []
        if not isinstance(peers, list) or not peers:
            problems.append((f"{where}.{peers_key}", "must list at least one peer"))
            broken.append(peers_key)
        else:
            for j, peer in enumerate(peers):
                p = _parse_peer(peer, f"{where}.{peers_key}[{j}]", peers_key == "to", problems)
                if p is None:
                    broken.append(peers_key)
                else:
                    parsed_peers.append(p)
        ports, texts = _parse_ports(rule, where, v1alpha1, problems, broken)
        if broken and action != ACCEPT:
            # The API's "fail closed": a Deny or Pass rule it cannot read denies everything.
            problems[-1] = (
                problems[-1][0],
                problems[-1][1] + "; the rule applies as Deny of everything",
            )
            out.append(TierRule(i, name, DENY, (_DENY_ALL_PEER,), None))
            continue
        if broken:
            problems[-1] = (problems[-1][0], problems[-1][1] + "; that part matches nothing")
        out.append(TierRule(i, name, action, tuple(parsed_peers), ports, texts))
    return tuple(out)


def _parse_peer(obj, path: str, egress: bool, problems) -> TierPeer | None:
    fields = (
        ("namespaces", "pods", "networks", "nodes", "domainNames")
        if egress
        else (
            "namespaces",
            "pods",
        )
    )
    if not isinstance(obj, dict) or len(obj) != 1 or next(iter(obj)) not in fields:
        problems.append((path, f"needs exactly one of {', '.join(fields)}"))
        return None
    field, value = next(iter(obj.items()))
    before = len(problems)
    if field == "namespaces":
        sel = parse_selector(value or {}, f"{path}.namespaces", problems)
        peer = TierPeer(namespaces=sel, text=f"namespaces {_sel_text(sel)}")
    elif field == "pods":
        if not isinstance(value, dict):
            problems.append((f"{path}.pods", "must be a mapping"))
            return None
        ns, pods = _namespaced_pod(value, f"{path}.pods", problems)
        peer = TierPeer(
            namespaces=ns, pods=pods, text=f"pods {_sel_text(pods)} in namespaces {_sel_text(ns)}"
        )
    elif field == "nodes":
        sel = parse_selector(value or {}, f"{path}.nodes", problems)
        peer = TierPeer(nodes=sel, text=f"nodes {_sel_text(sel)}")
    elif field == "networks":
        ips = NO_IPS
        if not isinstance(value, list) or not value:
            problems.append((f"{path}.networks", "must list at least one CIDR"))
            return None
        for k, cidr in enumerate(value):
            try:
                if not isinstance(cidr, str) or "/" not in cidr:
                    raise ValueError
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError:
                problems.append((f"{path}.networks[{k}]", f"{cidr!r} is not a CIDR"))
                return None
            ips = ips | IPSet.from_cidr(cidr.strip())
        peer = TierPeer(ips=ips, text="networks " + ", ".join(value))
    else:
        if not isinstance(value, list) or not value or not all(isinstance(d, str) for d in value):
            problems.append((f"{path}.domainNames", "must list at least one domain name"))
            return None
        peer = TierPeer(domains=tuple(value), text="domainNames " + ", ".join(value))
    if len(problems) > before:
        return None
    return peer


def _sel_text(sel: Selector) -> str:
    if sel.is_empty:
        return "(all)"
    parts = [f"{k}={v}" for k, v in sel.match_labels]
    parts += [f"{k} {op} ({','.join(v)})" if v else f"{k} {op}" for k, op, v in sel.expressions]
    return "{" + ", ".join(parts) + "}"


def _parse_ports(rule, where, v1alpha1, problems, broken):
    """(PortSpecs or None for every port, their texts). A named port without a protocol
    matches the container port of that name whatever its protocol: one spec per protocol."""
    key = "ports" if v1alpha1 else "protocols"
    entries = rule.get(key)
    if entries is None:
        return None, ()
    if not isinstance(entries, list) or not entries:
        problems.append((f"{where}.{key}", "must list at least one entry"))
        broken.append(key)
        return (), ()
    specs: list[PortSpec] = []
    texts: list[str] = []
    for k, entry in enumerate(entries):
        path = f"{where}.{key}[{k}]"
        got = (
            _v1alpha1_port(entry, path, problems)
            if v1alpha1
            else _v1alpha2_port(entry, path, problems)
        )
        if got is None:
            broken.append(key)
            continue
        specs.extend(got[0])
        texts.append(got[1])
    return tuple(specs), tuple(texts)


def _named(name, path, problems):
    if not isinstance(name, str) or not name:
        problems.append((path, "must be a port name"))
        return None
    return [PortSpec(protocol=p, port=name) for p in PROTOCOLS], name


def _range(protocol, lo, hi, path, problems):
    if protocol not in PROTOCOLS:
        problems.append((path, f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}"))
        return None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
            problems.append((path, f"port {v!r} is outside 1-65535"))
            return None
    if hi is not None and hi != lo and not lo < hi:
        problems.append((path, f"start {lo} must be less than end {hi}"))
        return None
    if hi == lo:
        return [PortSpec(protocol=protocol, port=lo)], f"{protocol}/{lo}"
    return [PortSpec(protocol=protocol, port=lo, end_port=hi)], f"{protocol}/{lo}-{hi}"


def _v1alpha1_port(entry, path, problems):
    if not isinstance(entry, dict) or len(entry) != 1:
        problems.append((path, "needs exactly one of portNumber, namedPort, portRange"))
        return None
    field, value = next(iter(entry.items()))
    if field == "namedPort":
        return _named(value, f"{path}.namedPort", problems)
    if field == "portNumber" and isinstance(value, dict):
        port = value.get("port")
        return _range(value.get("protocol") or "TCP", port, port, f"{path}.portNumber", problems)
    if field == "portRange" and isinstance(value, dict):
        return _range(
            value.get("protocol") or "TCP",
            value.get("start"),
            value.get("end"),
            f"{path}.portRange",
            problems,
        )
    problems.append((path, "needs exactly one of portNumber, namedPort, portRange"))
    return None


def _v1alpha2_port(entry, path, problems):
    if not isinstance(entry, dict) or len(entry) != 1:
        problems.append((path, "needs exactly one of tcp, udp, sctp, destinationNamedPort"))
        return None
    field, value = next(iter(entry.items()))
    if field == "destinationNamedPort":
        return _named(value, f"{path}.destinationNamedPort", problems)
    if field not in ("tcp", "udp", "sctp") or not isinstance(value or {}, dict):
        problems.append((path, "needs exactly one of tcp, udp, sctp, destinationNamedPort"))
        return None
    protocol = field.upper()
    port = (value or {}).get("destinationPort")
    if port is None:
        return [PortSpec(protocol=protocol)], f"{protocol}/*"
    where = f"{path}.{field}.destinationPort"
    if not isinstance(port, dict) or len(port) != 1:
        problems.append((where, "needs exactly one of number, range"))
        return None
    if "number" in port:
        return _range(protocol, port["number"], port["number"], where, problems)
    rng = port.get("range")
    if not isinstance(rng, dict):
        problems.append((where, "needs exactly one of number, range"))
        return None
    return _range(protocol, rng.get("start"), rng.get("end"), f"{where}.range", problems)


def ports_of(rule: TierRule, named_ports: frozenset) -> PortSet:
    """The ports a rule matches towards a destination with these named ports."""
    if rule.ports is None:
        return ALL_PORTS
    out = NO_PORTS
    for spec in rule.ports:
        out = out | spec.resolve(named_ports)
    return out


def node_ips(selector: Selector, nodes) -> IPSet:
    """The addresses (status.addresses) of the nodes a selector matches."""
    return IPSet(
        [
            (v, v + 1)
            for n in nodes
            if selector.matches(n.labels)
            for v in map(ip_to_int, n.addresses)
        ]
    )


# -- compiled form, over the evaluation's pod classes ----------------------------------


@dataclass(slots=True, eq=False)
class CompiledTierRule:
    """A tier rule with its peers evaluated over classes and addresses, and the classes
    its policy's subject holds (the pods the rule is about)."""

    id: int
    policy: ClusterPolicy
    direction: str
    rule: TierRule
    subject: int
    peer_classes: tuple[int, ...]
    peer_ips: tuple[IPSet, ...]
    classes: int
    ips: IPSet
    fixed_ports: PortSet | None  # None when the rule names ports

    def ports_for(self, named_ports: frozenset) -> PortSet:
        return (
            self.fixed_ports if self.fixed_ports is not None else ports_of(self.rule, named_ports)
        )


class Tiers:
    """The cluster policies compiled over an evaluation's classes.

    Per class: the Admin and Baseline rules whose subject holds it (its own side: ingress
    at a destination, egress at a source), and the egress rules whose peers hold it (the
    sources' side of a connection towards it). Every list is in precedence order.
    """

    def __init__(self, ev, policies: list[ClusterPolicy], nodes):
        self.policies = sorted(policies, key=lambda p: p.precedence)
        for i, p in enumerate(self.policies):
            p.id = i
        n = len(ev.classes)
        self.rules: list[CompiledTierRule] = []
        self.subject: list[int] = []
        # own[direction][tier][class] -> rule ids; towards[tier][class] -> egress rule ids
        self.own = {
            d: {ADMIN: [[] for _ in range(n)], BASELINE: [[] for _ in range(n)]}
            for d in ("ingress", "egress")
        }
        self.towards = {ADMIN: [[] for _ in range(n)], BASELINE: [[] for _ in range(n)]}
        self.restricted = {"ingress": 0, "egress": 0}  # classes some tier rule is about
        self._node_ips: dict[Selector, IPSet] = {}
        for policy in self.policies:
            subject = ev.ns_index.eval(policy.subject_namespaces)
            if policy.subject_pods is not None:
                subject &= ev.pod_index.eval(policy.subject_pods)
            self.subject.append(subject)
            members = bit_positions(subject)
            for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
                if rules and subject:
                    self.restricted[direction] |= subject
                for rule in rules:
                    compiled = self._compile(ev, policy, direction, rule, subject, nodes)
                    for c in members:
                        self.own[direction][policy.tier][c].append(compiled.id)
                    if direction == "egress":
                        for c in bit_positions(compiled.classes):
                            self.towards[policy.tier][c].append(compiled.id)

    def _compile(self, ev, policy, direction, rule, subject, nodes) -> CompiledTierRule:
        peer_classes, peer_ips = [], []
        for peer in rule.peers:
            if peer.everything:
                peer_classes.append(ev.all)
                peer_ips.append(ALL_IPS)
            elif peer.ips is not None:
                peer_classes.append(ev.block_classes(peer.ips))
                peer_ips.append(peer.ips)
            elif peer.nodes is not None:
                ips = self._node_ips.get(peer.nodes)
                if ips is None:
                    ips = self._node_ips[peer.nodes] = node_ips(peer.nodes, nodes)
                peer_classes.append(0)  # node addresses are nodes', never a pod network's
                peer_ips.append(ips)
            elif peer.namespaces is not None:
                bits = ev.ns_index.eval(peer.namespaces)
                if peer.pods is not None:
                    bits &= ev.pod_index.eval(peer.pods)
                peer_classes.append(bits)
                peer_ips.append(NO_IPS)
            else:  # domainNames: nothing the engine can resolve
                peer_classes.append(0)
                peer_ips.append(NO_IPS)
        classes, ips = peers_union(peer_classes, peer_ips)
        named = bool(rule.ports) and any(s.named for s in rule.ports)
        compiled = CompiledTierRule(
            id=len(self.rules),
            policy=policy,
            direction=direction,
            rule=rule,
            subject=subject,
            peer_classes=tuple(peer_classes),
            peer_ips=tuple(peer_ips),
            classes=classes,
            ips=ips,
            fixed_ports=None if named else ports_of(rule, frozenset()),
        )
        self.rules.append(compiled)
        return compiled

    def key_of(self, c: int) -> tuple:
        """What the tiers say about destination class ``c``: classes with equal keys (and
        NetworkPolicy rules) receive the same traffic."""
        return (
            tuple(self.own["ingress"][ADMIN][c]),
            tuple(self.own["ingress"][BASELINE][c]),
            tuple(self.towards[ADMIN][c]),
            tuple(self.towards[BASELINE][c]),
        )

    def uses_names(self, key: tuple) -> bool:
        return any(self.rules[r].fixed_ports is None for ids in key for r in ids)

    def segments(self, ev, key, named_ports, np_in, np_eg, entry_type) -> list:
        """The allowed entries of a destination group (see the module docstring).

        ``np_in``: None when no NetworkPolicy isolates the destinations for ingress, else
        their grants (ports, source classes, source IPs). ``np_eg``: (ports, source
        classes) whose NetworkPolicy egress reaches the destinations. Per port segment:

        1. Ingress: walk the destination's Admin rules keeping the undecided sources
           (classes and addresses); Accept takes them, Deny drops them, Pass sets them
           aside for the NetworkPolicy tier. Then NetworkPolicy (when it isolates) or the
           Baseline rules, and what is left is allowed.
        2. Egress: the same walk over the rules whose peers hold the destination, where a
           rule is about the sources in its subject; sources NetworkPolicy isolates for
           egress take its answer, the others go through Baseline.
        3. The segment allows the ingress sources whose egress also allows it.
        """
        in_admin, in_base, eg_admin, eg_base = ([self.rules[r] for r in ids] for ids in key)
        in_ports = [(r, r.ports_for(named_ports)) for r in in_admin]
        in_base_ports = [(r, r.ports_for(named_ports)) for r in in_base]
        eg_ports = [(r, r.ports_for(named_ports)) for r in eg_admin]
        eg_base_ports = [(r, r.ports_for(named_ports)) for r in eg_base]
        points = set(ALL_PORTS.boundaries())
        for group in (in_ports, in_base_ports, eg_ports, eg_base_ports):
            for _, ports in group:
                points.update(ports.boundaries())
        for ports, *_ in np_in or ():
            points.update(ports.boundaries())
        for ports, _ in np_eg:
            points.update(ports.boundaries())
        points = sorted(points)
        everyone = ev.all
        iso_eg = ev.default_deny_egress  # NetworkPolicy or Cilium default deny
        merged: dict[tuple[int, IPSet], list[tuple[int, int]]] = {}
        for a, b in zip(points, points[1:], strict=False):
            if a not in ALL_PORTS:
                continue
            # 1. ingress at the destinations
            und, und_ip = everyone, ALL_IPS
            acc, acc_ip, pas, pas_ip = 0, NO_IPS, 0, NO_IPS
            for r, ports in in_ports:
                if a not in ports:
                    continue
                if r.rule.action == ACCEPT:
                    acc |= und & r.classes
                    acc_ip = acc_ip | (und_ip & r.ips)
                elif r.rule.action == PASS:
                    pas |= und & r.classes
                    pas_ip = pas_ip | (und_ip & r.ips)
                und &= ~r.classes
                und_ip = und_ip - r.ips
            und |= pas
            und_ip = und_ip | pas_ip
            if np_in is not None:
                g, g_ip = 0, NO_IPS
                for ports, c, ips in np_in:
                    if a in ports:
                        g |= c
                        g_ip = g_ip | ips
                acc |= und & g
                acc_ip = acc_ip | (und_ip & g_ip)
            else:
                for r, ports in in_base_ports:
                    if a not in ports:
                        continue
                    if r.rule.action != DENY:
                        acc |= und & r.classes
                        acc_ip = acc_ip | (und_ip & r.ips)
                    und &= ~r.classes
                    und_ip = und_ip - r.ips
                acc |= und
                acc_ip = acc_ip | und_ip
            if not acc and not acc_ip:
                continue
            # 2. egress at the sources
            und, ok, pas = everyone, 0, 0
            for r, ports in eg_ports:
                if a not in ports:
                    continue
                if r.rule.action == ACCEPT:
                    ok |= und & r.subject
                elif r.rule.action == PASS:
                    pas |= und & r.subject
                und &= ~r.subject
            und |= pas
            reach = 0
            for ports, c in np_eg:
                if a in ports:
                    reach |= c
            ok |= und & iso_eg & reach
            und &= ~iso_eg
            for r, ports in eg_base_ports:
                if a not in ports:
                    continue
                if r.rule.action != DENY:
                    ok |= und & r.subject
                und &= ~r.subject
            ok |= und
            # 3.
            classes = acc & ok
            if classes or acc_ip:
                merged.setdefault((classes, acc_ip), []).append((a, b))
        return [entry_type(PortSet(ranges), c, ips) for (c, ips), ranges in merged.items()]

    def egress_key(self, c: int) -> tuple:
        return (tuple(self.own["egress"][ADMIN][c]), tuple(self.own["egress"][BASELINE][c]))

    def egress_segments(self, key, np_rules) -> list[tuple[PortSet, IPSet]]:
        """Where a group of source classes may send to by address, per port: the tier walk
        of ``segments`` on addresses. ``np_rules``: None when no NetworkPolicy isolates
        them for egress, else (ports, IPs) of their NetworkPolicy egress rules. Port names
        never match an address."""
        admin = [(r, r.ports_for(frozenset())) for r in (self.rules[i] for i in key[0])]
        base = [(r, r.ports_for(frozenset())) for r in (self.rules[i] for i in key[1])]
        points = set(ALL_PORTS.boundaries())
        for group in (admin, base):
            for _, ports in group:
                points.update(ports.boundaries())
        for ports, _ in np_rules or ():
            points.update(ports.boundaries())
        points = sorted(points)
        merged: dict[IPSet, list[tuple[int, int]]] = {}
        for a, b in zip(points, points[1:], strict=False):
            if a not in ALL_PORTS:
                continue
            und, ok, pas = ALL_IPS, NO_IPS, NO_IPS
            for r, ports in admin:
                if a not in ports:
                    continue
                if r.rule.action == ACCEPT:
                    ok = ok | (und & r.ips)
                elif r.rule.action == PASS:
                    pas = pas | (und & r.ips)
                und = und - r.ips
            und = und | pas
            if np_rules is not None:
                g = NO_IPS
                for ports, ips in np_rules:
                    if a in ports:
                        g = g | ips
                ok = ok | (und & g)
            else:
                for r, ports in base:
                    if a not in ports:
                        continue
                    if r.rule.action != DENY:
                        ok = ok | (und & r.ips)
                    und = und - r.ips
                ok = ok | und
            if ok:
                merged.setdefault(ok, []).append((a, b))
        return [(PortSet(ranges), ips) for ips, ranges in merged.items()]

    def overlaps(self, ev) -> list[tuple[ClusterPolicy, ClusterPolicy]]:
        """Pairs of policies of one tier and priority whose subjects share a pod and that
        both have rules for a same direction: the API leaves their order undefined."""
        out = []
        by_rank: dict[tuple[str, int], list[ClusterPolicy]] = {}
        for p in self.policies:
            by_rank.setdefault((p.tier, p.priority), []).append(p)
        for group in by_rank.values():
            for i, p in enumerate(group):
                for q in group[i + 1 :]:
                    same_dir = (p.ingress and q.ingress) or (p.egress and q.egress)
                    if same_dir and self.subject[p.id] & self.subject[q.id]:
                        out.append((p, q))
        return out

    def first_match(self, ev, tier, direction, c, other_class, other_ip, port, protocol, named):
        """The first rule of ``tier`` about class ``c`` (its own side) that matches the
        other end and the port, as (compiled rule, peer index, port text index), or None;
        and the Accept rules with domainNames passed on the way, which might have matched."""
        domains = []
        for rid in self.own[direction][tier][c]:
            r = self.rules[rid]
            specs = r.rule.ports
            if specs is not None and not any(s.resolve(named).has(port, protocol) for s in specs):
                continue
            if r.rule.domains and r.rule.action == ACCEPT:
                domains.append(r)
            for j, (classes, ips) in enumerate(zip(r.peer_classes, r.peer_ips, strict=True)):
                if (other_class is not None and classes >> other_class & 1) or (
                    other_class is None and other_ip in ips
                ):
                    return (r, j), domains
        return None, domains
