"""The score's weights and its model in one paragraph (``FORMULA``, printed under
"Score" in docs/findings.md). ``headline.py`` computes the score, its drivers and its
reason; this module imports nothing, as the catalogue reads it to write the docs.
"""

from __future__ import annotations

WEIGHTS = {"critical": 0.5, "high": 0.25, "medium": 0.1, "low": 0.02, "info": 0.0}
DOCS = "docs/findings.md#score"

# The model in one paragraph: docs/findings.md prints it under "Score" (the CLI and the
# pages link there rather than repeat it).
FORMULA = (
    "score = 100 × coverage × (1 − penalty), per namespace with running pods, rounded. "
    "coverage = (running pods isolated for ingress + running pods isolated for egress) / "
    "(2 × running pods), the coverage shown everywhere. Each cause (one finding: a policy "
    "rule, a namespace or a workload, however many workloads it lists) costs its severity "
    "weight (critical 0.5, high 0.25, medium 0.1, low 0.02, info 0) × (½ + ½ × the share of "
    "the namespace's running pods it affects); penalty = min(1, the sum of the costs). The "
    "coverage findings NP001-NP005 cost nothing more: coverage counts them. The points lost "
    "(100 − score) split exactly into those of coverage, 100 × (1 − coverage), charged to "
    "the finding for the pods left open in each direction, and those of each cause, its share "
    "of 100 × coverage × penalty. Those are the score's drivers; the first to fix are those "
    "that cost most. The cluster score, and each cause's points in it, are the namespace "
    "figures weighted by running pods; a rule's points add up its causes across namespaces. "
    "A namespace without running pods has no score. When the network plugin does not "
    "enforce NetworkPolicy, every score is 0. CIS 5.3.2 passes on full coverage alone, so "
    "a namespace can pass it and still lose points to its causes: the reason beside each "
    "score names the cause that costs most."
)
