"""Audit findings on the policy engine: coverage, overly permissive rules, external
exposure, mistakes, the CNI, a score and compliance evidence. Pure Python, no Django.

    from netpol.findings import audit
    report = audit(model)          # model: netpol.engine.ClusterModel
    report.to_dict()               # {"findings", "coverage", "score", "compliance", "cni", ...}

What changed between two audits is ``netpol.diff.diff_audits``.

The rules are listed in ``catalogue.py`` (rendered to docs/findings.md).
"""

from .catalogue import RULES, SEVERITIES
from .finding import Finding
from .report import AuditReport, audit, render_text

__all__ = ["RULES", "SEVERITIES", "AuditReport", "Finding", "audit", "render_text"]
