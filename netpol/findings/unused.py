"""NP048: a NetworkPolicy rule that no observed flow used in the unused-rule window.

The rules come from a replay of observed flows (``netpol.flows``: ``Replay.unused_rules``
with a window, ``netaudit flows --window``): each allows something (its policy selects
pods and isolates that direction) and no allowed flow seen in the window's days used it.
One finding per rule, its message ranking it by what it opens (selected pods × peer pods
× ports), most first; the rule is named by its content, so inserting a rule above it
keeps the fingerprint.
"""

from __future__ import annotations

from .facts import Facts, rule_field, rule_identity
from .finding import Finding, make, policy_ref


def findings(facts: Facts, unused_rules: list[dict] | None, window_days: int) -> list[Finding]:
    """``unused_rules``: ``Replay.to_dict()["unused_rules"]`` of a replay over the last
    ``window_days`` days; None or empty: no finding (the window is off, or the flows do not
    cover it yet)."""
    if not unused_rules:
        return []
    ranked = {(r["policy"], r["rule"]): (rank, r) for rank, r in enumerate(unused_rules, 1)}
    out = []
    for policy, direction, rule, _compiled in facts.rules():
        field = rule_field(direction, rule.index)
        found = ranked.get((policy.key, field))
        if found is None:
            continue
        rank, entry = found
        peers = f"{entry['peer_pods']:,} peer pod{'s' if entry['peer_pods'] != 1 else ''}"
        if entry["ipBlocks"]:
            peers += f" and {len(entry['ipBlocks']):,} address range"
            peers += "s" if len(entry["ipBlocks"]) != 1 else ""
        out.append(
            make(
                "NP048",
                f"{policy.key} {field} allows {direction} that no observed flow used in the "
                f"last {window_days} days: it opens {entry['opens']:,} connections "
                f"({entry['pods']:,} selected pod{'s' if entry['pods'] != 1 else ''} × "
                f"{peers} × {', '.join(entry['ports'])}), #{rank} of {len(unused_rules)} "
                "unused rules by what they open.",
                [policy_ref(policy.key), *facts.selected_refs(policy)],
                identity=rule_identity(policy, direction, rule),
                namespace=policy.namespace,
                evidence={
                    "policy": policy.key,
                    "direction": direction,
                    "rule": rule.index,
                    "field": field,
                    "window_days": window_days,
                    "opens": entry["opens"],
                    "rank": rank,
                    "pods": entry["pods"],
                    "peer_pods": entry["peer_pods"],
                    "ipBlocks": entry["ipBlocks"],
                    "ports": entry["ports"],
                },
            )
        )
    return out
