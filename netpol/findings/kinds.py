"""Mistakes the other policy APIs invite (issue 13): Cilium, Calico and the cluster-wide
tiers, computed on the engine's compiled rules (class bitsets, address sets, port sets),
never by comparing YAML, so selectors written differently but matching the same pods
count alike.

NP043: a Cilium allow rule whose peers hold every pod of the cluster and the whole world
(``all``, or ``world`` with ``cluster``): Cilium's ``all`` "whitelists all communication".
NP044: a Calico policy without ``order`` that shares pods with ordered policies of its
tier: Calico applies it after every one of them ("infinite").
NP045: a Deny rule that never fires because earlier rules of its tier decide everything
it matches, an Allow among them (Calico tiers; ClusterNetworkPolicy Admin and Baseline
tiers): the traffic it was written to refuse is allowed.
NP046: rules whose effect the audit cannot decide (Cilium L7, FQDN, service and group
peers; ClusterNetworkPolicy ``domainNames``; Calico HTTP, service account, service and
source-port matches), one finding per policy naming each field and what was assumed.

Sources are cited in ``docs/findings.md`` (from ``catalogue.py``) and in the tests.
"""

from __future__ import annotations

import math

from netpol.engine import ALL_PORTS, EGRESS, INGRESS, NO_IPS, ClusterPolicy

from .facts import Facts
from .finding import Finding, fingerprint, make, plural, short_list, to_yaml

ALLOW = "Allow"
ACCEPT = "Accept"
DENY = "Deny"
LOG = "Log"
DEFAULT_TIER = "default"  # Calico's tier of the Kubernetes NetworkPolicies (order 1000)
KUBERNETES_ORDER = 1000.0
APPLIED_AFTER_SHOWN = 5  # NP044 names the first policies it now follows, in walk order
WORLD_ENTITIES = ("world", "world-ipv4", "world-ipv6")
# The Cilium peer fields the engine cannot resolve, and what it assumed of them.
_UNRESOLVED_PEERS = ("toFQDNs", "toServices", "toGroups", "fromGroups")


def findings(facts: Facts) -> list[Finding]:
    out: list[Finding] = []
    ev = facts.ev
    if getattr(ev, "cilium", None) is not None:
        out += _cilium_everything(facts, ev.cilium)
    if getattr(ev, "calico", None) is not None:
        out += _calico_orderless(facts, ev.calico)
        out += _calico_shadowed_denies(facts, ev.calico)
    if getattr(ev, "tiers", None) is not None:
        out += _tier_shadowed_denies(facts, ev.tiers)
    out += _undecidable(facts)
    return out


# -- object names ----------------------------------------------------------------------


def cilium_ref(policy) -> str:
    """``CiliumNetworkPolicy/ns/name`` or ``CiliumClusterwideNetworkPolicy/name``, the
    object names the policy's own page lists findings by."""
    where = f"{policy.namespace}/{policy.name}" if policy.namespace else policy.name
    return f"{policy.kind}/{where}"


def calico_ref(policy) -> str:
    """``CalicoNetworkPolicy/ns/name`` or ``CalicoGlobalNetworkPolicy/name``: Calico's
    NetworkPolicy shares Kubernetes' kind name, so its pages name it with the prefix."""
    where = f"{policy.namespace}/{policy.name}" if policy.namespace else policy.name
    return f"Calico{policy.kind}/{where}"


def tier_ref(policy: ClusterPolicy) -> str:
    return f"{policy.kind}/{policy.name}"


# -- a rule by its content ---------------------------------------------------------------

# The findings whose rule was named by its place in its policy until it was named by its
# content: their one alias is that older fingerprint (pages say so).
NAMED_BY_CONTENT = ("NP041", "NP043", "NP045")


def rule_by_content(rule, siblings, content_of) -> dict:
    """A rule named by its content (``content_of(rule)``), not its place: inserting a rule
    above keeps a fingerprint made of it, changing the rule changes it. Identical rules
    of one direction (``siblings``, the policy's rules of it in written order) are told
    apart by their occurrence, counted from the first: the second of two adds
    ``occurrence: 1``."""
    content = content_of(rule)
    occurrence = 0
    for other in siblings:
        if other is rule:
            break
        occurrence += content_of(other) == content
    return {"rule": content, "occurrence": occurrence} if occurrence else {"rule": content}


def _rule_identity(rule_id, ref, direction, rule, siblings, content_of, *, old) -> dict:
    """``identity`` and ``aliases`` for ``make``: the policy, the direction and the rule
    by its content; ``old``, what the identity named the rule by before (its index or
    name), gives the alias, so a waiver made on that fingerprint still holds."""
    return {
        "identity": {
            "policy": ref,
            "direction": direction,
            **rule_by_content(rule, siblings, content_of),
        },
        "aliases": [fingerprint(rule_id, {"policy": ref, "direction": direction, "rule": old})],
    }


def _port_entries(ports) -> list | None:
    return None if ports is None else [p.to_dict() for p in ports]


def cilium_rule_content(rule) -> dict:
    """A Cilium rule as written: deny or allow, its peers, ports and what the audit does
    not decide of it."""
    return {
        "deny": rule.deny,
        "peers": None if rule.peers is None else [p.text for p in rule.peers],
        "ports": _port_entries(rule.ports),
        "undecided": list(rule.undecided),
    }


def calico_rule_content(rule) -> dict:
    """A Calico rule as written (its selectors' text, nets as CIDRs, ports)."""
    return {
        "action": rule.action,
        "protocol": rule.protocol,
        "notProtocol": rule.not_protocol,
        "ipVersion": rule.ip_version,
        "source": _calico_entity(rule.source),
        "destination": _calico_entity(rule.destination),
        "undecided": list(rule.undecided),
    }


def _calico_entity(entity) -> dict:
    out: dict = {}
    for key, nets in (("nets", entity.nets), ("notNets", entity.not_nets)):
        if nets is not None:
            out[key] = nets.to_cidrs()
    for key, selector in (
        ("selector", entity.selector),
        ("notSelector", entity.not_selector),
        ("namespaceSelector", entity.namespace_selector),
    ):
        if selector is not None:
            out[key] = selector.text
    if entity.ports is not None:
        out["ports"] = _port_entries(entity.ports)
    if entity.not_ports:
        out["notPorts"] = _port_entries(entity.not_ports)
    if entity.undecided:
        out["undecided"] = list(entity.undecided)
    accounts = entity.service_accounts
    if accounts is not None:
        out["serviceAccounts"] = {
            "names": None if accounts.names is None else sorted(accounts.names),
            "selector": None if accounts.selector is None else accounts.selector.text,
        }
    return out


def tier_rule_content(rule) -> dict:
    """A ClusterNetworkPolicy (or v1alpha1 Admin/Baseline) rule as written: its name,
    action, peers and ports."""
    return {
        "name": rule.name,
        "action": rule.action,
        "peers": [p.text for p in rule.peers],
        "ports": _port_entries(rule.ports),
    }


# -- NP043: a Cilium rule open to every pod and the world ------------------------------


def _cilium_everything(facts: Facts, cilium) -> list[Finding]:
    ev = facts.ev
    world = cilium.entities["world"][1]
    out = []
    if not world:
        return out  # the cluster's ranges cover every address: nothing is "world"
    for r in cilium.rules:
        rule, policy = r.rule, r.policy
        # Deny rules refuse, they open nothing; an L4-only rule (no peer field) applies to
        # every peer by Cilium's definition and is written that way on purpose.
        if rule.deny or rule.peers is None or not r.subject:
            continue
        if r.classes & ev.all != ev.all or not world.issubset(r.ips):
            continue
        ports = facts.ports_to_classes(r, ev.all)
        if not ports:
            continue
        peers_key = "fromEntities" if r.direction == INGRESS else "toEntities"
        entities = [p.entity for p in rule.peers if p.entity is not None]
        cause = (
            f"`{peers_key}: all`"
            if "all" in entities
            else "its peers (" + ", ".join(p.text for p in rule.peers) + ")"
        )
        workloads = facts.workload_refs(r.subject)
        path = policy.rule_path(r.direction, rule)
        side = "from" if r.direction == INGRESS else "to"
        ref = cilium_ref(policy)
        out.append(
            make(
                "NP043",
                f"{ref} {path}: {cause} hold every pod of the cluster, its nodes and every "
                f"address outside it, so {plural(len(workloads), 'workload')} "
                f"({short_list(workloads)}) {'accept' if r.direction == INGRESS else 'may open'} "
                f"connections {side} anywhere on {_ports_text(ports)}.",
                [ref, *workloads],
                **_rule_identity(
                    "NP043",
                    ref,
                    r.direction,
                    rule,
                    getattr(policy, r.direction),
                    cilium_rule_content,
                    old=rule.index,
                ),
                namespace=policy.namespace or "",
                evidence={
                    "field": f"{path}.{peers_key}" if entities else path,
                    "direction": r.direction,
                    "entities": entities,
                    "peers_matched": [p.text for p in rule.peers],
                },
                snippet=to_yaml(
                    {
                        r.direction: [
                            {f"{side}Entities": ["world"], "toPorts": [_ports_example(ports)]},
                            {f"{side}Endpoints": [{"matchLabels": {"app": "client"}}]},
                        ]
                    }
                ),
                workloads=workloads,
            )
        )
    return out


def _ports_text(ports) -> str:
    return "every port" if ports == ALL_PORTS else ", ".join(ports.describe())


def _ports_example(ports) -> dict:
    """A toPorts entry for the snippet: the rule's first port, else 443/TCP."""
    samples = ports.samples() if ports != ALL_PORTS else []
    protocol, port = samples[0] if samples else ("TCP", 443)
    return {"ports": [{"port": str(port), "protocol": protocol}]}


# -- NP044: a Calico policy without order ----------------------------------------------


def _owner_order(policy) -> float:
    """Where a policy that owns compiled Calico rules sits in its tier: a Calico policy's
    ``order``; a cluster-wide policy in Calico's Admin/Baseline tiers by its priority;
    Kubernetes NetworkPolicies (and Cilium's, beside them) at 1000 in ``default``."""
    if _is_calico(policy):
        return policy.order
    if isinstance(policy, ClusterPolicy):
        return float(policy.priority)
    return KUBERNETES_ORDER


def _calico_orderless(facts: Facts, calico) -> list[Finding]:
    ev = facts.ev
    orderless = [p for p in facts.model.calico_policies if math.isinf(p.order)]
    if not orderless:
        return []
    # Per policy and direction, the classes its rules are about (their ``local``): where
    # the order in which rules are walked can change an answer.
    about: dict[tuple[int, str], int] = {}
    owners: dict[int, tuple[object, str]] = {}
    for r in calico.rules:
        if r.action == LOG:
            continue
        key = (id(r.policy), r.direction)
        about[key] = about.get(key, 0) | r.local
        owners[id(r.policy)] = (r.policy, r.tier)
    # Per tier and direction, the classes some order-less policy is about: the only ones
    # the ordered policies are compared on.
    wanted: dict[tuple[str, str], int] = {}
    for policy in orderless:
        for direction in policy.types:
            mine = about.get((id(policy), direction), 0)
            if mine:
                wanted[policy.tier, direction] = wanted.get((policy.tier, direction), 0) | mine
    # Per tier and direction: the ordered owners in walk order, with what they are about
    # among the wanted classes.
    ordered: dict[tuple[str, str], list[tuple[float, str, int]]] = {}
    for key, (owner, tier) in owners.items():
        order = _owner_order(owner)
        if math.isinf(order):
            continue
        ref = policy_ref(owner)
        for direction in (INGRESS, EGRESS):
            bits = about.get((key, direction), 0) & wanted.get((tier, direction), 0)
            if bits:
                ordered.setdefault((tier, direction), []).append((order, ref, bits))
    index = {where: _first_owners(ev, entries, wanted[where]) for where, entries in ordered.items()}
    out = []
    for policy in orderless:
        shared, before = 0, {}
        for direction in policy.types:
            mine = about.get((id(policy), direction), 0)
            where = (policy.tier, direction)
            if not mine or where not in index:
                continue
            firsts, union = index[where]
            common = mine & union
            if not common:
                continue
            shared |= common
            # The first few it now follows, in walk order, name the finding.
            entries = ordered[where]
            for i in sorted({i for c in ev.classes_in(common) for i in firsts[c]}):
                if len(before) >= APPLIED_AFTER_SHOWN:
                    break
                order, ref, _ = entries[i]
                before.setdefault(ref, order)
        if not shared:
            continue
        ref = calico_ref(policy)
        after = sorted(before, key=lambda k: (before[k], k))
        workloads = facts.workload_refs(shared)
        lowest = before[after[0]]
        out.append(
            make(
                "NP044",
                f"{ref} has no order, so Calico applies it after every ordered policy of "
                f"tier {policy.tier}: its rules come after those of {short_list(after, 3)}"
                f"{' and others' if len(after) >= APPLIED_AFTER_SHOWN else ''} for "
                f"{plural(len(workloads), 'workload')} ({short_list(workloads)}).",
                [ref, *after, *workloads],
                identity={"policy": ref},
                namespace=policy.namespace or "",
                evidence={"field": "spec.order", "tier": policy.tier, "applied_after": after},
                # An order below the first it now follows puts it before all of them.
                snippet=to_yaml({"spec": {"tier": policy.tier, "order": max(0, int(lowest) - 10)}}),
                workloads=workloads,
            )
        )
    return out


# Per class, how many of the first ordered owners about it NP044 keeps. The walk names
# five; in the second direction at most five of those it meets were named in the first
# (each owner has one ref), so the first ten owners about a policy's classes are enough,
# and the first ten about each of its classes hold them.
_FIRST_KEPT = 2 * APPLIED_AFTER_SHOWN


def _first_owners(ev, entries: list, wanted: int) -> tuple[dict[int, list[int]], int]:
    """(class -> the positions in ``entries``, sorted into walk order here, of the first
    ``_FIRST_KEPT`` owners about it, for the ``wanted`` classes; every class some owner is
    about). One pass over the owners, a class leaving it once its list is full: where
    comparing each order-less policy with each owner cost policies × owners big ANDs
    (4.8 s of 5.7 s at 50k pods with every other Calico policy order-less)."""
    entries.sort(key=lambda e: (e[0], e[1]))
    firsts: dict[int, list[int]] = {}
    open_, union = wanted, 0
    for i, (_, _, bits) in enumerate(entries):
        union |= bits
        hit = bits & open_
        if not hit:
            continue
        for c in ev.classes_in(hit):
            kept = firsts.setdefault(c, [])
            kept.append(i)
            if len(kept) == _FIRST_KEPT:
                open_ &= ~(1 << c)
    return firsts, union


def _is_calico(policy) -> bool:
    return hasattr(policy, "types") and hasattr(policy, "order")


def _is_cilium(policy) -> bool:
    return hasattr(policy, "default_deny") and hasattr(policy, "rule_path")


def policy_ref(policy) -> str:
    """The object name of a policy of any kind, as pages list findings by it."""
    if isinstance(policy, ClusterPolicy):
        return tier_ref(policy)
    if _is_calico(policy):
        return calico_ref(policy)
    if _is_cilium(policy):
        return cilium_ref(policy)
    return f"NetworkPolicy/{policy.key}"


# -- NP045: a Deny that never fires: earlier rules of its tier, an Allow among them, decide
# everything it matches -----------------------------------------------------------------


def _walk(d_ports, d_classes, d_ips, earlier) -> tuple[bool, list]:
    """Does every (port, peer) the Deny matches meet an earlier rule first? ``earlier``:
    (rule, action, ports, classes, ips) in walk order. Returns (dead, the earlier Allow
    rules that took some of it), walked per port segment as the engine walks its tiers."""
    points = set(d_ports.boundaries())
    for _, _, ports, _, _ in earlier:
        points.update(ports.boundaries())
    points = sorted(points)
    allowing: dict[int, object] = {}
    for a, _ in zip(points, points[1:], strict=False):
        if a not in d_ports:
            continue
        und, und_ip = d_classes, d_ips
        for r, action, ports, classes, ips in earlier:
            if a not in ports:
                continue
            if action in (ALLOW, ACCEPT) and (und & classes or und_ip & ips):
                allowing[id(r)] = r
            und &= ~classes
            und_ip = und_ip - ips
            if not und and not und_ip:
                break
        if und or und_ip:
            return False, []
    return True, list(allowing.values())


def _dead_for(ev, deny, earlier_rules, direction, local_class) -> tuple[bool, list]:
    """Is ``deny`` dead for one class it is about (its own side), given the rules walked
    before it there? Port names resolve against the destination: the class itself on
    ingress, each destination class on egress (never an address)."""
    if direction == INGRESS:
        named = ev.classes[local_class].named_ports
        return _walk(
            deny.ports_for(named),
            deny.classes,
            deny.ips,
            [(r, _action(r), r.ports_for(named), r.classes, r.ips) for r in earlier_rules],
        )
    uses_names = any(r.fixed_ports is None for r in (deny, *earlier_rules))
    groups: dict[frozenset, int] = {frozenset(): 0}
    if uses_names:
        for c in ev.classes_in(deny.classes):
            named = ev.classes[c].named_ports
            groups[named] = groups.get(named, 0) | (1 << c)
    else:
        groups[frozenset()] = deny.classes
    allowing: dict[int, object] = {}
    for named, classes in groups.items():
        ips = deny.ips if named == frozenset() else NO_IPS
        if not classes and not ips:
            continue
        dead, by = _walk(
            deny.ports_for(named),
            classes,
            ips,
            [(r, _action(r), r.ports_for(named), r.classes, r.ips) for r in earlier_rules],
        )
        if not dead:
            return False, []
        for r in by:
            allowing[id(r)] = r
    return True, list(allowing.values())


def _action(rule) -> str:
    action = getattr(rule, "action", None)
    return action if isinstance(action, str) else rule.rule.action


def _shadowed(facts: Facts, deny, locals_bits: int, earlier_of) -> tuple[list, int]:
    """(the Allow rules that shadow ``deny``, the classes it is about) when it is dead
    for every class it is about and an Allow took part; else ([], 0). ``earlier_of(c)``:
    the rules walked before it for class ``c``, in order."""
    ev = facts.ev
    if not deny.ports_for(frozenset()) and deny.fixed_ports is not None:
        return [], 0  # matches no port the engine models: nothing to shadow
    if not deny.classes and not deny.ips:
        return [], 0  # matches nothing (an undecidable peer, a selector of nothing)
    memo: dict = {}
    allowing: dict[int, object] = {}
    for c in ev.classes_in(locals_bits):
        earlier = earlier_of(c)
        if not earlier:
            return [], 0
        named_key = ev.classes[c].named_ports if deny.direction == INGRESS else None
        key = (tuple(id(r) for r in earlier), named_key)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = _dead_for(ev, deny, earlier, deny.direction, c)
        dead, by = hit
        if not dead:
            return [], 0
        for r in by:
            allowing[id(r)] = r
    return list(allowing.values()), locals_bits


def _calico_shadowed_denies(facts: Facts, calico) -> list[Finding]:
    out = []
    rules = calico.rules
    for deny in rules:
        if deny.action != DENY or deny.rule is None or not deny.local:
            continue
        own = calico.own[deny.direction]

        def earlier_of(c, deny=deny, own=own):
            return [
                rules[i]
                for i in own[c]
                if i < deny.id and rules[i].tier == deny.tier and rules[i].action != LOG
            ]

        by, bits = _shadowed(facts, deny, deny.local, earlier_of)
        if not by:
            continue
        ref = calico_ref(deny.policy)
        path = f"spec.{deny.direction}[{deny.index}]"
        shadows = _unique([r.label for r in by])
        out.append(
            _np045(
                facts,
                ref,
                path,
                deny.direction,
                f"tier {deny.tier}",
                shadows,
                _unique([policy_ref(r.policy) for r in by]),
                bits,
                **_rule_identity(
                    "NP045",
                    ref,
                    deny.direction,
                    deny.rule,
                    getattr(deny.policy, deny.direction),
                    calico_rule_content,
                    old=deny.index,
                ),
                namespace=deny.policy.namespace or "",
            )
        )
    return out


def _tier_shadowed_denies(facts: Facts, tiers) -> list[Finding]:
    out = []
    rules = tiers.rules
    for deny in rules:
        policy, rule = deny.policy, deny.rule
        if rule.action != DENY or not deny.subject or any(p.everything for p in rule.peers):
            continue  # a fail-closed Deny stands for an unreadable rule: NP035's business
        own = tiers.own[deny.direction][policy.tier]

        def earlier_of(c, deny=deny, own=own):
            return [rules[i] for i in own[c] if i < deny.id]

        by, bits = _shadowed(facts, deny, deny.subject, earlier_of)
        if not by:
            continue
        ref = tier_ref(policy)
        path = f"spec.{deny.direction}[{rule.index}]"
        shadows = _unique([f"{tier_ref(r.policy)} rule {r.rule.label}" for r in by])
        out.append(
            _np045(
                facts,
                ref,
                path + (f" (`{rule.name}`)" if rule.name else ""),
                deny.direction,
                f"{policy.tier} tier",
                shadows,
                _unique([tier_ref(r.policy) for r in by]),
                bits,
                **_rule_identity(
                    "NP045",
                    ref,
                    deny.direction,
                    rule,
                    getattr(policy, deny.direction),
                    tier_rule_content,
                    old=rule.name or rule.index,
                ),
                namespace="",
            )
        )
    return out


def _np045(
    facts, ref, path, direction, where, shadows, shadow_refs, bits, *, identity, aliases, namespace
):
    workloads = facts.workload_refs(bits)
    return make(
        "NP045",
        f"{ref} {path} Deny never applies to {direction} of "
        f"{plural(len(workloads), 'workload')} ({short_list(workloads)}): earlier rules of "
        f"its {where} decide everything it matches, and {short_list(shadows, 3)} allow "
        "some of it.",
        [ref, *[r for r in shadow_refs if r != ref], *workloads],
        identity=identity,
        aliases=aliases,
        namespace=namespace,
        evidence={"field": path, "direction": direction, "allowed_first_by": shadows},
        workloads=workloads,
    )


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# -- NP046: rules the audit cannot decide ----------------------------------------------

_CILIUM_ASSUMED = {
    "peer": "matches no pod and no address (names, services and groups are not resolved)",
    "L7": "allowed at L3/L4 for every request (the proxy's L7 filter is not evaluated)",
    "TLS": "allowed at L3/L4 (TLS interception is not evaluated)",
}


_CALICO_HTTP = "HTTP match: applied as if every request matched (method and path are not evaluated)"


def _undecidable(facts: Facts) -> list[Finding]:
    model = facts.model
    out = []
    calico_about: dict[str, int] = {}
    calico = getattr(facts.ev, "calico", None)
    for r in calico.rules if calico is not None else ():
        ref = policy_ref(r.policy)
        calico_about[ref] = calico_about.get(ref, 0) | r.local
    for policy in model.cilium_policies:
        fields = []
        for direction in (INGRESS, EGRESS):
            for rule in getattr(policy, direction):
                base = policy.rule_path(direction, rule)
                for what in rule.undecided:
                    fields.append(_cilium_field(base, what))
        if fields:
            out.append(_np046(facts, cilium_ref(policy), policy.namespace, fields, _cilium_bits))
    for policy in model.calico_policies:
        fields = []
        for direction in (INGRESS, EGRESS):
            if direction not in policy.types:
                continue
            for rule in getattr(policy, direction):
                base = f"spec.{direction}[{rule.index}]"
                if rule.undecided:  # only an HTTP match today
                    fields.append((f"{base}.http", _CALICO_HTTP))
                for side in ("source", "destination"):
                    for what in getattr(rule, side).undecided:
                        fields.append(_calico_entity_field(f"{base}.{side}", what))
        if fields:
            out.append(_np046(facts, calico_ref(policy), policy.namespace, fields, calico_about))
    for policy in model.cluster_policies:
        fields = []
        for direction in (INGRESS, EGRESS):
            for rule in getattr(policy, direction):
                if rule.domains:
                    fields.append(
                        (
                            f"spec.{direction}[{rule.index}]",
                            f"{rule.action} domainNames {', '.join(rule.domains)}: matches no "
                            "pod and no address (names are not resolved)",
                        )
                    )
        if fields:
            out.append(_np046(facts, tier_ref(policy), None, fields, _tier_bits))
    return out


def _cilium_field(base: str, what: str) -> tuple[str, str]:
    if what in _UNRESOLVED_PEERS:
        return f"{base}.{what}", f"{what}: {_CILIUM_ASSUMED['peer']}"
    kind, _, rest = what.partition(" rule ")
    path, _, detail = rest.partition(" ")
    if kind in ("L7", "TLS") and path:
        label = f"{kind} rule {detail}".strip()
        return path, f"{label}: {_CILIUM_ASSUMED[kind]}"
    return base, f"{what}: not evaluated"


def _calico_entity_field(base: str, what: str) -> tuple[str, str]:
    if what.startswith("source "):
        field = what.split()[1]
        return f"{base}.{field}", f"{field} (source ports): matches any source port"
    return f"{base}.{what}", f"{what}: matches nothing (not evaluated)"


def _cilium_bits(facts: Facts, ref: str) -> int:
    cilium = facts.ev.cilium
    for p in cilium.policies:
        if cilium_ref(p) == ref:
            return cilium.subject[p.id]
    return 0


def _tier_bits(facts: Facts, ref: str) -> int:
    tiers = facts.ev.tiers
    for p in tiers.policies:
        if tier_ref(p) == ref:
            return tiers.subject[p.id]
    return 0


def _np046(facts: Facts, ref: str, namespace, fields, subject_of) -> Finding:
    """``subject_of``: (facts, ref) -> the classes the policy is about, or a dict ref ->
    classes."""
    bits = subject_of.get(ref, 0) if isinstance(subject_of, dict) else subject_of(facts, ref)
    workloads = facts.workload_refs(bits)
    return make(
        "NP046",
        f"{ref}: the audit cannot decide {plural(len(fields), 'rule part')} "
        f"({'; '.join(f'{p}: {why}' for p, why in fields[:3])}"
        f"{f'; and {len(fields) - 3} more' if len(fields) > 3 else ''}); answers about "
        f"{plural(len(workloads), 'workload')} ({short_list(workloads)}) rest on these "
        "assumptions.",
        [ref, *workloads],
        identity={"policy": ref},
        namespace=namespace or "",
        evidence={"fields": [f"{p}: {why}" for p, why in fields]},
        workloads=workloads,
    )
