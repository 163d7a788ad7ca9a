"""Property tests for Cilium policies in mixed clusters: on random small clusters mixing
NetworkPolicies, ClusterNetworkPolicies/AdminNetworkPolicies and Cilium policies (allow
and deny rules, entities, CIDRs, named ports, enableDefaultDeny), the class/bitset
evaluation, ``reach`` and the matrix agree with the plain per-pod reference
(``reference.full_connection_allowed``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netpol.engine import ClusterModel, PolicyError
from netpol.engine import reference as ref
from netpol.engine.cilium import parse_cilium_policy
from netpol.engine.model import ACTIVE, parse_node
from netpol.engine.tiers import parse_cluster_policy
from tests.engine.agreement import address_traffic_agrees, pod_pairs_agree
from tests.engine.test_cnp_properties import ADDRESSES, NODES, cluster_policy
from tests.engine.test_properties import CIDRS, EXCEPTS, LABELS, NAMESPACES, clusters, selector

POD_SEL = selector(LABELS)
NS_KEY = st.sampled_from(
    [
        {},
        {"k8s:io.kubernetes.pod.namespace": "a"},
        {"io.kubernetes.pod.namespace": "b"},
        {"io.cilium.k8s.namespace.labels.env": "x"},
        {"any:io.cilium.k8s.namespace.labels.team": "t"},
    ]
)


@st.composite
def endpoint_selector(draw):
    sel = dict(draw(POD_SEL))
    extra = draw(NS_KEY)
    if extra:
        sel["matchLabels"] = {**(sel.get("matchLabels") or {}), **extra}
    return sel


ENTITY = st.sampled_from(["world", "cluster", "all", "remote-node", "host", "kube-apiserver"])
PORT = st.one_of(
    st.fixed_dictionaries(
        {"port": st.sampled_from(["53", "80", "443", "8080", "0"])},
        optional={
            "protocol": st.sampled_from(["TCP", "UDP", "ANY"]),
            "endPort": st.sampled_from([90, 8443]),
        },
    ).filter(lambda p: "endPort" not in p or int(p["port"]) <= p["endPort"] and p["port"] != "0"),
    st.fixed_dictionaries(
        {"port": st.sampled_from(["http", "dns"])},
        optional={"protocol": st.sampled_from(["TCP", "UDP"])},
    ),
)
TO_PORTS = st.lists(
    st.fixed_dictionaries({"ports": st.lists(PORT, min_size=1, max_size=2)}), max_size=1
)


@st.composite
def cilium_rule(draw, direction):
    p = "from" if direction == "ingress" else "to"
    l3 = draw(st.sampled_from(["endpoints", "entities", "cidr", "cidrset", "fqdn", "none"]))
    rule = {}
    if l3 == "endpoints":
        rule[f"{p}Endpoints"] = draw(st.lists(endpoint_selector(), min_size=1, max_size=2))
    elif l3 == "entities":
        rule[f"{p}Entities"] = draw(st.lists(ENTITY, min_size=1, max_size=2))
    elif l3 == "cidr":
        rule[f"{p}CIDR"] = draw(
            st.lists(st.sampled_from(CIDRS + ["192.168.0.0/24"]), min_size=1, max_size=2)
        )
    elif l3 == "cidrset":
        entry = {"cidr": draw(st.sampled_from(CIDRS))}
        if draw(st.booleans()):
            entry["except"] = [draw(st.sampled_from(EXCEPTS))]
        rule[f"{p}CIDRSet"] = [entry]
    elif l3 == "fqdn" and direction == "egress":
        rule["toFQDNs"] = [{"matchName": "example.com"}]
    ports = draw(TO_PORTS)
    if ports:
        rule["toPorts"] = ports
    return rule


@st.composite
def cilium_policy(draw, i):
    clusterwide = draw(st.booleans())
    spec = {"endpointSelector": draw(endpoint_selector())}
    for direction in ("ingress", "egress"):
        for key in (direction, f"{direction}Deny"):
            if draw(st.booleans()):
                spec[key] = draw(st.lists(cilium_rule(direction), max_size=2))
    if draw(st.integers(0, 3)) == 0:
        spec["enableDefaultDeny"] = {
            "ingress": draw(st.booleans()),
            "egress": draw(st.booleans()),
        }
    md = {"name": f"cil{i}"}
    if not clusterwide:
        md["namespace"] = draw(st.sampled_from(NAMESPACES))
    kind = "CiliumClusterwideNetworkPolicy" if clusterwide else "CiliumNetworkPolicy"
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": md, "spec": spec}


@st.composite
def mixed(draw):
    base = draw(clusters())
    cluster = []
    for i in range(draw(st.integers(0, 2))):
        policy, _ = parse_cluster_policy(draw(cluster_policy(i)), PolicyError)
        if policy is not None:
            cluster.append(policy)
    cilium = []
    for i in range(draw(st.integers(1, 3))):
        found, _ = parse_cilium_policy(draw(cilium_policy(i)), PolicyError)
        cilium += found
    return ClusterModel(
        namespaces=list(base.namespaces.values()),
        pods=base.pods,
        nodes=[parse_node(n) for n in NODES],
        policies=base.policies,
        cluster_policies=cluster,
        cilium_policies=cilium,
    )


def probes(model):
    return sorted(
        set(ref.interesting_ports(model.policies, model.pods))
        | set(ref.tier_ports(model.cluster_policies))
        | set(ref.cilium_ports(model.cilium_policies))
    )


def expected(model, src, dst, port, protocol):
    return ref.full_connection_allowed(
        model.policies,
        model.cluster_policies,
        model.cilium_policies,
        model.namespaces,
        model.nodes,
        model._cluster_ips,
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
    address_traffic_agrees(model, ADDRESSES, probes(model), lambda *ask: expected(model, *ask))


@given(mixed(), st.sampled_from(["TCP", "UDP"]))
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
