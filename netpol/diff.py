"""What changed between two audits of the same cluster.

``diff_reports(old_model, old_report, new_model, new_report)`` returns a dict:

* ``findings``: ``new`` and ``resolved`` findings, matched by fingerprint, and the number
  ``unchanged``;
* ``coverage``: cluster ratios before and after, and the namespaces whose counts changed;
* ``score``: cluster score before and after;
* ``policies``: ``added``, ``removed`` and ``changed`` (``namespace/name``), comparing the
  parsed specs, so ``ingress: []`` and no ``ingress`` are equal, as for the API server;
* ``newly_uncovered``: workloads not isolated for a direction now that were before (or
  did not exist);
* ``newly_exposed``: workloads that gained external exposure (an outside address they
  may receive from or send to, on a port, that they could not before).

Workloads, not pods, are compared (``Deployment/shop/web``): pod names change with every
rollout, so pod-by-pod comparison would report every new replica.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netpol.engine import ClusterModel
from netpol.engine.evaluate import EGRESS, INGRESS
from netpol.engine.ipsets import NO_IPS
from netpol.engine.model import Policy, parse_policy

from .findings.finding import workload_id, workload_ref


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
    old_specs = {key: canonical_spec(key, spec) for key, spec in old.items()}
    new_specs = {key: canonical_spec(key, spec) for key, spec in new.items()}
    return {
        "added": sorted(set(new_specs) - set(old_specs)),
        "removed": sorted(set(old_specs) - set(new_specs)),
        "changed": sorted(
            k for k in set(old_specs) & set(new_specs) if old_specs[k] != new_specs[k]
        ),
    }


def canonical_spec(key: str, spec: dict) -> dict:
    """``spec`` in the form two equal policies share (see ``policies_delta``); a spec the
    engine refuses is kept as written, so changing it still shows."""
    namespace, _, name = key.partition("/")
    policy, _ = parse_policy({"metadata": {"namespace": namespace, "name": name}, "spec": spec})
    return _canonical(policy) if policy is not None else {"unparsed": spec}


def diff_reports(old_model: ClusterModel, old_report, new_model: ClusterModel, new_report) -> dict:
    old_fp = {f.fingerprint: f for f in old_report.findings}
    new_fp = {f.fingerprint: f for f in new_report.findings}
    return {
        "findings": {
            "new": [f.to_dict() for fp, f in new_fp.items() if fp not in old_fp],
            "resolved": [f.to_dict() for fp, f in old_fp.items() if fp not in new_fp],
            "unchanged": len(set(old_fp) & set(new_fp)),
        },
        "coverage": _coverage(old_report.coverage, new_report.coverage),
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
    old = {p.key: _canonical(p) for p in old_model.policies}
    new = {p.key: _canonical(p) for p in new_model.policies}
    changed = []
    for key in sorted(set(old) & set(new)):
        if old[key] != new[key]:
            parts = [k for k in old[key] if old[key][k] != new[key][k]]
            changed.append({"policy": key, "changed": parts})
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": changed,
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
    exposure = model.external_exposure()
    ev = model.evaluation
    of_class: dict[int, tuple[int, int]] = {}
    for key, classes in exposure.groups.items():
        for c in classes:
            of_class[c] = key
    out: dict[tuple[str, str], dict] = {}
    for cls in ev.classes:
        i, e = of_class[cls.id]
        for pod in cls.pods:
            entry = out.setdefault(
                (pod.namespace, workload_id(pod)),
                {INGRESS: set(), EGRESS: set(), "pods": []},
            )
            entry[INGRESS].add(i)
            entry[EGRESS].add(e)
            entry["pods"].append(pod.name)
    for entry in out.values():
        entry[INGRESS] = [x for i in sorted(entry[INGRESS]) for x in exposure.ingress[i]]
        entry[EGRESS] = [x for e in sorted(entry[EGRESS]) for x in exposure.egress[e]]
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
