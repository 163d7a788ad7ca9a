"""Mistakes: NP030-NP037 (the CNI, NP038/NP039, is in ``cni.py``)."""

from __future__ import annotations

from netpol.engine import EGRESS, HOST_NETWORK, INGRESS, NAMESPACE_NAME_LABEL

from . import snippets
from .facts import Facts, peers_key, probe, rule_field, rule_identity
from .finding import (
    Finding,
    fingerprint,
    make,
    namespace_ref,
    plural,
    policy_ref,
    short_list,
    workload_ref,
)


def findings(facts: Facts) -> list[Finding]:
    out: list[Finding] = []
    out += selector_matches_nothing(facts)
    out += policy_selects_nothing(facts)
    out += dns(facts)
    out += named_ports(facts)
    out += invalid(facts)
    out += shadowed(facts)
    out += host_network(facts)
    return out


# -- NP030 ---------------------------------------------------------------------------------


def selector_matches_nothing(facts: Facts) -> list[Finding]:
    out = []
    names = set(facts.model.namespaces)
    for policy, direction, rule, compiled in facts.rules():
        for j, peer in enumerate(rule.peers or ()):
            if not peer.valid or peer.ip_block is not None:
                continue
            where = f"{policy.key} {rule_field(direction, rule.index)}.{peers_key(direction)}[{j}]"
            evidence = {
                "policy": policy.key,
                "direction": direction,
                "rule": rule.index,
                "peer": j,
                "field": f"{rule_field(direction, rule.index)}.{peers_key(direction)}[{j}]",
                "selector": peer.to_dict(),
            }
            identity = {"policy": policy.key, "direction": direction, "peer": peer.to_dict()}
            objects = [policy_ref(policy.key), *facts.selected_refs(policy)]
            nsel = peer.namespace_selector
            if nsel is not None and not facts.namespaces_matching(nsel):
                # Which namespace was meant: a label value that is a namespace's name.
                meant = [
                    v for k, v in nsel.match_labels if k != NAMESPACE_NAME_LABEL and v in names
                ]
                message = (
                    f"{where}: the namespaceSelector {nsel.to_dict()} matches no namespace, so "
                    f"the peer allows nothing."
                )
                snippet = ""
                if meant:
                    target = meant[0]
                    key = next(k for k, v in nsel.match_labels if v == target)
                    message += (
                        f" No namespace carries the label {key}={target}; the namespace "
                        f"{target} exists: select it with {NAMESPACE_NAME_LABEL}: {target}, which "
                        "the API server sets on every namespace."
                    )
                    fixed = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: target}}}
                    if peer.pod_selector is not None:
                        fixed["podSelector"] = peer.pod_selector.to_dict()
                    snippet = snippets.peer(peers_key(direction), fixed)
                    evidence["suggested_namespace"] = target
                    demo = _intended_probe(facts, policy, direction, compiled, peer, target)
                    if demo:
                        evidence["probe"] = demo
                out.append(
                    make(
                        "NP030",
                        message,
                        objects + [namespace_ref(n) for n in meant[:1]],
                        identity=identity,
                        namespace=policy.namespace,
                        evidence=evidence,
                        snippet=snippet,
                    )
                )
            elif compiled.peer_classes[j] == 0:
                scope = (
                    f"namespace {policy.namespace}"
                    if nsel is None
                    else f"namespaces {short_list(facts.namespaces_matching(nsel))}"
                )
                out.append(
                    make(
                        "NP030",
                        f"{where}: the podSelector {peer.pod_selector.to_dict()} matches no "
                        f"running pod in {scope}, so the peer allows nothing today.",
                        objects,
                        identity=identity,
                        namespace=policy.namespace,
                        evidence=evidence,
                    )
                )
    return out


def _intended_probe(facts, policy, direction, compiled, peer, namespace):
    """The connection the peer was written for (a pod of ``namespace`` the podSelector
    matches), which the policy's pods are denied in that direction."""
    lo, hi = facts.ev.ns_ranges.get(namespace, (0, 0))
    if peer.pod_selector is not None:
        bits = facts.ev.ns_mask(namespace) & facts.ev.pod_index.eval(peer.pod_selector)
    else:
        bits = facts.ev.ns_mask(namespace)
    other = facts.first_pod(bits)
    me = facts.first_pod(facts.selected(policy))
    if other is None or me is None:
        return None
    dst = me if direction == INGRESS else other
    port = None
    for spec in compiled.rule.ports or ():
        ports = spec.resolve(dst.named_ports)
        if ports:
            port = ports.samples()[0]
            break
    if port is None:
        port = ("TCP", 80)
    src, dst_key = (other.key, me.key) if direction == INGRESS else (me.key, other.key)
    return probe(src, dst_key, port[1], port[0], expect="denied", direction=direction)


# -- NP031 ---------------------------------------------------------------------------------


def policy_selects_nothing(facts: Facts) -> list[Finding]:
    out = []
    for policy in facts.model.policies:
        if facts.selected(policy):
            continue
        others = [
            p
            for p in facts.pods_by_ns.get(policy.namespace, ())
            if policy.pod_selector.matches(p.labels)
        ]
        note = ""
        if others:
            host = [p.name for p in others if p.state == HOST_NETWORK]
            idle = [p.name for p in others if p.state != HOST_NETWORK]
            if host:
                note += f" It selects hostNetwork pods, which policies do not govern: {short_list(host)}."
            if idle:
                note += f" It selects pods taking no part in traffic: {short_list(idle)}."
        out.append(
            make(
                "NP031",
                f"{policy.key}: the podSelector {policy.pod_selector.to_dict() or '{}'} selects no "
                f"running pod in namespace {policy.namespace}.{note}",
                [policy_ref(policy.key)],
                identity={"policy": policy.key},
                namespace=policy.namespace,
                evidence={"policy": policy.key, "selector": policy.pod_selector.to_dict()},
            )
        )
    return out


# -- NP032 / NP033 -------------------------------------------------------------------------


def dns(facts: Facts) -> list[Finding]:
    """Egress-isolated classes allowed some egress that cannot reach any DNS pod on 53.

    Uses the engine's allowed set, so the DNS pods' own ingress policies count too."""
    ev = facts.ev
    dns_classes = facts.dns_classes
    if not dns_classes:
        return []
    allowed = facts.model.allowed_connections()
    udp = tcp = 0
    for d in dns_classes:
        udp |= allowed.sources(d, 53, "UDP")
        tcp |= allowed.sources(d, 53, "TCP")
    dns_pod = facts.first_pod_of_class(dns_classes[0])
    with_udp, with_tcp = set(ev.classes_in(udp)), set(ev.classes_in(tcp))
    missing: dict[str, list] = {"NP032": [], "NP033": []}
    for c in ev.isolated_classes(EGRESS):
        if c in dns_classes:
            continue
        rules = ev.rules_of(c, EGRESS)
        if not any(r.classes or r.ips for r in rules):
            continue  # no egress allowed at all: the pod needs no DNS
        has_udp, has_tcp = c in with_udp, c in with_tcp
        if not has_udp:
            missing["NP032"].append(c)
        elif not has_tcp:
            missing["NP033"].append(c)
    out = []
    dns_pods = [p.key for p in ev.classes[dns_classes[0]].pods][:3]
    for rule_id, classes in missing.items():
        by_namespace: dict[str, list[int]] = {}
        for c in classes:
            by_namespace.setdefault(ev.classes[c].namespace, []).append(c)
        for namespace, ns_classes in sorted(by_namespace.items()):
            out.append(
                _dns_finding(facts, rule_id, namespace, ns_classes, with_tcp, dns_pod, dns_pods)
            )
    return out


def _dns_finding(facts, rule_id, namespace, classes, with_tcp, dns_pod, dns_pods) -> Finding:
    """One finding per namespace: its egress policies are the cause, and one policy
    allowing DNS for the namespace is the fix, however many workloads it cuts off."""
    ev = facts.ev
    pods = [p for c in classes for p in ev.classes[c].pods]
    groups = facts.group_by_workload(pods)
    workloads = sorted(workload_ref(ns, w) for ns, w in groups)
    policies = sorted(
        {
            p.key
            for c in classes
            for p in facts.model.policies_selecting(ev.classes[c].pods[0])
            if p.affects_egress
        }
    )
    first = min(pods, key=lambda p: p.key)
    protocol = "UDP" if rule_id == "NP032" else "TCP"
    if rule_id == "NP032":
        neither = sum(len(ev.classes[c].pods) for c in classes if c not in with_tcp)
        what = "cannot reach the cluster DNS on UDP 53" + (
            f" ({neither} of them not on TCP 53 either)" if neither else ""
        )
    else:
        what = "reach the cluster DNS on UDP 53 but not on TCP 53"
    evidence = {
        "workloads": len(workloads),
        "pods": len(pods),
        "egress_policies": policies,
        "dns_pods": dns_pods,
        "probe": probe(first.key, dns_pod.key, 53, protocol, expect="denied"),
    }
    aliases = [
        fingerprint(rule_id, {"namespace": ns, "workload": w}) for ns, w in groups
    ]  # the per-workload findings of earlier versions
    return make(
        rule_id,
        f"In {namespace}, {plural(len(pods), 'pod')} of {plural(len(workloads), 'workload')} "
        f"({short_list([w for _, w in groups])}) {what}: their egress is restricted by "
        f"{short_list(policies)} and no rule allows DNS to "
        f"{dns_pod.namespace}/k8s-app=kube-dns.",
        [*(policy_ref(k) for k in policies), *workloads],
        identity={"namespace": namespace, "cause": "egress without DNS"},
        namespace=namespace,
        evidence=evidence,
        snippet=snippets.dns_egress(namespace, {}),
        workloads=workloads,
        aliases=aliases,
    )


# -- NP034 ---------------------------------------------------------------------------------


def named_ports(facts: Facts) -> list[Finding]:
    ev = facts.ev
    defining: dict[tuple[str, str], list[int]] = {}
    for cls in ev.classes:
        for name, proto, _ in cls.named_ports:
            defining.setdefault((name, proto), []).append(cls.id)
    defines = {key: ev.class_set(ids) for key, ids in defining.items()}
    out = []
    for policy, direction, rule, compiled in facts.rules():
        if not rule.has_named_ports:
            continue
        if direction == INGRESS:
            dest = facts.selected(policy)
            to_address_only = False
        else:
            dest = ev.all if rule.peers is None else compiled.classes
            to_address_only = rule.peers is not None and all(
                p.ip_block is not None for p in rule.peers if p.valid
            )
        if not dest and not to_address_only:
            continue  # nothing to resolve against: NP030/NP031 say why
        for k, spec in enumerate(rule.ports):
            if not spec.valid or not spec.named:
                continue
            where = f"{policy.key} {rule_field(direction, rule.index)}.ports[{k}]"
            if to_address_only:
                why = (
                    f"the rule's peers are ipBlocks only, and a port name never matches an "
                    f"address: the port {spec.port!r} allows nothing"
                )
            elif dest & defines.get((spec.port, spec.protocol), 0):
                continue
            else:
                why = (
                    f"no destination pod ({short_list(facts.workload_refs(dest), 3)}) declares "
                    f"a {spec.protocol} container port named {spec.port!r}, so the entry "
                    "matches nothing"
                )
            out.append(
                make(
                    "NP034",
                    f"{where}: {why}.",
                    [policy_ref(policy.key), *facts.selected_refs(policy)],
                    identity={
                        **rule_identity(policy, direction, rule),
                        "port": spec.to_dict(),
                    },
                    namespace=policy.namespace,
                    evidence={
                        "policy": policy.key,
                        "direction": direction,
                        "rule": rule.index,
                        "port_index": k,
                        "port": spec.port,
                        "protocol": spec.protocol,
                    },
                )
            )
    return out


# -- NP035 ---------------------------------------------------------------------------------


def invalid(facts: Facts) -> list[Finding]:
    out = []
    for error in facts.model.errors:
        namespace = error.policy.partition("/")[0]
        out.append(
            make(
                "NP035",
                f"{error.policy}: {error.field}: {error.message}.",
                [policy_ref(error.policy)],
                identity={"policy": error.policy, "field": error.field},
                namespace=namespace,
                evidence=error.to_dict(),
            )
        )
    return out


# -- NP036 ---------------------------------------------------------------------------------


def shadowed(facts: Facts) -> list[Finding]:
    """Rule A is shadowed by rule B (same namespace and direction) when B's policy selects
    every pod A's does, B's peers match every class and address A's do, and B's ports hold
    A's. Ports with names are compared only when equal or when B allows every port, as a
    name's number depends on the destination pod. With identical rules, the later one is
    reported."""
    groups: dict[tuple[str, str], list] = {}
    for policy, direction, rule, compiled in facts.rules():
        sel = facts.selected(policy)
        if sel and (compiled.classes or compiled.ips):
            groups.setdefault((policy.namespace, direction), []).append(
                (policy, rule, compiled, sel)
            )
    out = []
    for (namespace, direction), items in groups.items():
        for i, (pa, ra, ca, sa) in enumerate(items):
            for k, (pb, rb, cb, sb) in enumerate(items):
                if i == k or sa & ~sb or ca.classes & ~cb.classes:
                    continue
                if not ca.ips.issubset(cb.ips) or not _ports_within(ra, ca, rb, cb):
                    continue
                mutual = not (sb & ~sa) and not (cb.classes & ~ca.classes)
                mutual = mutual and cb.ips.issubset(ca.ips) and _ports_within(rb, cb, ra, ca)
                if mutual and k > i:
                    continue  # identical: report the later of the two only
                where_a = f"{pa.key} {rule_field(direction, ra.index)}"
                where_b = f"{pb.key} {rule_field(direction, rb.index)}"
                out.append(
                    make(
                        "NP036",
                        f"{where_a} is fully shadowed by {where_b}: with the pods in this "
                        f"snapshot, every {direction} connection it allows is already allowed by "
                        "that rule for the same pods.",
                        [policy_ref(pa.key)] + ([policy_ref(pb.key)] if pb is not pa else []),
                        identity={
                            **rule_identity(pa, direction, ra),
                            "by": rule_identity(pb, direction, rb),
                        },
                        namespace=namespace,
                        evidence={
                            "policy": pa.key,
                            "direction": direction,
                            "rule": ra.index,
                            "shadowed_by": {"policy": pb.key, "rule": rb.index},
                        },
                        workloads=facts.selected_refs(pa),
                    )
                )
                break
    return out


def _ports_within(ra, ca, rb, cb) -> bool:
    if rb.ports is None:
        return True
    if ca.fixed_ports is not None and cb.fixed_ports is not None:
        return ca.fixed_ports.issubset(cb.fixed_ports)
    return ra.ports == rb.ports


# -- NP037 ---------------------------------------------------------------------------------


def host_network(facts: Facts) -> list[Finding]:
    pods = [p for p in facts.model.pods if p.state == HOST_NETWORK]
    out = []
    for (namespace, workload), members in facts.group_by_workload(pods).items():
        out.append(
            make(
                "NP037",
                f"{workload} in {namespace}: {plural(len(members), 'pod')} "
                f"({short_list([p.name for p in members])}) use hostNetwork: NetworkPolicy "
                "does not govern them (policy behaviour undefined) and they share their "
                "node's addresses.",
                facts.objects_of(namespace, workload, members),
                identity={"namespace": namespace, "workload": workload},
                namespace=namespace,
                evidence={
                    "workload": workload,
                    "pods": [p.name for p in members],
                    "nodes": sorted({p.node_name for p in members if p.node_name}),
                },
                workloads=[workload_ref(namespace, workload)],  # the workload is the cause
            )
        )
    return out
