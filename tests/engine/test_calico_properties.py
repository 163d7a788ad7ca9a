"""Property tests for Calico's tiers: on random small clusters mixing Kubernetes
NetworkPolicies with Calico NetworkPolicies, GlobalNetworkPolicies and Tiers (orders,
Allow/Deny/Pass/Log, default actions, nets, selectors, ports), NetworkSets and
GlobalNetworkSets, and pods running as several ServiceAccounts (``serviceAccountSelector``,
rules' ``serviceAccounts``), the class/bitset evaluation, ``reach`` and the matrix agree
with the plain per-pod reference (``reference.calico_connection_allowed``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netpol.engine import ClusterModel, PolicyError
from netpol.engine import reference as ref
from netpol.engine.calico import parse_calico_policy, parse_network_set, parse_tier
from tests.engine.agreement import address_traffic_agrees, pod_pairs_agree
from tests.engine.test_properties import CIDRS, NAMESPACES, PROBE_IPS, clusters

SELECTORS = st.sampled_from(
    [
        "all()",
        "app == 'web'",
        "app != 'db'",
        "has(tier)",
        "tier in {'fe', 'x'}",
        "!has(app)",
        # network sets' labels, several times: what selectors match by address
        "role == 'a'",
        "role == 'a'",
        "has(role)",
        "has(role) || app == 'db'",
        "global()",
        # the labels Calico gives every pod
        "projectcalico.org/namespace == 'b'",
        "projectcalico.org/namespace in {'a', 'c'} && app == 'web'",
        "has(projectcalico.org/orchestrator)",
    ]
)
# Selectors of network sets' labels (role, app=db), some of pods' too.
SET_SELECTORS = st.sampled_from(
    ["role == 'a'", "has(role)", "role == 'a' || app == 'web'", "app == 'db'", "all()"]
)
NS_SELECTORS = st.sampled_from(
    [
        "all()",
        "env == 'x'",
        "has(team)",
        "env != 'y'",
        "global()",
        "global() || env == 'x'",
        "projectcalico.org/name == 'a'",  # the label Calico gives every namespace
        "projectcalico.org/name != 'c'",
    ]
)
TIERS = ["default", "security", "platform"]
ACCOUNT_NAMES = ["default", "sa1", "sa2"]
ACCOUNT_SELECTORS = st.sampled_from(
    ["all()", "team == 'red'", "!has(team)", "projectcalico.org/name == 'sa1'"]
)
# Pods are at 10.0.0.1-6 and 10.0.1.1-6 (and fd00::1-6): sets at pods' addresses too.
SET_NETS = ["10.0.0.0/30", "10.0.0.4/31", "10.0.1.0/24", "8.8.8.0/24", "fd00::/120", "bad"]


@st.composite
def accounts(draw):
    out = {}
    if draw(st.booleans()):
        out["names"] = draw(st.lists(st.sampled_from(ACCOUNT_NAMES), min_size=1, max_size=2))
    if draw(st.booleans()) or not out:
        out["selector"] = draw(ACCOUNT_SELECTORS)
    return out


@st.composite
def network_set(draw, i):
    labels = {"role": draw(st.sampled_from(["a", "b"]))}
    if draw(st.booleans()):
        labels["app"] = "db"
    nets = draw(st.lists(st.sampled_from(SET_NETS), min_size=1, max_size=2))
    md = {"name": f"s{i}", "labels": labels}
    kind = "GlobalNetworkSet"
    if draw(st.booleans()):
        kind, md["namespace"] = "NetworkSet", draw(st.sampled_from(NAMESPACES))
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": kind,
        "metadata": md,
        "spec": {"nets": nets},
    }


@st.composite
def entity(draw, with_ports, dense=False):
    """``dense``: a selector of network sets' labels always, service accounts more
    often, the other fields seldom (network sets and accounts then decide more)."""
    out = {}
    rare = 7 if dense else 3
    for field, strategy, odds in (
        ("selector", SET_SELECTORS if dense else SELECTORS, 0 if dense else 3),
        ("notSelector", SELECTORS, rare),
        ("namespaceSelector", NS_SELECTORS, rare),
        ("nets", st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2), rare),
        ("notNets", st.lists(st.sampled_from(CIDRS), min_size=1, max_size=1), rare),
    ):
        if draw(st.integers(0, odds)) == 0:
            out[field] = draw(strategy)
    if draw(st.integers(0, 2 if dense else 4)) == 0:
        out["serviceAccounts"] = draw(accounts())
    if with_ports and draw(st.booleans()):
        out["ports"] = draw(
            st.lists(st.sampled_from([53, 80, 443, "8000:8100", "http", "dns"]), max_size=2)
        )
    if with_ports and draw(st.integers(0, 4)) == 0:
        out["notPorts"] = [draw(st.sampled_from([80, "8050:8060"]))]
    return out


@st.composite
def rule(draw, dense=False, direction="ingress"):
    """``dense``: the remote side (source of an ingress rule, destination of an egress
    one) is ``entity(dense=True)``."""
    out = {"action": draw(st.sampled_from(["Allow", "Allow", "Deny", "Pass", "Log"]))}
    protocol = draw(st.sampled_from([None, "TCP", "UDP", "ICMP"]))
    if protocol:
        out["protocol"] = protocol
    if draw(st.booleans()):
        out["source"] = draw(entity(False, dense and direction == "ingress"))
    if draw(st.booleans()):
        out["destination"] = draw(entity(True, dense and direction == "egress"))
    return out


@st.composite
def calico_policy(draw, i, dense=False):
    glob = draw(st.booleans())
    spec = {"selector": draw(SELECTORS), "tier": draw(st.sampled_from(TIERS))}
    if draw(st.booleans()):
        spec["order"] = draw(st.sampled_from([10, 500, 1000, 2000]))
    if glob and draw(st.booleans()):
        spec["namespaceSelector"] = draw(NS_SELECTORS)
    if draw(st.integers(0, 2 if dense else 4)) == 0:
        spec["serviceAccountSelector"] = draw(ACCOUNT_SELECTORS)
    for direction in ("ingress", "egress"):
        if draw(st.booleans()):
            spec[direction] = draw(st.lists(rule(dense, direction), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        spec["types"] = draw(st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    md = {"name": f"c{i}"}
    if not glob:
        md["namespace"] = draw(st.sampled_from(NAMESPACES))
    kind = "GlobalNetworkPolicy" if glob else "NetworkPolicy"
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": md, "spec": spec}


@st.composite
def mixed(draw, dense=False):
    base = draw(clusters())
    policies = []
    for i in range(draw(st.integers(1, 4))):
        policy, _ = parse_calico_policy(draw(calico_policy(i, dense)), PolicyError)
        if policy is not None:
            policies.append(policy)
    tiers = []
    for name in ("security", "platform"):
        if draw(st.booleans()):
            obj = {
                "apiVersion": "projectcalico.org/v3",
                "kind": "Tier",
                "metadata": {"name": name},
                "spec": {
                    "order": draw(st.sampled_from([100, 200, 2_000_000])),
                    "defaultAction": draw(st.sampled_from(["Deny", "Pass"])),
                },
            }
            tiers.append(parse_tier(obj, PolicyError)[0])
    counts = [1, 2, 3] if dense else [0, 1, 2, 3]
    network_sets = [draw(network_set(i)) for i in range(draw(st.sampled_from(counts)))]
    for pod in base.pods:
        pod.service_account = draw(st.sampled_from(ACCOUNT_NAMES))
    service_accounts = [
        {"metadata": {"name": name, "namespace": ns, "labels": {"team": team}}}
        for ns in NAMESPACES
        for name in ACCOUNT_NAMES
        if (team := draw(st.sampled_from([None, "red", "blue"]))) is not None
    ]
    return ClusterModel(
        namespaces=list(base.namespaces.values()),
        pods=base.pods,
        nodes=[],
        policies=base.policies,
        calico_policies=policies,
        calico_tiers=tiers,
        calico_network_sets=network_sets,
        service_accounts=service_accounts,
    )


def probes(model):
    out = set(ref.interesting_ports(model.policies, model.pods))
    for number in (53, 80, 443, 8000, 8050, 8060, 8100):
        for v in (number - 1, number, number + 1):
            out |= {("TCP", v), ("UDP", v)}
    return sorted(out)


def expected(model, src, dst, port, protocol):
    return ref.calico_connection_allowed(
        model.policies,
        model.calico_policies,
        model.calico_tiers,
        model.namespaces,
        src,
        dst,
        port,
        protocol,
        network_sets=[parse_network_set(o, PolicyError)[0] for o in model.calico_network_sets],
        service_accounts=model.service_accounts,
    )


@given(mixed())
def test_allowed_set_and_reach_match_reference(model):
    pod_pairs_agree(model, probes(model), lambda *ask: expected(model, *ask))


@given(mixed())
def test_address_traffic_matches_reference(model):
    address_traffic_agrees(model, PROBE_IPS, probes(model), lambda *ask: expected(model, *ask))


@given(mixed(dense=True))
def test_network_sets_and_accounts_match_reference(model):
    # Rules with selectors and service accounts more often, and always a network set.
    ask = lambda *args: expected(model, *args)  # noqa: E731
    pod_pairs_agree(model, probes(model), ask)
    address_traffic_agrees(model, PROBE_IPS, probes(model), ask)
