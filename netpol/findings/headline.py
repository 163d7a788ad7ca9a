"""The headline figures: the score and its reasons, per namespace and per cluster, 0-100.

One model gives the score, what drives it and what to fix first; pages, reports, the API
and the CLI print what it returns and never recompute it. The formula is documented once,
in ``docs/findings.md`` ("Score"):

1. coverage = isolated (pod, direction) pairs / (2 × running pods), as everywhere.
2. Each cause (a finding, other than the coverage findings NP001-NP005 which coverage
   already counts) costs its severity weight × (½ + ½ × the share of the namespace's
   running pods it affects). One cause costs once, however many workloads it lists.
3. penalty = min(1, sum of the costs); score = 100 × coverage × (1 − penalty).
4. The points lost split exactly between coverage (100 × (1 − coverage), per direction,
   charged to the coverage finding of that direction) and the causes (each its share of
   100 × coverage × penalty). ``drivers`` lists them by points, ``fix_first`` the top few
   with their remediation, ``reason`` says it in one sentence.
5. The cluster score is the mean of the namespace scores weighted by running pods; a
   cause's cluster points are its namespace points weighted the same way.
"""

from __future__ import annotations

from .catalogue import CIS_532, RULES
from .finding import plural
from .score import FORMULA, WEIGHTS

FIX_FIRST = 3  # causes named in "fix first"
CLUSTER_DRIVERS = 10  # causes kept in the cluster's drivers

# Which coverage finding stands for the pods left open in a direction.
_COVERAGE_RULES = {"ingress": ("NP001", "NP003"), "egress": ("NP002", "NP003")}


def _pods_affected(finding, sizes: dict[tuple[str, str], int]) -> int:
    """Running pods of the workloads a cause lists (``Kind/namespace/name`` refs)."""
    total = 0
    for ref in finding.workloads:
        kind, namespace, name = (ref.split("/", 2) + ["", ""])[:3]
        total += sizes.get((namespace, f"{kind}/{name}"), 0)
    return total


def _cause(f, points: float, pods: int) -> dict:
    # Stored per namespace for every cause: title, severity and remediation come from the
    # catalogue (``describe``) rather than being repeated 2,000 times at 50,000 pods.
    return {"fingerprint": f.fingerprint, "rule": f.rule, "points": round(points, 1), "pods": pods}


def _coverage_driver(direction: str, open_pods: int, points: float, by_rule: dict) -> dict:
    finding = next((by_rule[r] for r in _COVERAGE_RULES[direction] if r in by_rule), None)
    if finding is None:  # coverage without its finding (a test model, an older catalogue)
        return {
            "fingerprint": "",
            "rule": "",
            "title": f"{plural(open_pods, 'running pod')} open for {direction}",
            "points": round(points, 1),
            "pods": open_pods,
        }
    return _cause(finding, points, open_pods)


def describe(driver: dict, namespace: str = "") -> dict:
    """A driver with its catalogue title, severity and remediation (and its namespace)."""
    rule = RULES.get(driver["rule"])
    out = {"title": "", **driver, "severity": "", "remediation": ""}
    if rule:
        out.update(title=rule.title, severity=rule.severity, remediation=rule.remediation)
    if namespace:
        out["namespace"] = namespace
    return out


def _namespace(nc, findings: list, sizes: dict) -> tuple[float, dict]:
    """The unrounded score of one namespace with running pods, and its detail."""
    counts = nc.counts
    pods = counts.pods
    coverage = (counts.ingress_pods + counts.egress_pods) / (2 * pods)
    costs = []
    by_rule = {}
    for f in findings:
        if f.category == "coverage":
            by_rule.setdefault(f.rule, f)
            continue
        affected = min(pods, _pods_affected(f, sizes))
        cost = WEIGHTS[f.severity] * (0.5 + 0.5 * affected / pods)
        if cost:
            costs.append((cost, f, affected))
    raw = sum(c for c, _, _ in costs)
    penalty = min(1.0, raw)
    value = 100 * coverage * (1 - penalty)
    # Capped at 1, the penalty is shared among the causes in proportion to their costs.
    scale = (100 * coverage * penalty / raw) if raw else 0.0
    drivers = [_cause(f, cost * scale, affected) for cost, f, affected in costs]
    for direction, isolated in (("ingress", counts.ingress_pods), ("egress", counts.egress_pods)):
        if isolated < pods:
            driver = _coverage_driver(
                direction, pods - isolated, 100 * (pods - isolated) / (2 * pods), by_rule
            )
            same = next(
                (
                    d
                    for d in drivers
                    if driver["fingerprint"] and d["fingerprint"] == driver["fingerprint"]
                ),
                None,
            )
            if same:  # NP003 leaves pods open both ways: one cause, its points added
                same["points"] = round(same["points"] + driver["points"], 1)
                same["pods"] = max(same["pods"], driver["pods"])
            else:
                drivers.append(driver)
    drivers.sort(key=lambda d: (-d["points"], d["rule"], d["fingerprint"]))
    return value, {
        "pods": pods,
        "coverage": round(coverage, 4),
        "ingress": round(counts.ingress_pods / pods, 4),
        "egress": round(counts.egress_pods / pods, 4),
        "penalty": round(penalty, 4),
        "points": {
            "coverage": round(100 * (1 - coverage), 1),
            "causes": round(100 * coverage * penalty, 1),
        },
        "drivers": drivers,
    }


def fix_first(drivers: list[dict], namespace: str = "") -> list[dict]:
    """The first causes to fix: the top drivers that cost points, described."""
    return [describe(d, namespace) for d in drivers if d["points"] > 0][:FIX_FIRST]


def driver_text(d: dict) -> str:
    """``Title (NP032, 101 namespaces): 10.9 points``, for a cause or a rule's causes."""
    where = [d["rule"]] if d["rule"] else []
    if "namespaces" in d:
        where.append(plural(d["namespaces"], "namespace"))
    elif d.get("namespace"):
        where.append(d["namespace"])
    return (
        f"{d['title']}" + (f" ({', '.join(where)})" if where else "") + f": {d['points']:g} points"
    )


def _percent(ratio: float) -> str:
    return f"{100 * ratio:.1f}".rstrip("0").rstrip(".") + "%"


def namespace_reason(value: int, detail: dict, cis_passed: bool | None) -> str:
    """One sentence: the coverage, CIS 5.3.2, the score and the cause to fix first."""
    head = f"{_percent(detail['coverage'])} covered"
    if cis_passed is not None:
        head += " and " + ("passes" if cis_passed else "fails") + " CIS 5.3.2"
    costly = [d for d in detail["drivers"] if d["points"] > 0]
    if not costly:
        return f"{head}; score {value}: nothing costs points."
    top = describe(costly[0])
    cause = f"{top['title']} ({top['rule']})" if top["rule"] else top["title"]
    more = f" and {plural(len(costly) - 1, 'other cause')}" if len(costly) > 1 else ""
    return (
        f"{head}; score {value}, {100 - value} points lost, {top['points']:g} of them to "
        f"{cause}{more}: fix that first."
    )


def compute(coverage, findings, cni: dict, compliance: list[dict] | None = None) -> dict:
    enforced = cni.get("status") != "not enforcing"
    per_ns: dict[str, list] = {}
    for f in findings:
        if f.namespace:
            per_ns.setdefault(f.namespace, []).append(f)
    cis = {
        c["namespace"]: c["status"] == "pass" for c in compliance or () if c["control"] == CIS_532
    }
    namespaces: dict[str, int | None] = {}
    details: dict[str, dict] = {}
    total = weighted = 0.0
    causes: list[tuple[int, str, dict]] = []
    for name in sorted(coverage.namespaces):
        pods = coverage.namespaces[name].counts.pods
        if not pods:
            namespaces[name] = None
            continue
        value, detail = _namespace(
            coverage.namespaces[name], per_ns.get(name, []), coverage.workload_sizes
        )
        if not enforced:
            value = 0.0
        namespaces[name] = round(value)
        detail["reason"] = (
            namespace_reason(namespaces[name], detail, cis.get(name)) if enforced else NOT_ENFORCED
        )
        details[name] = detail
        total += pods
        weighted += value * pods
        causes.extend((pods, name, d) for d in detail["drivers"])
    cluster = round(weighted / total) if total else None
    # A cause's cluster points: its namespace points weighted by the namespace's pods.
    drivers = sorted(
        (
            {**d, "namespace": name, "points": round(pods * d["points"] / total, 2)}
            for pods, name, d in causes
        ),
        key=lambda d: (-d["points"], d["rule"], d["namespace"], d["fingerprint"]),
    )
    rules = by_rule(drivers)
    return {
        "cluster": cluster,
        "namespaces": namespaces,
        "details": details,
        "drivers": [describe(d) for d in drivers[:CLUSTER_DRIVERS]],
        "by_rule": rules,
        "fix_first": rules[:FIX_FIRST],
        "reason": cluster_reason(cluster, coverage.ratio(), rules, cis)
        if enforced
        else NOT_ENFORCED,
        "formula": FORMULA,
        "enforced": enforced,
    }


NOT_ENFORCED = "Score 0: the network plugin does not enforce NetworkPolicy, so no policy applies."


def by_rule(drivers: list[dict]) -> list[dict]:
    """The cluster's points per rule, most first: one fix (a DNS rule in every
    namespace's default deny, say) often removes a rule's causes everywhere."""
    rules: dict[str, dict] = {}
    for d in drivers:
        if d["points"] <= 0:
            continue
        key = d["rule"] or d.get("title", "")
        r = rules.setdefault(
            key,
            {
                "rule": d["rule"],
                "title": d.get("title", ""),
                "points": 0.0,
                "causes": 0,
                "ns": set(),
            },
        )
        r["points"] += d["points"]
        r["causes"] += 1
        r["ns"].add(d["namespace"])
    out = []
    for r in rules.values():
        ns = r.pop("ns")
        out.append(describe({**r, "points": round(r["points"], 1), "namespaces": len(ns)}))
    out.sort(key=lambda r: (-r["points"], r["rule"]))
    return out


def cluster_reason(
    cluster: int | None, coverage: float | None, rules: list[dict], cis: dict
) -> str:
    """The cluster's sentence: coverage, CIS 5.3.2, the score and the rule that costs most
    (its causes in every namespace, which one change to each often removes)."""
    if cluster is None:
        return "No running pods, so no score."
    head = f"{_percent(coverage or 0)} covered"
    if cis:
        head += f", {sum(cis.values())} of {plural(len(cis), 'namespace')} pass CIS 5.3.2"
    if not rules:
        return f"{head}; score {cluster}: nothing costs points."
    top = rules[0]
    where = ", ".join(
        ([top["rule"]] if top["rule"] else []) + [plural(top["namespaces"], "namespace")]
    )
    more = f" and {plural(len(rules) - 1, 'other rule')}" if len(rules) > 1 else ""
    return (
        f"{head}; score {cluster}, {100 - cluster} points lost, {top['points']:g} of them to "
        f"{top['title']} ({where}){more}: fix that first."
    )
