"""Mistakes the cluster-wide policy API invites (ClusterNetworkPolicy, AdminNetworkPolicy,
BaselineAdminNetworkPolicy; the engine's Admin and Baseline tiers).

NP040: two policies of one tier at one priority select a same pod for a same direction:
the API leaves their order undefined, so implementations may disagree.
NP041: an Admin-tier ``Pass`` for pods that nothing below decides (no NetworkPolicy
isolates them in that direction, no Baseline rule is about them): the traffic is simply
allowed, which a ``Pass`` rarely means.
"""

from __future__ import annotations

from netpol.engine import BASELINE_TIER, PASS_ACTION, ClusterPolicy

from .facts import Facts
from .finding import Finding, fingerprint, make, plural, short_list
from .kinds import rule_by_content, tier_rule_content


def policy_ref(policy: ClusterPolicy) -> str:
    """``Kind/name``: cluster policies have no namespace."""
    return f"{policy.kind}/{policy.name}"


def findings(facts: Facts) -> list[Finding]:
    tiers = facts.ev.tiers
    if tiers is None:
        return []
    return _overlaps(facts, tiers) + _passes_to_nothing(facts, tiers)


def _overlaps(facts: Facts, tiers) -> list[Finding]:
    out = []
    for p, q in tiers.overlaps(facts.ev):
        shared = tiers.subject[p.id] & tiers.subject[q.id]
        workloads = facts.workload_refs(shared)
        out.append(
            make(
                "NP040",
                f"{policy_ref(p)} and {policy_ref(q)} are both {p.tier} tier priority "
                f"{p.priority} and select {plural(len(workloads), 'workload')} in common "
                f"({short_list(workloads)}): their order is undefined.",
                [policy_ref(p), policy_ref(q), *workloads],
                identity=(policy_ref(p), policy_ref(q)),
                evidence={"tier": p.tier, "priority": p.priority},
                workloads=workloads,
            )
        )
    return out


def _passes_to_nothing(facts: Facts, tiers) -> list[Finding]:
    ev = facts.ev
    out = []
    for rule in tiers.rules:
        policy, direction = rule.policy, rule.direction
        if rule.rule.action != PASS_ACTION or policy.tier == BASELINE_TIER:
            continue  # a Baseline Pass is its own "no decision", documented as such
        undecided = 0
        for c in ev.classes_in(tiers.subject[policy.id]):
            if not ev.is_isolated(c, direction) and not tiers.own[direction][BASELINE_TIER][c]:
                undecided |= 1 << c
        if not undecided:
            continue
        workloads = facts.workload_refs(undecided)
        out.append(
            make(
                "NP041",
                f"{policy_ref(policy)} rule {rule.rule.label} passes {direction} of "
                f"{plural(len(workloads), 'workload')} ({short_list(workloads)}) to the "
                f"NetworkPolicy and Baseline tiers, but no NetworkPolicy isolates them for "
                f"{direction} and no Baseline rule is about them: the traffic is allowed.",
                [policy_ref(policy), *workloads],
                # The rule by its content, so inserting one above keeps the fingerprint;
                # the one by its index stays an alias for waivers made on it.
                identity=(
                    policy_ref(policy),
                    direction,
                    rule_by_content(rule.rule, getattr(policy, direction), tier_rule_content),
                ),
                aliases=[fingerprint("NP041", (policy_ref(policy), direction, rule.rule.index))],
                evidence={"direction": direction, "rule": rule.rule.name or rule.rule.index},
                workloads=workloads,
            )
        )
    return out
