"""A deliberately plain per-pod evaluation, written straight from the documentation.

It is slow (it looks at every policy for every question) and exists so the property tests
can check the class-based evaluation against it. Loopback and node traffic, which no
policy governs, are left to ``explain.reach``; this module answers what the policies say.
"""

from __future__ import annotations

from .model import ACTIVE, Namespace, Pod, Policy, Rule


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
