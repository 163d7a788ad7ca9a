"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (``cilium.io/v2``), L3/L4.

Cilium policies live in the NetworkPolicy tier, beside the Kubernetes NetworkPolicies:

1. Default deny: a pod enters default deny for a direction once any policy selecting it
   (a NetworkPolicy isolating it, or a Cilium policy with rules or deny rules for the
   direction and ``enableDefaultDeny`` not false for it) says so.
2. Allows are one union: the NetworkPolicy rules and the Cilium ``ingress``/``egress``
   rules about the pod.
3. Denies (``ingressDeny``/``egressDeny``) are subtracted from the final answer: "deny
   policies take precedence over allow policies, regardless of whether they are a Cilium
   Network Policy, a Clusterwide Cilium Network Policy or even a Kubernetes Network
   Policy", and here over the cluster-wide tiers too.

The decisions are written down in ``docs/semantics-cilium.md``. This module holds the
parsed objects, their parsing and the rules compiled over the evaluation's pod classes;
``Evaluation.allowed()``/``egress_ips()`` and ``explain`` call it. Nothing loops over pods.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from netpol.bits import bit_positions

from .ipsets import ALL_IPS, NO_IPS, IPSet, peers_union
from .model import NAMESPACE_NAME_LABEL, InputError, _metadata
from .ports import ALL_PORTS, NO_PORTS, PROTOCOLS, PortSet, PortSpec
from .selectors import EVERYTHING, NOTHING, Selector, parse_selector
from .tiers import node_ips

# kind -> short name used in keys ("cnp/..." is ClusterNetworkPolicy's)
CILIUM_KINDS = {
    "CiliumNetworkPolicy": "cilium",
    "CiliumClusterwideNetworkPolicy": "ccnp",
}
CILIUM_API_VERSION = "cilium.io/v2"

POD_NAMESPACE = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
ENTITIES = (
    "world",
    "world-ipv4",
    "world-ipv6",
    "cluster",
    "host",
    "remote-node",
    "kube-apiserver",
    "all",
    "init",
    "health",
    "unmanaged",
    "ingress",
)
# Parts of a rule the engine cannot decide: the rule is kept (never ignored silently) and
# the verdict names it.
UNDECIDED_PEERS = {
    "ingress": ("fromGroups",),
    "egress": ("toFQDNs", "toServices", "toGroups"),
}
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class CiliumSelector:
    """A Cilium endpoint selector split into what it asks of the namespace (its
    ``io.kubernetes.pod.namespace`` and ``io.cilium.k8s.namespace.labels.*`` keys) and of
    the pod. ``any_namespace``: the selector names the namespace itself, so a namespaced
    policy does not add its own."""

    namespaces: Selector
    pods: Selector
    any_namespace: bool = False


@dataclass(frozen=True, slots=True)
class CiliumPeer:
    """One L3 peer: endpoints (``selector``), an entity, addresses (``ips``: CIDRs, which
    never match pods or nodes), nodes (``nodes``), or something undecidable (``undecided``)."""

    text: str
    selector: CiliumSelector | None = None
    entity: str | None = None
    ips: IPSet | None = None
    nodes: Selector | None = None
    undecided: bool = False


@dataclass(frozen=True, slots=True)
class CiliumRule:
    index: int
    deny: bool
    peers: tuple[CiliumPeer, ...] | None  # None: every peer (L4 only)
    ports: tuple[PortSpec, ...] | None  # None: every port
    undecided: tuple[str, ...] = ()  # "L7 rule toPorts[0].rules", "toFQDNs", ...


@dataclass(slots=True, eq=False)
class CiliumPolicy:
    kind: str
    namespace: str | None  # None for CiliumClusterwideNetworkPolicy
    name: str
    selector: CiliumSelector
    ingress: tuple[CiliumRule, ...]  # ingress then ingressDeny, each indexed in its list
    egress: tuple[CiliumRule, ...]
    default_deny: dict[str, bool]  # direction -> does this policy put its pods there
    id: int = -1

    @property
    def key(self) -> str:
        short = CILIUM_KINDS[self.kind]
        return f"{short}/{self.namespace}/{self.name}" if self.namespace else f"{short}/{self.name}"

    def rule_path(self, direction: str, rule: CiliumRule) -> str:
        return f"spec.{direction}{'Deny' if rule.deny else ''}[{rule.index}]"

    def selects(self, namespace: str, ns_labels: dict, labels: dict) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        return self.selector.namespaces.matches(ns_labels) and self.selector.pods.matches(labels)


# -- parsing -------------------------------------------------------------------------------


def parse_cilium_policy(obj, error_type):
    """A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy and the problems found in it,
    as ``error_type(policy, field, message, kind)``. ``specs`` (a list of rules) is read
    as one policy per entry, named ``NAME#i``."""
    if not isinstance(obj, dict):
        raise InputError("Cilium policy: not a mapping")
    kind = obj.get("kind") or "CiliumNetworkPolicy"
    if kind not in CILIUM_KINDS:
        raise InputError(f"{kind}: not a Cilium policy kind")
    namespaced = kind == "CiliumNetworkPolicy"
    name, namespace, _, _ = _metadata(obj, kind, namespaced=namespaced)
    namespace = namespace if namespaced else None
    specs = []
    if isinstance(obj.get("spec"), dict):
        specs.append((name, "spec", obj["spec"]))
    if isinstance(obj.get("specs"), list):
        specs += [(f"{name}#{i}", f"specs[{i}]", s) for i, s in enumerate(obj["specs"])]
    out, errors = [], []
    if not specs:
        key = CiliumPolicy(kind, namespace, name, None, (), (), {}).key
        errors.append(error_type(key, "spec", "must be a mapping; policy ignored", kind))
    for sub_name, path, spec in specs:
        policy, problems = _parse_spec(kind, namespace, sub_name, path, spec)
        key = CiliumPolicy(kind, namespace, sub_name, None, (), (), {}).key
        errors += [error_type(key, f, m, kind) for f, m in problems]
        if policy is not None:
            out.append(policy)
    return out, errors


def _parse_spec(kind, namespace, name, path, spec):
    problems: list[tuple[str, str]] = []
    if not isinstance(spec, dict):
        problems.append((path, "must be a mapping; policy ignored"))
        return None, problems
    if "nodeSelector" in spec:
        problems.append((f"{path}.nodeSelector", "host policies are not modelled; policy ignored"))
        return None, problems
    before = len(problems)
    selector = parse_cilium_selector(
        spec.get("endpointSelector"), f"{path}.endpointSelector", problems
    )
    if "endpointSelector" not in spec or len(problems) > before:
        problems.append((f"{path}.endpointSelector", "cannot be read; policy ignored"))
        return None, problems
    rules = {}
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules[direction] = _parse_rules(
            spec.get(direction),
            f"{path}.{direction}",
            direction,
            peers_key,
            False,
            namespace,
            problems,
        ) + _parse_rules(
            spec.get(f"{direction}Deny"),
            f"{path}.{direction}Deny",
            direction,
            peers_key,
            True,
            namespace,
            problems,
        )
    enable = spec.get("enableDefaultDeny") or {}
    if not isinstance(enable, dict):
        problems.append((f"{path}.enableDefaultDeny", "must be a mapping; read as absent"))
        enable = {}
    default_deny = {}
    for direction in ("ingress", "egress"):
        # Cilium tests the lists' length: ``ingress: []`` is no rule.
        has_rules = bool(spec.get(direction)) or bool(spec.get(f"{direction}Deny"))
        value = enable.get(direction)
        default_deny[direction] = has_rules and value is not False
    policy = CiliumPolicy(
        kind=kind,
        namespace=namespace,
        name=name,
        selector=selector,
        ingress=rules["ingress"],
        egress=rules["egress"],
        default_deny=default_deny,
    )
    return policy, problems


def _strip_source(key: str) -> str | None:
    """The label key without its Cilium source prefix (``k8s:``, ``any:``); None for other
    sources (``reserved:``, ``cidr:``, ``container:``...), which no pod label carries."""
    if ":" in key.split("/")[0]:
        source, _, rest = key.partition(":")
        return rest if source in ("k8s", "any") else None
    return key


def parse_cilium_selector(obj, path: str, problems) -> CiliumSelector:
    """Split a Cilium endpoint selector into namespace and pod selectors (see
    ``CiliumSelector``); anything else makes it match nothing, with a problem."""
    if obj is None:
        return CiliumSelector(EVERYTHING, EVERYTHING)
    if not isinstance(obj, dict):
        problems.append((path, "must be a mapping"))
        return CiliumSelector(NOTHING, NOTHING)
    ns_part: dict = {"matchLabels": {}, "matchExpressions": []}
    pod_part: dict = {"matchLabels": {}, "matchExpressions": []}
    any_namespace = False

    def place(key, where):
        nonlocal any_namespace
        bare = _strip_source(key) if isinstance(key, str) else None
        if bare is None:
            problems.append(
                (where, f"label {key!r} is not a pod label; the selector matches nothing")
            )
            return None, None
        if bare == POD_NAMESPACE:
            any_namespace = True
            return ns_part, NAMESPACE_NAME_LABEL
        if bare.startswith(NAMESPACE_LABELS):
            return ns_part, bare[len(NAMESPACE_LABELS) :]
        if bare.startswith("io.cilium.k8s.policy.") or bare.startswith("io.kubernetes.pod."):
            problems.append(
                (where, f"label {bare!r} is not modelled; the selector matches nothing")
            )
            return None, None
        return pod_part, bare

    unknown = set(obj) - {"matchLabels", "matchExpressions"}
    if unknown:
        problems.append((path, f"unknown field(s) {', '.join(sorted(unknown))}"))
        return CiliumSelector(NOTHING, NOTHING)
    labels = obj.get("matchLabels") or {}
    exprs = obj.get("matchExpressions") or []
    if not isinstance(labels, dict) or not isinstance(exprs, list):
        problems.append((path, "matchLabels must be a mapping, matchExpressions a list"))
        return CiliumSelector(NOTHING, NOTHING)
    broken = False
    for key, value in labels.items():
        part, bare = place(key, f"{path}.matchLabels")
        if part is None:
            broken = True
        else:
            part["matchLabels"][bare] = value
    for i, expr in enumerate(exprs):
        key = expr.get("key") if isinstance(expr, dict) else None
        part, bare = place(key, f"{path}.matchExpressions[{i}]")
        if part is None:
            broken = True
        else:
            part["matchExpressions"].append({**expr, "key": bare})
    if broken:
        return CiliumSelector(NOTHING, NOTHING)
    return CiliumSelector(
        parse_selector(ns_part, path, problems),
        parse_selector(pod_part, path, problems),
        any_namespace,
    )


def _parse_rules(rules, path, direction, peers_key, deny, namespace, problems):
    if rules is None:
        return ()
    if not isinstance(rules, list):
        problems.append((path, "must be a list; no rule of it applies"))
        return ()
    out = []
    for i, rule in enumerate(rules):
        where = f"{path}[{i}]"
        if not isinstance(rule, dict):
            problems.append((where, "must be a mapping; the rule matches nothing"))
            out.append(CiliumRule(i, deny, (), None))
            continue
        peers: list[CiliumPeer] = []
        undecided: list[str] = []
        l3 = False
        for field, value in rule.items():
            if not field.startswith(peers_key) or field == "toPorts":
                continue
            l3 = True
            fpath = f"{where}.{field}"
            if field in UNDECIDED_PEERS[direction]:
                undecided.append(f"{field}")
                peers.append(CiliumPeer(text=field, undecided=True))
                continue
            if not isinstance(value, list):
                problems.append((fpath, "must be a list; it matches nothing"))
                continue
            for j, item in enumerate(value):
                peer = _parse_peer(field, item, f"{fpath}[{j}]", namespace, problems)
                if peer is not None:
                    peers.append(peer)
        ports = None
        if "toPorts" in rule:
            ports, l7 = _parse_to_ports(rule["toPorts"], f"{where}.toPorts", deny, problems)
            undecided += l7
        if "icmps" in rule and "toPorts" not in rule:
            # ICMP is outside TCP/UDP/SCTP: an ICMP rule opens no port the engine models
            # (its ICMP part is not evaluated).
            ports = ()
        if not l3 and ports is None:
            peers_out = ()  # an empty rule selects no peer
        elif not l3:
            peers_out = None  # L4 only: every peer
        else:
            peers_out = tuple(peers)
        out.append(CiliumRule(i, deny, peers_out, ports, tuple(undecided)))
    return tuple(out)


def _parse_peer(field, item, where, namespace, problems) -> CiliumPeer | None:
    base = field[4:] if field.startswith("from") else field[2:]  # Endpoints, Entities, ...
    if base == "Endpoints":
        sel = parse_cilium_selector(item, where, problems)
        if namespace is not None and not sel.any_namespace:
            own = Selector(match_labels=((NAMESPACE_NAME_LABEL, namespace),))
            sel = CiliumSelector(_and(sel.namespaces, own), sel.pods, False)
        return CiliumPeer(text=f"{field} {_text(item)}", selector=sel)
    if base == "Entities":
        if item not in ENTITIES:
            problems.append((where, f"{item!r} is not a Cilium entity; it matches nothing"))
            return None
        return CiliumPeer(text=f"entity {item}", entity=item)
    if base == "CIDR":
        ips = _cidr(item, where, problems)
        return None if ips is None else CiliumPeer(text=f"CIDR {item}", ips=ips)
    if base == "CIDRSet":
        if not isinstance(item, dict) or "cidr" not in item:
            problems.append((where, "needs a cidr (cidrGroupRef is not modelled); matches nothing"))
            return None
        ips = _cidr(item["cidr"], f"{where}.cidr", problems)
        if ips is None:
            return None
        for k, ex in enumerate(item.get("except") or ()):
            cut = _cidr(ex, f"{where}.except[{k}]", problems)
            if cut is not None:
                ips = ips - cut
        text = f"CIDR {item['cidr']}" + (
            f" except {', '.join(item['except'])}" if item.get("except") else ""
        )
        return CiliumPeer(text=text, ips=ips)
    if base == "Nodes":
        errs: list = []
        sel = parse_selector(item, where, errs)
        problems.extend(errs)
        return CiliumPeer(text=f"nodes {_text(item)}", nodes=sel)
    problems.append((where.rsplit("[", 1)[0], f"{field} is not modelled; it matches nothing"))
    return None


def _and(a: Selector, b: Selector) -> Selector:
    return Selector(
        match_labels=tuple(sorted(set(a.match_labels) | set(b.match_labels))),
        expressions=a.expressions + b.expressions,
        valid=a.valid and b.valid,
    )


def _text(item) -> str:
    if not isinstance(item, dict) or not item:
        return "{}"
    parts = [f"{k}={v}" for k, v in (item.get("matchLabels") or {}).items()]
    parts += [
        f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".strip()
        for e in item.get("matchExpressions") or ()
        if isinstance(e, dict)
    ]
    return "{" + ", ".join(parts) + "}"


def _cidr(text, where, problems) -> IPSet | None:
    try:
        if isinstance(text, str) and "/" not in text:
            text = f"{text}/{ipaddress.ip_address(text).max_prefixlen}"
        return IPSet.from_cidr(text)
    except ValueError:
        problems.append((where, f"{text!r} is not a CIDR; it matches nothing"))
        return None


def _parse_to_ports(value, where, deny, problems):
    """(port specs, undecided L7 parts). ``ANY`` (the default) is TCP, UDP and SCTP."""
    if not isinstance(value, list):
        problems.append((where, "must be a list; the rule matches no port"))
        return (), []
    specs: list[PortSpec] = []
    l7 = []
    for i, entry in enumerate(value):
        epath = f"{where}[{i}]"
        if not isinstance(entry, dict):
            problems.append((epath, "must be a mapping; matches no port"))
            continue
        if entry.get("rules"):
            l7.append(f"L7 rule {epath}.rules ({', '.join(sorted(entry['rules']))})")
        if entry.get("serverNames") or entry.get("terminatingTLS") or entry.get("originatingTLS"):
            l7.append(f"TLS rule {epath}")
        ports = entry.get("ports")
        if not ports:
            specs += [PortSpec(protocol=p) for p in PROTOCOLS]
            continue
        for j, port in enumerate(ports):
            specs += _parse_port(port, f"{epath}.ports[{j}]", problems)
    return tuple(specs), l7


def _parse_port(obj, where, problems) -> list[PortSpec]:
    if not isinstance(obj, dict):
        problems.append((where, "must be a mapping; matches no port"))
        return []
    protocol = str(obj.get("protocol") or "ANY").upper()
    if protocol == "ICMP" or protocol == "ICMPV6":
        return []
    if protocol not in PROTOCOLS + ("ANY",):
        problems.append((f"{where}.protocol", f"{protocol!r} is not TCP, UDP, SCTP or ANY"))
        return []
    protocols = PROTOCOLS if protocol == "ANY" else (protocol,)
    port = obj.get("port")
    end = obj.get("endPort")
    if port is None or str(port) == "0":
        return [PortSpec(protocol=p) for p in protocols]
    text = str(port)
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 65535 or (
            end is not None and not (isinstance(end, int) and number <= end <= 65535)
        ):
            problems.append((where, f"port {port!r}/endPort {end!r} out of range; matches no port"))
            return []
        return [PortSpec(protocol=p, port=number, end_port=end or None) for p in protocols]
    if not _PORT_NAME.match(text) or len(text) > 15:
        problems.append((f"{where}.port", f"{port!r} is not a port number or name"))
        return []
    return [PortSpec(protocol=p, port=text) for p in protocols]


def ports_of(rule: CiliumRule, named_ports: frozenset) -> PortSet:
    if rule.ports is None:
        return ALL_PORTS
    out = NO_PORTS
    for spec in rule.ports:
        out = out | spec.resolve(named_ports)
    return out


# -- compiled form, over the evaluation's pod classes ---------------------------------------


@dataclass(slots=True, eq=False)
class CompiledCiliumRule:
    id: int
    policy: CiliumPolicy
    direction: str
    rule: CiliumRule
    subject: int  # the classes the policy selects
    peer_classes: tuple[int, ...]
    peer_ips: tuple[IPSet, ...]
    classes: int
    ips: IPSet
    fixed_ports: PortSet | None

    def ports_for(self, named_ports: frozenset) -> PortSet:
        return (
            self.fixed_ports if self.fixed_ports is not None else ports_of(self.rule, named_ports)
        )

    @property
    def label(self) -> str:
        return f"{self.policy.key} {self.policy.rule_path(self.direction, self.rule)}"


class Cilium:
    """The Cilium policies compiled over an evaluation's classes.

    ``isolated[direction]``: classes in default deny through a Cilium policy. Per class:
    ``own[direction]`` (allow rule ids) and ``own_deny[direction]`` (deny rule ids) about
    it, and ``towards``/``towards_deny``: the egress rules whose peers hold it.
    ``partial``: classes some rule about them cannot be decided exactly (L7, FQDN...).
    """

    def __init__(self, ev, policies: list[CiliumPolicy], nodes, cluster_ips: IPSet):
        self.policies = list(policies)
        n = len(ev.classes)
        node_addresses = IPSet.from_ips(a for node in nodes for a in node.addresses)
        self.node_ips = node_addresses
        world = ALL_IPS - cluster_ips - node_addresses
        self.entities = {
            "all": (ev.all, ALL_IPS),
            "world": (0, world),
            "world-ipv4": (0, world & IPSet.from_cidr("0.0.0.0/0")),
            "world-ipv6": (0, world & IPSet.from_cidr("::/0")),
            "cluster": (ev.all, cluster_ips | node_addresses),
            "remote-node": (0, node_addresses),
        }
        self.rules: list[CompiledCiliumRule] = []
        self.isolated = {"ingress": 0, "egress": 0}
        self.own = {d: [[] for _ in range(n)] for d in ("ingress", "egress")}
        self.own_deny = {d: [[] for _ in range(n)] for d in ("ingress", "egress")}
        self.towards: list[list[int]] = [[] for _ in range(n)]
        self.towards_deny: list[list[int]] = [[] for _ in range(n)]
        self.partial = 0
        self.subject: list[int] = []
        for i, policy in enumerate(self.policies):
            policy.id = i
            sel = policy.selector
            subject = ev.ns_index.eval(sel.namespaces) & ev.pod_index.eval(sel.pods)
            if policy.namespace is not None:
                subject &= ev.ns_mask(policy.namespace)
            self.subject.append(subject)
            members = bit_positions(subject)
            for direction in ("ingress", "egress"):
                if policy.default_deny[direction]:
                    self.isolated[direction] |= subject
                for rule in getattr(policy, direction):
                    compiled = self._compile(ev, policy, direction, rule, subject, nodes)
                    if rule.undecided:
                        self.partial |= subject
                    own = self.own_deny if rule.deny else self.own
                    for c in members:
                        own[direction][c].append(compiled.id)
                    if direction == "egress" and subject:
                        towards = self.towards_deny if rule.deny else self.towards
                        for c in bit_positions(compiled.classes):
                            towards[c].append(compiled.id)

    def _compile(self, ev, policy, direction, rule, subject, nodes) -> CompiledCiliumRule:
        peer_classes, peer_ips = [], []
        for peer in rule.peers if rule.peers is not None else ():
            if peer.selector is not None:
                c = ev.ns_index.eval(peer.selector.namespaces) & ev.pod_index.eval(
                    peer.selector.pods
                )
                peer_classes.append(c)
                peer_ips.append(NO_IPS)
            elif peer.entity is not None:
                c, ips = self.entities.get(peer.entity, (0, NO_IPS))
                peer_classes.append(c)
                peer_ips.append(ips)
            elif peer.ips is not None:
                # CIDR rules never match pods or nodes (Cilium: "CIDR rules do not apply
                # to traffic where both sides ... are managed by Cilium or use an IP
                # belonging to a node in the cluster").
                peer_classes.append(0)
                peer_ips.append(peer.ips - self.node_ips)
            elif peer.nodes is not None:
                peer_classes.append(0)
                peer_ips.append(node_ips(peer.nodes, nodes))
            else:
                peer_classes.append(0)
                peer_ips.append(NO_IPS)
        if rule.peers is None:
            peer_classes, peer_ips = [ev.all], [ALL_IPS]
        classes, ips = peers_union(peer_classes, peer_ips)
        named = bool(rule.ports) and any(s.named for s in rule.ports)
        compiled = CompiledCiliumRule(
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

    # -- what the evaluation asks ------------------------------------------------------

    def key_of(self, c: int) -> tuple:
        """What Cilium says about destination class ``c``: its ingress allows (None when
        no Cilium policy puts it in default deny), its ingress denies, and the egress
        allows and denies towards it."""
        allow = tuple(self.own["ingress"][c]) if self.isolated["ingress"] >> c & 1 else None
        return (
            allow,
            tuple(self.own_deny["ingress"][c]),
            tuple(self.towards[c]),
            tuple(self.towards_deny[c]),
            tuple(self.own["ingress"][c]),
        )

    def deny_key(self, c: int) -> tuple | None:
        """``key_of`` reduced to the deny rules about destination class ``c`` (ingress at
        it, egress towards it), for ``denies``; None when there are none."""
        ins, towards = self.own_deny["ingress"][c], self.towards_deny[c]
        if not ins and not towards:
            return None
        return (None, tuple(ins), (), tuple(towards), ())

    def egress_key(self, c: int) -> tuple:
        allow = tuple(self.own["egress"][c]) if self.isolated["egress"] >> c & 1 else None
        return (allow, tuple(self.own_deny["egress"][c]), tuple(self.own["egress"][c]))

    def uses_names(self, key: tuple) -> bool:
        return any(self.rules[r].fixed_ports is None for ids in key if ids for r in ids)

    def in_grants(self, key, named_ports) -> list[tuple[PortSet, int, IPSet]]:
        """The ingress allow grants of a destination group (in default deny or not: a
        pod that a NetworkPolicy isolates takes them too)."""
        return [
            (r.ports_for(named_ports), r.classes, r.ips) for r in (self.rules[i] for i in key[4])
        ]

    def eg_grants(self, key, named_ports) -> list[tuple[PortSet, int]]:
        return [(r.ports_for(named_ports), r.subject) for r in (self.rules[i] for i in key[2])]

    def denies(self, key, named_ports):
        """(ingress denies as (ports, classes, ips), egress denies as (ports, sources))."""
        ins = [
            (r.ports_for(named_ports), r.classes, r.ips) for r in (self.rules[i] for i in key[1])
        ]
        egs = [(r.ports_for(named_ports), r.subject) for r in (self.rules[i] for i in key[3])]
        return ins, egs

    def matches(self, ev, rid, other_class, other_ip, port, protocol, named):
        """The index of the first peer of rule ``rid`` matching the other end on this
        port, or None."""
        r = self.rules[rid]
        if not ports_of(r.rule, named).has(port, protocol):
            return None
        for j, (classes, ips) in enumerate(zip(r.peer_classes, r.peer_ips, strict=True)):
            if (other_class is not None and classes >> other_class & 1) or (
                other_class is None and other_ip is not None and other_ip in ips
            ):
                return j
        return None


def subtract(entries, in_deny, eg_deny, entry_type):
    """Entries (ports, source classes, source IPs) less what the deny rules match: per
    port segment, ingress denies drop their classes and addresses, egress denies drop the
    sources they are about."""
    if not in_deny and not eg_deny:
        return entries
    cuts = set()
    for ports, *_ in in_deny:
        cuts.update(ports.boundaries())
    for ports, _ in eg_deny:
        cuts.update(ports.boundaries())
    merged: dict[tuple[int, IPSet], list[tuple[int, int]]] = {}
    for e in entries:
        points = sorted(cuts | set(e.ports.boundaries()))
        for a, b in zip(points, points[1:], strict=False):
            if a not in e.ports:
                continue
            classes, ips = e.sources, e.ips
            for ports, c, i in in_deny:
                if a in ports:
                    classes &= ~c
                    ips = ips - i
            for ports, c in eg_deny:
                if a in ports:
                    classes &= ~c
            if classes or ips:
                merged.setdefault((classes, ips), []).append((a, b))
    return [entry_type(PortSet(r), c, i) for (c, i), r in merged.items()]


def subtract_ips(entries, deny) -> list[tuple[PortSet, IPSet]]:
    """Egress-to-address entries (ports, IPs) less the deny rules' (ports, IPs)."""
    if not deny:
        return entries
    cuts = set()
    for ports, _ in deny:
        cuts.update(ports.boundaries())
    merged: dict[IPSet, list[tuple[int, int]]] = {}
    for ports_e, ips_e in entries:
        points = sorted(cuts | set(ports_e.boundaries()))
        for a, b in zip(points, points[1:], strict=False):
            if a not in ports_e:
                continue
            ips = ips_e
            for ports, i in deny:
                if a in ports:
                    ips = ips - i
            if ips:
                merged.setdefault(ips, []).append((a, b))
    return [(PortSet(r), i) for i, r in merged.items()]
