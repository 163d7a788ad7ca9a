"""``audit(model)``: every check of the catalogue on one cluster, and the report.

Steps:

1. Facts from the engine (classes, selections, compiled rules), computed once.
2. Coverage, then the findings: coverage, permissive rules, exposure, mistakes, CNI.
3. When the CNI does not enforce NetworkPolicy, every finding carries that warning.
4. Findings sorted by severity, rule, namespace, first object; then score and compliance.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from netpol.engine import ClusterModel, gc_paused
from netpol.paths import DEFAULT_CROWN_JEWELS

from . import cni as cni_module
from . import (
    compliance,
    coverage,
    exposure,
    headline,
    jewels,
    mistakes,
    permissive,
    score,
    tiers,
    unused,
)
from . import kinds as kind_mistakes
from .catalogue import SEVERITIES, SEVERITY_RANK
from .facts import Facts
from .finding import Finding


@dataclass(slots=True)
class AuditReport:
    findings: list[Finding]
    coverage: coverage.Coverage
    score: dict
    compliance: list[dict]
    cni: dict
    errors: list[dict] = field(default_factory=list)
    # The cluster's ranges and where they came from ("declared", "nodes", "inferred").
    cluster_ranges: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        by = Counter(f.severity for f in self.findings)
        return {s: by.get(s, 0) for s in SEVERITIES}

    def at_or_above(self, severity: str) -> list[Finding]:
        limit = SEVERITY_RANK[severity]
        return [f for f in self.findings if SEVERITY_RANK[f.severity] <= limit]

    def to_dict(self) -> dict:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "coverage": self.coverage.to_dict(),
            "score": self.score,
            "compliance": self.compliance,
            "cni": self.cni,
            "counts": self.counts(),
            "errors": self.errors,
            "cluster_ranges": self.cluster_ranges,
        }


@gc_paused()
def audit(
    model: ClusterModel,
    *,
    crown_jewels: str | None = DEFAULT_CROWN_JEWELS,
    unused_rules: list[dict] | None = None,
    unused_window_days: int = 0,
) -> AuditReport:
    """``crown_jewels``: labels (``k=v,…``) of the workloads attack paths lead to (NP050);
    empty or None for none. ``unused_rules``: the rules no observed flow used in the last
    ``unused_window_days`` days (a replay's ``unused_rules``), one NP048 each."""
    facts = Facts(model)
    cov = coverage.compute(facts)
    detected = cni_module.detect(model)
    found: list[Finding] = []
    found += coverage.findings(facts, cov)
    found += permissive.findings(facts)
    found += exposure.findings(facts)
    found += mistakes.findings(facts)
    found += cni_module.findings(detected)
    found += jewels.findings(model, crown_jewels)
    found += tiers.findings(facts)
    found += unused.findings(facts, unused_rules, unused_window_days)
    found += kind_mistakes.findings(facts)
    if detected["warning"]:
        for f in found:
            f.warnings.append(detected["warning"])
    found.sort(
        key=lambda f: (SEVERITY_RANK[f.severity], f.rule, f.namespace, f.objects[:1], f.fingerprint)
    )
    checks = compliance.compute(facts, cov)
    return AuditReport(
        findings=found,
        coverage=cov,
        score=headline.compute(cov, found, detected, checks),
        compliance=checks,
        cni=detected,
        errors=[e.to_dict() for e in model.errors],
        cluster_ranges=model.ranges_summary(),
    )


# ANSI colours of the severity headings (``render_text(colour=True)``), and bold.
_COLOURS = {"critical": "35", "high": "31", "medium": "33", "low": "36", "info": "2"}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def _where(f: Finding, locate) -> str:
    """``file:line`` of the policy rule a finding is about, else of its first object that
    has one; "" without locations."""
    if locate is None:
        return ""
    keys = []
    if f.evidence.get("policy") and f.evidence.get("field"):
        keys.append(f"NetworkPolicy/{f.evidence['policy']}#{f.evidence['field']}")
    keys += f.objects
    for key in keys:
        found = locate(key)
        if found:
            uri, line = found
            path = uri.removeprefix("file://")
            what = key.replace("#", " ") if "#" in key else key
            return f"{path}:{line} ({what})"
    return ""


def render_text(report: AuditReport, *, locate=None, colour: bool = False) -> str:
    """A readable report: summary, findings grouped by severity, then compliance.
    ``locate``: object ref (or ``NetworkPolicy/ns/name#spec.ingress[0]``) -> (file, line),
    to say where each finding's policy and rule are written; ``colour``: ANSI colours."""
    counts = report.counts()
    cov = report.coverage.cluster
    s = report.score
    lines = [
        f"Score: {s['cluster'] if s['cluster'] is not None else 'n/a'}/100. {s['reason']}",
        *(f"  fix first: {headline.driver_text(d)}. {d['remediation']}" for d in s["fix_first"]),
        f"  how the score is computed: {score.DOCS}",
        f"Coverage: {cov.pods} running pods in {cov.workloads} workloads; "
        f"ingress isolated {cov.ingress_pods}/{cov.pods} pods, "
        f"{cov.ingress_workloads}/{cov.workloads} workloads; "
        f"egress isolated {cov.egress_pods}/{cov.pods} pods, "
        f"{cov.egress_workloads}/{cov.workloads} workloads"
        + (f"; {cov.host_network_pods} hostNetwork pods" if cov.host_network_pods else ""),
        f"Network plugin: {', '.join(report.cni['plugins']) or 'not identified'} "
        f"({report.cni['status']})",
        "Findings: " + (", ".join(f"{n} {sev}" for sev, n in counts.items() if n) or "none"),
    ]
    if report.cni["warning"]:
        lines.append(f"WARNING: {report.cni['warning']}")
    for severity in SEVERITIES:
        group = [f for f in report.findings if f.severity == severity]
        if not group:
            continue
        code = _COLOURS[severity]
        lines += ["", _paint(f"== {severity.upper()} ({len(group)}) ==", f"1;{code}", colour)]
        for f in group:
            lines.append(f"{_paint(f'[{f.rule}]', code, colour)} {_paint(f.title, '1', colour)}")
            lines.append(f"  {f.message}")
            where = _where(f, locate)
            if where:
                lines.append(f"  at {where}")
            shown = f.objects[:6]
            more = len(f.objects) - len(shown)
            lines.append("  objects: " + ", ".join(shown) + (f" and {more} more" if more else ""))
            lines.append(f"  fix: {f.remediation}")
    failed = [c for c in report.compliance if c["status"] != "pass"]
    lines += [
        "",
        f"Compliance: {len(report.compliance) - len(failed)} of {len(report.compliance)} "
        "namespace checks pass",
    ]
    for c in report.compliance:
        lines.append(
            f"  {c['status'].upper():4}  {c['control']:<21} {c['namespace']}: {c['evidence']}"
        )
    return "\n".join(lines)
