"""The score: per namespace and per cluster, 0 (nothing protected) to 100.

Coverage counts how much is isolated; the penalty how much the rules re-open. They
multiply, so a namespace with no isolated pod scores 0 whatever its rules, and one where
every pod is isolated both ways with no permissive, exposure or mistake finding scores
100. Coverage findings (NP001-NP005) are not penalised again: coverage already counts
them.
"""

from __future__ import annotations

WEIGHTS = {"critical": 0.5, "high": 0.25, "medium": 0.1, "low": 0.02, "info": 0.0}

FORMULA = (
    "score = 100 × coverage × (1 − penalty), rounded. "
    "coverage = (running pods isolated for ingress + running pods isolated for egress) "
    "/ (2 × running pods). "
    "penalty = min(1, 0.5 × critical + 0.25 × high + 0.1 × medium + 0.02 × low), counting "
    "the namespace's findings other than coverage findings (NP001-NP005). "
    "The cluster score is the mean of the namespace scores weighted by running pods. "
    "A namespace without running pods has no score. When the network plugin does not "
    "enforce NetworkPolicy, every score is 0."
)


def compute(coverage, findings, cni: dict) -> dict:
    penalties: dict[str, float] = {}
    counted: dict[str, dict[str, int]] = {}
    for f in findings:
        if f.category == "coverage" or not f.namespace:
            continue
        penalties[f.namespace] = penalties.get(f.namespace, 0.0) + WEIGHTS[f.severity]
        by_sev = counted.setdefault(f.namespace, {})
        by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
    enforced = cni.get("status") != "not enforcing"
    namespaces: dict[str, int | None] = {}
    details: dict[str, dict] = {}
    total = weighted = 0.0
    for name in sorted(coverage.namespaces):
        pods = coverage.namespaces[name].counts.pods
        penalty = min(1.0, penalties.get(name, 0.0))
        if not pods:
            namespaces[name] = None
            continue
        cov = coverage.ratio(name)
        value = 100 * cov * (1 - penalty) if enforced else 0.0
        namespaces[name] = round(value)
        details[name] = {
            "coverage": cov,
            "penalty": round(penalty, 4),
            "findings": counted.get(name, {}),
            "pods": pods,
        }
        total += pods
        weighted += value * pods
    cluster = round(weighted / total) if total else None
    return {
        "cluster": cluster,
        "namespaces": namespaces,
        "details": details,
        "formula": FORMULA,
        "enforced": enforced,
    }
