"""External exposure: NP020-NP024, per rule or peer, with the pods it concerns.

"Outside" is the engine's: every address except the cluster's ranges (declared CIDRs,
node podCIDRs and addresses, service cluster IPs, pod IPs). "Public" is global unicast
(see ``facts.PUBLIC``). Only rules of policies that select a running pod are reported;
uncovered pods are reported by NP001/NP002, allow-all rules by NP010/NP016.
"""

from __future__ import annotations

from netpol.engine import EGRESS, INGRESS, IPSet, cidr_set

from . import snippets
from .catalogue import METADATA_IPS
from .facts import (
    PUBLIC,
    PUBLIC_V4,
    PUBLIC_V6,
    Facts,
    ips_text,
    peers_key,
    ports_text,
    rule_field,
    rule_identity,
    sample_ip,
)
from .finding import Finding, make, plural, policy_ref, short_list

_METADATA = [(ip, IPSet.from_ips([ip])) for ip in METADATA_IPS]


def _cidrs(ips: IPSet, limit: int = 20) -> list[str]:
    """The first ``limit`` CIDRs of the set; the rest counted in ranges, which needs no
    conversion of a set that may hold one range per pod."""
    out = ips.to_cidrs(limit + 1)
    if len(out) <= limit:
        return out
    return [*out[:limit], f"... and more: {len(ips.ranges)} address ranges in all"]


def findings(facts: Facts) -> list[Finding]:
    out: list[Finding] = []
    for policy, direction, rule, compiled in facts.rules():
        sel = facts.selected(policy)
        if not sel:
            continue
        objects = [policy_ref(policy.key), *facts.selected_refs(policy)]
        workloads = facts.selected_refs(policy)
        where = f"{policy.key} {rule_field(direction, rule.index)}"
        base = {
            "policy": policy.key,
            "direction": direction,
            "rule": rule.index,
            "field": rule_field(direction, rule.index),
        }
        to_address = facts.ports_to_address(compiled)
        if rule.peers is not None:
            for j, peer in enumerate(rule.peers):
                if not peer.valid or peer.ip_block is None:
                    continue
                peer_where = f"{where}.{peers_key(direction)}[{j}]"
                identity = {"policy": policy.key, "direction": direction, "peer": peer.to_dict()}
                evidence = {**base, "peer": j, "cidr": peer.ip_block_text["cidr"]}
                if "except" in peer.ip_block_text:
                    evidence["except"] = peer.ip_block_text["except"]
                if direction == INGRESS:
                    found = _ingress_exposure(facts, policy, compiled, j, peer, sel)
                    if found:
                        rule_id, message, extra = found
                        out.append(
                            make(
                                rule_id,
                                f"{peer_where}: {message}; it applies to "
                                f"{plural(len(workloads), 'workload')}: {short_list(workloads)}.",
                                objects,
                                identity=identity,
                                namespace=policy.namespace,
                                evidence={**evidence, **extra},
                            )
                        )
                inner = peer.ip_block & facts.pod_service_ranges
                if inner:
                    message, extra, snippet = _cluster_ranges(
                        facts, policy, direction, compiled, j, inner, peer_where
                    )
                    out.append(
                        make(
                            "NP023",
                            message,
                            objects,
                            identity=identity,
                            namespace=policy.namespace,
                            evidence={**evidence, **extra},
                            snippet=snippet,
                        )
                    )
        if direction != EGRESS or not to_address:
            continue
        allowed_ips = compiled.ips if rule.peers is not None else None  # None: every address
        on_ports = ports_text(to_address)
        # NP022: the metadata endpoint.
        for ip, ipset in _METADATA:
            if allowed_ips is not None and not (ipset & allowed_ips):
                continue
            peer = _peer_containing(rule, ipset)
            evidence = {**base, "address": ip, "ports": to_address.describe(), "peer": peer}
            demo = facts.rule_probe(policy, EGRESS, compiled, peer, ip)
            if demo:
                evidence["probe"] = demo
            how = "has no 'to'" if rule.peers is None else f"its ipBlock {_block_text(rule, peer)}"
            out.append(
                make(
                    "NP022",
                    f"{where} lets {plural(len(workloads), 'workload')} ({short_list(workloads)}) "
                    f"reach the cloud metadata endpoint {ip} on {on_ports}: {how} does not "
                    f"except it.",
                    objects,
                    identity={**_rule_id(policy, direction, rule), "address": ip},
                    namespace=policy.namespace,
                    evidence=evidence,
                    snippet=_except_snippet(
                        direction, rule, peer, [f"{ip}/32" if "." in ip else f"{ip}/128"]
                    ),
                )
            )
        # NP024: every public address (ipBlocks only; no 'to' at all is NP010).
        if allowed_ips is None:
            continue
        families = [
            name
            for name, space in (("IPv4", PUBLIC_V4), ("IPv6", PUBLIC_V6))
            if space.issubset(allowed_ips)
        ]
        if families:
            target = sample_ip(allowed_ips & PUBLIC & facts.outside)
            evidence = {
                **base,
                "families": families,
                "ports": to_address.describe(),
                "cidrs": [p.ip_block_text["cidr"] for p in rule.peers if p.ip_block is not None],
            }
            demo = facts.rule_probe(policy, EGRESS, compiled, None, target)
            if demo:
                evidence["probe"] = demo
            out.append(
                make(
                    "NP024",
                    f"{where} allows egress to every public {' and '.join(families)} address "
                    f"on {on_ports}; it applies to {plural(len(workloads), 'workload')}: "
                    f"{short_list(workloads)}.",
                    objects,
                    identity=_rule_id(policy, direction, rule),
                    namespace=policy.namespace,
                    evidence=evidence,
                )
            )
    return out


def _rule_id(policy, direction, rule) -> dict:
    return rule_identity(policy, direction, rule)


def _peer_containing(rule, ipset: IPSet) -> int | None:
    if rule.peers is None:
        return None
    for j, peer in enumerate(rule.peers):
        if peer.valid and peer.ip_block is not None and ipset.issubset(peer.ip_block):
            return j
    return None


def _block_text(rule, j) -> str:
    if j is None:
        return "ipBlock"
    text = rule.peers[j].ip_block_text
    out = text["cidr"]
    if text.get("except"):
        out += f" (except {', '.join(text['except'])})"
    return out


def _except_snippet(direction, rule, j, extra: list[str]) -> str:
    """The ipBlock peer with ``extra`` added to its except list."""
    if rule.peers is None or j is None:
        return ""
    text = rule.peers[j].ip_block_text
    block = {"cidr": text["cidr"], "except": [*(text.get("except") or []), *extra]}
    return snippets.peer(peers_key(direction), {"ipBlock": block})


def _ingress_exposure(facts, policy, compiled, j, peer, sel):
    external = peer.ip_block & facts.outside
    if not external:
        return None
    ports = facts.ports_to_classes(compiled, sel)
    if not ports:
        return None  # a port name no selected pod defines (NP034)
    public = external & PUBLIC
    shown = public or external
    extra = {
        "external_cidrs": _cidrs(external),
        "public_cidrs": _cidrs(public),
        "ports": ports.describe(),
    }
    src = sample_ip(shown)
    demo = facts.rule_probe(policy, INGRESS, compiled, j, src)
    if demo:
        extra["probe"] = demo
    kind = "public" if public else "private"
    message = (
        f"{kind} addresses outside the cluster ({ips_text(shown)}) may connect "
        f"on {ports_text(ports)}"
    )
    return ("NP020" if public else "NP021"), message, extra


def _cluster_ranges(facts, policy, direction, compiled, j, inner, where):
    """NP023's message, evidence and snippet."""
    block = compiled.rule.peers[j].ip_block
    declared, pod_cidrs, services = _cluster_parts(facts, block)
    matched = compiled.peer_classes[j]
    pods = facts.pod_count(matched)
    parts = []
    if declared:
        parts.append(f"the declared cluster ranges {', '.join(declared)}")
    if pod_cidrs:
        parts.append(f"the pod CIDRs {short_list(pod_cidrs, 3)}")
    if services:
        parts.append(plural(services, "Service cluster IP"))
    if not parts:
        parts.append("pod addresses")
    extra = {
        "cluster_cidrs": _cidrs(inner),
        "pod_cidrs": pod_cidrs,
        "declared_cidrs": declared,
        "service_ips": services,
        "pods_matched": pods,
    }
    demo = facts.rule_probe(policy, direction, compiled, j, matched)
    if demo:
        extra["probe"] = demo
    return (
        f"{where}: ipBlock {_block_text(compiled.rule, j)} contains {' and '.join(parts)}; "
        + (
            f"it matches {plural(pods, 'running pod')} by address, whatever their labels."
            if pods
            else "it would match pods by address, whatever their labels (no running pod with a "
            "known IP falls in it today)."
        ),
        extra,
        _except_snippet(direction, compiled.rule, j, _except_ranges(inner, block)),
    )


def _except_ranges(inner: IPSet, block: IPSet, limit: int = 16) -> list[str]:
    """What to except from ``block`` to leave the cluster out: the exact CIDRs when they
    are few, else the /16 (IPv4) or /48 (IPv6) blocks around them, so a snippet never
    lists one address per pod or Service."""
    cidrs = inner.to_cidrs(limit + 1)
    if len(cidrs) <= limit:
        return cidrs
    return (inner.covering(16, 48) & block).to_cidrs(limit * 4)


def _cluster_parts(facts: Facts, block: IPSet):
    """(declared CIDRs, node pod CIDRs, number of service IPs) inside ``block``; cached
    per distinct block, as many policies repeat the same ipBlock."""
    cache = facts.cache.setdefault("cluster_parts", {})
    hit = cache.get(block)
    if hit is None:
        m = facts.model
        declared = [c for c in m.declared_cidrs if IPSet.from_cidr(c) & block]
        pod_cidrs = [
            f"{c} (node {n.name})" for n in m.nodes for c in n.pod_cidrs if cidr_set(c) & block
        ]
        services = sum(hi - lo for lo, hi in (facts.service_ips & block).ranges)
        hit = cache[block] = (declared, pod_cidrs, services)
    return hit
