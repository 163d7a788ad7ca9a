"""Property tests for the cluster-wide tiers: on random small clusters mixing
NetworkPolicies with ClusterNetworkPolicies, AdminNetworkPolicies and a
BaselineAdminNetworkPolicy, the class/bitset evaluation, ``reach`` and the matrix agree
with the plain per-pod reference (``reference.tiered_connection_allowed``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netpol.engine import ClusterModel, PolicyError
from netpol.engine import reference as ref
from netpol.engine.ipsets import ip_to_int
from netpol.engine.model import ACTIVE, parse_node
from netpol.engine.tiers import parse_cluster_policy
from tests.engine.agreement import pod_pairs_agree
from tests.engine.test_properties import CIDRS, LABELS, NS_LABELS, PROBE_IPS, clusters, selector

NODES = [
    {
        "metadata": {"name": "n1", "labels": {"zone": "a"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}]},
    },
    {
        "metadata": {"name": "n2", "labels": {"zone": "b"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.2"}]},
    },
]
ADDRESSES = PROBE_IPS + ["192.168.0.1", "192.168.0.2"]

NS_SEL = selector(NS_LABELS)
POD_SEL = selector(LABELS)
NODE_SEL = st.sampled_from([{}, {"matchLabels": {"zone": "a"}}, {"matchLabels": {"zone": "c"}}])
NAMESPACED_POD = st.fixed_dictionaries({"namespaceSelector": NS_SEL, "podSelector": POD_SEL})
IN_PEER = st.one_of(
    st.fixed_dictionaries({"namespaces": NS_SEL}),
    st.fixed_dictionaries({"pods": NAMESPACED_POD}),
)
OUT_PEER = st.one_of(
    IN_PEER,
    st.fixed_dictionaries({"networks": st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2)}),
    st.fixed_dictionaries({"nodes": NODE_SEL}),
    st.just({"domainNames": ["example.com"]}),
    st.just({}),  # no known field: fail closed
)
NUMBERS = st.sampled_from([53, 80, 443, 8080])


@st.composite
def v1alpha2_protocol(draw):
    kind = draw(st.sampled_from(["tcp", "udp", "sctp", "named"]))
    if kind == "named":
        return {"destinationNamedPort": draw(st.sampled_from(["http", "dns", "nope"]))}
    choice = draw(st.sampled_from(["none", "number", "range"]))
    if choice == "none":
        return {kind: {}}
    if choice == "number":
        return {kind: {"destinationPort": {"number": draw(NUMBERS)}}}
    lo = draw(NUMBERS)
    return {
        kind: {"destinationPort": {"range": {"start": lo, "end": lo + draw(st.integers(1, 500))}}}
    }


@st.composite
def v1alpha1_port(draw):
    kind = draw(st.sampled_from(["portNumber", "namedPort", "portRange"]))
    protocol = draw(st.sampled_from(["TCP", "UDP"]))
    if kind == "namedPort":
        return {"namedPort": draw(st.sampled_from(["http", "dns"]))}
    lo = draw(NUMBERS)
    if kind == "portNumber":
        return {"portNumber": {"protocol": protocol, "port": lo}}
    return {"portRange": {"protocol": protocol, "start": lo, "end": lo + draw(st.integers(1, 500))}}


def rule_st(peer, actions, ports_key, port):
    return st.fixed_dictionaries(
        {
            "action": st.sampled_from(actions),
            "from" if peer is IN_PEER else "to": st.lists(peer, min_size=1, max_size=2),
        },
        optional={ports_key: st.lists(port, min_size=1, max_size=2)},
    )


@st.composite
def cluster_policy(draw, i):
    kind = draw(st.sampled_from(["ClusterNetworkPolicy"] * 3 + ["AdminNetworkPolicy"]))
    v1 = kind == "AdminNetworkPolicy"
    actions = ["Allow", "Deny", "Pass"] if v1 else ["Accept", "Deny", "Pass"]
    ports_key, port = ("ports", v1alpha1_port()) if v1 else ("protocols", v1alpha2_protocol())
    subject = draw(
        st.one_of(
            st.fixed_dictionaries({"namespaces": NS_SEL}),
            st.fixed_dictionaries({"pods": NAMESPACED_POD}),
        )
    )
    spec = {"priority": draw(st.sampled_from([0, 10, 10, 500])), "subject": subject}
    if not v1:
        spec["tier"] = draw(st.sampled_from(["Admin", "Baseline"]))
    for direction, peer in (("ingress", IN_PEER), ("egress", OUT_PEER)):
        rules = draw(st.lists(rule_st(peer, actions, ports_key, port), max_size=3))
        if rules:
            spec[direction] = rules
    return {"kind": kind, "metadata": {"name": f"c{i}"}, "spec": spec}


@st.composite
def banp(draw):
    ports_key, port = "ports", v1alpha1_port()
    spec = {"subject": {"namespaces": draw(NS_SEL)}}
    for direction, peer in (("ingress", IN_PEER), ("egress", OUT_PEER)):
        rules = draw(st.lists(rule_st(peer, ["Allow", "Deny"], ports_key, port), max_size=2))
        if rules:
            spec[direction] = rules
    return {"kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": spec}


@st.composite
def mixed(draw):
    base = draw(clusters())
    objects = [draw(cluster_policy(i)) for i in range(draw(st.integers(0, 4)))]
    if draw(st.booleans()):
        objects.append(draw(banp()))
    parsed = []
    for obj in objects:
        policy, _ = parse_cluster_policy(obj, PolicyError)
        if policy is not None:
            parsed.append(policy)
    return ClusterModel(
        namespaces=list(base.namespaces.values()),
        pods=base.pods,
        nodes=[parse_node(n) for n in NODES],
        policies=base.policies,
        cluster_policies=parsed,
    )


def probes(model):
    return sorted(
        set(ref.interesting_ports(model.policies, model.pods))
        | set(ref.tier_ports(model.cluster_policies))
    )


def expected(model, src, dst, port, protocol):
    return ref.tiered_connection_allowed(
        model.policies,
        model.cluster_policies,
        model.namespaces,
        model.nodes,
        src,
        dst,
        port,
        protocol,
    )


@given(mixed())
def test_allowed_set_and_reach_match_reference(model):
    pod_pairs_agree(model, probes(model), lambda *ask: expected(model, *ask))


@given(mixed())
def test_address_traffic_matches_reference(model):
    ev = model.evaluation
    allowed = model.allowed_connections()
    egress = {c: g for g in ev.egress_ips() for c in g.classes}
    args = (model.policies, model.cluster_policies, model.namespaces, model.nodes)
    for pod in (p for p in model.pods if p.state == ACTIVE):
        c = ev.class_of[pod.key]
        entries = allowed.groups[allowed.group_of[c]].entries
        for text in ADDRESSES:
            address = ip_to_int(text)
            for protocol, port in probes(model):
                got_in = any(e.ports.has(port, protocol) and address in e.ips for e in entries)
                assert got_in == ref.side_allowed(*args, pod, address, port, protocol, "ingress"), (
                    "ingress",
                    pod.key,
                    text,
                    protocol,
                    port,
                )
                got_out = any(
                    ports.has(port, protocol) and address in ips for ports, ips in egress[c].entries
                )
                assert got_out == ref.side_allowed(*args, pod, address, port, protocol, "egress"), (
                    "egress",
                    pod.key,
                    text,
                    protocol,
                    port,
                )


@given(mixed(), st.sampled_from(["TCP", "UDP", "SCTP"]))
def test_any_port_matrix_matches_reference(model, protocol):
    m = model.matrix(protocol=protocol)
    active = {p.key: p for p in model.pods if p.state == ACTIVE}
    ports = [port for proto, port in probes(model) if proto == protocol]
    for i, a in enumerate(m["pods"]):
        for j, b in enumerate(m["pods"]):
            want = i == j or any(
                expected(model, active[a], active[b], port, protocol) for port in ports
            )
            assert m["matrix"][i][j] == want
