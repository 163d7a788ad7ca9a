"""A model with some NetworkPolicies added, replaced or removed, computed from its base.

What-if asks the same question of a 50,000-pod model again and again with one or two
policies changed. Rebuilding the changed model evaluates every policy and every
destination again; here only what the change touches is recomputed:

1. When the change keeps the base's pod classes (the changed policies name no ipBlock
   the base did not, and no namespace the base does not have, and the base has no
   cluster-wide tiers), the classes, the label indexes and the compiled rules of the
   untouched policies are the base's. A class partition that some removed ipBlock made
   finer than needed is still exact: pods of one class stay indistinguishable.
2. Selections and per-class rule lists are renumbered for the new policy order (kept
   policies in base order, then the added ones, as a rebuilt model numbers them); only
   the added policies' selectors are evaluated.
3. The allowed set: a destination class whose ingress rules changed, or that a changed
   egress rule reaches, is recomputed in full. Every other destination keeps its base
   entries, except for the bits of the sources whose egress changed (``S``, the classes
   the changed policies select for egress): those bits are cleared, and where ``S`` may
   still reach the destination its part is computed again from the egress rules of
   ``S`` alone and laid over the rest.

Otherwise the changed model is built in full. ``tests/engine/test_incremental.py``
checks on random clusters and random changes that both answer alike.
"""

from __future__ import annotations

import dataclasses

from netpol.bits import bit_positions

from .allowed import AllowedConnections
from .evaluate import EGRESS, INGRESS, CompiledRule, DestinationGroup, Entry, Evaluation, _segments
from .gcpause import gc_paused
from .ipsets import ALL_IPS, NO_IPS
from .model import Policy, PolicyError
from .ports import ALL_PORTS, PortSet


@gc_paused()
def with_policies(base, add: list[Policy], remove: set[str], errors: list[PolicyError]):
    """The model ``base`` with ``add`` (replacing same-keyed policies) and without the
    policies keyed in ``remove``; ``errors``: the added policies' problems."""
    add = list({p.key: p for p in add}.values())  # the last of a key wins
    dropped = {p.key for p in add} | set(remove)
    old = [p for p in base.policies if p.key in dropped]
    # A model numbers its policies (policy.id), so the kept ones are copies.
    kept = [_copy(p) for p in base.policies if p.key not in dropped]
    added = [_copy(p) for p in add]
    model = base.copy_with(
        policies=kept + added,
        errors=[e for e in base.errors if e.policy not in dropped] + list(errors),
    )
    if _keeps_classes(base, added):
        # Seed the model's cached answers (functools.cached_property keeps them in the
        # instance's __dict__); everything else the model derives lazily as usual.
        ev = _evaluation(base.evaluation, model.policies, len(kept), old)
        model.__dict__["evaluation"] = ev
        model.__dict__["_allowed"], changed = _allowed(base, ev, old, added)
        model.incremental = True
        model._changed_destinations = changed
    else:
        model.incremental = False
        model._changed_destinations = None
    return model


@gc_paused()
def changed_edges(base, model, level: str = "workload") -> tuple[list[dict], list[dict]]:
    """``allowed_connections().edges(level)`` of ``base`` and of ``model`` (made from it
    by ``with_policies``), both limited to the destinations (namespaces or workloads)
    whose incoming traffic the change may have touched; every other destination has the
    same edges in both. A model built in full gives all edges of both."""
    changed = getattr(model, "_changed_destinations", None)
    if changed is None:
        return base.allowed_connections().edges(level), model.allowed_connections().edges(level)
    ev = model.evaluation
    if level == "namespace":
        touched = {ev.classes[c].namespace for c in bit_positions(changed)}
        classes = 0
        for namespace in touched:
            classes |= ev.ns_mask(namespace)
    else:
        by_workload = base.derived("incremental.workload_classes", lambda: _workload_classes(ev))
        touched = {p.workload_key for c in bit_positions(changed) for p in ev.classes[c].pods}
        classes = 0
        for key in touched:
            classes |= by_workload[key]
    return (
        base.allowed_connections().edges(level, destinations=classes),
        model.allowed_connections().edges(level, destinations=classes),
    )


def _workload_classes(ev: Evaluation) -> dict[str, int]:
    out: dict[str, int] = {}
    for cls in ev.classes:
        for pod in cls.pods:
            out[pod.workload_key] = out.get(pod.workload_key, 0) | 1 << cls.id
    return out


_POLICY_FIELDS = tuple(f.name for f in dataclasses.fields(Policy))


def _copy(policy: Policy) -> Policy:
    """A copy to number (``dataclasses.replace`` costs ten times more)."""
    return Policy(*[getattr(policy, name) for name in _POLICY_FIELDS])


def _keeps_classes(base, added: list[Policy]) -> bool:
    if any(
        getattr(base, name, None)
        for name in ("cluster_policies", "cilium_policies", "calico_policies")
    ):
        return False
    if any(p.namespace not in base.namespaces for p in added):
        return False
    known = base.evaluation._block_classes
    return all(
        peer.ip_block is None or peer.ip_block in known
        for p in added
        for rule in p.ingress + p.egress
        for peer in rule.peers or ()
    )


def _evaluation(
    base: Evaluation, policies: list[Policy], kept: int, old: list[Policy]
) -> Evaluation:
    """``base`` for ``policies``: the first ``kept`` are copies of base policies."""
    ev = Evaluation.__new__(Evaluation)
    ev.policies = policies
    ev.namespaces = base.namespaces
    ev.classes, ev.ns_ranges, ev.class_of = base.classes, base.ns_ranges, base.class_of
    ev.all, ev.pod_index, ev.ns_index = base.all, base.pod_index, base.ns_index
    ev._block_classes = base._block_classes
    ev.tiers = None
    n = len(base.classes)
    ev.selected = []
    ev.policies_of = [[] for _ in range(n)]
    ev.rules = []
    ev.ingress_rules_of = [[] for _ in range(n)]
    ev.egress_rules_of = [[] for _ in range(n)]
    ev.isolated_ingress = ev.isolated_egress = 0
    base_rules: dict[int, list[CompiledRule]] = {}
    for compiled in base.rules:
        base_rules.setdefault(compiled.policy.id, []).append(compiled)
    base_id = {p.key: p.id for p in base.policies}
    for policy in policies:
        lo, _ = ev.ns_ranges.get(policy.namespace, (0, 0))
        if policy.id < kept:
            sel = base.selected[base_id[policy.key]]
        else:
            sel = ev.ns_mask(policy.namespace) & ev.pod_index.eval(policy.pod_selector)
        ev.selected.append(sel)
        members = [lo + i for i in bit_positions(sel >> lo)] if sel else []
        for c in members:
            ev.policies_of[c].append(policy)
        if policy.affects_ingress:
            ev.isolated_ingress |= sel
        if policy.affects_egress:
            ev.isolated_egress |= sel
        if policy.id < kept:
            compiled_rules = [
                CompiledRule(
                    len(ev.rules) + i,
                    policy,
                    r.direction,
                    r.rule,
                    r.peer_classes,
                    r.peer_ips,
                    r.classes,
                    r.ips,
                    r.fixed_ports,
                )
                for i, r in enumerate(base_rules.get(base_id[policy.key], ()))
            ]
            ev.rules.extend(compiled_rules)
        else:
            compiled_rules = [
                ev._compile(policy, direction, rule)
                for direction, rules in ((INGRESS, policy.ingress), (EGRESS, policy.egress))
                for rule in rules
            ]
        for compiled in compiled_rules:
            per_class = ev.ingress_rules_of if compiled.direction == INGRESS else ev.egress_rules_of
            for c in members:
                per_class[c].append(compiled.id)
    return ev


def _allowed(
    base, ev: Evaluation, old: list[Policy], added: list[Policy]
) -> tuple[AllowedConnections, int]:
    """The allowed set of ``ev`` from the base's (module doc, step 3), and the classes
    whose incoming traffic may differ from the base's."""
    bev, bgroups = base.evaluation, base.allowed_connections().groups
    changed = [(bev, p) for p in old] + [(ev, p) for p in added]
    sources = 0  # S: classes whose egress may have changed
    dirty = 0  # destinations recomputed in full
    for e, p in changed:
        sel = e.selected[p.id]
        # A policy's rules of a direction it does not affect are ignored, but counting
        # them costs nothing and keeps this independent of how the parser keeps them.
        if p.affects_egress or p.egress:
            sources |= sel
        if p.affects_ingress or p.ingress:
            dirty |= sel
        if sel:
            for compiled in e.rules:  # the few rules of a changed policy
                if compiled.policy is p and compiled.direction == EGRESS:
                    dirty |= compiled.classes
    free_egress = ev.all & ~ev.isolated_egress
    free_sources = free_egress & sources

    # S's egress rules, deduplicated, with the sources of S they hold.
    s_rules: dict[int, list] = {}
    for s in bit_positions(sources):
        for r in ev.egress_rules_of[s]:
            compiled = ev.rules[r]
            if compiled.classes:
                s_rules.setdefault(r, [compiled, 0])[1] |= 1 << s
    group_of = base.allowed_connections().group_of
    reached_by: dict[int, list] = {}  # base group -> [(rule, its sources in S)]
    for compiled, held in s_rules.values():
        for gid in {group_of[d] for d in bit_positions(compiled.classes)}:
            reached_by.setdefault(gid, []).append((compiled, held))

    groups: list[DestinationGroup] = []
    pool: list[int] = []
    changed = dirty
    keep = ~sources
    for gid, group in enumerate(bgroups):
        members = [c for c in group.classes if not dirty >> c & 1]
        pool.extend(c for c in group.classes if dirty >> c & 1)
        if not members:
            continue
        entries = group.entries
        patch = None
        # Rules of changed policies reach only dirty classes; the clean members of a
        # group share the rest of its rules.
        rules = [(r, held) for r, held in reached_by.get(gid, ()) if r.classes >> members[0] & 1]
        if free_sources or rules:
            patch = _source_part(ev, members[0], free_sources, rules)
        if patch or any(e.sources & sources for e in entries):
            patched = _masked(entries, keep)
            if patch:
                patched = _union(patched, patch)
            # Both are merged per (sources, addresses): equal traffic, equal sets. A
            # source whose egress rules stayed the same changes nothing here.
            if _key(patched) != _key(entries):
                entries = patched
                changed |= ev.class_set(members)
        if members == group.classes and entries is group.entries:
            groups.append(group)
        else:
            groups.append(DestinationGroup(members, entries))
    groups.extend(_recomputed(ev, pool, free_egress))
    return AllowedConnections(ev, groups), changed


def _in_grants(ev: Evaluation, c: int, named_ports, with_ips: bool = True) -> list:
    if not ev.isolated_ingress >> c & 1:
        return [(ALL_PORTS, ev.all, ALL_IPS if with_ips else NO_IPS)]
    return [
        (r.ports_for(named_ports), r.classes, r.ips if with_ips else NO_IPS)
        for r in ev.rules_of(c, INGRESS)
    ]


def _source_part(ev: Evaluation, c: int, free_sources: int, rules) -> list[Entry]:
    """What the sources in S may open to class ``c`` (and so to its group), by port."""
    if ev.isolated_ingress >> c & 1:
        admitted = 0
        for r in ev.rules_of(c, INGRESS):
            admitted |= r.classes
        if not admitted & (free_sources | _held(rules)):
            return []
    named = ev.classes[c].named_ports
    eg_grants = [(ALL_PORTS, free_sources)]
    eg_grants += [(compiled.ports_for(named), held) for compiled, held in rules]
    return _segments(_in_grants(ev, c, named, with_ips=False), eg_grants)


def _key(entries: list[Entry]) -> set:
    return {(e.ports.ranges, e.sources, e.ips) for e in entries}


def _held(rules) -> int:
    out = 0
    for _, held in rules:
        out |= held
    return out


def _masked(entries: list[Entry], keep: int) -> list[Entry]:
    """The entries with only the ``keep`` source bits; equal ones merged, empty ones gone."""
    merged: dict[tuple, PortSet] = {}
    for e in entries:
        sources = e.sources & keep
        if sources or e.ips:
            key = (sources, e.ips)
            found = merged.get(key)
            merged[key] = e.ports if found is None else found | e.ports
    return [Entry(ports, sources, ips) for (sources, ips), ports in merged.items()]


def _union(a: list[Entry], b: list[Entry]) -> list[Entry]:
    """Per port, the sources and addresses of either list."""
    points = sorted({p for e in a + b for p in e.ports.boundaries()})
    merged: dict[tuple, list[tuple[int, int]]] = {}
    for lo, hi in zip(points, points[1:], strict=False):
        sources, ips = 0, NO_IPS
        for e in a + b:
            if lo in e.ports:
                sources |= e.sources
                ips = ips | e.ips
        if sources or ips:
            merged.setdefault((sources, ips), []).append((lo, hi))
    return [Entry(PortSet(ranges), s, ips) for (s, ips), ranges in merged.items()]


def _recomputed(ev: Evaluation, pool: list[int], free_egress: int) -> list[DestinationGroup]:
    """Destination groups for the classes in ``pool``, computed as ``Evaluation.allowed``
    does, from the egress rules that reach them."""
    if not pool:
        return []
    mask = ev.class_set(pool)
    shared: dict[tuple, list] = {}
    for compiled in ev.rules:
        if compiled.direction != EGRESS or not compiled.classes & mask:
            continue
        held = ev.selected[compiled.policy.id]
        if held:
            key = (compiled.classes, compiled.rule.ports if compiled.rule.valid else "invalid")
            shared.setdefault(key, [compiled, 0])[1] |= held
    grants = list(shared.values())
    incoming: dict[int, list[int]] = {c: [] for c in pool}
    for g, (compiled, _) in enumerate(grants):
        for d in bit_positions(compiled.classes & mask):
            incoming[d].append(g)
    by_key: dict[tuple, list[int]] = {}
    for c in sorted(pool):
        in_rules = tuple(ev.ingress_rules_of[c]) if ev.isolated_ingress >> c & 1 else None
        named = any(ev.rules[r].fixed_ports is None for r in in_rules or ()) or any(
            grants[g][0].fixed_ports is None for g in incoming[c]
        )
        key = (in_rules, tuple(incoming[c]), ev.classes[c].named_ports if named else None)
        by_key.setdefault(key, []).append(c)
    out = []
    for (_, in_from, _), members in by_key.items():
        named = ev.classes[members[0]].named_ports
        eg_grants = [(ALL_PORTS, free_egress)]
        eg_grants += [(grants[g][0].ports_for(named), grants[g][1]) for g in in_from]
        out.append(
            DestinationGroup(members, _segments(_in_grants(ev, members[0], named), eg_grants))
        )
    return out
