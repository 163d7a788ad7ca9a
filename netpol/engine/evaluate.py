"""Fast evaluation on pod classes with bitsets (Python ints: bit i = class i).

Nothing here loops over pods × pods × policies. The steps, in the order ``Evaluation``
runs them:

1. Group active pods into classes (``classes.py``) so each namespace is a bit range.
2. Index class labels and namespace labels (``LabelIndex``); each distinct selector is
   evaluated once for all classes with a few big-int ANDs.
3. Per policy: the classes it selects. Per rule: the classes and IPs its peers match.
4. Isolation: OR of the selections of the policies affecting each direction.
5. Allowed set (``allowed()``): for each destination class, cut the port line at every
   boundary of the rules that concern it and, per port segment, AND the sources its
   ingress admits with the sources whose egress reaches it. Destination classes with the
   same rules share the work and form one destination group.
6. Cluster policies (``tiers.py``): when any exist, each destination group's segments
   walk the Admin and Baseline rules around the NetworkPolicy answer, still on bitsets.
7. Cilium policies (``cilium.py``): their default deny joins NetworkPolicy isolation,
   their allow rules join the NetworkPolicy grants, and their deny rules are subtracted
   from each group's entries at the end.
8. Calico policies (``calico.py``): when any exist, one walk of Calico's ordered tiers
   decides each side instead, the NetworkPolicies and Cilium's allows in its ``default``
   tier and the cluster-wide tiers as Calico's own; Cilium's denies are still subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass

from netpol.bits import bit_positions

from .calico import (
    CalicoNetworkSet,
    CalicoPolicy,
    CalicoTier,
    CalicoTiers,
    entity_sets,
    uses_service_accounts,
)
from .cilium import Cilium, CiliumPolicy, subtract, subtract_ips
from .classes import build_classes
from .ipsets import ALL_IPS, NO_IPS, IPSet, peers_union
from .model import Namespace, Pod, Policy, Rule
from .ports import ALL_PORTS, NO_PORTS, PortSet, PortSpec
from .selectors import LabelIndex, bits_from_positions
from .tiers import ClusterPolicy, Tiers

INGRESS = "ingress"
EGRESS = "egress"


def resolve_ports(ports: tuple[PortSpec, ...] | None, named_ports: frozenset) -> PortSet:
    """The ports a rule's ``ports`` allows towards a destination with these named ports."""
    if ports is None:
        return ALL_PORTS
    out = NO_PORTS
    for spec in ports:
        out = out | spec.resolve(named_ports)
    return out


@dataclass(slots=True, eq=False)
class CompiledRule:
    """A rule with its peers evaluated: per peer and in total, the classes and IPs matched."""

    id: int
    policy: Policy
    direction: str
    rule: Rule
    peer_classes: tuple[int, ...]
    peer_ips: tuple[IPSet, ...]
    classes: int
    ips: IPSet
    fixed_ports: PortSet | None  # the rule's ports when they hold no port name

    def ports_for(self, named_ports: frozenset) -> PortSet:
        if self.fixed_ports is not None:
            return self.fixed_ports
        return resolve_ports(self.rule.ports, named_ports)


@dataclass(slots=True)
class Entry:
    """Sources allowed to a destination group on ``ports``: pod classes (bitset) and IP
    addresses (sources outside any pod, or pods matched by address)."""

    ports: PortSet
    sources: int
    ips: IPSet


@dataclass(slots=True)
class DestinationGroup:
    classes: list[int]
    entries: list[Entry]


@dataclass(slots=True)
class EgressGroup:
    """Where a group of source classes may send to by address, per port."""

    classes: list[int]
    entries: list[tuple[PortSet, IPSet]]


class Evaluation:
    def __init__(
        self,
        namespaces: dict[str, Namespace],
        policies: list[Policy],
        pods: list[Pod],
        cluster_policies: list[ClusterPolicy] = (),
        nodes=(),
        cilium_policies: list[CiliumPolicy] = (),
        cluster_ips: IPSet = NO_IPS,
        calico_policies: list[CalicoPolicy] = (),
        calico_tiers: list[CalicoTier] = (),
        calico_network_sets: list[CalicoNetworkSet] = (),
        service_account_labels: dict | None = None,
    ):
        self.policies = policies
        self.namespaces = namespaces
        # Read by calico.py: what rule selectors match besides pods, and pods' accounts.
        self.calico_network_sets = list(calico_network_sets) if calico_policies else []
        self.service_account_labels = service_account_labels or {}
        # 1. Classes; ipBlocks take part in the class key through their distinct sets.
        blocks: dict[IPSet, int] = {}
        for policy in policies:
            for rule in policy.ingress + policy.egress:
                for peer in rule.peers or ():
                    if peer.ip_block is not None:
                        blocks.setdefault(peer.ip_block, len(blocks))
        for cluster_policy in cluster_policies:  # their networks match pod IPs too
            for rule in cluster_policy.ingress + cluster_policy.egress:
                for tier_peer in rule.peers:
                    if tier_peer.ips is not None and tier_peer.nodes is None:
                        blocks.setdefault(tier_peer.ips, len(blocks))
        for calico_policy in calico_policies:  # Calico's nets match pod IPs too
            for calico_rule in calico_policy.ingress + calico_policy.egress:
                for entity in (calico_rule.source, calico_rule.destination):
                    for ips in entity_sets(entity):
                        blocks.setdefault(ips, len(blocks))
        for network_set in self.calico_network_sets:  # a selector matching it: its pods too
            blocks.setdefault(network_set.nets, len(blocks))
        self.classes, self.ns_ranges = build_classes(
            pods, list(blocks), by_service_account=uses_service_accounts(calico_policies)
        )
        self.class_of: dict[str, int] = {p.key: c.id for c in self.classes for p in c.pods}
        n = len(self.classes)
        self.all = (1 << n) - 1
        # 2. Label indexes over classes, for pod labels and for namespace labels.
        self.pod_index = LabelIndex([c.labels for c in self.classes])
        empty: dict[str, str] = {}
        self.ns_index = LabelIndex(
            [
                namespaces[c.namespace].labels if c.namespace in namespaces else empty
                for c in self.classes
            ]
        )
        by_block: list[list[int]] = [[] for _ in blocks]
        for c in self.classes:
            for b in bit_positions(c.blocks):
                by_block[b].append(c.id)
        self._block_classes = {
            ipset: bits_from_positions(by_block[b], n) for ipset, b in blocks.items()
        }
        # 3. Selections and rules.
        self.selected: list[int] = []
        self.policies_of: list[list[Policy]] = [[] for _ in range(n)]
        self.rules: list[CompiledRule] = []
        self.ingress_rules_of: list[list[int]] = [[] for _ in range(n)]
        self.egress_rules_of: list[list[int]] = [[] for _ in range(n)]
        self.isolated_ingress = 0
        self.isolated_egress = 0
        for policy in policies:
            lo, _ = self.ns_ranges.get(policy.namespace, (0, 0))
            sel = self.ns_mask(policy.namespace) & self.pod_index.eval(policy.pod_selector)
            self.selected.append(sel)
            members = [lo + i for i in bit_positions(sel >> lo)] if sel else []
            for c in members:
                self.policies_of[c].append(policy)
            # 4. Isolation.
            if policy.affects_ingress:
                self.isolated_ingress |= sel
            if policy.affects_egress:
                self.isolated_egress |= sel
            for direction, rules, per_class in (
                (INGRESS, policy.ingress, self.ingress_rules_of),
                (EGRESS, policy.egress, self.egress_rules_of),
            ):
                for rule in rules:
                    compiled = self._compile(policy, direction, rule)
                    for c in members:
                        per_class[c].append(compiled.id)
        # 6. Cluster-wide tiers (Admin and Baseline) around the NetworkPolicy tier.
        self.tiers = Tiers(self, list(cluster_policies), nodes) if cluster_policies else None
        # 7. Cilium policies, in the NetworkPolicy tier (cilium.py).
        self.cilium = Cilium(self, cilium_policies, nodes, cluster_ips) if cilium_policies else None
        # 8. Calico's tiers, the NetworkPolicies in the default one (calico.py).
        #    With Calico the cluster-wide tiers and Cilium join its walk (calico.py).
        self.calico = (
            CalicoTiers(self, list(calico_policies), list(calico_tiers), self.tiers, self.cilium)
            if calico_policies
            else None
        )

    # -- questions about classes, so nobody outside the engine reads the bitsets --------

    def isolated_bits(self, direction: str) -> int:
        """The classes in default deny for ``direction``: selected by a NetworkPolicy for
        it, by a Cilium policy with rules in it, or by a policy of a Calico tier that ends
        in Deny. What a pod may then receive or send is only what some rule allows."""
        bits = self.isolated_ingress if direction == INGRESS else self.isolated_egress
        cilium = getattr(self, "cilium", None)
        if cilium is not None:
            bits |= cilium.isolated[direction]
        calico = getattr(self, "calico", None)
        if calico is not None:
            bits |= calico.isolating(direction)
        return bits

    def is_isolated(self, c: int, direction: str) -> bool:
        """Is class ``c`` isolated for ``direction`` ("ingress"/"egress"), by a policy of
        any kind (``isolated_bits``)?"""
        return bool(self.isolated_bits(direction) >> c & 1)

    def rules_of(self, c: int, direction: str) -> list[CompiledRule]:
        """The rules that apply to class ``c`` for ``direction``, in policy order."""
        ids = self.ingress_rules_of[c] if direction == INGRESS else self.egress_rules_of[c]
        return [self.rules[r] for r in ids]

    def isolated_classes(self, direction: str) -> list[int]:
        """The ids of the classes isolated for ``direction``, ascending."""
        return bit_positions(self.isolated_bits(direction))

    def classes_in(self, classes: int) -> list[int]:
        """The ids of a class set (as ``selected``, rules and entries hold them), ascending."""
        return bit_positions(classes)

    def pods_in(self, classes: int) -> list[Pod]:
        """The pods of a class set, class by class."""
        return [pod for c in bit_positions(classes) for pod in self.classes[c].pods]

    def class_set(self, ids) -> int:
        """The class set of the given class ids (the inverse of ``classes_in``)."""
        return bits_from_positions(ids, len(self.classes))

    @staticmethod
    def first_class(classes: int) -> int | None:
        """The lowest class id of a class set, or None when it is empty."""
        return (classes & -classes).bit_length() - 1 if classes else None

    @property
    def default_deny_egress(self) -> int:
        """Classes in default deny for egress in the NetworkPolicy tier: isolated by a
        NetworkPolicy or by a Cilium policy."""
        cilium = getattr(self, "cilium", None)
        return self.isolated_egress | (cilium.isolated["egress"] if cilium else 0)

    def ns_mask(self, namespace: str) -> int:
        lo, hi = self.ns_ranges.get(namespace, (0, 0))
        return ((1 << hi) - 1) ^ ((1 << lo) - 1)

    def block_classes(self, ips: IPSet) -> int:
        """The classes whose pod IPs fall in an address set known at class building."""
        return self._block_classes.get(ips, 0)

    def _compile(self, policy: Policy, direction: str, rule: Rule) -> CompiledRule:
        if not rule.valid:
            peer_classes, peer_ips = (0,), (NO_IPS,)
        elif rule.peers is None:
            peer_classes, peer_ips = (self.all,), (ALL_IPS,)
        else:
            peer_classes = tuple(self.peer_classes(policy, peer) for peer in rule.peers)
            peer_ips = tuple(
                peer.ip_block if peer.ip_block is not None and peer.valid else NO_IPS
                for peer in rule.peers
            )
        classes, ips = peers_union(peer_classes, peer_ips)
        compiled = CompiledRule(
            id=len(self.rules),
            policy=policy,
            direction=direction,
            rule=rule,
            peer_classes=peer_classes,
            peer_ips=peer_ips,
            classes=classes,
            ips=ips,
            fixed_ports=None
            if rule.has_named_ports or not rule.valid
            else resolve_ports(rule.ports, frozenset()),
        )
        if not rule.valid:
            compiled.fixed_ports = NO_PORTS
        self.rules.append(compiled)
        return compiled

    def peer_classes(self, policy: Policy, peer) -> int:
        """The classes a peer matches: podSelector alone stays in the policy's namespace,
        namespaceSelector alone takes whole namespaces, both together AND, and an ipBlock
        takes the classes whose pod IPs fall in it."""
        if not peer.valid:
            return 0
        if peer.ip_block is not None:
            return self._block_classes.get(peer.ip_block, 0)
        if peer.namespace_selector is None:
            return self.ns_mask(policy.namespace) & self.pod_index.eval(peer.pod_selector)
        result = self.ns_index.eval(peer.namespace_selector)
        if peer.pod_selector is not None:
            result &= self.pod_index.eval(peer.pod_selector)
        return result

    # -- 5. the allowed set ------------------------------------------------------------

    def allowed(self) -> list[DestinationGroup]:
        """Per group of destination classes: which source classes and IPs on which ports."""
        calico = getattr(self, "calico", None)
        cilium = getattr(self, "cilium", None)
        if calico is not None:
            by_key: dict[tuple, list[int]] = {}
            for cls in self.classes:
                key = calico.key_of(cls.id)
                deny = cilium.deny_key(cls.id) if cilium else None
                uses_names = calico.uses_names(key) or (deny and cilium.uses_names(deny))
                named = cls.named_ports if uses_names else None
                by_key.setdefault((key, deny, named), []).append(cls.id)
            result = []
            for (key, deny, _), members in by_key.items():
                named_ports = self.classes[members[0]].named_ports
                entries = calico.segments(self, key, named_ports, Entry)
                if deny:
                    entries = subtract(entries, *cilium.denies(deny, named_ports), Entry)
                result.append(DestinationGroup(members, entries))
            calico.runs = {}
            return result
        # Egress rules deduplicated by (destination classes, ports): each keeps the OR of
        # the sources whose policies hold it, then is handed to each destination it reaches.
        out_rules: dict[tuple, list] = {}
        for compiled in self.rules:
            if compiled.direction != EGRESS or not compiled.classes:
                continue
            sources = self.selected[compiled.policy.id]
            if not sources:
                continue
            key = (compiled.classes, compiled.rule.ports if compiled.rule.valid else "invalid")
            entry = out_rules.get(key)
            if entry is None:
                out_rules[key] = [compiled, sources]
            else:
                entry[1] |= sources
        shared = list(out_rules.values())
        incoming: list[list[int]] = [[] for _ in self.classes]
        for gid, (compiled, _) in enumerate(shared):
            for d in bit_positions(compiled.classes):
                incoming[d].append(gid)
        free_egress = self.all & ~self.default_deny_egress

        groups: dict[tuple, list[int]] = {}
        for cls in self.classes:
            c = cls.id
            in_rules = tuple(self.ingress_rules_of[c]) if self.isolated_ingress >> c & 1 else None
            named = any(self.rules[r].fixed_ports is None for r in in_rules or ()) or any(
                shared[g][0].fixed_ports is None for g in incoming[c]
            )
            tiers = self.tiers.key_of(c) if self.tiers else None
            named = named or (tiers is not None and self.tiers.uses_names(tiers))
            cil = cilium.key_of(c) if cilium else None
            named = named or (cil is not None and cilium.uses_names(cil))
            key = (in_rules, tuple(incoming[c]), cls.named_ports if named else None, tiers, cil)
            groups.setdefault(key, []).append(c)

        result = []
        for (in_rules, in_from, _, tiers, cil), members in groups.items():
            named_ports = self.classes[members[0]].named_ports
            if in_rules is None and (cil is None or cil[0] is None):
                in_grants = [(ALL_PORTS, self.all, ALL_IPS)]
            else:
                in_grants = [
                    (self.rules[r].ports_for(named_ports), self.rules[r].classes, self.rules[r].ips)
                    for r in in_rules or ()
                ]
                in_grants += cilium.in_grants(cil, named_ports) if cil else []
            np_eg = [(shared[g][0].ports_for(named_ports), shared[g][1]) for g in in_from]
            if cil is not None:
                np_eg += cilium.eg_grants(cil, named_ports)
            if tiers is not None:
                isolated = in_rules is not None or (cil is not None and cil[0] is not None)
                np_in = in_grants if isolated else None
                entries = self.tiers.segments(self, tiers, named_ports, np_in, np_eg, Entry)
            else:
                entries = _segments(in_grants, [(ALL_PORTS, free_egress)] + np_eg)
            if cil is not None:
                in_deny, eg_deny = cilium.denies(cil, named_ports)
                entries = subtract(entries, in_deny, eg_deny, Entry)
            result.append(DestinationGroup(members, entries))
        return result

    def egress_ips(self) -> list[EgressGroup]:
        """Per group of source classes: the addresses their egress allows, per port. Port
        names never match an address: they resolve only against a destination pod."""
        calico = getattr(self, "calico", None)
        cilium = getattr(self, "cilium", None)
        none = frozenset()
        if calico is not None:
            by_key: dict[tuple, list[int]] = {}
            for cls in self.classes:
                deny = tuple(cilium.own_deny[EGRESS][cls.id]) if cilium else ()
                by_key.setdefault((calico.egress_key(cls.id), deny), []).append(cls.id)
            groups = []
            for (key, deny), members in by_key.items():
                entries = calico.egress_segments(key)
                if deny:
                    rules = [cilium.rules[r] for r in deny]
                    entries = subtract_ips(entries, [(r.ports_for(none), r.ips) for r in rules])
                groups.append(EgressGroup(members, entries))
            calico.runs = {}
            return groups
        groups: dict[tuple | None, list[int]] = {}
        for cls in self.classes:
            c = cls.id
            key = tuple(self.egress_rules_of[c]) if self.isolated_egress >> c & 1 else None
            tiers = self.tiers.egress_key(c) if self.tiers else None
            cil = cilium.egress_key(c) if cilium else None
            groups.setdefault((key, tiers, cil), []).append(c)
        result = []
        for (rules, tiers, cil), members in groups.items():
            np_rules = None
            if rules is not None or (cil is not None and cil[0] is not None):
                np_rules = [(self.rules[r].ports_for(none), self.rules[r].ips) for r in rules or ()]
            if cil is not None and np_rules is not None:
                np_rules += [(cilium.rules[r].ports_for(none), cilium.rules[r].ips) for r in cil[2]]
            if tiers is not None:
                entries = self.tiers.egress_segments(tiers, np_rules)
            else:
                if np_rules is None:
                    grants = [(ALL_PORTS, 0, ALL_IPS)]
                else:
                    grants = [(ports, 0, ips) for ports, ips in np_rules]
                entries = [(e.ports, e.ips) for e in _segments(grants, [(ALL_PORTS, 0)])]
            if cil is not None and cil[1]:
                deny = [(cilium.rules[r].ports_for(none), cilium.rules[r].ips) for r in cil[1]]
                entries = subtract_ips(entries, deny)
            result.append(EgressGroup(members, entries))
        return result


def _segments(in_grants, eg_grants) -> list[Entry]:
    """Cut the port line at every grant boundary; per segment AND ingress with egress.

    ``in_grants``: (ports, source classes, source IPs) admitted by the destination.
    ``eg_grants``: (ports, source classes) whose egress reaches the destination.
    IP sources are outside egress policy, so only ingress limits them.
    """
    points = set()
    for ports, *_ in in_grants:
        points.update(ports.boundaries())
    for ports, _ in eg_grants:
        points.update(ports.boundaries())
    points = sorted(points)
    merged: dict[tuple[int, IPSet], list[tuple[int, int]]] = {}
    for a, b in zip(points, points[1:], strict=False):
        classes = 0
        ip_sets = []
        for ports, c, ips in in_grants:
            if a in ports:
                classes |= c
                if ips and ips not in ip_sets:
                    ip_sets.append(ips)
        if not classes and not ip_sets:
            continue
        reach = 0
        for ports, c in eg_grants:
            if a in ports:
                reach |= c
        classes &= reach
        ips = NO_IPS
        for i in ip_sets:
            ips = ips | i
        if classes or ips:
            merged.setdefault((classes, ips), []).append((a, b))
    return [Entry(PortSet(ranges), classes, ips) for (classes, ips), ranges in merged.items()]
