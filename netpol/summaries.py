"""What the object pages say about one pod, workload or policy, from the engine's answers.

Django-free: a ``ClusterModel`` in, plain dicts out (the views add the findings and the
stored YAML). Every list is built from the evaluation's pod classes (through the engine's
class-set questions) and the compact allowed set, then grouped by namespace and workload and capped, so a page about
one pod costs about the same at 50,000 pods as at 50: nothing enumerates pod pairs.

The shapes the templates read:

* a *peer summary* (``group_classes``): ``{"namespaces": [{"name", "whole", "pods",
  "ports", "workloads": [{"namespace", "kind", "name", "pods", "ports", "probe"}],
  "workload_count", "more"}], "namespace_count", "more", "workload_count", "pod_count",
  "everyone"}``;
* *address rules* (``address_rules``): the ipBlock peers of the rules that apply, as the
  policies wrote them, with the ports they allow;
* *exposure* (``exposure_rows``): outside addresses per port, public and private apart.
"""

from __future__ import annotations

import yaml

from .enforcement import kind_of, titled
from .engine import (
    ACTIVE,
    ALL_PORTS,
    CLUSTER_POLICY_KINDS,
    EGRESS,
    HOST_NETWORK,
    INGRESS,
    IPV4_BASE,
    NO_PORTS,
    NO_TRAFFIC_CATEGORY,
    PROTOCOLS,
    UNDEFINED_CATEGORY,
    ClusterModel,
    InputError,
    IPSet,
    Pod,
    Policy,
    PortSet,
    cluster_tier_name,
    gc_paused,
    ip_to_int,
    owning_workload,
)
from .findings.catalogue import METADATA_IPS
from .findings.coverage import calico_subject
from .findings.facts import PUBLIC_V4, PUBLIC_V6

NAMESPACE_CAP = 25  # namespaces listed per peer summary
WORKLOAD_CAP = 10  # workloads listed per namespace
POD_CAP = 50  # pods listed on a workload page or for a policy's pods outside traffic
CIDR_CAP = 12  # CIDRs listed per exposure row
# Pod classes of each end tried for a listed row's "decided by" example: the rows list
# allowed connections, so the first pair or two usually is one.
CLASS_TRIES = 4
# A port that reads as an ordinary connection when a rule allows a whole protocol.
ORDINARY_PORT = {"TCP": 443, "UDP": 53, "SCTP": 9899}
# Input sizes the explain form accepts: far above any Kubernetes name, far below abuse.
MAX_FIELD = 600
V4_END = IPV4_BASE + (1 << 32)
# The non-public address blocks exposure is described by, most telling first.
NON_PUBLIC_BLOCKS = (
    ("169.254.0.0/16", "link-local, the cloud metadata endpoint's"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("0.0.0.0/8", "this network"),
    ("224.0.0.0/3", "multicast and reserved"),
    ("fc00::/7", "IPv6 unique local"),
    ("fe80::/10", "IPv6 link-local"),
)
# Badge colours per isolation category, so templates draw them without logic.
CATEGORY_COLOURS = {
    "isolated": "green",
    "ingress isolated": "orange",
    "egress isolated": "orange",
    "not isolated": "red",
    UNDEFINED_CATEGORY: "grey",
    NO_TRAFFIC_CATEGORY: "grey",
}


def workload_key(pod: Pod) -> tuple[str, str, str]:
    """``(namespace, kind, name)`` as the findings name it; a pod without owner is its own."""
    kind, _, name = pod.workload_id.partition("/")
    return pod.namespace, kind, name


# The policy kinds beyond NetworkPolicy that have a page of their own.
# Calico's are named as their pages' URLs name them (its NetworkPolicy shares Kubernetes'
# kind name).
OTHER_POLICY_KINDS = frozenset(
    [
        *CLUSTER_POLICY_KINDS,
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "CalicoNetworkPolicy",
        "CalicoGlobalNetworkPolicy",
    ]
)


def ref_parts(ref: str) -> dict:
    """A finding's object reference ("Pod/ns/name", "Deployment/ns/name",
    "NetworkPolicy/ns/name", "Namespace/name", "ClusterNetworkPolicy/name") split for a
    link to its page."""
    kind, _, rest = ref.partition("/")
    cluster_scoped = kind == "Namespace" or kind in OTHER_POLICY_KINDS and "/" not in rest
    namespace, _, name = ("", "", rest) if cluster_scoped else rest.partition("/")
    return {
        "ref": ref,
        "kind": kind,
        "namespace": namespace,
        "name": name,
        # A policy of another kind: its page is webui:cluster_policy or webui:kind_policy.
        "other_policy": kind in OTHER_POLICY_KINDS,
    }


# --- Per-model index ------------------------------------------------------------------


class _Index:
    """Lookups every object page needs, built once per model in one pass over its pods."""

    def __init__(self, model: ClusterModel):
        ev = model.evaluation
        self.pods_of_workload: dict[tuple[str, str, str], list[Pod]] = {}
        key_of: dict[Pod, tuple[str, str, str]] = {}
        for pod in sorted(model.pods, key=lambda p: (p.namespace, p.name)):
            key = key_of[pod] = workload_key(pod)
            self.pods_of_workload.setdefault(key, []).append(pod)
        self.workloads_of_class: list[dict[tuple[str, str, str], int]] = []
        for cls in ev.classes:
            counts: dict[tuple[str, str, str], int] = {}
            for pod in cls.pods:
                key = key_of[pod]
                counts[key] = counts.get(key, 0) + 1
            self.workloads_of_class.append(counts)
        self.compiled = {(c.policy.id, c.direction, c.rule.index): c for c in ev.rules}
        self.policies = {p.key: p for p in model.policies}


def _index(model: ClusterModel) -> _Index:
    """The model's index, built once and kept as long as the model."""
    return model.derived("summaries.index", lambda: _build_index(model))


def _build_index(model: ClusterModel) -> _Index:
    with gc_paused():  # many small objects, no cycles: see engine.gcpause
        return _Index(model)


# --- Ports ----------------------------------------------------------------------------


def ports_list(ports: PortSet) -> list[str]:
    """["TCP/80", "UDP/53"], or ["all ports"]; never empty for a non-empty set."""
    if ports == ALL_PORTS:
        return ["all ports"]
    return ports.describe()


def probe(ports: PortSet, named: frozenset) -> tuple[str, int] | None:
    """One (protocol, port) of the set to prefill "explain this connection" with: a named
    container port of the destination when one is in the set, else the set's first."""
    for _, protocol, number in sorted(named, key=lambda t: (PROTOCOLS.index(t[1]), t[2])):
        if ports.has(number, protocol):
            return protocol, number
    for protocol, lo in ports.samples():
        if lo == 1 and ports.has(65535, protocol) and ports.has(ORDINARY_PORT[protocol], protocol):
            return protocol, ORDINARY_PORT[protocol]
        return protocol, lo
    return None


# --- Peer summaries -------------------------------------------------------------------


def group_classes(
    model: ClusterModel,
    ports_of: dict[int, PortSet | None],
    *,
    rows_named: frozenset | None = None,
    first_namespace: str = "",
) -> dict:
    """Pod classes grouped by namespace and workload, capped, with counts.

    ``ports_of``: class id -> the ports concerned (None where ports do not apply, as for a
    policy's selection). ``rows_named``: the named ports a probe port resolves against: the
    page's own pod when the rows are sources, None when the rows are the destinations
    (each row's own). ``first_namespace`` is listed first (the page's own namespace).
    """
    ev = model.evaluation
    idx = _index(model)
    by_ns: dict[str, dict[tuple[str, str, str], dict]] = {}
    classes_in_ns: dict[str, int] = {}
    for c, ports in ports_of.items():
        cls = ev.classes[c]
        classes_in_ns[cls.namespace] = classes_in_ns.get(cls.namespace, 0) + 1
        rows = by_ns.setdefault(cls.namespace, {})
        for key, count in idx.workloads_of_class[c].items():
            row = rows.get(key)
            if row is None:
                row = rows[key] = {"pods": 0, "ports": NO_PORTS, "named": cls.named_ports}
            row["pods"] += count
            if ports is not None:
                row["ports"] = row["ports"] | ports
    with_ports = any(p is not None for p in ports_of.values())
    order = sorted(by_ns, key=lambda n: (n != first_namespace, n))
    namespaces = []
    for ns in order[:NAMESPACE_CAP]:
        rows = by_ns[ns]
        lo, hi = ev.ns_ranges[ns]
        union = NO_PORTS
        for row in rows.values():
            union = union | row["ports"]
        workloads = []
        for (_, kind, name), row in sorted(rows.items(), key=lambda kv: kv[0][2])[:WORKLOAD_CAP]:
            named = rows_named if rows_named is not None else row["named"]
            workloads.append(
                {
                    "namespace": ns,
                    "kind": kind,
                    "name": name,
                    "pods": row["pods"],
                    "ports": ports_list(row["ports"]) if with_ports else None,
                    "probe": probe(row["ports"], named) if with_ports else None,
                }
            )
        namespaces.append(
            {
                "name": ns,
                "whole": classes_in_ns[ns] == hi - lo,
                "pods": sum(r["pods"] for r in rows.values()),
                "ports": ports_list(union) if with_ports else None,
                "workloads": workloads,
                "workload_count": len(rows),
                "more": len(rows) - len(workloads),
            }
        )
    return {
        "namespaces": namespaces,
        "namespace_count": len(by_ns),
        "more": len(by_ns) - len(namespaces),
        "workload_count": sum(len(r) for r in by_ns.values()),
        "pod_count": sum(row["pods"] for rows in by_ns.values() for row in rows.values()),
        "everyone": bool(ev.classes) and len(ports_of) == len(ev.classes),
    }


def address_rules(model: ClusterModel, c: int, direction: str) -> dict:
    """The address peers (ipBlocks, or "every address") of the rules applying to class
    ``c`` in one direction, as written, with the ports each allows there.

    A port name resolves against the destination: the class itself for ingress, never an
    address for egress (so an egress rule with only named ports allows no address)."""
    ev = model.evaluation
    if not ev.is_isolated(c, direction):
        return {"isolated": False, "rules": []}
    named = ev.classes[c].named_ports if direction == INGRESS else frozenset()
    rows = []
    for compiled in ev.rules_of(c, direction):
        rule = compiled.rule
        if not rule.valid:
            continue
        ports = compiled.ports_for(named)
        common = {
            "namespace": compiled.policy.namespace,
            "policy": compiled.policy.name,
            "direction": direction,
            "rule": rule.index,
            "ports": ports_list(ports) if ports else [],
        }
        if rule.peers is None:
            rows.append({**common, "peer": None, "cidr": "every address", "except": []})
            continue
        for j, peer in enumerate(rule.peers):
            if peer.valid and peer.ip_block_text is not None:
                text = peer.ip_block_text
                rows.append(
                    {**common, "peer": j, "cidr": text["cidr"], "except": text.get("except", [])}
                )
    return {"isolated": True, "rules": rows}


# --- External exposure ------------------------------------------------------------------


def _size(ips: IPSet, lo: int, hi: int) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in ips.ranges)


def _public_text(part: IPSet, space: IPSet, lo: int, hi: int, family: str) -> str:
    """ "12.5% of the public IPv4 space (about 537 million addresses)"; "" when none."""
    count = _size(part, lo, hi)
    if not count:
        return ""
    share = 100 * count / _size(space, lo, hi)
    if count == _size(space, lo, hi):
        text = f"all of the public {family} space"
    elif share > 99.99:
        text = f"over 99.99% of the public {family} space"
    elif share < 0.01:
        text = f"under 0.01% of the public {family} space"
    else:
        text = f"{share:.2f}% of the public {family} space"
    if family == "IPv4":
        text += f" ({_count_text(count)})"
    return text


def _count_text(count: int) -> str:
    if count < 10_000:
        return f"{count:,} address{'es' if count != 1 else ''}"
    for size, word in ((10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
        if count >= size:
            return f"about {count / size:.1f} {word} addresses"
    return f"{count:,} addresses"


def _private_blocks(private: IPSet) -> list[str]:
    """The non-public part as the well-known blocks it touches, with how much of each:
    "most of 10.0.0.0/8 (private)" reads better than the 190 CIDRs an except carves."""
    out = []
    rest = private
    for cidr, what in NON_PUBLIC_BLOCKS:
        block = IPSet.from_cidr(cidr)
        part = rest & block
        if not part:
            continue
        rest = rest - block
        share = 100 * _size(part, 0, V4_END) / _size(block, 0, V4_END)
        amount = "all of" if share == 100 else ("most of" if share >= 50 else "part of")
        out.append(f"{amount} {cidr} ({what})")
    v6 = rest & IPSet.from_cidr("::/0")
    if v6:  # what IPv6 has outside 2000::/3 and the blocks above is all reserved space
        out.append(f"reserved IPv6 outside 2000::/3 ({len(v6.to_cidrs())} ranges)")
    cidrs = (rest - v6).to_cidrs()
    out += cidrs[:CIDR_CAP] + (
        [f"{len(cidrs) - CIDR_CAP} more ranges"] if len(cidrs) > CIDR_CAP else []
    )
    return out


def exposure_rows(items: list[dict], direction: str) -> list[dict]:
    """The engine's ``[{"ports", "cidrs"}]`` as a reader wants it: per port list, how much
    of the public address space is open, the non-public blocks it touches, and (for
    egress, where it leaks credentials) whether the cloud metadata endpoint is among them."""
    rows = []
    for item in items:
        ips = IPSet([IPSet.from_cidr(c).ranges[0] for c in item["cidrs"]])
        public_v4 = ips & PUBLIC_V4
        public_v6 = ips & PUBLIC_V6
        public_cidrs = (public_v4 | public_v6).to_cidrs()
        ports = item["ports"]
        rows.append(
            {
                "ports": ["all ports"] if ports == ALL_PORTS.describe() else ports,
                "public": [
                    text
                    for text in (
                        _public_text(public_v4, PUBLIC_V4, IPV4_BASE, V4_END, "IPv4"),
                        _public_text(public_v6, PUBLIC_V6, 0, IPV4_BASE, "IPv6"),
                    )
                    if text
                ],
                "public_cidrs": public_cidrs[:CIDR_CAP],
                "public_more": max(0, len(public_cidrs) - CIDR_CAP),
                "private": _private_blocks(ips - PUBLIC_V4 - PUBLIC_V6),
                "metadata": [
                    ip for ip in METADATA_IPS if direction == EGRESS and ips.contains_ip(ip)
                ],
                "cidr_count": len(item["cidrs"]),
            }
        )
    return rows


def _exposure(model: ClusterModel, pods: list[Pod]) -> dict:
    """Exposure of the pods' classes (one representative pod per class), merged."""
    exposure = model.external_exposure()
    ev = model.evaluation
    seen: set[int] = set()
    merged: dict[str, list[dict]] = {"ingress": [], "egress": []}
    for pod in pods:
        c = ev.class_of.get(pod.key)
        if c is None or c in seen:
            continue
        seen.add(c)
        for direction, items in exposure.of_pod(pod.key).items():
            for item in items:
                if item not in merged[direction]:
                    merged[direction].append(item)
    return {d: exposure_rows(items, d) for d, items in merged.items()}


# --- Isolation ----------------------------------------------------------------------------


def _policy_row(policy: Policy, selected: int | None = None) -> dict:
    return {
        "namespace": policy.namespace,
        "name": policy.name,
        "ingress": policy.affects_ingress,
        "egress": policy.affects_egress,
        "ingress_rules": len(policy.ingress),
        "egress_rules": len(policy.egress),
        "selected": selected,
    }


def isolation_of(model: ClusterModel, pod: Pod) -> dict:
    """Category (with its colour), isolation per direction and the selecting policies of
    one pod: what ``model.isolation()`` says, for one pod without evaluating all of them."""
    found = _isolation(model, pod)
    return {**found, "colour": CATEGORY_COLOURS[found["category"]]}


# Why a pod outside enforcement has no isolation, as the object pages explain it.
_OUTSIDE_REASONS = {
    UNDEFINED_CATEGORY: "hostNetwork pods share their node's network; NetworkPolicies do not "
    "govern them, and what a CNI does with them varies",
    NO_TRAFFIC_CATEGORY: "the pod {reason}: it takes no part in traffic; "
    "its policies apply once it runs with an address",
}


def _isolation(model: ClusterModel, pod: Pod) -> dict:
    found = model.pod_isolation(pod)
    reason = _OUTSIDE_REASONS.get(found.category, "")
    return {
        "policies": [_policy_row(p) for p in model.policies_selecting(pod)],
        "reason": reason.format(reason=pod.inactive_reason) if reason else "",
        "category": found.category,
        "ingress": found.ingress_isolated,
        "egress": found.egress_isolated,
    }


# --- Pages --------------------------------------------------------------------------------


def _pod_info(pod: Pod) -> dict:
    return {
        "namespace": pod.namespace,
        "name": pod.name,
        "key": pod.key,
        "state": pod.state,
        "phase": pod.phase or ("Running" if pod.state == ACTIVE else ""),
        "ips": list(pod.ips),
        "node": pod.node_name,
        "labels": dict(sorted(pod.labels.items())),
        "named_ports": [f"{n} {proto}/{num}" for n, proto, num in sorted(pod.named_ports)],
        "from_template": pod.from_template,
        "host_network": pod.host_network,
    }


def _traffic(
    model: ClusterModel, pods: list[Pod], namespace: str, own_named: frozenset | None
) -> dict:
    """Who can reach these (active) pods and whom they can reach, with address rules and
    exposure. ``own_named``: the pods' named ports when they all share them."""
    ev = model.evaluation
    classes = sorted({ev.class_of[p.key] for p in pods if p.key in ev.class_of})
    if not classes:
        return {}
    first = classes[0]
    inbound = group_classes(
        model,
        model.allowed_connections().sources_of(classes),
        rows_named=own_named,
        first_namespace=namespace,
    )
    outbound = group_classes(
        model, model.allowed_connections().destinations_of(classes), first_namespace=namespace
    )
    _decided_rows(model, inbound, pods, inbound=True)
    _decided_rows(model, outbound, pods, inbound=False)
    return {
        "inbound": inbound,
        "outbound": outbound,
        # Address rules differ only between classes with different policies; the first
        # class speaks for the workload, and the page says when its pods differ.
        "addresses_in": address_rules(model, first, INGRESS),
        "addresses_out": address_rules(model, first, EGRESS),
        "exposure": _exposure(model, pods),
        "classes": len(classes),
    }


def pod_summary(model: ClusterModel, key: str) -> dict | None:
    """Everything the pod page shows; None when the model has no such pod."""
    pod = model.pods_by_key.get(key)
    if pod is None:
        return None
    namespace, kind, name = workload_key(pod)
    summary = {
        "pod": _pod_info(pod),
        "workload": {"namespace": namespace, "kind": kind, "name": name} if kind != "Pod" else None,
        "isolation": isolation_of(model, pod),
        "other_policies": other_policies_about(model, [pod]),
        "undecided": model.undecided_about(pod),
        "traffic": _traffic(model, [pod], pod.namespace, pod.named_ports)
        if pod.state == ACTIVE
        else {},
        "refs": [f"Pod/{pod.namespace}/{pod.name}"]
        + ([f"{kind}/{namespace}/{name}"] if kind != "Pod" else []),
    }
    return summary


def find_workload(
    model: ClusterModel, namespace: str, kind: str, name: str
) -> tuple[tuple, list[Pod]]:
    """The workload's key and pods (by the page's key or the owner's API name)."""
    # The owner as the API names it (a CronJob's Job "report-28000000") is the workload
    # the pages use ("CronJob/report"), so links from stored rows work too.
    key = (namespace, *owning_workload(kind, name))
    return key, _index(model).pods_of_workload.get(key, [])


def workload_summary(model: ClusterModel, namespace: str, kind: str, name: str) -> dict | None:
    """Everything the workload page shows; None when no pod of the model belongs to it."""
    key, pods = find_workload(model, namespace, kind, name)
    if not pods:
        return None
    namespace, kind, name = key
    active = [p for p in pods if p.state == ACTIVE]
    host = [p for p in pods if p.state == HOST_NETWORK]
    idle = [p for p in pods if p.state not in (ACTIVE, HOST_NETWORK)]
    # Policies: how many of the workload's pods each one selects.
    counts: dict[str, int] = {}
    by_key: dict[str, Policy] = {}
    isolated = {"ingress": 0, "egress": 0}
    for pod in pods:
        for policy in model.policies_selecting(pod):
            counts[policy.key] = counts.get(policy.key, 0) + 1
            by_key[policy.key] = policy
        isolated["ingress"] += model.is_isolated(pod, INGRESS)
        isolated["egress"] += model.is_isolated(pod, EGRESS)
    named = {p.named_ports for p in active}
    representative = active[0] if active else pods[0]
    return {
        "workload": {"namespace": namespace, "kind": kind, "name": name},
        "pods": [{**_pod_info(p), **_category(model, p)} for p in pods[:POD_CAP]],
        "pod_count": len(pods),
        "more_pods": max(0, len(pods) - POD_CAP),
        "active": len(active),
        "host_network": len(host),
        "idle": len(idle),
        "idle_reasons": sorted({p.inactive_reason for p in idle}),
        "policies": [_policy_row(by_key[k], counts[k]) for k in sorted(by_key)],
        "other_policies": other_policies_about(model, active),
        "undecided": _undecided(model, active),
        "isolated": isolated,
        "traffic": _traffic(model, active, namespace, named.pop() if len(named) == 1 else None),
        "representative": representative.key,
        "refs": [f"{kind}/{namespace}/{name}"],
    }


def _undecided(model: ClusterModel, pods: list[Pod]) -> list[str]:
    """What the engine cannot decide about any of ``pods``, once per distinct rule (one
    pod per class asks: pods of a class share their rules)."""
    return list(
        dict.fromkeys(
            text for pod in _one_per_class(model, pods) for text in model.undecided_about(pod)
        )
    )


def _category(model: ClusterModel, pod: Pod) -> dict:
    found = isolation_of(model, pod)
    return {"category": found["category"], "colour": found["colour"]}


# --- Policy -------------------------------------------------------------------------------


def policy_yaml(namespace: str, name: str, spec: dict) -> str:
    """The stored policy as a manifest: apiVersion, kind, metadata, then the verbatim spec."""
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, allow_unicode=True)


# The apiVersion each kind's manifest is written with on its page.
_API_VERSIONS = {
    **{kind: version for kind, (_, version) in CLUSTER_POLICY_KINDS.items()},
    "CiliumNetworkPolicy": "cilium.io/v2",
    "CiliumClusterwideNetworkPolicy": "cilium.io/v2",
}


def manifest_yaml(
    kind: str,
    namespace: str,
    name: str,
    spec: dict | None,
    specs: list | None = None,
    api_version: str = "",
) -> str:
    """A stored policy of another kind as a manifest: apiVersion (as stored, else the
    kind's), kind (Calico's without the page's "Calico" prefix), metadata, then ``spec``
    and (Cilium's list form) ``specs`` as stored."""
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    if api_version.startswith(("projectcalico.org/", "crd.projectcalico.org/")):
        kind = kind.removeprefix("Calico")
    manifest = {
        "apiVersion": api_version or _API_VERSIONS.get(kind, ""),
        "kind": kind,
        "metadata": metadata,
    }
    if spec is not None:
        manifest["spec"] = spec
    if specs is not None:
        manifest["specs"] = specs
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _selector_text(peer) -> str:
    return yaml.safe_dump(
        peer.to_dict(), sort_keys=False, default_flow_style=True, width=10_000
    ).strip()


def _port_entries(model: ClusterModel, compiled, named_over: int) -> list[dict] | None:
    """The rule's port entries; a named one with what it resolves to on the classes in
    ``named_over`` (grouped by value, with the workloads concerned)."""
    rule = compiled.rule
    if rule.ports is None:
        return None
    ev = model.evaluation
    out = []
    for k, spec in enumerate(rule.ports):
        entry = {
            "index": k,
            "text": spec.text,
            "valid": spec.valid,
            "named": spec.named,
            "resolved": [],
        }
        if spec.named and spec.valid:
            by_value: dict[PortSet, list[int]] = {}
            for c in ev.classes_in(named_over):
                resolved = spec.resolve(ev.classes[c].named_ports)
                if resolved:
                    by_value.setdefault(resolved, []).append(c)
            for ports, classes in by_value.items():
                entry["resolved"].append(
                    {
                        "ports": ports_list(ports),
                        "peers": group_classes(model, dict.fromkeys(classes)),
                    }
                )
        out.append(entry)
    return out


def policy_summary(model: ClusterModel, namespace: str, name: str) -> dict:
    """What the policy page shows beyond its YAML: what it selects, what each rule allows
    (peers resolved to namespaces, workloads and CIDRs; named ports resolved) and its
    validation errors. ``ignored`` when the engine dropped it as invalid."""
    key = f"{namespace}/{name}"
    errors = [e.to_dict() for e in model.errors if e.policy == key]
    idx = _index(model)
    policy = idx.policies.get(key)
    if policy is None:
        return {"ignored": True, "errors": errors}
    ev = model.evaluation
    selected = ev.selected[policy.id]
    outside = [
        {
            "key": p.key,
            "namespace": p.namespace,
            "name": p.name,
            "category": UNDEFINED_CATEGORY if p.state == HOST_NETWORK else NO_TRAFFIC_CATEGORY,
        }
        for p in model.pods
        if p.namespace == namespace and p.state != ACTIVE and policy.pod_selector.matches(p.labels)
    ]
    directions = []
    for direction, rules, affects in (
        (INGRESS, policy.ingress, policy.affects_ingress),
        (EGRESS, policy.egress, policy.affects_egress),
    ):
        rows = []
        for rule in rules:
            compiled = idx.compiled[policy.id, direction, rule.index]
            peers = None
            if rule.valid and rule.peers is not None:
                peers = []
                for j, peer in enumerate(rule.peers):
                    bits = compiled.peer_classes[j]
                    peers.append(
                        {
                            "index": j,
                            "valid": peer.valid,
                            "text": _selector_text(peer),
                            "ip_block": peer.ip_block_text,
                            "pods": group_classes(
                                model, dict.fromkeys(ev.classes_in(bits)), first_namespace=namespace
                            )
                            if bits
                            else None,
                        }
                    )
            # A name resolves against the destination: the selected pods for ingress,
            # the peers' pods for egress.
            named_over = selected if direction == INGRESS else compiled.classes
            rows.append(
                {
                    "index": rule.index,
                    "anchor": f"{direction}-{rule.index}",
                    "valid": rule.valid,
                    "peers": peers,
                    "ports": _port_entries(model, compiled, named_over) if rule.valid else None,
                }
            )
        directions.append(
            {
                "name": direction,
                "affects": affects,
                "rules": rows,
                "peers_key": "from" if direction == INGRESS else "to",
            }
        )
    return {
        "ignored": False,
        "errors": errors,
        "selects": group_classes(
            model, dict.fromkeys(ev.classes_in(selected)), first_namespace=namespace
        ),
        "outside_traffic": outside[:POD_CAP],
        "outside_count": len(outside),
        "selector": yaml.safe_dump(
            policy.pod_selector.to_dict(), default_flow_style=True, width=10_000
        ).strip()
        if policy.pod_selector.to_dict()
        else "{} (every pod of the namespace)",
        "directions": directions,
    }


# --- Explain a connection -------------------------------------------------------------------


def _endpoint(model: ClusterModel, text: str, which: str):
    """A form value to what ``model.reach`` takes, and a note when a pod stands for a
    workload. Raises InputError with a message for the form."""
    text = (text or "").strip()
    if not text:
        raise InputError(
            f"Give the {which}: namespace/pod, namespace/Kind/workload or an IP address."
        )
    if len(text) > MAX_FIELD:
        raise InputError(f"The {which} is too long.")
    parts = text.split("/")
    if len(parts) == 2 and all(parts):
        if text not in model.pods_by_key:
            raise InputError(f"No pod {text} in this snapshot ({which}).")
        return model.pods_by_key[text], ""
    if len(parts) == 3 and all(parts):
        _, pods = find_workload(model, *parts)
        if not pods:
            raise InputError(
                f"No workload {parts[1]} {parts[0]}/{parts[2]} in this snapshot ({which})."
            )
        pod = next((p for p in pods if p.state == ACTIVE), pods[0])
        return (
            pod,
            f"{pod.key} stands for {parts[1]} {parts[0]}/{parts[2]} (its pods share their policies unless their labels differ).",
        )
    try:
        ip_to_int(text)
    except ValueError:
        raise InputError(
            f"The {which} '{text}' is neither namespace/pod, namespace/Kind/workload nor an IP address."
        ) from None
    return text, ""


def parse_question(model: ClusterModel, src: str, dst: str, port: str, protocol: str) -> dict:
    """The form's four fields checked and resolved; InputError with a message otherwise.

    The port may be a number or a container-port name, resolved (as a policy's named
    port would be) against the destination pod's ports of that protocol."""
    protocol = (protocol or "TCP").strip().upper()
    if protocol not in PROTOCOLS:
        raise InputError(f"Protocol '{protocol[:20]}' is not one of {', '.join(PROTOCOLS)}.")
    src_value, src_note = _endpoint(model, src, "source")
    dst_value, dst_note = _endpoint(model, dst, "destination")
    port = (port or "").strip()
    if not port:
        raise InputError(
            "Give the port: a number from 1 to 65535 or a container port name such as http."
        )
    port_name = ""
    if port.isdigit():
        number = int(port)
        if not 1 <= number <= 65535:
            raise InputError(f"Port {port[:10]} is outside 1-65535.")
    else:
        if not isinstance(dst_value, Pod):
            raise InputError(
                f"The port name '{port[:40]}' can only be resolved against a destination pod; give a number."
            )
        matches = sorted(
            n for name, proto, n in dst_value.named_ports if name == port and proto == protocol
        )
        if not matches:
            names = ", ".join(f"{n} {p}/{v}" for n, p, v in sorted(dst_value.named_ports)) or "none"
            raise InputError(
                f"{dst_value.key} has no {protocol} port named '{port[:40]}' (its named ports: {names})."
            )
        number, port_name = matches[0], port
    return {
        "src": src_value,
        "dst": dst_value,
        "port": number,
        "protocol": protocol,
        "port_name": port_name,
        "notes": [n for n in (src_note, dst_note) if n],
    }


def _rule_match(model: ClusterModel, idx: _Index, direction: str, match) -> dict:
    if match.policy not in idx.policies:
        return _other_rule_match(model, direction, match)
    policy = idx.policies[match.policy]
    rule = (policy.ingress if direction == INGRESS else policy.egress)[match.rule]
    peer = rule.peers[match.peer] if match.peer is not None and rule.peers else None
    port = rule.ports[match.port] if match.port is not None and rule.ports else None
    port_text = port.text if port is not None else None
    return {
        "namespace": policy.namespace,
        "policy": policy.name,
        "direction": direction,
        "rule": match.rule,
        "anchor": f"{direction}-{match.rule}",
        "peer": match.peer,
        "port": match.port,
        "peer_text": _selector_text(peer)
        if peer is not None
        else "every peer (the rule lists none)",
        "port_text": port_text or "every port (the rule lists none)",
    }


def _other_rule_match(model: ClusterModel, direction: str, match) -> dict:
    """An allowing rule of a Cilium or Calico policy (the NetworkPolicy tier's other
    kinds): the policy linked by kind, the rule's path and its matching peer as written."""
    ref = policy_ref(model, match.policy)
    policy = other_kind_policies(model).get(match.policy)
    rules = getattr(policy, direction, ()) if policy is not None else ()
    rule = next(
        (
            r
            for r in rules
            if getattr(r, "index", None) == match.rule and not getattr(r, "deny", False)
        ),
        None,
    )
    path = (
        policy.rule_path(direction, rule)
        if rule is not None and hasattr(policy, "rule_path")
        else f"spec.{direction}[{match.rule}]"
    )
    peers = getattr(rule, "peers", None)
    peer_text = "every peer (the rule lists none)"
    if peers and match.peer is not None and match.peer < len(peers):
        peer_text = getattr(peers[match.peer], "text", "") or peer_text
    return {
        "other": ref,
        "namespace": ref["namespace"],
        "policy": ref["name"],
        "direction": direction,
        "rule": match.rule,
        "path": path,
        "peer": match.peer,
        "port": match.port,
        "peer_text": peer_text,
        "port_text": "see the rule's ports on the policy's page",
    }


def explain(model: ClusterModel, question: dict) -> dict:
    """The engine's verdict for a parsed question, with each deciding rule spelled out."""
    idx = _index(model)
    verdict = model.reach(question["src"], question["dst"], question["port"], question["protocol"])
    directions = []
    for d in (verdict.egress, verdict.ingress):
        if d is None:
            continue
        directions.append(
            {
                "direction": d.direction,
                "pod": d.pod,
                "namespace": d.pod.split("/", 1)[0],
                "name": d.pod.split("/", 1)[1],
                "isolated": d.isolated,
                "allowed": d.allowed,
                "reason": d.reason,
                "allowed_by": [_rule_match(model, idx, d.direction, m) for m in d.allowed_by],
                # Policies of any kind (NetworkPolicy, Cilium), as policy_ref gives them.
                "isolating": [policy_ref(model, k) for k in d.isolating_policies],
                # With cluster-wide (or Calico) tiers: which tier decided, and each tier's
                # say in order, naming the kind (cnp/, anp/, banp/) and rule.
                "decided_by": d.decided_by,
                "decided": side_decision(model, d),
                "tiers": list(d.tiers),
                "depends_on": list(d.depends_on),
            }
        )
    return {
        "outcome": verdict.outcome,
        "allowed": verdict.allowed,
        "reason": verdict.reason,
        "src": str(verdict.src),
        "dst": str(verdict.dst),
        "src_pod": verdict.src.pod is not None,
        "dst_pod": verdict.dst.pod is not None,
        "port": verdict.port,
        "protocol": verdict.protocol,
        "port_name": question["port_name"],
        "notes": question["notes"],
        "directions": directions,
        "text": verdict.text(),
    }


# --- Which policy kind decided a connection ---------------------------------------------------

# The tiers that decide, as a reader meets them (decided_by -> words); a Calico tier's
# name follows "Calico tier".
_TIER_WORDS = {
    "Admin": "Admin tier",
    "Baseline": "Baseline tier",
    "NetworkPolicy": "NetworkPolicy tier",
    "default": "no tier decides: allowed by default",
    "profile": "no Calico tier decides: the namespace's profile allows it",
    "Cilium deny": "Cilium deny",
}


def other_kind_policies(model: ClusterModel) -> dict[str, object]:
    """The model's policies of the kinds beyond NetworkPolicy (cluster-wide tiers, Cilium,
    Calico) by the key verdicts name them with ("cnp/x", "cilium/ns/x", "gnp/x")."""
    return model.derived(
        "summaries.other_kinds",
        lambda: {
            p.key: p
            for p in (
                *model.cluster_policies,
                *getattr(model, "cilium_policies", ()),
                *getattr(model, "calico_policies", ()),
            )
        },
    )


def policy_ref(model: ClusterModel, key: str) -> dict:
    """A policy key of a verdict as a page links it: ``{"kind", "namespace", "name",
    "key", "text"}``. Keys of other kinds are looked up in the model (a key alone is
    ambiguous: "cnp/x" is also a NetworkPolicy x of a namespace cnp), the rest are
    NetworkPolicies."""
    other = other_kind_policies(model).get(key)
    if other is not None:
        namespace = getattr(other, "namespace", None) or ""
        name = f"{namespace}/{other.name}" if namespace else other.name
        kind = api_kind = other.kind
        if key.startswith(("calico/", "gnp/")):
            # Calico's NetworkPolicy shares its kind with Kubernetes': the page's URL
            # names it CalicoNetworkPolicy (CalicoGlobalNetworkPolicy alike).
            kind, api_kind = f"Calico {kind}", f"Calico{kind}"
        return {
            "kind": kind,
            "api_kind": api_kind,
            "namespace": namespace,
            "name": other.name,
            "key": key,
            "text": f"{kind} {name}",
        }
    namespace, _, name = key.partition("/")
    return {
        "kind": "NetworkPolicy",
        "api_kind": "NetworkPolicy",
        "namespace": namespace,
        "name": name,
        "key": key,
        "text": f"NetworkPolicy {key}",
    }


def coverage_policy_refs(model: ClusterModel, namespace: str, keys: list[str]) -> list[dict]:
    """The policies coverage names for a namespace (a NetworkPolicy by its name, another
    kind by its key: "calico/ns/x", "gnp/x", "cilium/ns/x") as ``policy_ref`` links them."""
    others = other_kind_policies(model)
    return [policy_ref(model, k if k in others else f"{namespace}/{k}") for k in keys]


def side_decision(model: ClusterModel, d) -> dict:
    """One side of a verdict (a ``DirectionVerdict``) as "which kind decided": the tier,
    the deciding policies (linked by the pages) and the action, in one line of text such
    as "Admin tier: ClusterNetworkPolicy deny-batch-db, Deny" or "NetworkPolicy
    shop-db/postgres"."""
    action = "Accept" if d.allowed else "Deny"
    tier = d.decided_by
    if d.denied_by:  # a Cilium deny overrides every tier and every allow
        key = d.decided_policy or d.denied_by.split(" ", 1)[0]
        policies = [policy_ref(model, key)]
        tier = "Cilium deny"
    elif d.decided_policy:  # a rule of the Admin or Baseline tier, or of a Calico tier
        policies = [policy_ref(model, d.decided_policy)]
    elif d.allowed_by:
        policies = [policy_ref(model, k) for k in dict.fromkeys(m.policy for m in d.allowed_by)]
    elif not d.allowed and d.isolating_policies:
        policies = [policy_ref(model, k) for k in d.isolating_policies]
    else:
        policies = []
    names = ", ".join(p["text"] for p in policies)
    words = _TIER_WORDS.get(tier, tier)
    if tier == "NetworkPolicy":
        # NetworkPolicies (and Cilium's, in their tier) decided: they name themselves.
        if not d.isolated:
            text = "not isolated: no policy restricts it"
        elif d.allowed:
            text = names
        else:
            text = f"isolated by {names}, no rule allows it"
    elif policies:
        text = f"{words}: {names}, {action}"
    else:
        text = words if tier in ("default", "profile") else f"{words}: {d.reason}"
    return {
        "direction": d.direction,
        "pod": d.pod,
        "allowed": d.allowed,
        "tier": tier,
        "action": action,
        "policies": policies,
        "text": text,
    }


def decision(model: ClusterModel, src, dst, port: int, protocol: str) -> dict:
    """Which kind (and policy) decided one connection, each side: ``{"allowed", "port",
    "protocol", "sides": [side_decision...]}`` (egress at the source first)."""
    verdict = model.reach(src, dst, port, protocol)
    return {
        "allowed": verdict.allowed,
        "outcome": verdict.outcome,
        "port": port,
        "protocol": protocol,
        "reason": verdict.reason,
        "sides": [side_decision(model, d) for d in (verdict.egress, verdict.ingress) if d],
    }


def _decided_rows(model: ClusterModel, peers: dict, mine: list[Pod], inbound: bool) -> None:
    """Each listed workload row of a peer summary gets ``decided``: who decided the
    connection between one of its pods and one of ``mine`` on the row's probe port.

    The row's pods and the page's pods may fall in several classes; the first pair the
    engine allows is the example (the rows list allowed connections only)."""
    idx = _index(model)
    for ns in peers.get("namespaces", ()):
        for row in ns["workloads"]:
            if not row.get("probe"):
                continue
            protocol, port = row["probe"]
            theirs = [
                p
                for p in idx.pods_of_workload.get((row["namespace"], row["kind"], row["name"]), ())
                if p.state == ACTIVE
            ]
            sources, destinations = (theirs, mine) if inbound else (mine, theirs)
            row["decided"] = pair_decision(model, sources, destinations, port, protocol)


def pair_decision(
    model: ClusterModel, sources: list[Pod], destinations: list[Pod], port: int, protocol: str
) -> dict | None:
    """``decision`` for an example pair of one source and one destination pod (one pod
    per class, a few classes each way): the first pair the engine allows, else the last
    tried; None when either side has no running pod. Each pair adds ``src``/``dst``."""
    found = None
    for src in _one_per_class(model, sources)[:CLASS_TRIES]:
        for dst in _one_per_class(model, destinations)[:CLASS_TRIES]:
            found = {**decision(model, src, dst, port, protocol), "src": src.key, "dst": dst.key}
            if found["allowed"]:
                return found
    return found


def _one_per_class(model: ClusterModel, pods: list[Pod]) -> list[Pod]:
    class_of = model.evaluation.class_of
    seen: dict[int, Pod] = {}
    for pod in pods:
        seen.setdefault(class_of.get(pod.key, -1), pod)
    return [p for c, p in seen.items() if c >= 0]


# --- A policy of another kind: cluster-wide tiers, Cilium ------------------------------------

# What each place in the order of evaluation means for a reader of the policy's page.
_PLACE_TEXT = {
    "Admin": "Admin tier: its rules decide before any NetworkPolicy, by priority (lower "
    "first) then in written order. Accept and Deny are final; Pass hands the connection to "
    "the NetworkPolicy tier. Namespace owners cannot override it.",
    "Baseline": "Baseline tier: its rules decide only what no NetworkPolicy isolates "
    "(and the Admin tier did not decide), by priority then in written order; what no rule "
    "matches is allowed.",
    "Cilium": "NetworkPolicy tier, with the NetworkPolicies: its allow rules join theirs "
    "and a direction with rules puts the pods in default deny; its deny rules override "
    "every allow of any kind.",
}


def kind_policy_summary(model: ClusterModel, key: str) -> dict | None:
    """What the page of a policy of another kind shows beyond its YAML: its place in the
    order of evaluation, its subject (pods, grouped), its rules in order with action,
    peers (resolved to pods, or as written) and ports, and for each rule an example
    connection to explain. None when the model has no such policy (or dropped it as
    invalid: ``errors`` then say why)."""
    policy = other_kind_policies(model).get(key)
    ev = model.evaluation
    errors = [e.to_dict() for e in model.errors if e.policy == key]
    compiled = None
    if policy is not None and ev.tiers is not None and policy in ev.tiers.policies:
        compiled, subject = ev.tiers, ev.tiers.subject[policy.id]
        place = policy.tier
    elif policy is not None and getattr(ev, "cilium", None) is not None:
        if policy in ev.cilium.policies:
            compiled, subject = ev.cilium, ev.cilium.subject[policy.id]
            place = "Cilium"
    calico = getattr(ev, "calico", None)
    if compiled is None and calico is not None and key.startswith(("calico/", "gnp/")):
        return _calico_policy_summary(model, calico, policy, key, errors)
    if compiled is None:
        return {"found": policy is not None, "errors": errors, "detailed": False}
    namespace = getattr(policy, "namespace", None) or ""
    directions = []
    for direction in (INGRESS, EGRESS):
        rows = []
        for r in compiled.rules:
            if r.policy is not policy or r.direction != direction:
                continue
            rows.append(_kind_rule(model, r, place, subject, namespace))
        directions.append(
            {
                "name": direction,
                "rules": rows,
                "peers_key": "from" if direction == INGRESS else "to",
            }
        )
    return {
        "found": True,
        "detailed": True,
        "errors": errors,
        "ref": policy_ref(model, key),
        "place": place,
        "place_text": _PLACE_TEXT[place],
        "priority": getattr(policy, "priority", None),
        "subject": group_classes(
            model, dict.fromkeys(ev.classes_in(subject)), first_namespace=namespace
        ),
        "directions": directions,
        "default_deny": [d for d, on in getattr(policy, "default_deny", {}).items() if on],
    }


def _calico_policy_summary(model: ClusterModel, calico, policy, key: str, errors) -> dict:
    """``kind_policy_summary`` for a Calico policy: its tier (by order) and its order in it,
    its subject, its rules of each direction it applies to, in written order."""
    ev = model.evaluation
    subject = calico_subject(ev, calico, policy)
    namespace = policy.namespace or ""
    tier = calico.tiers[policy.tier]
    directions = []
    for direction in (INGRESS, EGRESS):
        applies = direction in policy.types
        rows = [
            _calico_rule(model, r, namespace)
            for r in calico.rules
            if r.policy is policy and r.direction == direction
        ]
        directions.append(
            {
                "name": direction,
                "rules": rows,
                "peers_key": "from" if direction == INGRESS else "to",
                "applies": applies,
            }
        )
    tier_order = _calico_order(tier.order)
    return {
        "found": True,
        "detailed": True,
        "errors": errors,
        "ref": policy_ref(model, key),
        "place": "Calico",
        "place_label": f"Calico tier {tier.name}",
        "place_text": (
            f"Calico tier {tier.name} ({tier_order}, {calico.rank[tier.name] + 1} of "
            f"{len(calico.order)} in the walk): tiers are walked by order; in a tier, the "
            "policies that select the pod by order, then their rules in written order. The "
            "first rule that matches decides: Allow and Deny are final, Pass goes on to the "
            "next tier. What no rule of the tier decides for a pod it selects meets the "
            f"tier's end: {tier.default_action}."
        ),
        "priority": None,
        "rank": _calico_order(policy.order),
        "subject": group_classes(
            model, dict.fromkeys(ev.classes_in(subject)), first_namespace=namespace
        ),
        "directions": directions,
        "default_deny": [
            d for d in (INGRESS, EGRESS) if d in policy.types and tier.default_action == "Deny"
        ],
    }


def _calico_order(order: float) -> str:
    """ "order 100", "order 2.5", "order 1,000,000"; "no order: last" when absent."""
    if order == float("inf"):
        return "no order: last"
    return f"order {int(order):,}" if order == int(order) else f"order {order:,}"


def _calico_entity_text(entity) -> str:
    """A rule's source or destination as written, in Calico's field names."""
    parts = []
    for field, value in (
        ("selector", entity.selector),
        ("notSelector", entity.not_selector),
        ("namespaceSelector", entity.namespace_selector),
    ):
        if value is not None:
            parts.append(f"{field}: {value.text}")
    for field, value in (("nets", entity.nets), ("notNets", entity.not_nets)):
        if value is not None:
            cidrs = value.to_cidrs()
            more = f" and {len(cidrs) - CIDR_CAP} more" if len(cidrs) > CIDR_CAP else ""
            parts.append(f"{field}: {', '.join(cidrs[:CIDR_CAP])}{more}")
    accounts = entity.service_accounts
    if accounts is not None:
        names = ", ".join(sorted(accounts.names)) if accounts.names is not None else "any"
        chosen = f", selector {accounts.selector.text}" if accounts.selector else ""
        parts.append(f"serviceAccounts: {names}{chosen}")
    return "; ".join(parts)


def _calico_rule(model: ClusterModel, r, namespace: str) -> dict:
    """One compiled rule of a Calico policy, for its page: the remote end (source for
    ingress, destination for egress) resolved to pods and addresses, the ports."""
    ev = model.evaluation
    rule = r.rule
    theirs = rule.source if r.direction == INGRESS else rule.destination
    text = _calico_entity_text(theirs)
    cidrs = r.ips.to_cidrs() if r.ips else []
    peer = {
        "index": 0,
        "text": text or "any source or destination",
        "pods": group_classes(
            model, dict.fromkeys(ev.classes_in(r.classes)), first_namespace=namespace
        )
        if r.classes
        else None,
        "addresses": cidrs[:CIDR_CAP],
        "more_addresses": max(0, len(cidrs) - CIDR_CAP),
    }
    dest = rule.destination
    # Calico writes a range "9000:9100"; a port without a protocol matches nothing.
    proto = rule.protocol.upper() if rule.protocol else "no protocol (matches nothing)"
    span = lambda s: f"{s.port}" + (f":{s.end_port}" if s.end_port else "")  # noqa: E731
    if dest.ports is None and not dest.not_ports:
        ports = None if rule.protocol is None else [f"{proto} (every port)"]
    else:
        ports = [f"{proto}/{span(s)}" for s in dest.ports or ()]
        ports += [f"not {proto}/{span(s)}" for s in dest.not_ports]
    if rule.not_protocol:
        ports = (ports or []) + [f"not protocol {rule.not_protocol}"]
    return {
        "index": rule.index,
        "name": f"spec.{r.direction}[{rule.index}]",
        "action": rule.action,
        "anchor": f"{r.direction}-{rule.index}",
        "peers": [peer],
        "every_peer": not text,
        "ports": ports,
        "undecided": list(rule.undecided + theirs.undecided),
        "example": _rule_example(model, r, r.local) if r.local else None,
    }


def _kind_rule(model: ClusterModel, r, place: str, subject: int, namespace: str) -> dict:
    """One compiled rule of a tier or Cilium policy, for its page."""
    ev = model.evaluation
    rule = r.rule
    if place == "Cilium":
        action = "Deny" if rule.deny else "Allow"
        name = r.policy.rule_path(r.direction, rule)
        ports = [s.text for s in rule.ports] if rule.ports is not None else None
        peers_written = rule.peers if rule.peers is not None else ()
        undecided = list(rule.undecided)
    else:
        action, name = rule.action, rule.name or f"#{rule.index}"
        ports = list(rule.port_texts) if rule.ports is not None else None
        peers_written, undecided = rule.peers, [f"domainNames {d}" for d in rule.domains]
    peers = []
    for j, peer in enumerate(peers_written):
        bits = r.peer_classes[j]
        ips = r.peer_ips[j]
        peers.append(
            {
                "index": j,
                "text": peer.text,
                "pods": group_classes(
                    model, dict.fromkeys(ev.classes_in(bits)), first_namespace=namespace
                )
                if bits
                else None,
                "addresses": ips.to_cidrs()[:CIDR_CAP] if ips else [],
                "more_addresses": max(0, len(ips.to_cidrs()) - CIDR_CAP) if ips else 0,
            }
        )
    return {
        "index": rule.index,
        "name": name,
        "action": action,
        "anchor": f"{r.direction}-{rule.index}{'-deny' if action == 'Deny' and place == 'Cilium' else ''}",
        "peers": peers,
        "every_peer": place == "Cilium" and rule.peers is None,
        "ports": ports,
        "undecided": undecided,
        "example": _rule_example(model, r, subject),
    }


def _rule_example(model: ClusterModel, r, subject: int) -> dict | None:
    """One connection the rule is about (a subject pod and a peer pod, on a port the
    rule names), to open on the explain page: it shows whether this rule decides it."""
    ev = model.evaluation
    mine = next(iter(ev.classes_in(subject)), None)
    theirs = next((c for c in ev.classes_in(r.classes) if c != mine), None)
    if theirs is None:
        theirs = next(iter(ev.classes_in(r.classes)), None)
    if mine is None or theirs is None:
        return None
    me, other = ev.classes[mine].pods[0], ev.classes[theirs].pods[0]
    src, dst = (other, me) if r.direction == INGRESS else (me, other)
    found = probe(r.ports_for(dst.named_ports), dst.named_ports)
    if found is None:
        return None
    return {"from": src.key, "to": dst.key, "protocol": found[0], "port": found[1]}


def other_policies_about(
    model: ClusterModel, pods: list[Pod] = (), namespace: str | None = None
) -> list[dict]:
    """The policies of other kinds (cluster-wide tiers, Cilium, Calico) whose subject holds
    some of ``pods``, or some pod of ``namespace``: ``[{"ref", "place", "priority",
    "rank", "ingress_rules", "egress_rules", "selected"}]`` in order of evaluation (Admin,
    NetworkPolicy tier, Baseline; with Calico, its tiers by order, the others in Calico's
    tiers for them). ``rank``: "priority 50", "order 10" or "". ``selected``: how many of
    those pods (running ones: the subject is evaluated over the running pods' classes)."""
    ev = model.evaluation
    counts: dict[int, int] = {}
    if namespace is not None:
        for c in ev.classes_in(ev.ns_mask(namespace)):
            counts[c] = len(ev.classes[c].pods)
    for pod in pods:
        c = ev.class_of.get(pod.key)
        if c is not None:
            counts[c] = counts.get(c, 0) + 1
    mask = 0
    for c in counts:
        mask |= 1 << c
    found = []
    calico = getattr(ev, "calico", None)

    # Without Calico: Admin, the NetworkPolicy tier (Cilium), Baseline. With it, every
    # kind sits in one of Calico's tiers, walked by rank (calico.py, "Every kind together").
    def rank(place: str, policy) -> int:
        if calico is None:
            return {"Admin": 0, "Cilium": 1, "Baseline": 2}[place]
        if place == "Cilium":
            return calico.rank["default"]
        return calico.rank[cluster_tier_name(policy)]

    tiers, cilium = ev.tiers, getattr(ev, "cilium", None)
    for compiled in (tiers, cilium):
        if compiled is None:
            continue
        for policy in compiled.policies:
            hit = compiled.subject[policy.id] & mask
            if not hit:
                continue
            place = "Cilium" if compiled is cilium else policy.tier
            priority = getattr(policy, "priority", None)
            found.append(
                {
                    "ref": policy_ref(model, policy.key),
                    "place": "NetworkPolicy tier" if place == "Cilium" else f"{place} tier",
                    "order": (rank(place, policy), priority or 0, policy.key),
                    "priority": priority,
                    "rank": f"priority {priority}"
                    if priority is not None and place != "Cilium"
                    else "",
                    "ingress_rules": len(policy.ingress),
                    "egress_rules": len(policy.egress),
                    "selected": sum(counts[c] for c in ev.classes_in(hit)),
                }
            )
    for policy in getattr(model, "calico_policies", ()) if calico is not None else ():
        hit = calico_subject(ev, calico, policy) & mask
        if not hit:
            continue
        found.append(
            {
                "ref": policy_ref(model, policy.key),
                "place": f"Calico tier {policy.tier}",
                "order": (calico.rank[policy.tier], policy.order, policy.key),
                "priority": None,
                "rank": _calico_order(policy.order),
                "ingress_rules": len(policy.ingress) if INGRESS in policy.types else 0,
                "egress_rules": len(policy.egress) if EGRESS in policy.types else 0,
                "selected": sum(counts[c] for c in ev.classes_in(hit)),
            }
        )
    return sorted(found, key=lambda row: row["order"])


def unenforced_policies(model: ClusterModel, namespace: str | None = None) -> list[dict]:
    """The policies of kinds the cluster's plugin does not enforce (``model.unenforced``,
    netpol/enforcement.py), of ``namespace`` when given (namespaced ones only), as pages
    link and name them: ``[{"kind", "api_kind", "namespace", "name", "text", "plugins",
    "reads"}]``, by kind then name. ``api_kind`` is the page's (Calico's prefixed);
    ``reads``: the kind as messages name it. Tiers and network sets filter nothing alone
    and are left out."""
    plugins = titled((getattr(model, "enforcement", None) or {}).get("plugins") or [])
    out = []
    for obj in getattr(model, "unenforced", ()) or ():
        key = kind_of(obj)
        kind = obj.get("kind") or "?"
        if kind in ("Tier", "NetworkSet", "GlobalNetworkSet"):
            continue
        metadata = obj.get("metadata") or {}
        ns, name = metadata.get("namespace") or "", metadata.get("name") or "?"
        if namespace is not None and ns != namespace:
            continue
        calico = key.startswith("projectcalico.org/")
        shown = f"Calico {kind}" if calico else kind
        out.append(
            {
                "kind": shown,
                "api_kind": f"Calico{kind}" if calico else kind,
                "namespace": ns,
                "name": name,
                "text": f"{shown} {ns}/{name}" if ns else f"{shown} {name}",
                "plugins": plugins or "no known plugin",
                "reads": shown,
            }
        )
    return sorted(out, key=lambda row: (row["kind"], row["namespace"], row["name"]))


def unenforced_policy(model: ClusterModel, api_kind: str, namespace: str, name: str):
    """The row of ``unenforced_policies`` for one page (its URL's kind, namespace and
    name), or None when the plugin enforces it."""
    return next(
        (
            row
            for row in unenforced_policies(model)
            if (row["api_kind"], row["namespace"], row["name"]) == (api_kind, namespace, name)
        ),
        None,
    )


def flow_decision(model: ClusterModel, src_mask: int, dst_mask: int) -> dict | None:
    """Who decided one drawn flow between two sets of pod classes (two namespaces, two
    workloads): an allowed example pair of pods, one of each set, on a port of the flow,
    with ``decision``'s answer and ``src``/``dst``. None when no listed pair is allowed.

    Only a few destination classes are tried (the first of each set), so a graph of many
    flows stays fast; the example is one connection, and the pages say so."""
    ev = model.evaluation
    allowed = model.allowed_connections()
    for d in ev.classes_in(dst_mask)[:CLASS_TRIES]:
        sources = allowed.sources_of([d])
        for s in ev.classes_in(src_mask):
            ports = sources.get(s)
            if not ports:
                continue
            src, dst = ev.classes[s].pods[0], ev.classes[d].pods[0]
            if src is dst:
                continue
            found = probe(ports, dst.named_ports)
            if found is None:
                continue
            return {**decision(model, src, dst, found[1], found[0]), "src": src.key, "dst": dst.key}
    return None


def namespace_classes(model: ClusterModel, namespace: str) -> int:
    """The class set of a namespace's running pods."""
    return model.evaluation.ns_mask(namespace)


def workload_classes(model: ClusterModel, namespace: str, kind: str, name: str) -> int:
    """The class set of a workload's running pods."""
    ev = model.evaluation
    _, pods = find_workload(model, namespace, kind, name)
    return ev.class_set([ev.class_of[p.key] for p in pods if p.key in ev.class_of])
