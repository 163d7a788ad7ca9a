"""What every check needs from the engine, computed once per audit.

Everything is read from the engine's evaluation (pod classes, per-policy selections as
bitsets, compiled rules with the classes and addresses their peers match): the checks
never re-read policies with simpler semantics, and never loop over pod pairs.
"""

from __future__ import annotations

from functools import cached_property

from netpol.engine import (
    ALL_IPS,
    ALL_PORTS,
    DENY_ACTION,
    EGRESS,
    INGRESS,
    ClusterModel,
    CompiledRule,
    IPSet,
    Pod,
    Policy,
    PortSet,
    Selector,
    int_to_ip,
    ip_to_int,
)

from .finding import pod_ref, workload_ref

DNS_LABEL = ("k8s-app", "kube-dns")


def _v4(cidr: str) -> IPSet:
    return IPSet.from_cidr(cidr)


# Public unicast space: IPv4 minus the private, shared, loopback, link-local, multicast
# and reserved blocks; IPv6 global unicast (2000::/3). Documentation ranges count as
# public (examples use them as stand-ins for the internet).
_NOT_PUBLIC_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/3",
]
ALL_V4 = _v4("0.0.0.0/0")
PUBLIC_V4 = ALL_V4
for _c in _NOT_PUBLIC_V4:
    PUBLIC_V4 = PUBLIC_V4 - _v4(_c)
PUBLIC_V6 = _v4("2000::/3")
PUBLIC = PUBLIC_V4 | PUBLIC_V6


def sample_ip(ips: IPSet) -> str | None:
    """One address of the set (its first, skipping a network address when possible)."""
    if not ips:
        return None
    lo, hi = ips.ranges[0]
    return int_to_ip(lo + 1 if hi - lo > 2 else lo)


class Facts:
    def __init__(self, model: ClusterModel):
        self.model = model
        self.ev = ev = model.evaluation
        self.compiled: dict[tuple[int, str, int], CompiledRule] = {
            (c.policy.id, c.direction, c.rule.index): c for c in ev.rules
        }
        self.policies_by_ns: dict[str, list[Policy]] = {}
        for policy in model.policies:
            self.policies_by_ns.setdefault(policy.namespace, []).append(policy)
        self.pods_by_ns: dict[str, list[Pod]] = {}
        for pod in model.pods:
            self.pods_by_ns.setdefault(pod.namespace, []).append(pod)
        self._class_workloads: dict[int, list[str]] = {}
        self._selected_refs: dict[int, list[str]] = {}
        self.cache: dict[str, dict] = {}  # per-check memo tables

    @cached_property
    def tier_restricted(self) -> dict[str, int]:
        """Per direction, the classes a cluster-wide policy (Admin or Baseline tier)
        isolates: a Deny rule about them whose peers hold every pod, on every port. Like a
        NetworkPolicy default deny, what its tier allows before it stays allowed."""
        out = {INGRESS: 0, EGRESS: 0}
        tiers, every = self.ev.tiers, self.ev.all
        if tiers is None:
            return out
        for rule in tiers.rules:
            r = rule.rule
            if r.action == DENY_ACTION and r.ports is None and rule.classes & every == every:
                out[rule.direction] |= rule.subject
        return out

    # -- classes and pods --------------------------------------------------------------

    def pod_count(self, classes: int) -> int:
        """Running pods in a class set; memoised, as many rules match the same classes."""
        table = self.cache.setdefault("pod_count", {})
        hit = table.get(classes)
        if hit is None:
            pods = self.ev.classes
            hit = table[classes] = sum(len(pods[c].pods) for c in self.ev.classes_in(classes))
        return hit

    def pod_other_than(self, classes: int, me: Pod | None) -> Pod | None:
        """A pod of the class set other than ``me``, lowest class first, without listing
        every pod of the set."""
        while classes:
            c = self.ev.first_class(classes)
            found = next((p for p in self.ev.classes[c].pods if p is not me), None)
            if found is not None:
                return found
            classes &= ~(1 << c)
        return None

    def first_pod(self, classes: int) -> Pod | None:
        """The first pod (by name) of the lowest class of a class set."""
        c = self.ev.first_class(classes)
        return None if c is None else self.first_pod_of_class(c)

    def first_pod_of_class(self, c: int) -> Pod:
        return min(self.ev.classes[c].pods, key=lambda p: p.name)

    def workload_refs(self, bits: int) -> list[str]:
        """Sorted ``Kind/ns/name`` of the workloads of the classes in ``bits``."""
        refs = set()
        for c in self.ev.classes_in(bits):
            hit = self._class_workloads.get(c)
            if hit is None:
                hit = self._class_workloads[c] = sorted(
                    {workload_ref(p.namespace, p.workload_id) for p in self.ev.classes[c].pods}
                )
            refs.update(hit)
        return sorted(refs)

    def selected(self, policy: Policy) -> int:
        return self.ev.selected[policy.id]

    def selected_refs(self, policy: Policy) -> list[str]:
        hit = self._selected_refs.get(policy.id)
        if hit is None:
            hit = self._selected_refs[policy.id] = self.workload_refs(self.selected(policy))
        return hit

    @staticmethod
    def group_by_workload(pods: list[Pod]) -> dict[tuple[str, str], list[Pod]]:
        out: dict[tuple[str, str], list[Pod]] = {}
        for pod in pods:
            out.setdefault((pod.namespace, pod.workload_id), []).append(pod)
        for members in out.values():
            members.sort(key=lambda p: p.name)
        return dict(sorted(out.items()))

    @staticmethod
    def objects_of(namespace: str, workload: str, pods: list[Pod]) -> list[str]:
        refs = [pod_ref(p) for p in pods]
        head = workload_ref(namespace, workload)
        return refs if workload.startswith("Pod/") else [head, *refs]

    # -- namespaces ----------------------------------------------------------------------

    @cached_property
    def namespace_names(self) -> list[str]:
        return sorted(self.model.namespaces)

    def namespaces_matching(self, selector: Selector) -> list[str]:
        return self.model.namespaces_matching(selector)

    # -- addresses -----------------------------------------------------------------------

    @cached_property
    def inside(self) -> IPSet:
        return self.model.cluster_ranges()

    @cached_property
    def outside(self) -> IPSet:
        return ALL_IPS - self.inside

    @cached_property
    def pod_service_ranges(self) -> IPSet:
        """Pod and Service addresses: declared pod and service CIDRs, the pod ranges (node
        podCIDRs, or inferred from pod IPs), pod IPs (not hostNetwork) and service cluster
        IPs. Node addresses are left out."""
        m = self.model
        cidrs = [*m.declared.pod, *m.declared.service, *m.pod_ranges[0]]
        ranges = [IPSet.from_cidr(c).ranges[0] for c in cidrs]
        singles = [v for pod in m.pods if not pod.host_network for v in pod.ip_values]
        singles += [ip_to_int(a) for svc in m.services for a in svc.cluster_ips]
        return IPSet(ranges + [(v, v + 1) for v in singles])

    @cached_property
    def service_ips(self) -> IPSet:
        values = [ip_to_int(a) for svc in self.model.services for a in svc.cluster_ips]
        return IPSet([(v, v + 1) for v in values])

    # -- rules ---------------------------------------------------------------------------

    def rules(self, direction: str | None = None):
        """(policy, direction, rule, compiled) for every valid rule, in policy order."""
        for policy in self.model.policies:
            for d, rules in ((INGRESS, policy.ingress), (EGRESS, policy.egress)):
                if direction is not None and d != direction:
                    continue
                for rule in rules:
                    if rule.valid:
                        yield policy, d, rule, self.compiled[policy.id, d, rule.index]

    @staticmethod
    def ports_to_address(compiled: CompiledRule) -> PortSet:
        """Ports a rule allows towards an address (a port name never matches one)."""
        return compiled.ports_for(frozenset())

    def ports_to_classes(self, compiled: CompiledRule, bits: int) -> PortSet:
        """Ports a rule allows towards the destination classes in ``bits``."""
        if compiled.fixed_ports is not None:
            return compiled.fixed_ports
        out = PortSet()
        seen = set()
        for c in self.ev.classes_in(bits):
            named = self.ev.classes[c].named_ports
            if named not in seen:
                seen.add(named)
                out = out | compiled.ports_for(named)
        return out

    # -- DNS -----------------------------------------------------------------------------

    @cached_property
    def dns_classes(self) -> list[int]:
        """Classes of the active cluster DNS pods (k8s-app: kube-dns), kube-system first."""
        key, value = DNS_LABEL
        found = [c for c in self.ev.classes if c.labels.get(key) == value]
        found.sort(key=lambda c: (c.namespace != "kube-system", c.id))
        return [c.id for c in found]

    @cached_property
    def outside_ip(self) -> str | None:
        """An address outside the cluster, public when possible: a stand-in for "anyone"."""
        return sample_ip(self.outside & PUBLIC) or sample_ip(self.outside)

    def rule_probe(self, policy: Policy, direction: str, compiled, peer, other) -> dict | None:
        """A connection the rule allows between a pod it applies to and ``other`` (a Pod, an
        address, or a class bitset to pick a pod from), checked by direction: the other side's policies may still deny it."""
        me = self.first_pod(self.selected(policy))
        if isinstance(other, int):  # classes: any pod of them but ``me``
            other = self.pod_other_than(other, me)
        if me is None or other is None or other is me:
            return None
        if isinstance(other, Pod):
            dst_named = me.named_ports if direction == INGRESS else other.named_ports
            other_key = other.key
        else:
            dst_named = me.named_ports if direction == INGRESS else frozenset()
            other_key = other
        port = first_port(compiled.ports_for(dst_named))
        if port is None:
            return None
        src, dst = (other_key, me.key) if direction == INGRESS else (me.key, other_key)
        via = {"policy": policy.key, "rule": compiled.rule.index, "peer": peer}
        return probe(src, dst, port[1], port[0], expect="allowed", direction=direction, via=via)


def probe(src, dst, port: int, protocol: str, *, expect: str, direction=None, via=None) -> dict:
    """A connection that demonstrates a finding, for ``model.reach`` to confirm.

    ``direction`` "ingress"/"egress": ``expect`` is that direction's verdict (and ``via``
    the policy/rule/peer that must be among its ``allowed_by``); None: the whole verdict.
    """
    out = {"src": src, "dst": dst, "port": port, "protocol": protocol, "expect": expect}
    if direction is not None:
        out["direction"] = direction
    if via is not None:
        out["via"] = via
    return out


def ports_text(ports: PortSet) -> str:
    """ "every port", or "TCP/80, UDP/53"."""
    if ports == ALL_PORTS:
        return "every port"
    return ", ".join(ports.describe())


def ips_text(ips: IPSet, limit: int = 5) -> str:
    """ "every public IPv4 address", or the CIDRs (the first few)."""
    parts = []
    rest = ips
    for name, space in (("IPv4", PUBLIC_V4), ("IPv6", PUBLIC_V6)):
        if space.issubset(rest):
            parts.append(f"every public {name} address")
            rest = rest - space
    cidrs = rest.to_cidrs(limit + 1)
    if cidrs:
        shown = ", ".join(cidrs[:limit])
        parts.append(shown + (" and more ranges" if len(cidrs) > limit else ""))
    return " and ".join(parts)


def first_port(ports: PortSet) -> tuple[str, int] | None:
    """A representative (protocol, port): TCP first, then the lowest port."""
    if not ports:
        return None
    samples = ports.samples()
    return samples[0]


def rule_identity(policy: Policy, direction: str, rule) -> dict:
    """A rule by its content, not its index: inserting a rule above keeps fingerprints."""
    return {
        "policy": policy.key,
        "direction": direction,
        "peers": [p.to_dict() for p in rule.peers] if rule.peers is not None else None,
        "ports": [p.to_dict() for p in rule.ports] if rule.ports is not None else None,
    }


def rule_field(direction: str, index: int) -> str:
    return f"spec.{direction}[{index}]"


def peers_key(direction: str) -> str:
    return "from" if direction == INGRESS else "to"
