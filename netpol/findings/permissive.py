"""Overly permissive rules: NP010-NP016. One finding per rule, peer or port entry, naming
the policy, the direction, the rule index (and peer or port index) and what it opens."""

from __future__ import annotations

import ipaddress

from netpol.engine import INGRESS

from .catalogue import WIDE_PORT_RANGE, WIDE_PREFIX_V4, WIDE_PREFIX_V6
from .facts import Facts, peers_key, rule_field, rule_identity
from .finding import Finding, make, plural, policy_ref, short_list


def _where(policy, direction, index, peer=None) -> str:
    field = rule_field(direction, index)
    if peer is not None:
        field += f".{peers_key(direction)}[{peer}]"
    return f"{policy.key} {field}"


def _selected_text(facts: Facts, policy) -> str:
    refs = facts.selected_refs(policy)
    if not refs:
        return "it selects no running pod"
    return f"it applies to {plural(len(refs), 'workload')}: {short_list(refs)}"


def _ports_text(rule) -> str:
    if rule.ports is None:
        return "on every port"
    return "on " + ", ".join(_port_text(p) for p in rule.ports)


def _port_text(spec) -> str:
    if spec.port is None:
        return f"{spec.protocol}/*"
    if spec.end_port is not None:
        return f"{spec.protocol}/{spec.port}-{spec.end_port}"
    return f"{spec.protocol}/{spec.port}"


def findings(facts: Facts) -> list[Finding]:
    out: list[Finding] = []
    for policy, direction, rule, compiled in facts.rules():
        objects = [policy_ref(policy.key), *facts.selected_refs(policy)]
        base = {
            "policy": policy.key,
            "direction": direction,
            "rule": rule.index,
            "field": rule_field(direction, rule.index),
        }
        ns = policy.namespace
        peer_word = "source" if direction == INGRESS else "destination"
        # NP016 / NP010: no peers.
        if rule.peers is None:
            whole = policy.pod_selector.is_empty and rule.ports is None
            rule_id = "NP016" if whole else "NP010"
            scope = (
                f"every pod of namespace {ns}"
                if policy.pod_selector.is_empty
                else f"the pods it selects ({_selected_text(facts, policy)})"
            )
            evidence = {**base, "selector": policy.pod_selector.to_dict(), "ports": _ports(rule)}
            demo = facts.rule_probe(policy, direction, compiled, None, facts.outside_ip)
            if demo:
                evidence["probe"] = demo
            out.append(
                make(
                    rule_id,
                    f"{_where(policy, direction, rule.index)} has no "
                    f"{peers_key(direction)}: it allows {direction} for {scope} "
                    f"{'from' if direction == INGRESS else 'to'} every pod and every address "
                    f"{_ports_text(rule)}.",
                    objects,
                    identity=rule_identity(policy, direction, rule),
                    namespace=ns,
                    evidence=evidence,
                )
            )
        else:
            for j, peer in enumerate(rule.peers):
                if not peer.valid:
                    continue
                out.extend(_peer_findings(facts, policy, direction, rule, compiled, j, peer))
            # NP014: peers, but no ports.
            if rule.ports is None and any(p.valid for p in rule.peers):
                out.append(
                    make(
                        "NP014",
                        f"{_where(policy, direction, rule.index)} lists its {peer_word}s but no "
                        f"ports: every TCP, UDP and SCTP port is allowed; "
                        f"{_selected_text(facts, policy)}.",
                        objects,
                        identity=rule_identity(policy, direction, rule),
                        namespace=ns,
                        evidence={**base, "peers": [p.to_dict() for p in rule.peers]},
                    )
                )
        # NP015: wide endPort ranges.
        for k, spec in enumerate(rule.ports or ()):
            if spec.valid and spec.end_port is not None:
                width = spec.end_port - spec.port + 1
                if width >= WIDE_PORT_RANGE:
                    out.append(
                        make(
                            "NP015",
                            f"{_where(policy, direction, rule.index)}.ports[{k}] opens "
                            f"{width} ports ({_port_text(spec)}); "
                            f"{_selected_text(facts, policy)}.",
                            objects,
                            identity={
                                **rule_identity(policy, direction, rule),
                                "port": spec.to_dict(),
                            },
                            namespace=ns,
                            evidence={**base, "port_index": k, "ports": [_port_text(spec)]},
                        )
                    )
    return out


def _ports(rule) -> list[str] | None:
    return None if rule.ports is None else [_port_text(p) for p in rule.ports]


def _peer_findings(facts, policy, direction, rule, compiled, j, peer):
    ns = policy.namespace
    objects = [policy_ref(policy.key), *facts.selected_refs(policy)]
    where = _where(policy, direction, rule.index, j)
    identity = {"policy": policy.key, "direction": direction, "peer": peer.to_dict()}
    base = {
        "policy": policy.key,
        "direction": direction,
        "rule": rule.index,
        "peer": j,
        "field": f"{rule_field(direction, rule.index)}.{peers_key(direction)}[{j}]",
        "ports": _ports(rule),
    }
    nsel, psel = peer.namespace_selector, peer.pod_selector
    if nsel is not None:
        matched = facts.namespaces_matching(nsel)
        pods_open = psel is None or psel.is_empty
        evidence = {
            **base,
            "selector": peer.to_dict(),
            "namespaces": matched,
        }
        demo = facts.rule_probe(policy, direction, compiled, j, compiled.peer_classes[j])
        if demo:
            evidence["probe"] = demo
        if nsel.is_empty:
            yield make(
                "NP011",
                f"{where} has namespaceSelector: {{}}"
                + ("" if pods_open else " (with a podSelector)")
                + f": it matches {'every pod' if pods_open else 'the selected pods'} in every "
                f"namespace, {plural(len(matched), 'namespace')} today and any created later, "
                f"{_ports_text(rule)}.",
                objects,
                identity=identity,
                namespace=ns,
                evidence=evidence,
            )
        elif pods_open and matched:
            yield make(
                "NP012",
                f"{where} has a namespaceSelector {_selector_text(nsel)} without a podSelector: "
                f"every pod of {short_list(matched)} is allowed {_ports_text(rule)}.",
                objects,
                identity=identity,
                namespace=ns,
                evidence=evidence,
            )
    if peer.ip_block is not None:
        cidr = peer.ip_block_text["cidr"]
        net = ipaddress.ip_network(cidr.strip(), strict=False)
        limit = WIDE_PREFIX_V4 if net.version == 4 else WIDE_PREFIX_V6
        if net.prefixlen == 0 or net.prefixlen < limit:
            excepts = peer.ip_block_text.get("except") or []
            family = f"IPv{net.version}"
            what = (
                f"every {family} address"
                if net.prefixlen == 0
                else f"{net.num_addresses:,} {family} addresses"
            )
            yield make(
                "NP013",
                f"{where} allows ipBlock {cidr}"
                + (f" (except {', '.join(excepts)})" if excepts else "")
                + f": {what}, {_ports_text(rule)}.",
                objects,
                identity=identity,
                namespace=ns,
                evidence={**base, "cidr": cidr, "except": excepts},
            )


def _selector_text(selector) -> str:
    parts = [f"{k}={v}" for k, v in selector.match_labels]
    parts += [f"{k} {op} {list(v) if v else ''}".strip() for k, op, v in selector.expressions]
    return "{" + ", ".join(parts) + "}"
