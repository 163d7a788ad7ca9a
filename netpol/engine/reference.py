"""A deliberately plain per-pod evaluation, written straight from the documentation.

It is slow (it looks at every policy for every question) and exists so the property tests
can check the class-based evaluation against it. Loopback and node traffic, which no
policy governs, are left to ``explain.reach``; this module answers what the policies say.
"""

from __future__ import annotations

from .ipsets import ALL_IPS, IPV4_BASE, IPSet, ip_to_int
from .model import ACTIVE, Namespace, Pod, Policy, PolicyError, Rule
from .ports import PortSpec


def selects(policy: Policy, pod: Pod) -> bool:
    """A policy selects pods of its own namespace that match its podSelector."""
    return policy.namespace == pod.namespace and policy.pod_selector.matches(pod.labels)


def peer_matches(policy: Policy, peer, other: Pod | int, namespaces: dict[str, Namespace]) -> bool:
    """Does one from/to entry match the other end (a pod, or an address as an int)?"""
    if not peer.valid:
        return False
    if isinstance(other, int):
        return peer.ip_block is not None and other in peer.ip_block
    if peer.ip_block is not None:
        # ipBlock applies to pod IPs too; a pod with an unknown IP matches no ipBlock.
        return any(v in peer.ip_block for v in other.ip_values)
    if peer.namespace_selector is None:
        in_namespace = other.namespace == policy.namespace
    else:
        ns = namespaces.get(other.namespace)
        in_namespace = peer.namespace_selector.matches(ns.labels if ns else {})
    return in_namespace and (peer.pod_selector is None or peer.pod_selector.matches(other.labels))


def port_matches(rule: Rule, port: int, protocol: str, named_ports: frozenset) -> bool:
    if rule.ports is None:
        return True
    return any(spec.resolve(named_ports).has(port, protocol) for spec in rule.ports)


def rule_matches(policy, rule, other, port, protocol, named_ports, namespaces) -> bool:
    """A rule matches when a peer matches AND a port matches."""
    if not rule.valid:
        return False
    peer_ok = rule.peers is None or any(
        peer_matches(policy, p, other, namespaces) for p in rule.peers
    )
    return peer_ok and port_matches(rule, port, protocol, named_ports)


def isolation(policies: list[Policy], pod: Pod) -> tuple[bool, bool]:
    ingress = any(p.affects_ingress and selects(p, pod) for p in policies)
    egress = any(p.affects_egress and selects(p, pod) for p in policies)
    return ingress, egress


def ingress_allowed(
    policies, namespaces, src: Pod | int, dst: Pod, port: int, protocol: str
) -> bool:
    relevant = [p for p in policies if p.affects_ingress and selects(p, dst)]
    if not relevant:
        return True
    return any(
        rule_matches(p, r, src, port, protocol, dst.named_ports, namespaces)
        for p in relevant
        for r in p.ingress
    )


def egress_allowed(
    policies, namespaces, src: Pod, dst: Pod | int, port: int, protocol: str
) -> bool:
    relevant = [p for p in policies if p.affects_egress and selects(p, src)]
    if not relevant:
        return True
    named = dst.named_ports if isinstance(dst, Pod) else frozenset()
    return any(
        rule_matches(p, r, dst, port, protocol, named, namespaces)
        for p in relevant
        for r in p.egress
    )


def connection_allowed(
    policies, namespaces, src: Pod | int, dst: Pod | int, port: int, protocol: str
) -> bool:
    """Egress at the source AND ingress at the destination; addresses have no policy."""
    for end in (src, dst):
        if isinstance(end, Pod) and end.state != ACTIVE:
            return False
    ok = True
    if isinstance(src, Pod):
        ok = egress_allowed(policies, namespaces, src, dst, port, protocol)
    if ok and isinstance(dst, Pod):
        ok = ingress_allowed(policies, namespaces, src, dst, port, protocol)
    return ok


def interesting_ports(policies: list[Policy], pods: list[Pod]) -> list[tuple[str, int]]:
    """(protocol, port) probes covering every boundary any rule or named port can create."""
    out = set()
    for proto in ("TCP", "UDP", "SCTP"):
        out.update({(proto, 1), (proto, 65535)})
    for policy in policies:
        for rule in policy.ingress + policy.egress:
            for spec in rule.ports or ():
                if isinstance(spec.port, int):
                    end = spec.end_port or spec.port
                    for v in (spec.port - 1, spec.port, end, end + 1):
                        if 1 <= v <= 65535:
                            out.add((spec.protocol, v))
    for pod in pods:
        for _, proto, number in pod.named_ports:
            for v in (number - 1, number, number + 1):
                if 1 <= v <= 65535:
                    out.add((proto, v))
    return sorted(out)


# -- cluster-wide tiers (tiers.py), written from the ClusterNetworkPolicy documentation --


def tier_peer_matches(peer, other: Pod | int, namespaces: dict[str, Namespace], nodes) -> bool:
    """Does one from/to entry of a cluster policy match the other end?"""
    if peer.everything:
        return True
    if peer.nodes is not None:
        # The selected nodes' addresses; a pod on the pod network is never a node.
        return isinstance(other, int) and any(
            peer.nodes.matches(n.labels) and other in {ip_to_int(a) for a in n.addresses}
            for n in nodes
        )
    if peer.ips is not None:
        if isinstance(other, int):
            return other in peer.ips
        return any(v in peer.ips for v in other.ip_values)
    if peer.domains or isinstance(other, int):
        return False  # domain names cannot be resolved; namespaces/pods name no address
    ns = namespaces.get(other.namespace)
    return peer.namespaces.matches(ns.labels if ns else {}) and (
        peer.pods is None or peer.pods.matches(other.labels)
    )


def tier_action(cluster_policies, tier, namespaces, nodes, pod, other, port, protocol, direction):
    """The action of the first rule of ``tier`` that is about ``pod`` (its subject holds
    it) and matches ``other`` and the port, in precedence order; None when none does."""
    destination = pod if direction == "ingress" else other
    named = destination.named_ports if isinstance(destination, Pod) else frozenset()
    ns = namespaces.get(pod.namespace)
    for policy in sorted(cluster_policies, key=lambda p: p.precedence):
        if policy.tier != tier or not policy.selects(ns.labels if ns else {}, pod.labels):
            continue
        for rule in getattr(policy, direction):
            peer_ok = any(tier_peer_matches(p, other, namespaces, nodes) for p in rule.peers)
            port_ok = rule.ports is None or any(
                spec.resolve(named).has(port, protocol) for spec in rule.ports
            )
            if peer_ok and port_ok:
                return rule.action
    return None


def side_allowed(
    policies, cluster_policies, namespaces, nodes, pod, other, port, protocol, direction
):
    """One side through the tiers: Admin, then NetworkPolicy for the pods it isolates,
    then Baseline, then allowed. Accept and Deny decide; Pass or no match goes on."""
    action = tier_action(
        cluster_policies, "Admin", namespaces, nodes, pod, other, port, protocol, direction
    )
    if action in ("Accept", "Deny"):
        return action == "Accept"
    ingress, egress = isolation(policies, pod)
    if direction == "ingress" and ingress:
        return ingress_allowed(policies, namespaces, other, pod, port, protocol)
    if direction == "egress" and egress:
        return egress_allowed(policies, namespaces, pod, other, port, protocol)
    action = tier_action(
        cluster_policies, "Baseline", namespaces, nodes, pod, other, port, protocol, direction
    )
    return action != "Deny"


def tiered_connection_allowed(
    policies, cluster_policies, namespaces, nodes, src: Pod | int, dst: Pod | int, port, protocol
) -> bool:
    """Egress at the source AND ingress at the destination, each through the tiers."""
    for end in (src, dst):
        if isinstance(end, Pod) and end.state != ACTIVE:
            return False
    args = (policies, cluster_policies, namespaces, nodes)
    if isinstance(src, Pod) and not side_allowed(*args, src, dst, port, protocol, "egress"):
        return False
    return not isinstance(dst, Pod) or side_allowed(*args, dst, src, port, protocol, "ingress")


def tier_ports(cluster_policies) -> list[tuple[str, int]]:
    """(protocol, port) probes at the boundaries of the cluster policies' numeric ports."""
    out = set()
    for policy in cluster_policies:
        for rule in policy.ingress + policy.egress:
            for spec in rule.ports or ():
                if isinstance(spec.port, int):
                    end = spec.end_port or spec.port
                    for v in (spec.port - 1, spec.port, end, end + 1):
                        if 1 <= v <= 65535:
                            out.add((spec.protocol, v))
    return sorted(out)


# -- Cilium (cilium.py), written from Cilium's policy documentation ---------------------


def cilium_selects(policy, pod: Pod, namespaces: dict[str, Namespace]) -> bool:
    ns = namespaces.get(pod.namespace)
    return policy.selects(pod.namespace, ns.labels if ns else {}, pod.labels)


def cilium_peer_matches(peer, other: Pod | int, namespaces, world, cluster_ips, node_ips, nodes):
    """Does one L3 peer of a Cilium rule match the other end (a pod or an address)?
    ``world``, ``cluster_ips``, ``node_ips``: what the entities mean as addresses."""
    if peer.undecided:
        return False
    if peer.selector is not None:
        if isinstance(other, int):
            return False
        ns = namespaces.get(other.namespace)
        return peer.selector.namespaces.matches(ns.labels if ns else {}) and (
            peer.selector.pods.matches(other.labels)
        )
    if peer.entity is not None:
        if peer.entity in ("all", "cluster") and isinstance(other, Pod):
            return True
        if not isinstance(other, int):
            return False
        if peer.entity == "all":
            return True
        if peer.entity == "cluster":
            return other in cluster_ips or other in node_ips
        if peer.entity == "remote-node":
            return other in node_ips
        if peer.entity.startswith("world"):
            in_family = peer.entity == "world" or (
                (other >= IPV4_BASE) == (peer.entity == "world-ipv4")
            )
            return in_family and other in world
        return False
    if peer.ips is not None:  # CIDRs: addresses only, never a pod or a node
        return isinstance(other, int) and other in peer.ips and other not in node_ips
    if peer.nodes is not None:
        return isinstance(other, int) and any(
            peer.nodes.matches(n.labels) and other in {ip_to_int(a) for a in n.addresses}
            for n in nodes
        )
    return False


def cilium_rule_matches(rule, other, port, protocol, named, *args) -> bool:
    if rule.ports is not None and not any(s.resolve(named).has(port, protocol) for s in rule.ports):
        return False
    if rule.peers is None:
        return True
    return any(cilium_peer_matches(p, other, *args) for p in rule.peers)


def cilium_side(policies, cilium, namespaces, pod, other, port, protocol, direction, args):
    """(default deny, allowed by some rule, denied by some rule) for one side: the
    NetworkPolicies and Cilium policies about ``pod``. ``args``: entity addresses."""
    destination = pod if direction == "ingress" else other
    named = destination.named_ports if isinstance(destination, Pod) else frozenset()
    ingress_iso, egress_iso = isolation(policies, pod)
    np_iso = ingress_iso if direction == "ingress" else egress_iso
    if direction == "ingress":
        np_ok = np_iso and ingress_allowed(policies, namespaces, other, pod, port, protocol)
    else:
        np_ok = np_iso and egress_allowed(policies, namespaces, pod, other, port, protocol)
    iso, ok, denied = np_iso, np_ok, False
    for policy in cilium:
        if not cilium_selects(policy, pod, namespaces):
            continue
        iso = iso or policy.default_deny[direction]
        for rule in getattr(policy, direction):
            if cilium_rule_matches(rule, other, port, protocol, named, namespaces, *args):
                if rule.deny:
                    denied = True
                else:
                    ok = True
    return iso, ok, denied


def full_connection_allowed(
    policies, cluster_policies, cilium, namespaces, nodes, cluster_ips, src, dst, port, protocol
) -> bool:
    """Every kind together, per side: the Admin tier, then the NetworkPolicy tier (the
    NetworkPolicies and Cilium policies: default deny when any says so, allowed by the
    union of their rules), then Baseline, then allowed; a Cilium deny overrides all."""
    for end in (src, dst):
        if isinstance(end, Pod) and end.state != ACTIVE:
            return False
    node_ips = {ip_to_int(a) for n in nodes for a in n.addresses}
    world = ALL_IPS - cluster_ips - IPSet([(v, v + 1) for v in node_ips])
    args = (world, cluster_ips, node_ips, nodes)

    def side(pod, other, direction):
        iso, ok, denied = cilium_side(
            policies, cilium, namespaces, pod, other, port, protocol, direction, args
        )
        if denied:
            return False
        action = tier_action(
            cluster_policies, "Admin", namespaces, nodes, pod, other, port, protocol, direction
        )
        if action in ("Accept", "Deny"):
            return action == "Accept"
        if iso:
            return ok
        action = tier_action(
            cluster_policies, "Baseline", namespaces, nodes, pod, other, port, protocol, direction
        )
        return action != "Deny"

    if isinstance(src, Pod) and not side(src, dst, "egress"):
        return False
    return not isinstance(dst, Pod) or side(dst, src, "ingress")


def cilium_ports(cilium) -> list[tuple[str, int]]:
    """(protocol, port) probes at the boundaries of the Cilium rules' numeric ports."""
    return tier_ports([p for p in cilium])


# -- Calico (calico.py), written from Calico's policy reference ---------------------------


class CalicoObjects:
    """What Calico's selectors match besides pods, as the reference reads it: the network
    sets (parsed), and the ServiceAccounts (API-shaped dicts) by namespace and name."""

    def __init__(self, network_sets=(), service_accounts=()):
        self.network_sets = list(network_sets)
        self.accounts: dict[tuple[str, str], dict[str, str]] = {}
        for obj in service_accounts:
            md = obj["metadata"]
            self.accounts[(md.get("namespace") or "default", md["name"])] = dict(
                md.get("labels") or {}
            )

    def account_labels(self, pod: Pod) -> dict[str, str]:
        """The labels of the pod's ServiceAccount, and ``projectcalico.org/name``: its name
        ("Select a specific service account by name using the projectcalico.org/name
        label"). An account not collected has no other label."""
        labels = dict(self.accounts.get((pod.namespace, pod.service_account), {}))
        labels["projectcalico.org/name"] = pod.service_account
        return labels


_NO_OBJECTS = CalicoObjects()


def calico_selects(
    policy, pod: Pod, namespaces: dict[str, Namespace], objects: CalicoObjects = _NO_OBJECTS
) -> bool:
    """A Calico NetworkPolicy selects pods of its namespace; a GlobalNetworkPolicy pods of
    the namespaces its ``namespaceSelector`` matches (every namespace without one); with a
    ``serviceAccountSelector``, only pods whose ServiceAccount it matches."""
    ns = namespaces.get(pod.namespace)
    if policy.namespace is not None and pod.namespace != policy.namespace:
        return False
    if policy.namespace_selector is not None and not policy.namespace_selector.matches(
        _calico_ns_labels(pod.namespace, ns)
    ):
        return False
    accounts = getattr(policy, "service_account_selector", None)
    if accounts is not None and not accounts.matches(objects.account_labels(pod)):
        return False
    return policy.selector.matches(_calico_pod_labels(pod))


def _calico_pod_labels(pod: Pod) -> dict[str, str]:
    """A pod's labels and those Calico gives it: its namespace, the orchestrator."""
    return {
        **pod.labels,
        "projectcalico.org/namespace": pod.namespace,
        "projectcalico.org/orchestrator": "k8s",
    }


def _calico_ns_labels(name: str, ns) -> dict[str, str]:
    """A namespace's labels and the one Calico gives it: its name."""
    return {**(ns.labels if ns else {}), "projectcalico.org/name": name}


def calico_entity_matches(
    entity, end: Pod | int, policy, namespaces, named, port, protocol, objects=_NO_OBJECTS
):
    """Does a rule's source or destination match one end? Every field given must hold.
    ``named``/``port`` are given for the destination, whose ports the entity may name.

    Calico's EntityRule: selectors match endpoints and network sets, a network set
    standing for its CIDRs ("it includes the CIDRs from any network sets that match the
    selector"); the ``namespaceSelector`` defines their scope, else the policy's
    namespace for a NetworkPolicy, else everything for a GlobalNetworkPolicy; a
    GlobalNetworkSet is in scope of a namespaceSelector only through ``global()``.
    ``notSelector`` excludes what the selector would match; alone in a
    GlobalNetworkPolicy it matches "anywhere (including outside the cluster)".
    ``serviceAccounts`` match endpoints running as one (network sets run as none)."""
    if "services" in entity.undecided:
        return False  # not collected: the field matches nothing known
    values = [end] if isinstance(end, int) else end.ip_values
    if entity.nets is not None and not any(v in entity.nets for v in values):
        return False
    if entity.not_nets is not None and any(v in entity.not_nets for v in values):
        return False

    def in_scope(namespace, is_global: bool) -> bool:
        if entity.namespace_selector is not None:
            if is_global:
                return entity.namespace_selector.matches({}, is_global=True)
            labels = _calico_ns_labels(namespace, namespaces.get(namespace))
            return entity.namespace_selector.matches(labels, is_global=False)
        if policy.namespace is not None:
            return not is_global and namespace == policy.namespace
        return True

    def at_a_set_of(selector) -> bool:
        """Is the end at an address of a network set in scope that ``selector`` (None:
        any) matches?"""
        for found in objects.network_sets:
            is_global = found.namespace is None
            if not in_scope(found.namespace, is_global):
                continue
            if selector is not None and not selector.matches(found.labels, is_global=is_global):
                continue
            if any(v in found.nets for v in values):
                return True
        return False

    pod = end if isinstance(end, Pod) else None
    accounts = entity.service_accounts
    positive = (
        entity.selector is not None
        or entity.namespace_selector is not None
        or accounts is not None
        or (policy.namespace is not None and entity.not_selector is not None)
    )
    if positive:
        as_pod = (
            pod is not None
            and in_scope(pod.namespace, False)
            and (entity.selector is None or entity.selector.matches(_calico_pod_labels(pod)))
        )
        if as_pod and accounts is not None:
            labels = objects.account_labels(pod)
            as_pod = (accounts.names is None or pod.service_account in accounts.names) and (
                accounts.selector is None or accounts.selector.matches(labels)
            )
        as_set = accounts is None and at_a_set_of(entity.selector)
        if not (as_pod or as_set):
            return False
    if entity.not_selector is not None:
        if (
            pod is not None
            and in_scope(pod.namespace, False)
            and entity.not_selector.matches(_calico_pod_labels(pod))
        ):
            return False
        if at_a_set_of(entity.not_selector):
            return False
    if named is not None:
        if entity.ports is not None and not _calico_port(entity.ports, port, protocol, named):
            return False
        if entity.not_ports and _calico_port(entity.not_ports, port, protocol, named):
            return False
    return True


def _calico_port(specs, port, protocol, named) -> bool:
    for spec in specs:
        as_protocol = PortSpec(protocol, spec.port, spec.end_port, spec.valid)
        if as_protocol.resolve(named).has(port, protocol):
            return True
    return False


def calico_rule_matches(
    rule, policy, src, dst, port, protocol, namespaces, objects=_NO_OBJECTS
) -> bool:
    if rule.protocol is not None and rule.protocol != protocol:
        return False
    if rule.not_protocol is not None and rule.not_protocol == protocol:
        return False
    if (rule.destination.ports or rule.destination.not_ports) and rule.protocol is None:
        return False  # Calico accepts ports only with a protocol that has them
    named = dst.named_ports if isinstance(dst, Pod) else frozenset()
    return calico_entity_matches(
        rule.source, src, policy, namespaces, None, port, protocol, objects
    ) and calico_entity_matches(
        rule.destination, dst, policy, namespaces, named, port, protocol, objects
    )


def calico_side(
    calico, tiers, policies, namespaces, pod, other, port, protocol, direction, objects=_NO_OBJECTS
):
    """One side through Calico's tiers (calico.py): first matching rule decides, Pass
    goes to the next tier, a tier that selected the pod ends with its default action,
    and the namespace's profile allows what no tier decided. Kubernetes NetworkPolicies
    are Allow-only policies of the ``default`` tier at order 1000."""
    from .calico import DEFAULT_TIER, KUBERNETES_ORDER, builtin_tier

    src, dst = (other, pod) if direction == "ingress" else (pod, other)
    known = {t.name: t for t in tiers}
    by_tier: dict[str, list] = {}
    for policy in calico:
        if direction in policy.types and calico_selects(policy, pod, namespaces, objects):
            by_tier.setdefault(policy.tier, []).append(((policy.order, policy.name), policy))
    affects = "affects_ingress" if direction == "ingress" else "affects_egress"
    for policy in policies:
        if getattr(policy, affects) and selects(policy, pod):
            name = f"knp.default.{policy.name}"
            by_tier.setdefault(DEFAULT_TIER, []).append(((KUBERNETES_ORDER, name), policy))

    def tier_of(name):
        return known.get(name) or builtin_tier(name)

    for tier in sorted((tier_of(n) for n in by_tier), key=lambda t: (t.order, t.name)):
        passed = False
        for _, policy in sorted(by_tier[tier.name], key=lambda item: item[0]):
            if isinstance(policy, Policy):
                rules = policy.ingress if direction == "ingress" else policy.egress
                other_end = src if direction == "ingress" else dst
                named = dst.named_ports if isinstance(dst, Pod) else frozenset()
                if any(
                    rule_matches(policy, r, other_end, port, protocol, named, namespaces)
                    for r in rules
                ):
                    return True
                continue
            for rule in getattr(policy, direction):
                if not calico_rule_matches(
                    rule, policy, src, dst, port, protocol, namespaces, objects
                ):
                    continue
                if rule.action in ("Allow", "Deny"):
                    return rule.action == "Allow"
                if rule.action == "Pass":
                    passed = True
                    break
            if passed:
                break
        if not passed and tier.default_action == "Deny":
            return False
    return True


def calico_connection_allowed(
    policies,
    calico,
    tiers,
    namespaces,
    src: Pod | int,
    dst: Pod | int,
    port,
    protocol,
    network_sets=(),
    service_accounts=(),
) -> bool:
    """Egress at the source AND ingress at the destination, each through Calico's tiers.
    ``network_sets``: parsed NetworkSets and GlobalNetworkSets; ``service_accounts``: the
    ServiceAccount objects (API-shaped dicts)."""
    for end in (src, dst):
        if isinstance(end, Pod) and end.state != ACTIVE:
            return False
    objects = CalicoObjects(network_sets, service_accounts)
    args = (calico, tiers, policies, namespaces)
    if isinstance(src, Pod) and not calico_side(*args, src, dst, port, protocol, "egress", objects):
        return False
    return not isinstance(dst, Pod) or calico_side(
        *args, dst, src, port, protocol, "ingress", objects
    )


# -- every kind together under Calico (calico.py, "Every kind together") --------------------


def _cnp_rule_action(policy, rule_list, other, port, protocol, named, namespaces, nodes):
    """The action of the first rule of a cluster policy matching the other end and port."""
    for rule in rule_list:
        peer_ok = any(tier_peer_matches(p, other, namespaces, nodes) for p in rule.peers)
        port_ok = rule.ports is None or any(
            spec.resolve(named).has(port, protocol) for spec in rule.ports
        )
        if peer_ok and port_ok:
            return rule.action
    return None


def every_kind_side(model_parts, pod, other, port, protocol, direction) -> bool:
    """One side with Calico and every other kind: a matching Cilium deny refuses; then
    Calico's tiers in order, where the Admin and Baseline cluster-wide tiers are Calico's
    ``kube-admin``/``kube-baseline`` tiers (v1alpha1: ``adminnetworkpolicy``/
    ``baselineadminnetworkpolicy``; Pass at their end, Accept
    read as Allow), and the NetworkPolicies and Cilium allow policies are Allow-only
    policies of the ``default`` tier at order 1000. A tier takes part when a policy of it
    selects the pod for the direction (a NetworkPolicy isolating it, a Cilium policy
    putting it in default deny, a cluster policy with rules for the direction)."""
    from .calico import DEFAULT_TIER, KUBERNETES_ORDER, builtin_tier, cluster_tier_name
    from .cilium import CiliumPolicy
    from .tiers import ClusterPolicy

    policies, cluster, cilium, calico, calico_tiers, namespaces, nodes, args, objects = model_parts
    src, dst = (other, pod) if direction == "ingress" else (pod, other)
    named = dst.named_ports if isinstance(dst, Pod) else frozenset()
    _, _, denied = cilium_side(
        policies, cilium, namespaces, pod, other, port, protocol, direction, args
    )
    if denied:
        return False
    members: dict[str, list] = {}  # tier -> (sort key, kind, policy)
    taking_part: set[str] = set()
    ns = namespaces.get(pod.namespace)
    ns_labels = ns.labels if ns else {}
    for policy in calico:
        if direction in policy.types and calico_selects(policy, pod, namespaces, objects):
            members.setdefault(policy.tier, []).append(((policy.order, policy.name), policy))
            taking_part.add(policy.tier)
    affects = "affects_ingress" if direction == "ingress" else "affects_egress"
    for policy in policies:
        if getattr(policy, affects) and selects(policy, pod):
            key = (KUBERNETES_ORDER, f"knp.default.{policy.name}")
            members.setdefault(DEFAULT_TIER, []).append((key, policy))
            taking_part.add(DEFAULT_TIER)
    for policy in cilium:
        if cilium_selects(policy, pod, namespaces):
            key = (KUBERNETES_ORDER, f"cilium.{policy.key}")
            members.setdefault(DEFAULT_TIER, []).append((key, policy))
            if policy.default_deny[direction]:
                taking_part.add(DEFAULT_TIER)
    for policy in cluster:
        if policy.selects(ns_labels, pod.labels) and getattr(policy, direction):
            tier = cluster_tier_name(policy)
            key = (float(policy.priority), f"{policy.name}\0{policy.kind}")
            members.setdefault(tier, []).append((key, policy))
            taking_part.add(tier)
    known = {t.name: t for t in calico_tiers}

    def tier_of(name):
        return known.get(name) or builtin_tier(name)

    other_end = src if direction == "ingress" else dst
    for tier in sorted((tier_of(n) for n in taking_part), key=lambda t: (t.order, t.name)):
        action = None
        for _, policy in sorted(members[tier.name], key=lambda item: item[0]):
            if isinstance(policy, Policy):
                rules = policy.ingress if direction == "ingress" else policy.egress
                if any(
                    rule_matches(policy, r, other_end, port, protocol, named, namespaces)
                    for r in rules
                ):
                    action = "Allow"
            elif isinstance(policy, CiliumPolicy):
                if any(
                    not r.deny
                    and cilium_rule_matches(r, other, port, protocol, named, namespaces, *args)
                    for r in getattr(policy, direction)
                ):
                    action = "Allow"
            elif isinstance(policy, ClusterPolicy):
                found = _cnp_rule_action(
                    policy,
                    getattr(policy, direction),
                    other,
                    port,
                    protocol,
                    named,
                    namespaces,
                    nodes,
                )
                action = {"Accept": "Allow"}.get(found, found)
            else:
                for rule in getattr(policy, direction):
                    if calico_rule_matches(
                        rule, policy, src, dst, port, protocol, namespaces, objects
                    ):
                        if rule.action in ("Allow", "Deny", "Pass"):
                            action = rule.action
                            break
            if action is not None:
                break
        if action in ("Allow", "Deny"):
            return action == "Allow"
        if action is None and tier.default_action == "Deny":
            return False
    return True


def every_kind_connection_allowed(model, src: Pod | int, dst: Pod | int, port, protocol) -> bool:
    """Egress at the source AND ingress at the destination, every kind together."""
    for end in (src, dst):
        if isinstance(end, Pod) and end.state != ACTIVE:
            return False
    from .calico import parse_network_set

    node_ips = {ip_to_int(a) for n in model.nodes for a in n.addresses}
    world = ALL_IPS - model._cluster_ips - IPSet([(v, v + 1) for v in node_ips])
    sets = [parse_network_set(o, PolicyError)[0] for o in model.calico_network_sets]
    parts = (
        model.policies,
        model.cluster_policies,
        model.cilium_policies,
        model.calico_policies,
        model.calico_tiers,
        model.namespaces,
        model.nodes,
        (world, model._cluster_ips, node_ips, model.nodes),
        CalicoObjects([s for s in sets if s is not None], model.service_accounts),
    )
    if isinstance(src, Pod) and not every_kind_side(parts, src, dst, port, protocol, "egress"):
        return False
    return not isinstance(dst, Pod) or every_kind_side(parts, dst, src, port, protocol, "ingress")
