"""Which policy rules allow a namespace-level flow: the links on a namespace graph's edges.

A flow from namespace S to namespace D needs both ends to let it through: D's pods
accept it (an ingress rule admitting pods of S, or some of D's pods are not isolated for
ingress) and S's pods may send it (an egress rule reaching pods of D, or not isolated
for egress). The rules are found from the engine's compiled rules, whose peer class sets
say which pods they admit: no pod pair is looked at.
"""

from __future__ import annotations

from ..bits import bit_positions
from ..engine import INGRESS
from .drawing import Drawing
from .flows import flows_of, index_of
from .labels import ports_label

MAX_RULES_PER_EDGE = 12  # an edge's detail lists this many rules, then "and N more"


class RuleIndex:
    """Per namespace: its compiled ingress and egress rules (policies live in one namespace)."""

    def __init__(self, model):
        ev = model.allowed_connections().ev
        self.ev = ev
        self.ingress: dict[str, list] = {}
        self.egress: dict[str, list] = {}
        for rule in ev.rules:
            side = self.ingress if rule.direction == INGRESS else self.egress
            side.setdefault(rule.policy.namespace, []).append(rule)


def rule_index(model) -> RuleIndex:
    return model.derived("graph.rules", lambda: RuleIndex(model))


def _ref(rule) -> dict:
    return {
        "namespace": rule.policy.namespace,
        "policy": rule.policy.name,
        "direction": rule.direction,
        "rule": rule.rule.index,
    }


def flow_rules(model, source: str, target: str) -> dict:
    """The rules that let pods of ``source`` reach pods of ``target``, each side:
    ``{"ingress": [...], "egress": [...], "ingress_open": pods, "egress_open": pods,
    "more": n}``; ``*_open`` counts the pods of that side no policy isolates (they need no
    rule). Rule refs are dicts of namespace, policy, direction and rule index."""
    rules = rule_index(model)
    index = index_of(model)
    source_mask, target_mask = rules.ev.ns_mask(source), rules.ev.ns_mask(target)
    ingress = [_ref(r) for r in rules.ingress.get(target, []) if r.classes & source_mask]
    egress = [_ref(r) for r in rules.egress.get(source, []) if r.classes & target_mask]
    # Two rules of one policy admitting the same peers are two entries: both allow it.
    listed = ingress + egress
    more = max(0, len(listed) - MAX_RULES_PER_EDGE)
    s, t = index.number.get(source), index.number.get(target)
    return {
        "ingress": ingress[:MAX_RULES_PER_EDGE],
        "egress": egress[: max(0, MAX_RULES_PER_EDGE - len(ingress))],
        "more": more,
        "ingress_open": index.pods[t] - index.ingress_isolated[t] if t is not None else 0,
        "egress_open": index.pods[s] - index.egress_isolated[s] if s is not None else 0,
    }


def namespace_peers(model, name: str, limit: int = 200) -> dict:
    """Who ``name`` hears from and sends to, namespace by namespace with the ports, and
    the outside address sets: the namespace page's flow lists. Each list is cut at
    ``limit`` (by name) and says how many there were."""
    index = index_of(model)
    flows = flows_of(model)
    me = index.number[name]
    heard: dict[int, object] = {}
    for bits, ports in flows.into[me].items():
        for s in bit_positions(bits):
            heard[s] = heard[s] | ports if s in heard else ports
    sent: dict[int, object] = {}
    for d in bit_positions(flows.out_bits[me]):
        for bits, ports in flows.into[d].items():
            if bits >> me & 1:
                sent[d] = sent[d] | ports if d in sent else ports
    drawing = Drawing(model.external_exposure().outside)

    def listed(peers: dict) -> dict:
        rows = [
            {"namespace": index.names[i], "ports": ports_label(p), "self": i == me}
            for i, p in sorted(peers.items())
        ]
        return {"rows": rows[:limit], "count": len(rows)}

    def outside(items: dict) -> list[dict]:
        rows = [
            {"addresses": drawing.external_label(ips), "ports": ports_label(p)}
            for ips, p in sorted(items.items(), key=lambda item: item[0].ranges)
        ]
        return rows[:limit]

    return {
        "from": listed(heard),
        "to": listed(sent),
        "outside_in": outside(flows.ext_in[me]),
        "outside_out": outside(flows.ext_out[me]),
        "exposed_workloads": sorted(flows.exposed[me]),
    }
