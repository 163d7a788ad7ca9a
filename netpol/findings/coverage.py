"""Coverage: which running pods are isolated, per namespace and per cluster, counted by
pod and by workload; default-deny policies; and the coverage findings NP001-NP005.

Only running pods (the engine's "active" state) are counted. hostNetwork pods are beyond
any policy (NP037) and pods without an IP or not running take no part in traffic; both
are counted separately and left out of the ratios.

A workload counts as isolated for a direction when every one of its running pods is.
A namespace has a default deny for a direction when one of its policies has an empty
podSelector, affects that direction and has no valid rule for it; or a namespaced Cilium
policy selects every pod of it with rules for the direction; or a Calico policy of a tier
ending in Deny selects every pod of it for the direction (docs/semantics-calico.md,
"Coverage").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netpol.engine import ACTIVE, EGRESS, HOST_NETWORK, INGRESS, Policy

from . import snippets
from .facts import PUBLIC, Facts, probe, sample_ip
from .finding import Finding, fingerprint, make, namespace_ref, plural, short_list, workload_ref


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def coverage_percent(pods: int, ingress_pods: int, egress_pods: int) -> float | None:
    """The share of (pod, direction) pairs isolated, as a percentage: the score's coverage."""
    return round(100 * (ingress_pods + egress_pods) / (2 * pods), 1) if pods else None


@dataclass(slots=True)
class Counts:
    pods: int = 0
    workloads: int = 0
    ingress_pods: int = 0
    egress_pods: int = 0
    ingress_workloads: int = 0
    egress_workloads: int = 0
    host_network_pods: int = 0
    no_traffic_pods: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict:
        return {
            "pods": self.pods,
            "workloads": self.workloads,
            "ingress": {
                "pods": self.ingress_pods,
                "pod_ratio": _ratio(self.ingress_pods, self.pods),
                "workloads": self.ingress_workloads,
                "workload_ratio": _ratio(self.ingress_workloads, self.workloads),
            },
            "egress": {
                "pods": self.egress_pods,
                "pod_ratio": _ratio(self.egress_pods, self.pods),
                "workloads": self.egress_workloads,
                "workload_ratio": _ratio(self.egress_workloads, self.workloads),
            },
            "host_network_pods": self.host_network_pods,
            "no_traffic_pods": self.no_traffic_pods,
        }


@dataclass(slots=True)
class NamespaceCoverage:
    name: str
    counts: Counts = field(default_factory=Counts)
    policies: list[str] = field(default_factory=list)
    default_deny_ingress: list[str] = field(default_factory=list)
    default_deny_egress: list[str] = field(default_factory=list)
    # (namespace, workload) -> running pods not isolated, per direction
    open_ingress: dict = field(default_factory=dict)
    open_egress: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            **self.counts.to_dict(),
            "policies": len(self.policies),
            "default_deny": {
                "ingress": self.default_deny_ingress,
                "egress": self.default_deny_egress,
            },
        }


@dataclass(slots=True)
class Coverage:
    cluster: Counts
    namespaces: dict[str, NamespaceCoverage]
    workload_sizes: dict[tuple[str, str], int] = field(default_factory=dict)

    def ratio(self, namespace: str | None = None) -> float | None:
        """Share of (pod, direction) pairs isolated: (ingress + egress) / (2 x pods)."""
        c = self.cluster if namespace is None else self.namespaces[namespace].counts
        return _ratio(c.ingress_pods + c.egress_pods, 2 * c.pods)

    def to_dict(self) -> dict:
        ns = self.namespaces
        return {
            "cluster": self.cluster.to_dict(),
            "namespaces": {name: ns[name].to_dict() for name in sorted(ns)},
            "without_default_deny": {
                "ingress": sorted(n for n, c in ns.items() if not c.default_deny_ingress),
                "egress": sorted(n for n, c in ns.items() if not c.default_deny_egress),
            },
            "without_policy": sorted(n for n, c in ns.items() if not c.policies),
        }


def is_default_deny(policy: Policy, direction: str) -> bool:
    if not policy.pod_selector.is_empty:
        return False
    if direction == INGRESS:
        return policy.affects_ingress and not any(r.valid for r in policy.ingress)
    return policy.affects_egress and not any(r.valid for r in policy.egress)


def compute(facts: Facts) -> Coverage:
    ev = facts.ev
    namespaces = {name: NamespaceCoverage(name) for name in facts.namespace_names}
    for policy in facts.model.policies:
        nc = namespaces[policy.namespace]
        nc.policies.append(policy.name)
        if is_default_deny(policy, INGRESS):
            nc.default_deny_ingress.append(policy.name)
        if is_default_deny(policy, EGRESS):
            nc.default_deny_egress.append(policy.name)
    # A namespaced Cilium policy is a policy of the namespace too (its key names its
    # kind); selecting every pod of it, it is the namespace's default deny for each
    # direction it has rules in, as an empty podSelector would be.
    for other in facts.model.cilium_policies:
        nc = namespaces.get(other.namespace)
        if nc is None:
            continue
        nc.policies.append(other.key)
        every_pod = other.selector.pods.is_empty and other.selector.namespaces.is_empty
        for direction, denies in (
            (INGRESS, nc.default_deny_ingress),
            (EGRESS, nc.default_deny_egress),
        ):
            if every_pod and other.default_deny[direction]:
                denies.append(other.key)
    _calico(facts, namespaces)
    # Per workload: [running pods, all isolated for ingress, all isolated for egress].
    workloads: dict[tuple[str, str], list] = {}
    # A Deny of a cluster-wide policy about a pod covers it as a NetworkPolicy would.
    restricted = facts.tier_restricted
    for cls in ev.classes:
        ing = ev.is_isolated(cls.id, INGRESS) or bool(restricted[INGRESS] >> cls.id & 1)
        egr = ev.is_isolated(cls.id, EGRESS) or bool(restricted[EGRESS] >> cls.id & 1)
        nc = namespaces[cls.namespace]
        counts = nc.counts
        for pod in cls.pods:
            key = (pod.namespace, pod.workload_id)
            w = workloads.get(key)
            if w is None:
                w = workloads[key] = [0, True, True]
            w[0] += 1
            counts.pods += 1
            if ing:
                counts.ingress_pods += 1
            else:
                w[1] = False
                nc.open_ingress.setdefault(key, []).append(pod)
            if egr:
                counts.egress_pods += 1
            else:
                w[2] = False
                nc.open_egress.setdefault(key, []).append(pod)
    for (namespace, _), (_, ing, egr) in workloads.items():
        counts = namespaces[namespace].counts
        counts.workloads += 1
        counts.ingress_workloads += ing
        counts.egress_workloads += egr
    for pod in facts.model.pods:
        if pod.state == HOST_NETWORK:
            namespaces[pod.namespace].counts.host_network_pods += 1
        elif pod.state != ACTIVE:
            namespaces[pod.namespace].counts.no_traffic_pods += 1
    cluster = Counts()
    for nc in namespaces.values():
        cluster.add(nc.counts)
    sizes = {key: w[0] for key, w in workloads.items()}
    return Coverage(cluster, namespaces, sizes)


def _calico(facts: Facts, namespaces: dict[str, NamespaceCoverage]) -> None:
    """Calico's policies in the namespaces' lists: a namespaced one is a policy of its
    namespace, a GlobalNetworkPolicy one of every namespace whose running pods it selects.
    Selecting every pod of a namespace (``all()``, or a selector matching each running pod
    there) for a direction, in a tier ending in Deny, it is the namespace's default deny
    for that direction: what no rule decides is denied at the tier's end, as the engine's
    isolation has it (``Evaluation.isolated_bits``)."""
    calico = getattr(facts.ev, "calico", None)
    if calico is None:
        return
    ev = facts.ev
    masks = {name: ev.ns_mask(name) for name in namespaces}
    for policy in facts.model.calico_policies:
        subject = calico_subject(ev, calico, policy)
        tier = calico.tiers.get(policy.tier)
        denies_at_end = tier is not None and tier.default_action == "Deny"
        if policy.namespace is not None:
            places = [policy.namespace] if policy.namespace in namespaces else []
        else:
            places = [name for name, mask in masks.items() if subject & mask]
        for name in places:
            nc = namespaces[name]
            nc.policies.append(policy.key)
            mask = masks[name]
            written_all = (
                policy.namespace is not None
                and policy.selector.text.strip() in ("", "all()")
                and policy.service_account_selector is None
            )
            every_pod = written_all or (mask and subject & mask == mask)
            if not (every_pod and denies_at_end):
                continue
            for direction, denies in (
                (INGRESS, nc.default_deny_ingress),
                (EGRESS, nc.default_deny_egress),
            ):
                if direction in policy.types:
                    denies.append(policy.key)


def calico_subject(ev, calico, policy) -> int:
    """The classes a Calico policy selects, as the engine's tier walk reads them."""
    return calico.subject(ev, policy)


def findings(facts: Facts, coverage: Coverage) -> list[Finding]:
    out: list[Finding] = []
    outside_ip = sample_ip(facts.outside & PUBLIC) or sample_ip(facts.outside)
    for name, nc in sorted(coverage.namespaces.items()):
        running = nc.counts.pods
        if not running:
            continue
        if not nc.policies and len(_pods(nc.open_ingress)) == len(_pods(nc.open_egress)) == running:
            out.append(_no_policy(facts, nc))
            continue  # NP003 stands for the per-workload and default-deny findings
        for direction, opened, rule_id, deny_rule, deny, isolated, left_open in (
            (
                INGRESS,
                nc.open_ingress,
                "NP001",
                "NP004",
                nc.default_deny_ingress,
                nc.counts.ingress_pods,
                "is open",
            ),
            (
                EGRESS,
                nc.open_egress,
                "NP002",
                "NP005",
                nc.default_deny_egress,
                nc.counts.egress_pods,
                "may connect anywhere",
            ),
        ):
            # One cause, one finding: a pod no policy selects means the namespace has no
            # default deny for that direction, and one default deny fixes both, so the
            # open workloads' finding stands for the two; NP004/NP005 remain for a
            # namespace whose pods are all isolated today, unlike pods created later.
            if opened:
                out.append(
                    _open_workloads(facts, coverage, rule_id, direction, nc, opened, outside_ip)
                )
                continue
            if deny or not nc.policies:  # no policy: cluster-wide Denies cover the pods
                continue
            out.append(
                make(
                    deny_rule,
                    f"Namespace {name} has no default-deny {direction} policy: "
                    f"{isolated} of {plural(running, 'running pod')} are isolated "
                    f"for {direction} by the policies that select them, and any pod they do not "
                    f"select {left_open}.",
                    [namespace_ref(name)],
                    identity={"namespace": name},
                    namespace=name,
                    evidence={
                        "policies": sorted(nc.policies),
                        "pods": running,
                        f"{direction}_isolated_pods": isolated,
                    },
                    snippet=snippets.default_deny(
                        name, ingress=direction == INGRESS, egress=direction == EGRESS
                    ),
                )
            )
    return out


def _pods(opened: dict) -> list:
    return [p for pods in opened.values() for p in pods]


def _no_policy(facts: Facts, nc: NamespaceCoverage) -> Finding:
    groups = facts.group_by_workload([p for pods in nc.open_ingress.values() for p in pods])
    objects = [namespace_ref(nc.name)]
    for (namespace, workload), pods in groups.items():
        objects += facts.objects_of(namespace, workload, pods)
    names = [w for _, w in groups]
    return make(
        "NP003",
        f"Namespace {nc.name} has no NetworkPolicy: its {plural(nc.counts.pods, 'running pod')} "
        f"({plural(len(groups), 'workload')}: {short_list(names)}) accept connections from "
        "anywhere and may connect anywhere.",
        objects,
        identity={"namespace": nc.name},
        namespace=nc.name,
        evidence={"pods": nc.counts.pods, "workloads": names},
        snippet=snippets.default_deny(nc.name, ingress=True, egress=True),
        workloads=sorted(workload_ref(ns, w) for ns, w in groups),
    )


def _open_workloads(facts, coverage, rule_id, direction, nc, opened, outside_ip):
    """NP001/NP002 for one namespace and direction: every workload with a pod no policy
    selects for it, each with its share of open pods."""
    namespace = nc.name
    shares = []
    open_pods = []
    for (ns, workload), pods in sorted(opened.items()):
        total = coverage.workload_sizes[ns, workload]
        shares.append((workload, len(pods), total))
        open_pods.extend(pods)
    first = min(open_pods, key=lambda p: p.key)
    workloads = sorted(workload_ref(namespace, w) for w, _, _ in shares)
    if direction == INGRESS:
        effect = "they accept connections from any pod and from outside the cluster"
        port = next(iter(sorted(first.named_ports, key=lambda t: (t[1], t[2]))), None)
        proto, number = (port[1], port[2]) if port else ("TCP", 80)
        demo = (
            probe(outside_ip, first.key, number, proto, expect="allowed", direction=INGRESS)
            if outside_ip
            else None
        )
    else:
        effect = "they may connect to any pod, any address and the cloud metadata endpoint"
        demo = (
            probe(first.key, outside_ip, 443, "TCP", expect="allowed", direction=EGRESS)
            if outside_ip
            else None
        )
    described = [w if n == total else f"{w} ({n} of {total} pods)" for w, n, total in shares]
    evidence = {
        "direction": direction,
        "workloads": [
            {"workload": w, "open_pods": n, "running_pods": total} for w, n, total in shares
        ],
        "pods": len(open_pods),
    }
    if demo:
        evidence["probe"] = demo
    return make(
        rule_id,
        f"In {namespace}, {plural(len(open_pods), 'running pod')} of "
        f"{plural(len(shares), 'workload')} ({short_list(described)}) are selected by no "
        f"{direction} policy (the namespace has no default-deny {direction} policy); {effect}.",
        [namespace_ref(namespace), *workloads],
        identity={"namespace": namespace, "direction": direction},
        namespace=namespace,
        evidence=evidence,
        snippet=snippets.default_deny(
            namespace, ingress=direction == INGRESS, egress=direction == EGRESS
        ),
        workloads=workloads,
        aliases=[
            fingerprint(rule_id, {"namespace": namespace, "workload": w, "direction": direction})
            for w, _, _ in shares
        ],
    )
