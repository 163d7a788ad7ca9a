"""Least-privilege NetworkPolicies suggested from observed flows, verified by the engine.

Pure Python, no Django::

    result = replay(model, ["hubble.json"])                 # netpol.flows
    suggestion = suggest(model, result.to_dict(), namespace="shop")
    suggestion.yaml()          # kubectl-applicable, with a comment header
    suggestion.to_dict()       # policies, verification, what else changes

How:

1. The basis: the replayed conversations (source, destination, port, protocol) both of
   whose ends matched the snapshot and that the engine decides (hostNetwork and stopped
   pods are outside policy). A conversation the flows only ever saw denied or dropped is
   left out: least privilege does not open what the cluster refused.
2. One NetworkPolicy per workload in scope that the basis names, as either end:
   ``podSelector`` the labels all its pods share, without those a controller sets per
   rollout or per pod (``pod-template-hash`` and the like), cut to the fewest (one or
   two, ``app.kubernetes.io/name`` and ``app`` first) that select the same pods of the
   namespace; ``policyTypes`` Ingress and Egress. Each observed peer is named by its
   workload's labels chosen alike (another
   namespace's also by ``kubernetes.io/metadata.name``); an address outside the pods by
   ``ipBlock``: each address as /32 (/128), merged into a wider block only when every
   address of the block was observed. A port is written by name where every pod of the
   destination workload names it. Peers with the same ports share one rule. Egress to the
   cluster DNS (the pods labelled ``k8s-app=kube-dns``, UDP and TCP 53) is always allowed.
3. Verification: the model with the suggested policies (``ClusterModel.with_policies``
   through ``whatif.changed_model``) judges every conversation of the basis again. One
   allowed today and denied after is a wrong suggestion: ``SuggestionError``, nothing is
   shown. The result says how many conversations (and flows) were verified (``opened``:
   how many of them the snapshot's policies deny today though the flows saw them
   allowed, a sign the snapshot and the cluster differ), which
   observed ones stay denied by policies outside the suggestion, and which workload
   connections the suggestion closes (the engine's diff, ``changed_edges``).

A workload cannot get its own policy when its pods share no usable label, when its labels
also select another workload's pods, or when its pods use the host's network; it is listed
under ``skipped`` with the reason.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from itertools import combinations

from netpol.diff import Connections, changed_pairs
from netpol.engine import (
    ALL_PORTS,
    HOST_NETWORK,
    NAMESPACE_NAME_LABEL,
    ClusterModel,
    InputError,
    changed_edges,
)
from netpol.findings.finding import to_yaml
from netpol.flows.judge import Judge
from netpol.whatif import changed_model

ALLOWED, DENIED = "allowed", "denied"

# Labels a controller sets per rollout, revision or pod: a selector on them would stop
# matching after the next rollout, or match one pod only.
UNSTABLE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "job-name",
        "controller-uid",
        "batch.kubernetes.io/job-name",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-completion-index",
    }
)
# Tried first when a shorter selector is looked for: the labels people read as the name.
PREFERRED_LABELS = (
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "app.kubernetes.io/instance",
)
DNS_LABELS = {"k8s-app": "kube-dns"}
DNS_NAMESPACE = "kube-system"  # where the DNS pods are looked for when none is in the snapshot
DNS_PORT = 53
POLICY_PREFIX = "least-privilege"
SHOWN_CLOSED = 200


class SuggestionError(Exception):
    """The suggested policies would deny an observed conversation allowed today: a bug of
    the generator. ``denied`` lists those conversations; nothing is to be shown."""

    def __init__(self, denied: list[dict]):
        self.denied = denied
        first = denied[0]
        super().__init__(
            f"the suggestion would deny {len(denied)} observed conversation(s) allowed today, "
            f"first {first['from']} -> {first['to']} {first['protocol']}/{first['port']}"
        )


@dataclass
class Suggestion:
    scope: dict
    policies: list[dict]
    skipped: list[dict]
    verified: dict
    still_denied: list[dict]
    closes: list[dict]
    closes_total: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "scope": self.scope,
            "policies": self.policies,
            "skipped": self.skipped,
            "verified": self.verified,
            "still_denied": self.still_denied,
            "closes": self.closes,
            "closes_total": self.closes_total,
            "notes": self.notes,
        }

    def summary(self) -> str:
        return "; ".join(self._phrases())

    def _phrases(self) -> tuple[str, str]:
        v = self.verified
        return (
            f"verified against {v['conversations']:,} observed conversations "
            f"({v['flows']:,} flows), {v['denied']} denied",
            f"closes {self.closes_total:,} workload connections no observed flow used",
        )

    def yaml(self) -> str:
        """The policies as one kubectl-applicable YAML stream, a comment header first."""
        header = [
            f"# Least-privilege NetworkPolicies suggested by netaudit for {self.scope['text']}",
            *(f"# {phrase[0].upper()}{phrase[1:]}." for phrase in self._phrases()),
        ]
        header += [f"# skipped {s['workload']}: {s['reason']}" for s in self.skipped]
        header += [f"# note: {n}" for n in self.notes]
        body = "---\n".join(to_yaml(p).rstrip("\n") + "\n" for p in self.policies)
        return "\n".join(header) + "\n" + ("---\n" + body if body else "")


# --- labels, ports, peers ---------------------------------------------------------------


class _Workloads:
    """The snapshot's pods by workload, their shared stable labels and named ports."""

    def __init__(self, model: ClusterModel):
        self.model = model
        self.pods: dict[str, list] = {}
        self.in_namespace: dict[str, list] = {}
        self.workload_of: dict[str, str] = {}  # pod key -> workload key
        for pod in model.pods:
            key = self.workload_of[pod.key] = pod.workload_key
            self.pods.setdefault(key, []).append(pod)
            self.in_namespace.setdefault(pod.namespace, []).append(pod)
        self._labels: dict[str, dict[str, str]] = {}
        self._selectors: dict[str, dict[str, str]] = {}

    def labels(self, key: str) -> dict[str, str]:
        found = self._labels.get(key)
        if found is None:
            pods = self.pods[key]
            shared = {k: v for k, v in pods[0].labels.items() if k not in UNSTABLE_LABELS}
            for pod in pods[1:]:
                shared = {k: v for k, v in shared.items() if pod.labels.get(k) == v}
            found = self._labels[key] = dict(sorted(shared.items()))
        return found

    def selector(self, key: str) -> dict[str, str]:
        """The fewest of the workload's shared labels that select the same pods of its
        namespace as all of them do (one label, else two), for short rules."""
        found = self._selectors.get(key)
        if found is None:
            labels = self.labels(key)
            namespace = key.split("/", 1)[0]
            pods = self.in_namespace.get(namespace, [])

            def chosen(subset: dict) -> frozenset:
                return frozenset(
                    p.key for p in pods if all(p.labels.get(k) == v for k, v in subset.items())
                )

            whole = chosen(labels)
            keys = sorted(labels, key=lambda k: (k not in PREFERRED_LABELS, k))
            found = labels
            for subset in [(k,) for k in keys] + list(combinations(keys, 2)):
                if len(subset) < len(labels) and chosen({k: labels[k] for k in subset}) == whole:
                    found = {k: labels[k] for k in subset}
                    break
            self._selectors[key] = found
        return found

    def also_selected(self, key: str) -> list[str]:
        """Other workloads of the namespace whose pods the labels of ``key`` select."""
        namespace = key.split("/", 1)[0]
        labels = self.labels(key)
        return sorted(
            {
                p.workload_key
                for p in self.in_namespace.get(namespace, [])
                if p.workload_key != key and all(p.labels.get(k) == v for k, v in labels.items())
            }
        )

    def port(self, key: str | None, protocol: str, number: int) -> str | int:
        """The port's name when every pod of workload ``key`` names it alike, else its number."""
        if key is None:
            return number
        names = set()
        for pod in self.pods[key]:
            named = {n for n, proto, num in pod.named_ports if proto == protocol and num == number}
            if len(named) != 1:
                return number
            names |= named
        return names.pop() if len(names) == 1 else number


def _pod_peer(namespace: str, peer_namespace: str, labels: dict[str, str]) -> dict:
    selector = {"podSelector": {"matchLabels": dict(labels)} if labels else {}}
    if peer_namespace == namespace:
        return selector
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: peer_namespace}},
        **selector,
    }


def _blocks(addresses: set[str]) -> list[str]:
    """The observed addresses as CIDRs: /32 (/128) each, merged only where a block is whole."""
    parsed = [ipaddress.ip_address(a) for a in addresses]
    out = []
    for version in (4, 6):
        same = [a for a in parsed if a.version == version]
        out += [str(n) for n in ipaddress.collapse_addresses(same)]
    return out


def _ports(entries) -> list[dict]:
    def order(entry):
        protocol, port = entry
        return (protocol, isinstance(port, str), port if isinstance(port, int) else 0, str(port))

    return [{"protocol": protocol, "port": port} for protocol, port in sorted(entries, key=order)]


def _rules(namespace: str, peers: dict[tuple, set], side: str) -> list[dict]:
    """Rules from peer -> port entries: peers with the same ports share one rule."""
    groups: dict[frozenset, list[tuple]] = {}
    for peer, entries in peers.items():
        groups.setdefault(frozenset(entries), []).append(peer)
    rules = []
    for entries, members in groups.items():
        pods = sorted(p for p in members if p[0] == "pods")
        addresses = {p[1] for p in members if p[0] == "ip"}
        listed = [_pod_peer(namespace, ns, dict(labels)) for _, ns, labels in pods]
        listed += [{"ipBlock": {"cidr": cidr}} for cidr in _blocks(addresses)]
        rules.append({side: listed, "ports": _ports(entries)})
    rules.sort(key=lambda r: (repr(r["ports"]), repr(r[side])))
    return rules


# --- the suggestion -----------------------------------------------------------------------


def basis(replayed: dict) -> tuple[list[dict], int]:
    """The conversations a suggestion allows (module docstring, 1), and how many observed
    conversations the flows only saw refused (left out)."""
    out, refused = [], 0
    for entry in replayed["allowed"] + replayed["denied"]:
        observed = entry.get("observed") or {}
        if observed and not observed.get(ALLOWED):
            refused += 1
            continue
        if entry["from"] == entry["to"]:
            continue
        out.append(entry)
    return out, refused


def suggest(
    model: ClusterModel,
    replayed: dict,
    *,
    namespace: str | None = None,
    workload: str | None = None,
) -> Suggestion:
    """Least-privilege policies for the workloads in scope (every workload the flows name,
    those of ``namespace``, or ``workload`` ``ns/Kind/name``) from ``replayed``, a replay's
    ``to_dict()`` on ``model``; verified (module docstring). ``InputError`` names an
    unknown namespace or workload; ``SuggestionError`` when the verification fails."""
    workloads = _Workloads(model)
    if workload is not None and workload not in workloads.pods:
        raise InputError(f"workload {workload!r}: no such workload in the snapshot (ns/Kind/name)")
    if namespace is not None and namespace not in model.namespaces:
        raise InputError(f"namespace {namespace!r}: no such namespace in the snapshot")
    conversations, refused = basis(replayed)
    pods = model.pods_by_key
    workload_of = workloads.workload_of

    def in_scope(key: str | None) -> bool:
        if key is None:
            return False
        if workload is not None:
            return key == workload
        return namespace is None or key.split("/", 1)[0] == namespace

    dns_pods = [p for p in model.pods if p.labels.get("k8s-app") == DNS_LABELS["k8s-app"]]
    dns_namespaces = sorted({p.namespace for p in dns_pods}) or [DNS_NAMESPACE]
    notes = []
    if not dns_pods:
        notes.append(
            f"no pod labelled {_text(DNS_LABELS)} in the snapshot: the DNS rule names "
            f"{DNS_NAMESPACE}'s"
        )
    dns_keys = {p.key for p in dns_pods}

    ingress: dict[str, dict[tuple, set]] = {}
    egress: dict[str, dict[tuple, set]] = {}
    wide_peers: set[str] = set()

    def peer_of(key: str) -> tuple:
        pod = pods.get(key)
        if pod is None:
            return ("ip", key)
        labels = workloads.selector(pod.workload_key)
        if not labels:
            wide_peers.add(pod.workload_key)
        return ("pods", pod.namespace, tuple(labels.items()))

    relevant = []  # the conversations with an end in scope: those verified
    for c in conversations:
        src_w, dst_w = workload_of.get(c["from"]), workload_of.get(c["to"])
        protocol, number = c["protocol"], c["port"]
        if in_scope(dst_w) or in_scope(src_w):
            relevant.append(c)
        if in_scope(dst_w):
            entry = (protocol, workloads.port(dst_w, protocol, number))
            ingress.setdefault(dst_w, {}).setdefault(peer_of(c["from"]), set()).add(entry)
        if in_scope(src_w):
            rules = egress.setdefault(src_w, {})
            if c["to"] in dns_keys and number == DNS_PORT:
                continue  # the DNS rule allows it
            entry = (protocol, workloads.port(dst_w, protocol, number))
            rules.setdefault(peer_of(c["to"]), set()).add(entry)

    dns_rule = _dns_rule(workloads, dns_pods, dns_namespaces)
    policies, skipped = [], []
    for key in sorted(set(ingress) | set(egress)):
        why = _cannot_select(workloads, key)
        if why:
            skipped.append({"workload": key, "reason": why})
            continue
        ns, kind, name = key.split("/", 2)
        policies.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": f"{POLICY_PREFIX}-{kind.lower()}-{name}"[:253],
                    "namespace": ns,
                    "labels": {"app.kubernetes.io/managed-by": "netaudit-suggest"},
                },
                "spec": {
                    "podSelector": {"matchLabels": workloads.selector(key)},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": _rules(ns, ingress.get(key, {}), "from"),
                    "egress": [_for(ns, dns_rule)] + _rules(ns, egress.get(key, {}), "to"),
                },
            }
        )
    for key in sorted(wide_peers):
        notes.append(f"{key}: its pods share no label, so a rule naming them allows its namespace")
    if refused:
        notes.append(f"{refused} conversation(s) the flows only saw refused are not allowed")
    scope = _scope(namespace, workload)
    return _verified(model, workloads, policies, relevant, scope, skipped, notes)


def _text(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def _scope(namespace: str | None, workload: str | None) -> dict:
    if workload is not None:
        return {"workload": workload, "text": f"workload {workload}"}
    if namespace is not None:
        return {"namespace": namespace, "text": f"namespace {namespace}"}
    return {"text": "every workload the flows name"}


def _cannot_select(workloads: _Workloads, key: str) -> str:
    if any(p.state == HOST_NETWORK for p in workloads.pods[key]):
        return "its pods use the host's network: NetworkPolicies do not apply to them"
    if not workloads.labels(key):
        return "its pods share no label a selector could name (outside per-rollout ones)"
    others = workloads.also_selected(key)
    if others:
        return f"its labels {_text(workloads.labels(key))} also select {', '.join(others[:3])}" + (
            f" and {len(others) - 3} more" if len(others) > 3 else ""
        )
    return ""


def _dns_rule(workloads: _Workloads, dns_pods: list, namespaces: list[str]) -> tuple:
    """(namespaces, ports) of the DNS egress rule; ports named as the DNS pods name them."""
    keys = sorted({p.workload_key for p in dns_pods})
    entries = set()
    for protocol in ("UDP", "TCP"):
        names = {workloads.port(k, protocol, DNS_PORT) for k in keys}
        entries.add((protocol, names.pop() if len(names) == 1 else DNS_PORT))
    return namespaces, _ports(entries)


def _for(namespace: str, dns_rule: tuple) -> dict:
    namespaces, ports = dns_rule
    return {
        "to": [_pod_peer(namespace, ns, DNS_LABELS) for ns in namespaces],
        "ports": ports,
    }


def _verified(model, workloads, policies, conversations, scope, skipped, notes):
    if not policies:
        return Suggestion(scope, [], skipped, _figures([], [], 0), [], [], 0, notes)
    changed, _ = changed_model(model, add=policies, remove=set())
    before, after = Judge(model), Judge(changed)
    verified, denied, still_denied = [], [], []
    opened = 0  # observed as allowed, denied by the snapshot's policies, allowed after
    for c in conversations:
        now = before.decide(c["from"], c["to"], c["port"], c["protocol"])
        later = after.decide(c["from"], c["to"], c["port"], c["protocol"])
        if later.outcome == DENIED:
            row = {k: c[k] for k in ("from", "to", "port", "protocol", "flows")}
            row["reason"] = later.reason
            (denied if now.outcome == ALLOWED else still_denied).append(row)
        else:
            verified.append(c)
            if now.outcome == DENIED:
                opened += 1
    if denied:
        raise SuggestionError(denied)
    old, new = changed_edges(model, changed, "workload")
    _, lost = changed_pairs(Connections.of_edges(old), Connections.of_edges(new))
    closes = [
        {
            "from": src,
            "to": dst,
            "ports": ["all ports"] if ports == ALL_PORTS else ports.describe(),
        }
        for src, dst, ports in sorted(lost, key=lambda r: (r[1], r[0]))
        # A one-pod workload "reaching itself" is the pod's loopback, never closed.
        if src != dst or len(workloads.pods.get(dst, ())) > 1
    ]
    return Suggestion(
        scope,
        policies,
        skipped,
        _figures(verified, denied, opened),
        still_denied,
        closes[:SHOWN_CLOSED],
        len(closes),
        notes,
    )


def _figures(verified: list[dict], denied: list[dict], opened: int) -> dict:
    return {
        "conversations": len(verified),
        "flows": sum(c["flows"] for c in verified),
        "denied": len(denied),
        "opened": opened,
    }
