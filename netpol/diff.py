"""What changed between two audits of the same cluster: the one diff of the core.

Pure primitives, for callers that hold stored data rather than models (the history
page, reports): ``findings_delta`` (fingerprints), ``coverage_delta`` (stored coverage
dicts, by readable measure) and ``policies_delta`` (``{"namespace/name": spec}``).

``diff_audits(old_model, old_report, new_model, new_report)``, built on them, returns:

* ``findings``: ``new`` and ``resolved`` findings, matched by fingerprint, and the number
  ``unchanged``;
* ``coverage``: cluster ratios before and after, the namespaces whose counts changed, and
  the cluster counts by readable ``measures`` (``coverage_delta``);
* ``score``: cluster score before and after;
* ``policies``: ``added``, ``removed`` and ``changed`` (``namespace/name``, with the parts
  of the spec that changed), comparing the parsed specs, so ``ingress: []`` and no
  ``ingress`` are equal, as for the API server;
* ``newly_uncovered``: workloads not isolated for a direction now that were before (or
  did not exist);
* ``newly_exposed``: workloads that gained external exposure (an outside address they
  may receive from or send to, on a port, that they could not before).

Workloads, not pods, are compared (``Deployment/shop/web``): pod names change with every
rollout, so pod-by-pod comparison would report every new replica.

``review_change(...)``, for ``netaudit diff`` (a change before it merges), adds to
``diff_audits`` what issue 14's contract names: ``opened`` and ``closed`` connections
(``connection_changes``: workload to workload, and outside addresses to workloads, one
entry per protocol and port range), ``findings_new``, ``findings_resolved``, and
``coverage.before``/``coverage.after`` (``coverage_summary``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netpol.engine import (
    EGRESS,
    INGRESS,
    NO_IPS,
    PROTOCOLS,
    ClusterModel,
    IPSet,
    Policy,
    PortSet,
    cidr_set,
    parse_policy,
)

from .cache import LRU
from .findings.finding import workload_ref


@dataclass(frozen=True)
class FindingsDelta:
    """Findings matched by fingerprint: the ones only in the new audit, the ones only in
    the old, and how many are in both."""

    new: frozenset[str]
    resolved: frozenset[str]
    unchanged: int


def findings_delta(
    old_fingerprints: Iterable[str], new_fingerprints: Iterable[str]
) -> FindingsDelta:
    """Which findings are new, which resolved, how many unchanged, from their fingerprints.

    A fingerprint names a problem, not a row, so a finding that survives a re-collection
    keeps it and counts as unchanged."""
    old, new = frozenset(old_fingerprints), frozenset(new_fingerprints)
    return FindingsDelta(new=new - old, resolved=old - new, unchanged=len(old & new))


# (readable label, path into a stored ``report["coverage"]["cluster"]`` dict)
COVERAGE_MEASURES = [
    ("Running pods", ("pods",)),
    ("Pods isolated for ingress", ("ingress", "pods")),
    ("Pods isolated for egress", ("egress", "pods")),
    ("Workloads", ("workloads",)),
    ("Workloads isolated for ingress", ("ingress", "workloads")),
    ("Workloads isolated for egress", ("egress", "workloads")),
    ("hostNetwork pods (policy behaviour undefined)", ("host_network_pods",)),
]


def coverage_delta(old_coverage: dict, new_coverage: dict) -> dict:
    """Cluster-wide coverage counts before and after, by readable measure:
    ``{label: {"old", "new", "change"}}`` from two stored ``report["coverage"]`` dicts.
    A measure missing from either side is left out."""

    def pick(counts: dict, path: tuple):
        for key in path:
            counts = counts.get(key) if isinstance(counts, dict) else None
        return counts if isinstance(counts, int | float) else None

    old_cluster = old_coverage.get("cluster") or {}
    new_cluster = new_coverage.get("cluster") or {}
    delta = {}
    for label, path in COVERAGE_MEASURES:
        before, after = pick(old_cluster, path), pick(new_cluster, path)
        if before is not None and after is not None:
            delta[label] = {"old": before, "new": after, "change": after - before}
    return delta


def policies_delta(old: Mapping[str, dict], new: Mapping[str, dict]) -> dict:
    """Policies ``added``, ``removed`` and ``changed`` (sorted ``namespace/name`` lists)
    between two ``{"namespace/name": spec}`` mappings.

    Specs are compared as the API server reads them: a missing or empty ``ingress``,
    ``egress``, ``ports``, ``from`` or ``to`` is the same and ``policyTypes`` is defaulted;
    a peer's selectors are compared as written, since a missing ``namespaceSelector``
    means the policy's own namespace and ``{}`` every namespace."""
    return _spec_changes(
        {key: canonical_spec(key, spec) for key, spec in old.items()},
        {key: canonical_spec(key, spec) for key, spec in new.items()},
    )


def _spec_changes(old: Mapping[str, dict], new: Mapping[str, dict]) -> dict:
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(k for k in set(old) & set(new) if old[k] != new[k]),
    }


def canonical_spec(key: str, spec: dict) -> dict:
    """``spec`` in the form two equal policies share (see ``policies_delta``); a spec the
    engine refuses is kept as written, so changing it still shows."""
    namespace, _, name = key.partition("/")
    policy, _ = parse_policy({"metadata": {"namespace": namespace, "name": name}, "spec": spec})
    return _canonical(policy) if policy is not None else {"unparsed": spec}


def finding_changes(old_findings: Iterable, new_findings: Iterable) -> tuple[list, list, int]:
    """``(new, resolved, unchanged)``: the ``Finding`` objects only in the new audit and
    only in the old (in audit order), and how many are in both, matched by fingerprint."""
    old = {f.fingerprint: f for f in old_findings}
    new = {f.fingerprint: f for f in new_findings}
    delta = findings_delta(old, new)
    return (
        [f for fp, f in new.items() if fp in delta.new],
        [f for fp, f in old.items() if fp in delta.resolved],
        delta.unchanged,
    )


def diff_audits(old_model: ClusterModel, old_report, new_model: ClusterModel, new_report) -> dict:
    """What changed from the old audit to the new (see the module docstring)."""
    new, resolved, unchanged = finding_changes(old_report.findings, new_report.findings)
    coverage = _coverage(old_report.coverage, new_report.coverage)
    coverage["measures"] = coverage_delta(
        old_report.coverage.to_dict(), new_report.coverage.to_dict()
    )
    return {
        "findings": {
            "new": [f.to_dict() for f in new],
            "resolved": [f.to_dict() for f in resolved],
            "unchanged": unchanged,
        },
        "coverage": coverage,
        "score": {"old": old_report.score["cluster"], "new": new_report.score["cluster"]},
        "policies": _policies(old_model, new_model),
        "newly_uncovered": _uncovered(old_report.coverage, new_report.coverage),
        "newly_exposed": _exposed(old_model, new_model),
    }


def _coverage(old, new) -> dict:
    def ratios(counts):
        d = counts.to_dict()
        return {
            direction: {
                "pod_ratio": d[direction]["pod_ratio"],
                "workload_ratio": d[direction]["workload_ratio"],
            }
            for direction in (INGRESS, EGRESS)
        }

    namespaces = {}
    for name in sorted(set(old.namespaces) | set(new.namespaces)):
        a = old.namespaces.get(name)
        b = new.namespaces.get(name)
        da = a.to_dict() if a else None
        db = b.to_dict() if b else None
        if da != db:
            namespaces[name] = {"old": da, "new": db}
    return {
        "cluster": {"old": ratios(old.cluster), "new": ratios(new.cluster)},
        "namespaces": namespaces,
    }


def _canonical(policy: Policy) -> dict:
    def rules(items):
        return [
            {
                "valid": r.valid,
                "peers": None
                if r.peers is None
                else [p.to_dict() | {"valid": p.valid} for p in r.peers],
                "ports": None
                if r.ports is None
                else [p.to_dict() | {"valid": p.valid} for p in r.ports],
            }
            for r in items
        ]

    return {
        "podSelector": policy.pod_selector.to_dict(),
        "policyTypes": [
            t
            for t, on in (("Ingress", policy.affects_ingress), ("Egress", policy.affects_egress))
            if on
        ],
        "ingress": rules(policy.ingress),
        "egress": rules(policy.egress),
    }


def _policies(old_model: ClusterModel, new_model: ClusterModel) -> dict:
    """``policies_delta`` on the models' parsed policies of every kind (other kinds by
    their keys: "cnp/x", "cilium/ns/x", "gnp/x"); a changed policy names the parts of its
    spec that differ."""
    old = {p.key: _canonical(p) for p in old_model.policies}
    new = {p.key: _canonical(p) for p in new_model.policies}
    old |= {p.key: _canonical_other(p) for p in _other_kinds(old_model)}
    new |= {p.key: _canonical_other(p) for p in _other_kinds(new_model)}
    delta = _spec_changes(old, new)
    delta["changed"] = [
        {"policy": key, "changed": [part for part in old[key] if old[key][part] != new[key][part]]}
        for key in delta["changed"]
    ]
    return delta


def _other_kinds(model: ClusterModel) -> list:
    return [
        *model.cluster_policies,
        *getattr(model, "cilium_policies", ()),
        *getattr(model, "calico_policies", ()),
    ]


def _canonical_other(policy) -> dict:
    """A parsed policy of another kind as comparable data, field by field (its compiled
    ``id`` left out): two policies equal as the engine reads them compare equal."""

    def plain(value):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, set | frozenset):
            return sorted((plain(v) for v in value), key=repr)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if value is None or isinstance(value, str | int | float | bool):
            return value
        return repr(value)  # addresses and port sets: their ranges

    return {
        f.name: plain(getattr(policy, f.name))
        for f in dataclasses.fields(policy)
        if f.name not in ("id", "kind", "name", "namespace")
    }


def _uncovered(old, new) -> list[dict]:
    out = []
    for direction, attr in ((INGRESS, "open_ingress"), (EGRESS, "open_egress")):
        before = {key for nc in old.namespaces.values() for key in getattr(nc, attr)}
        for nc in new.namespaces.values():
            for (namespace, workload), pods in sorted(getattr(nc, attr).items()):
                if (namespace, workload) in before:
                    continue
                out.append(
                    {
                        "workload": workload_ref(namespace, workload),
                        "namespace": namespace,
                        "direction": direction,
                        "pods": sorted(p.name for p in pods),
                        "new_workload": (namespace, workload) not in old.workload_sizes,
                    }
                )
    return sorted(out, key=lambda d: (d["namespace"], d["workload"], d["direction"]))


def _workload_exposure(model: ClusterModel) -> dict:
    """{(namespace, workload): {"ingress": [(PortSet, IPSet)], "egress": [...], "pods"}}."""
    out: dict[tuple[str, str], dict] = {}
    for pods, ingress, egress in model.external_exposure().of_classes():
        for pod in pods:
            entry = out.setdefault(
                (pod.namespace, pod.workload_id), {INGRESS: [], EGRESS: [], "pods": []}
            )
            for direction, entries in ((INGRESS, ingress), (EGRESS, egress)):
                if entries not in entry[direction]:
                    entry[direction].append(entries)
            entry["pods"].append(pod.name)
    for entry in out.values():
        for direction in (INGRESS, EGRESS):
            entry[direction] = [x for entries in entry[direction] for x in entries]
    return out


def _covered(entries, by) -> bool:
    """Is every (port, address) of ``entries`` in ``by``? Both are lists of
    (PortSet, IPSet); the port line is cut at every boundary of both."""
    for ports, ips in entries:
        points = set(ports.boundaries())
        for p, _ in by:
            points.update(p.boundaries())
        points = sorted(points)
        for a, _b in zip(points, points[1:], strict=False):
            if a not in ports:
                continue
            union = NO_IPS
            for p, i in by:
                if a in p:
                    union = union | i
            if not ips.issubset(union):
                return False
    return True


def _describe(entries) -> list[dict]:
    return [{"ports": p.describe(), "cidrs": i.to_cidrs()} for p, i in entries]


def _exposed(old_model: ClusterModel, new_model: ClusterModel) -> list[dict]:
    before = _workload_exposure(old_model)
    after = _workload_exposure(new_model)
    out = []
    for (namespace, workload), entry in sorted(after.items()):
        old = before.get((namespace, workload), {INGRESS: [], EGRESS: []})
        for direction in (INGRESS, EGRESS):
            if entry[direction] and not _covered(entry[direction], old[direction]):
                out.append(
                    {
                        "workload": workload_ref(namespace, workload),
                        "namespace": namespace,
                        "direction": direction,
                        "pods": sorted(entry["pods"]),
                        "now": _describe(entry[direction]),
                        "before": _describe(old[direction]),
                    }
                )
    return out


# --- A change under review: connections opened and closed ---------------------------


@dataclass(frozen=True)
class Connections:
    """What a model allows, per workload (``ns/Kind/name``): ``pairs`` maps (source,
    destination) to the ports allowed; ``addresses`` maps a destination to the (CIDR,
    ports) it admits from outside any pod. Ports stay as the engine describes them
    ("TCP/80"), so that equal entries, nearly all of them, compare as tuples and only
    the differing ones are parsed into sets."""

    pairs: dict[tuple[str, str], tuple[str, ...]]
    addresses: dict[str, tuple[tuple[str, tuple[str, ...]], ...]]

    @classmethod
    def of_edges(cls, edges: Iterable[dict], keep=None) -> Connections:
        """From the engine's workload edges; ``keep(edge)`` False leaves a pair out."""
        pairs = {}
        addresses: dict[str, list] = {}
        for edge in edges:
            ports = tuple(edge["ports"])
            if edge["from"].startswith("ipBlock:"):
                cidr = edge["from"].removeprefix("ipBlock:")
                addresses.setdefault(edge["to"], []).append((cidr, ports))
            elif keep is None or keep(edge):
                pairs[edge["from"], edge["to"]] = ports
        return cls(pairs, {dst: tuple(entries) for dst, entries in addresses.items()})


def connections_of(model: ClusterModel) -> Connections:
    """The model's allowed set, aggregated by workload (never pod by pod)."""
    return Connections.of_edges(
        model.allowed_connections().edges("workload"), keep=not_loopback(model)
    )


def not_loopback(model: ClusterModel):
    """``keep`` for ``Connections.of_edges``: a workload of one pod "reaching itself" is
    that pod's loopback, always allowed and no connection, so it is left out."""
    pods: dict[str, int] = {}
    for cls in model.evaluation.classes:
        for pod in cls.pods:
            pods[pod.workload_key] = pods.get(pod.workload_key, 0) + 1
    return lambda edge: edge["from"] != edge["to"] or pods.get(edge["to"], 0) > 1


def connection_changes(old: Connections, new: Connections) -> tuple[list[dict], list[dict]]:
    """``(opened, closed)``: what ``new`` allows that ``old`` did not, and the reverse.
    Each entry is ``{"from", "to", "protocol", "port", "end_port"}``: ``from`` a workload
    or ``ipBlock:CIDR``, ``port`` None for every port of the protocol, ``end_port`` the
    end of a range or None."""
    opened, closed = changed_pairs(old, new)
    return _entries(opened), _entries(closed)


def changed_pairs(old: Connections, new: Connections) -> tuple[list, list]:
    """``(gained, lost)`` as (source, destination, ports) triples: the ports ``new``
    allows that ``old`` did not, and the reverse. Ports compare as sets and addresses
    address by address, so the same access written another way is no change."""
    gained = _pair_changes(old.pairs, new.pairs) + _address_changes(old.addresses, new.addresses)
    lost = _pair_changes(new.pairs, old.pairs) + _address_changes(new.addresses, old.addresses)
    return gained, lost


_PORT_SETS = LRU(4096)


def _port_set(described: tuple[str, ...]) -> PortSet:
    return _PORT_SETS.get(described, lambda: PortSet.parse(described))


def _pair_changes(old: dict, new: dict) -> list[tuple[str, str, PortSet]]:
    """Workload pairs, with the ports ``new`` allows and ``old`` did not."""
    out = []
    for (src, dst), ports in new.items():
        before = old.get((src, dst), ())
        if ports == before:
            continue
        more = _port_set(ports) - _port_set(before)
        if more:
            out.append((src, dst, more))
    return out


def _address_changes(old: dict, new: dict) -> list[tuple[str, str, PortSet]]:
    """Per destination, the (address, port) pairs ``new`` lets in and ``old`` did not.

    1. Cut the address line at every CIDR boundary of both sides for this destination.
    2. On each piece, the ports each side allows are the union over its CIDRs covering it.
    3. Pieces with the same extra ports are merged back into the fewest CIDRs.
    """
    out = []
    for dst, described in new.items():
        if described == old.get(dst):
            continue
        entries = [(cidr_set(c), _port_set(p)) for c, p in described]
        before = [(cidr_set(c), _port_set(p)) for c, p in old.get(dst, ())]
        points = sorted({b for ips, _ in entries + before for b in ips.boundaries()})
        extra: dict[PortSet, list[tuple[int, int]]] = {}
        for lo, hi in zip(points, points[1:], strict=False):
            now = _ports_at(entries, lo)
            if now:
                more = now - _ports_at(before, lo)
                if more:
                    extra.setdefault(more, []).append((lo, hi))
        for ports, ranges in extra.items():
            for cidr in IPSet(ranges).to_cidrs():
                out.append((f"ipBlock:{cidr}", dst, ports))
    return out


def _ports_at(entries: list[tuple[IPSet, PortSet]], address: int) -> PortSet:
    out = PortSet()
    for ips, ports in entries:
        if address in ips:
            out = out | ports
    return out


def _entries(rows: list[tuple[str, str, PortSet]]) -> list[dict]:
    out = []
    for src, dst, ports in rows:
        for text in ports.describe():
            protocol, _, numbers = text.partition("/")
            lo, _, hi = numbers.partition("-")
            out.append(
                {
                    "from": src,
                    "to": dst,
                    "protocol": protocol,
                    "port": None if lo == "*" else int(lo),
                    "end_port": int(hi) if hi else None,
                }
            )
    out.sort(key=lambda e: (e["to"], e["from"], PROTOCOLS.index(e["protocol"]), e["port"] or 0))
    return out


def coverage_summary(report) -> dict:
    """The cluster's coverage of one audit: running pods and workloads, how many of
    them are isolated per direction, and ``coverage``, the share of (pod, direction)
    pairs isolated in percent, as the pages show it (None without pods)."""
    c = report.coverage.cluster
    ratio = report.coverage.ratio()
    return {
        "coverage": None if ratio is None else round(100 * ratio, 1),
        "pods": c.pods,
        "ingress_pods": c.ingress_pods,
        "egress_pods": c.egress_pods,
        "workloads": c.workloads,
        "ingress_workloads": c.ingress_workloads,
        "egress_workloads": c.egress_workloads,
        "score": report.score["cluster"],
    }


def review_change(old_model: ClusterModel, old_report, new_model: ClusterModel, new_report) -> dict:
    """``diff_audits`` with what a reviewer of a change reads first (module docstring)."""
    base = diff_audits(old_model, old_report, new_model, new_report)
    opened, closed = connection_changes(connections_of(old_model), connections_of(new_model))
    coverage = {
        "before": coverage_summary(old_report),
        "after": coverage_summary(new_report),
        **base.pop("coverage"),
    }
    return {
        "opened": opened,
        "closed": closed,
        "findings_new": base["findings"]["new"],
        "findings_resolved": base["findings"]["resolved"],
        "coverage": coverage,
        **base,
    }
