"""``reach``: one connection's verdict, with the policies and rules that decide it.

Each end is a pod or an address. For each direction that applies (egress at a source
pod, ingress at a destination pod) the explanation names either every (policy, rule,
peer, port) that allows the connection, or the policies that isolate the pod, none of
which allows it. Three cases bypass policy, as the Kubernetes documentation says:

* a pod cannot block traffic to itself (loopback);
* traffic between a pod and the node it runs on is always allowed;
* hostNetwork pods are outside enforcement: the outcome is "undefined".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cilium import ports_of as cilium_ports
from .evaluate import EGRESS, INGRESS, Evaluation
from .ipsets import int_to_ip
from .model import ACTIVE, HOST_NETWORK, Pod
from .ports import PROTOCOLS
from .tiers import ACCEPT, ADMIN, BASELINE, DENY, PASS

ALLOWED = "allowed"
DENIED = "denied"
UNDEFINED = "undefined"  # a hostNetwork pod at one end: policy behaviour undefined
NO_TRAFFIC = "no traffic"  # a pod at one end has no IP or is not running


@dataclass(slots=True)
class Endpoint:
    """A pod, or an address that is a node's or outside any known pod."""

    pod: Pod | None = None
    ip: int | None = None
    node: str = ""  # the node owning the address, when it is a node address

    def to_dict(self) -> dict:
        if self.pod is not None:
            return {"kind": "pod", "pod": self.pod.key}
        kind = "node" if self.node else "ip"
        return {
            "kind": kind,
            "ip": int_to_ip(self.ip),
            **({"node": self.node} if self.node else {}),
        }

    def __str__(self) -> str:
        if self.pod is not None:
            return self.pod.key
        return int_to_ip(self.ip) + (f" (node {self.node})" if self.node else "")


@dataclass(slots=True)
class RuleMatch:
    """A rule that allows the connection: ``peer``/``port`` index the matching entry of
    from/to and ports, None when the rule leaves that list empty (matches all)."""

    policy: str
    rule: int
    peer: int | None
    port: int | None

    def to_dict(self) -> dict:
        return {"policy": self.policy, "rule": self.rule, "peer": self.peer, "port": self.port}


@dataclass(slots=True)
class DirectionVerdict:
    direction: str  # "egress" (at the source) or "ingress" (at the destination)
    pod: str
    isolated: bool
    allowed: bool
    allowed_by: list[RuleMatch] = field(default_factory=list)
    isolating_policies: list[str] = field(default_factory=list)
    reason: str = ""
    # With cluster policies: each tier's say in order ("Admin tier: cnp/x rule `r` Deny
    # at priority 50"), the tier that decided, and domainNames rules that might change it.
    tiers: list[str] = field(default_factory=list)
    decided_by: str = "NetworkPolicy"
    depends_on: list[str] = field(default_factory=list)
    # A Cilium deny rule that matched: it overrides every allow (cilium.py).
    denied_by: str = ""
    # The key of the policy whose rule decided in a tier other than NetworkPolicy's
    # ("cnp/x", "gnp/x", "cilium/ns/x"), so pages can link it without parsing ``tiers``.
    decided_policy: str = ""

    def to_dict(self) -> dict:
        out = {
            "direction": self.direction,
            "pod": self.pod,
            "isolated": self.isolated,
            "allowed": self.allowed,
            "allowed_by": [m.to_dict() for m in self.allowed_by],
            "isolating_policies": self.isolating_policies,
            "reason": self.reason,
        }
        if self.tiers:
            out.update(tiers=self.tiers, decided_by=self.decided_by, depends_on=self.depends_on)
        elif self.depends_on:
            out["depends_on"] = self.depends_on
        if self.denied_by:
            out["denied_by"] = self.denied_by
        return out


@dataclass(slots=True)
class Verdict:
    src: Endpoint
    dst: Endpoint
    port: int
    protocol: str
    outcome: str
    egress: DirectionVerdict | None = None
    ingress: DirectionVerdict | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED

    def to_dict(self) -> dict:
        return {
            "src": self.src.to_dict(),
            "dst": self.dst.to_dict(),
            "port": self.port,
            "protocol": self.protocol,
            "allowed": self.allowed,
            "outcome": self.outcome,
            "reason": self.reason,
            "egress": self.egress.to_dict() if self.egress else None,
            "ingress": self.ingress.to_dict() if self.ingress else None,
        }

    def text(self) -> str:
        lines = [f"{self.src} -> {self.dst} {self.protocol}/{self.port}: {self.outcome.upper()}"]
        if self.reason:
            lines.append(f"  {self.reason}")
        for d in (self.egress, self.ingress):
            if d is None:
                continue
            lines.append(
                f"  {d.direction} at {d.pod}: {'allowed' if d.allowed else 'denied'} - {d.reason}"
            )
            lines.extend(f"    {step}" for step in d.tiers)
            lines.extend(f"    depends on {rule}" for rule in d.depends_on)
            for m in d.allowed_by:
                where = f"rule {m.rule}" + (f", peer {m.peer}" if m.peer is not None else "")
                where += f", port {m.port}" if m.port is not None else ""
                lines.append(f"    allowed by {m.policy} {d.direction}[{where}]")
        return "\n".join(lines)


def reach(ev: Evaluation, src: Endpoint, dst: Endpoint, port: int, protocol: str) -> Verdict:
    """The verdict for one connection (see the module docstring for the rules)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is outside 1-65535")
    verdict = Verdict(src=src, dst=dst, port=port, protocol=protocol, outcome=ALLOWED)
    pods = [e.pod for e in (src, dst) if e.pod is not None]
    for pod in pods:
        if pod.state == HOST_NETWORK:
            verdict.outcome = UNDEFINED
            verdict.reason = f"{pod.key} uses hostNetwork: policy behaviour undefined"
            return verdict
    for pod in pods:
        if pod.state != ACTIVE:
            verdict.outcome = NO_TRAFFIC
            verdict.reason = f"{pod.key} {pod.inactive_reason}: it takes no part in traffic"
            return verdict
    if src.pod is not None and src.pod is dst.pod:
        verdict.reason = "a pod cannot block traffic to itself"
        return verdict
    if not pods:
        verdict.reason = "no pod at either end: NetworkPolicy does not apply"
        return verdict
    side = _direction if ev.tiers is None else _tiered
    if getattr(ev, "calico", None) is not None:
        side = _calico
    if src.pod is not None:
        verdict.egress = side(ev, EGRESS, src.pod, dst, port, protocol)
    if dst.pod is not None:
        verdict.ingress = side(ev, INGRESS, dst.pod, src, port, protocol)
    denied = [d for d in (verdict.egress, verdict.ingress) if d is not None and not d.allowed]
    if denied:
        verdict.outcome = DENIED
        verdict.reason = "; ".join(f"{d.direction} denied at {d.pod}" for d in denied)
    else:
        verdict.reason = (
            "egress and ingress both allow it" if len(pods) == 2 else "the pod's policies allow it"
        )
    return verdict


def _direction(ev: Evaluation, direction: str, pod: Pod, other: Endpoint, port: int, protocol: str):
    cid = ev.class_of[pod.key]
    affects = "affects_ingress" if direction == INGRESS else "affects_egress"
    isolating = [p.key for p in ev.policies_of[cid] if getattr(p, affects)]
    cilium = getattr(ev, "cilium", None)
    if cilium is not None:
        isolating += [
            p.key
            for p in cilium.policies
            if p.default_deny[direction] and cilium.subject[p.id] >> cid & 1
        ]
    result = DirectionVerdict(
        direction=direction, pod=pod.key, isolated=bool(isolating), allowed=True
    )
    if other.pod is None and other.node and other.node == pod.node_name:
        result.reason = "traffic between a pod and its own node is always allowed"
        return result
    # Named ports resolve against the destination pod; an address has none.
    dst_pod = pod if direction == INGRESS else other.pod
    named = dst_pod.named_ports if dst_pod is not None else frozenset()
    other_class = ev.class_of[other.pod.key] if other.pod is not None else None
    cilium_allows = []
    if cilium is not None:
        cilium_allows = _cilium_side(
            cilium, ev, result, direction, cid, other, other_class, port, protocol, named
        )
    if not isolating:
        result.reason = f"no policy isolates {pod.key} for {direction}"
        return _cilium_deny(result)
    result.isolating_policies = isolating
    rule_ids = ev.ingress_rules_of[cid] if direction == INGRESS else ev.egress_rules_of[cid]
    for rid in rule_ids:
        compiled = ev.rules[rid]
        rule = compiled.rule
        if not rule.valid:
            continue
        if rule.peers is None:
            peer = None
        else:
            peer = next(
                (
                    j
                    for j in range(len(rule.peers))
                    if (other_class is not None and compiled.peer_classes[j] >> other_class & 1)
                    or (other_class is None and other.ip in compiled.peer_ips[j])
                ),
                -1,
            )
            if peer < 0:
                continue
        if rule.ports is None:
            port_index = None
        else:
            port_index = next(
                (k for k, spec in enumerate(rule.ports) if spec.resolve(named).has(port, protocol)),
                -1,
            )
            if port_index < 0:
                continue
        result.allowed_by.append(RuleMatch(compiled.policy.key, rule.index, peer, port_index))
    if cilium is not None:
        for r, j in cilium_allows:
            result.allowed_by.append(RuleMatch(r.policy.key, r.rule.index, j, None))
    if result.allowed_by:
        result.reason = f"allowed by {len(result.allowed_by)} rule(s)"
    else:
        result.allowed = False
        result.reason = f"isolated by {', '.join(isolating)}; no {direction} rule allows it"
    return _cilium_deny(result)


def _cilium_side(cilium, ev, result, direction, cid, other, other_class, port, protocol, named):
    """The Cilium rules about class ``cid`` that match: allows kept for the caller, the
    first deny noted, and what the engine cannot decide (L7, FQDN...) named."""
    allows = []
    other_ip = other.ip if other.pod is None else None
    for rid in cilium.own[direction][cid]:
        r = cilium.rules[rid]
        j = cilium.matches(ev, rid, other_class, other_ip, port, protocol, named)
        if j is not None:
            allows.append((r, j))
            result.depends_on += [f"{r.label}: {u}" for u in r.rule.undecided if "rule" in u]
        elif r.rule.undecided and cilium_ports(r.rule, named).has(port, protocol):
            result.depends_on += [
                f"{r.label} ({u}): the engine cannot decide it" for u in r.rule.undecided
            ]
    for rid in cilium.own_deny[direction][cid]:
        r = cilium.rules[rid]
        j = cilium.matches(ev, rid, other_class, other_ip, port, protocol, named)
        if j is not None:
            result.denied_by = f"{r.label} (peer {r.rule.peers[j].text if r.rule.peers else 'any'})"
            break
    return allows


def _cilium_deny(result: DirectionVerdict) -> DirectionVerdict:
    """A Cilium deny overrides every allow, of any kind."""
    if result.denied_by:
        result.allowed = False
        result.reason = f"denied by {result.denied_by}: deny rules override every allow"
    return result


def _tiered(ev: Evaluation, direction: str, pod: Pod, other: Endpoint, port: int, protocol: str):
    """One side through the tiers: Admin, NetworkPolicy, Baseline, default (tiers.py)."""
    np = _direction(ev, direction, pod, other, port, protocol)
    if other.pod is None and other.node and other.node == pod.node_name:
        return np  # a pod and its own node: always allowed, whatever the tiers say
    cid = ev.class_of[pod.key]
    other_class = ev.class_of[other.pod.key] if other.pod is not None else None
    dst_pod = pod if direction == INGRESS else other.pod
    named = dst_pod.named_ports if dst_pod is not None else frozenset()
    steps: list[str] = []
    depends: list[str] = []
    deciders: dict[str, str] = {}  # tier -> the key of the policy whose rule decided

    def decide(tier: str):
        match, domains = ev.tiers.first_match(
            ev, tier, direction, cid, other_class, other.ip, port, protocol, named
        )
        depends.extend(
            f"{r.policy.key} rule {r.rule.label} (Accept domainNames "
            f"{', '.join(r.rule.domains)}): the engine cannot resolve names"
            for r in domains
        )
        if match is None:
            steps.append(f"{tier} tier: no rule about {pod.key} matches")
            return None
        r, j = match
        deciders[tier] = r.policy.key
        steps.append(
            f"{tier} tier: {r.policy.key} rule {r.rule.label} {r.rule.action} at priority "
            f"{r.policy.priority} (peer {r.rule.peers[j].text})"
        )
        return r.rule.action

    def done(allowed: bool, tier: str, reason: str):
        if np.denied_by:  # a Cilium deny overrides every tier
            steps.append(f"Cilium deny: {np.denied_by}")
            allowed, tier, reason = False, "Cilium deny", f"denied by {np.denied_by}"
        np.allowed, np.decided_by, np.reason = allowed, tier, reason
        np.decided_policy = deciders.get(tier, "")
        np.tiers = steps
        np.depends_on = np.depends_on + (depends if not allowed else [])
        if tier != "NetworkPolicy":
            np.allowed_by = []
        return np

    action = decide(ADMIN)
    if action in (ACCEPT, DENY):
        steps.append("NetworkPolicy tier not reached")
        return done(action == ACCEPT, ADMIN, f"{action} in the Admin tier")
    if action == PASS:
        steps[-1] += ": passed to the NetworkPolicy tier"
    if np.isolated:
        steps.append(f"NetworkPolicy tier: {np.reason}")
        return done(np.allowed, "NetworkPolicy", np.reason)
    steps.append(f"NetworkPolicy tier: no NetworkPolicy isolates {pod.key} for {direction}")
    action = decide(BASELINE)
    if action == DENY:
        return done(False, BASELINE, "Deny in the Baseline tier")
    if action is None:
        return done(True, "default", "no tier decides: allowed by default")
    return done(True, BASELINE, f"{action} in the Baseline tier")


def _calico(ev: Evaluation, direction: str, pod: Pod, other: Endpoint, port: int, protocol: str):
    """One side through Calico's tiers (calico.py): the first matching rule decides, Pass
    goes to the next tier, a tier that selected the pod ends with its default action, and
    the namespace's profile allows the rest. The cluster-wide tiers are Calico's
    Calico's own (``kube-admin``, ``kube-baseline``...); a Cilium deny overrides all."""
    calico = ev.calico
    cid = ev.class_of[pod.key]
    result = DirectionVerdict(direction=direction, pod=pod.key, isolated=False, allowed=True)
    if other.pod is None and other.node and other.node == pod.node_name:
        result.reason = "traffic between a pod and its own node is always allowed"
        return result
    applied = [t for t in calico.order if calico.applies[direction][t] >> cid & 1]
    result.isolated = bool(applied)
    # What isolates it: the policies of the tiers ending in Deny that select it.
    result.isolating_policies = [
        key
        for t in applied
        if calico.tiers[t].default_action == "Deny"
        for key in calico.selecting(direction, t, cid)
    ]
    dst_pod = pod if direction == INGRESS else other.pod
    named = dst_pod.named_ports if dst_pod is not None else frozenset()
    other_class = ev.class_of[other.pod.key] if other.pod is not None else None
    cilium = getattr(ev, "cilium", None)
    if cilium is not None:
        _cilium_side(cilium, ev, result, direction, cid, other, other_class, port, protocol, named)
    steps = result.tiers

    def name(tier: str) -> str:
        place = calico.cluster_tier.get(tier)
        return f"{place} tier" if place else f"Calico tier {tier}"

    def done(allowed: bool, decided_by: str, reason: str, tier=None, rule=None):
        later = applied[applied.index(tier) + 1 :] if tier is not None else []
        if later:
            steps.append(f"not reached: {', '.join(name(t) for t in later)}")
        result.allowed, result.decided_by, result.reason = allowed, decided_by, reason
        if rule is not None:
            result.decided_policy = rule.policy.key
            if allowed:
                result.allowed_by.append(RuleMatch(rule.policy.key, rule.index, None, None))
        if result.denied_by:
            steps.append(f"Cilium deny: {result.denied_by}")
            result.decided_by = "Cilium deny"
            result.decided_policy = result.denied_by.split(" ", 1)[0]
            result.allowed_by = []
        return _cilium_deny(result)

    result.depends_on += _calico_undecided(
        calico, direction, cid, other_class is not None, port, protocol, named
    )
    for tier in applied:
        r = calico.first_match(tier, direction, cid, other_class, other.ip, port, protocol, named)
        if r is None:
            action = calico.tiers[tier].default_action
            steps.append(f"{name(tier)}: no rule about {pod.key} matches: {action}")
            if action == "Deny":
                # Those of this tier that select the pod decided: name them.
                result.isolating_policies = calico.selecting(direction, tier, cid)
                selected_by = ", ".join(result.isolating_policies)
                reason = (
                    f"default action Deny at the tier's end (it selects {pod.key}: {selected_by})"
                )
                return done(False, name(tier), reason, tier)
            continue
        steps.append(f"{name(tier)}: {r.label}")
        if r.action == "Pass":
            continue
        decided_by = calico.cluster_tier.get(tier, name(tier))
        return done(r.action == "Allow", decided_by, r.label, tier, r)
    return done(True, "profile", "no Calico tier decides: the namespace's profile allows it")


def _calico_undecided(calico, direction, cid, to_pod, port, protocol, named) -> list[str]:
    """The rules of the walk about class ``cid`` on this port that hold a part the engine
    cannot decide (a Calico HTTP match, services or source ports; a ClusterNetworkPolicy
    domainNames peer, unless the other end is a pod: a name never resolves to one): the
    answer depends on them."""
    out = []
    for rid in calico.own[direction][cid]:
        r = calico.rules[rid]
        if r.rule is not None:
            parts = r.rule.undecided + r.rule.source.undecided + r.rule.destination.undecided
        elif not to_pod:
            parts = tuple(f"domainNames {d}" for d in getattr(r.np_ports.rule, "domains", ()))
        else:
            parts = ()
        if parts and r.ports_for(named).has(port, protocol):
            out.append(f"{r.label} ({', '.join(parts)}): the engine cannot decide it")
    return out
