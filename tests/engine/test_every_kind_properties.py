"""Property tests for every policy kind together: on random small clusters mixing
Kubernetes NetworkPolicies, ClusterNetworkPolicies/AdminNetworkPolicies, Cilium policies
and Calico policies with Tiers, network sets and service accounts, the class/bitset evaluation, ``reach`` and the matrix
agree with the plain per-pod reference (``reference.every_kind_connection_allowed``),
which walks Calico's tiers with the other kinds placed where Calico puts them.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netpol.engine import ClusterModel, PolicyError
from netpol.engine import reference as ref
from netpol.engine.calico import parse_calico_policy, parse_tier
from netpol.engine.cilium import parse_cilium_policy
from netpol.engine.model import ACTIVE, parse_node
from netpol.engine.tiers import parse_cluster_policy
from tests.engine.agreement import address_traffic_agrees, pod_pairs_agree
from tests.engine.test_calico_properties import ACCOUNT_NAMES, calico_policy, network_set
from tests.engine.test_cilium_properties import cilium_policy
from tests.engine.test_cnp_properties import ADDRESSES, NODES, cluster_policy
from tests.engine.test_properties import clusters


@st.composite
def every_kind(draw):
    base = draw(clusters())
    cluster = []
    for i in range(draw(st.integers(0, 2))):
        policy, _ = parse_cluster_policy(draw(cluster_policy(i)), PolicyError)
        if policy is not None:
            cluster.append(policy)
    cilium = []
    for i in range(draw(st.integers(0, 2))):
        found, _ = parse_cilium_policy(draw(cilium_policy(i)), PolicyError)
        cilium += found
    calico = []
    dense = draw(st.booleans())  # network sets and service accounts deciding more
    for i in range(draw(st.integers(1, 3))):
        policy, _ = parse_calico_policy(draw(calico_policy(i, dense)), PolicyError)
        if policy is not None:
            calico.append(policy)
    tiers = []
    for name, orders in (
        ("security", [100, 200, 2_000_000]),
        ("kube-admin", [1_000, 50]),
        ("adminnetworkpolicy", [1_000, 2_000]),
    ):
        if draw(st.integers(0, 2)) == 0:
            obj = {
                "apiVersion": "projectcalico.org/v3",
                "kind": "Tier",
                "metadata": {"name": name},
                "spec": {
                    "order": draw(st.sampled_from(orders)),
                    "defaultAction": draw(st.sampled_from(["Deny", "Pass"])),
                },
            }
            tiers.append(parse_tier(obj, PolicyError)[0])
    network_sets = [draw(network_set(i)) for i in range(draw(st.integers(0, 2)))]
    for pod in base.pods:
        pod.service_account = draw(st.sampled_from(ACCOUNT_NAMES))
    service_accounts = [
        {"metadata": {"name": name, "namespace": pod_ns, "labels": {"team": "red"}}}
        for pod_ns in sorted({p.namespace for p in base.pods})
        for name in ACCOUNT_NAMES
        if draw(st.booleans())
    ]
    return ClusterModel(
        namespaces=list(base.namespaces.values()),
        pods=base.pods,
        nodes=[parse_node(n) for n in NODES],
        policies=base.policies,
        cluster_policies=cluster,
        cilium_policies=cilium,
        calico_policies=calico,
        calico_tiers=tiers,
        calico_network_sets=network_sets,
        service_accounts=service_accounts,
    )


def probes(model):
    out = (
        set(ref.interesting_ports(model.policies, model.pods))
        | set(ref.tier_ports(model.cluster_policies))
        | set(ref.cilium_ports(model.cilium_policies))
    )
    for number in (53, 80, 443, 8000, 8050, 8060, 8100):
        for v in (number - 1, number, number + 1):
            out |= {("TCP", v), ("UDP", v)}
    return sorted(out)


def expected(model, src, dst, port, protocol):
    return ref.every_kind_connection_allowed(model, src, dst, port, protocol)


@settings(max_examples=150)
@given(every_kind())
def test_allowed_set_and_reach_match_reference(model):
    pod_pairs_agree(model, probes(model), lambda *ask: expected(model, *ask))


@given(every_kind())
def test_address_traffic_matches_reference(model):
    address_traffic_agrees(model, ADDRESSES, probes(model), lambda *ask: expected(model, *ask))


@given(every_kind(), st.sampled_from(["TCP", "UDP"]))
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
