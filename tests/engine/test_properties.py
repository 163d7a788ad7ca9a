"""Property tests: on random small clusters the class/bitset evaluation, ``reach`` and the
matrix agree with the plain per-pod reference evaluation.

Run thousands of examples with ``HYPOTHESIS_PROFILE=thorough``.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netpol.engine import ClusterModel
from netpol.engine import reference as ref
from netpol.engine.ipsets import ip_to_int
from netpol.engine.model import ACTIVE

NAMESPACES = ["a", "b", "c"]
LABELS = {"app": ["web", "db"], "tier": ["fe", "be"]}
NS_LABELS = {"env": ["x", "y"], "team": ["t"]}
NAMED = [
    ("http", "TCP", 80),
    ("http", "TCP", 8080),
    ("http", "UDP", 53),
    ("dns", "UDP", 53),
    ("dns", "TCP", 53),
]
CIDRS = [
    "10.0.0.0/24",
    "10.0.0.0/16",
    "10.0.1.0/24",
    "0.0.0.0/0",
    "fd00::/120",
    "::/0",
    "10.0.0.8/29",
]
EXCEPTS = ["10.0.0.0/28", "10.0.1.0/25", "fd00::/124", "10.0.0.4/30"]
PROBE_IPS = [
    "10.0.0.3",
    "10.0.0.9",
    "10.0.1.5",
    "10.0.1.200",
    "8.8.8.8",
    "fd00::3",
    "fd00::99",
    "2001:db8::1",
]


def labels(vocab):
    # One strategy per set of keys, built once: building strategies inside a draw is
    # what made these tests slow (hypothesis validates each new strategy).
    values = {}

    def values_for(keys):
        key = tuple(keys)
        if key not in values:
            values[key] = st.fixed_dictionaries({k: st.sampled_from(vocab[k]) for k in key})
        return values[key]

    return st.dictionaries(
        st.sampled_from(sorted(vocab)), st.none(), max_size=1 if vocab is LABELS else 2
    ).flatmap(values_for)


def selector(vocab):
    keys = sorted(vocab)
    values = sorted({v for vs in vocab.values() for v in vs})
    expression = st.one_of(
        st.fixed_dictionaries(
            {
                "key": st.sampled_from(keys),
                "operator": st.sampled_from(["In", "NotIn"]),
                "values": st.lists(st.sampled_from(values), min_size=1, max_size=2),
            }
        ),
        st.fixed_dictionaries(
            {"key": st.sampled_from(keys), "operator": st.sampled_from(["Exists", "DoesNotExist"])}
        ),
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "matchLabels": labels(vocab),
            "matchExpressions": st.lists(expression, max_size=2),
        },
    )


peer = st.one_of(
    st.fixed_dictionaries({"podSelector": selector(LABELS)}),
    st.fixed_dictionaries({"namespaceSelector": selector(NS_LABELS)}),
    st.fixed_dictionaries(
        {"podSelector": selector(LABELS), "namespaceSelector": selector(NS_LABELS)}
    ),
    st.fixed_dictionaries(
        {
            "ipBlock": st.fixed_dictionaries(
                {"cidr": st.sampled_from(CIDRS)},
                optional={"except": st.lists(st.sampled_from(EXCEPTS), max_size=2)},
            )
        }
    ),
)


@st.composite
def port_entry(draw):
    entry = {}
    if draw(st.booleans()):
        entry["protocol"] = draw(st.sampled_from(["TCP", "UDP", "SCTP"]))
    port = draw(st.sampled_from([None, 53, 80, 443, 8080, "http", "http", "dns", "nope"]))
    if port is not None:
        entry["port"] = port
        if isinstance(port, int) and draw(st.booleans()):
            entry["endPort"] = port + draw(st.integers(0, 500))
    return entry


def rules(peers_key):
    rule = st.fixed_dictionaries(
        {},
        optional={
            peers_key: st.lists(peer, max_size=2),
            "ports": st.lists(port_entry(), max_size=2),
        },
    )
    return st.one_of(st.none(), st.lists(rule, max_size=2))


# The strategies a cluster draws from, built once rather than in every draw.
NS_LABELS_ST = labels(NS_LABELS)
POD_LABELS_ST = labels(LABELS)
POD_SELECTOR_ST = selector(LABELS)
RULES_ST = {key: rules(key) for key in ("from", "to")}
NAMESPACE_OF = {n: st.sampled_from(NAMESPACES[:n]) for n in range(1, len(NAMESPACES) + 1)}
POD_KIND = st.sampled_from(["running"] * 6 + ["dual"] * 2 + ["template", "host", "pending"])
POD_PORTS = st.lists(st.sampled_from(NAMED), max_size=2, unique_by=lambda p: (p[0], p[1]))
POLICY_TYPES = st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]])


@st.composite
def clusters(draw):
    namespaces = [
        {"metadata": {"name": n, "labels": draw(NS_LABELS_ST)}}
        for n in NAMESPACES[: draw(st.integers(1, 3))]
    ]
    names = [n["metadata"]["name"] for n in namespaces]
    namespace_of = NAMESPACE_OF[len(names)]
    pods = []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(POD_KIND)
        ips = [] if kind in ("template", "pending") else [f"10.0.{draw(st.integers(0, 1))}.{i + 1}"]
        if kind == "dual":
            ips.append(f"fd00::{i + 1}")
        ports = draw(POD_PORTS)
        pods.append(
            {
                "metadata": {
                    "name": f"p{i}",
                    "namespace": draw(namespace_of),
                    "labels": draw(POD_LABELS_ST),
                    **(
                        {"annotations": {"netpol-auditor.io/from-template": "true"}}
                        if kind == "template"
                        else {}
                    ),
                },
                "spec": {
                    "hostNetwork": kind == "host",
                    "containers": [
                        {
                            "ports": [
                                {"name": n, "protocol": p, "containerPort": c} for n, p, c in ports
                            ]
                        }
                    ],
                },
                "status": {
                    "phase": "Pending" if kind == "pending" else "Running",
                    "podIPs": [{"ip": x} for x in ips],
                },
            }
        )
    policies = []
    for i in range(draw(st.integers(0, 4))):
        spec = {"podSelector": draw(POD_SELECTOR_ST)}
        types = draw(POLICY_TYPES)
        if types is not None:
            spec["policyTypes"] = types
        for direction, key in (("ingress", "from"), ("egress", "to")):
            value = draw(RULES_ST[key])
            if value is not None:
                spec[direction] = value
        policies.append(
            {
                "metadata": {"name": f"np{i}", "namespace": draw(namespace_of)},
                "spec": spec,
            }
        )
    return ClusterModel.from_objects(namespaces=namespaces, pods=pods, policies=policies)


@given(clusters())
def test_isolation_matches_reference(model):
    for row in model.isolation():
        pod = model.pod(row.pod)
        if pod.state == ACTIVE:
            assert (row.ingress_isolated, row.egress_isolated) == ref.isolation(model.policies, pod)
        expected = [p.key for p in model.policies if ref.selects(p, pod)]
        assert row.policies == expected


@given(clusters())
def test_allowed_set_and_reach_match_reference(model):
    pods = [p for p in model.pods if p.state == ACTIVE]
    probes = ref.interesting_ports(model.policies, model.pods)
    allowed = model.allowed_connections()
    for src in pods:
        for dst in pods:
            if src is dst:
                continue
            for protocol, port in probes:
                expected = ref.connection_allowed(
                    model.policies, model.namespaces, src, dst, port, protocol
                )
                assert allowed.allows(src.key, dst.key, port, protocol) == expected, (
                    src.key,
                    dst.key,
                    protocol,
                    port,
                )
                assert model.reach(src.key, dst.key, port, protocol).allowed == expected


@given(clusters())
def test_address_traffic_matches_reference(model):
    ev = model.evaluation
    allowed = model.allowed_connections()
    egress = {c: g for g in ev.egress_ips() for c in g.classes}
    probes = ref.interesting_ports(model.policies, model.pods)
    for pod in (p for p in model.pods if p.state == ACTIVE):
        c = ev.class_of[pod.key]
        entries = allowed.groups[allowed.group_of[c]].entries
        for text in PROBE_IPS:
            address = ip_to_int(text)
            for protocol, port in probes:
                got_in = any(e.ports.has(port, protocol) and address in e.ips for e in entries)
                assert got_in == ref.ingress_allowed(
                    model.policies, model.namespaces, address, pod, port, protocol
                )
                got_out = any(
                    ports.has(port, protocol) and address in ips for ports, ips in egress[c].entries
                )
                assert got_out == ref.egress_allowed(
                    model.policies, model.namespaces, pod, address, port, protocol
                )


@given(clusters(), st.sampled_from(["TCP", "UDP", "SCTP"]))
def test_any_port_matrix_matches_reference(model, protocol):
    m = model.matrix(protocol=protocol)
    active = {p.key: p for p in model.pods if p.state == ACTIVE}
    assert m["pods"] == sorted(active)
    probes = [
        port
        for proto, port in ref.interesting_ports(model.policies, model.pods)
        if proto == protocol
    ]
    for i, a in enumerate(m["pods"]):
        for j, b in enumerate(m["pods"]):
            expected = i == j or any(
                ref.connection_allowed(
                    model.policies, model.namespaces, active[a], active[b], port, protocol
                )
                for port in probes
            )
            assert m["matrix"][i][j] == expected


@given(clusters(), st.sampled_from(["namespace", "workload"]), st.sampled_from(["TCP", "UDP"]))
def test_grouped_matrix_matches_the_pod_matrix_aggregated(model, by, protocol):
    from tests.engine.test_grouped_matrix import _reference

    assert model.grouped_matrix(by, None, protocol) == _reference(model, by, None, protocol)
