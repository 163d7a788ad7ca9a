"""The four answers on the fixture cluster: isolation, reach explanations, the allowed set
(with the matrix and graph edges) and external exposure."""

from __future__ import annotations

import json

import pytest

from netpol.collect.normalize import normalize
from netpol.engine import ClusterModel, InputError
from netpol.engine.ipsets import IPSet

from .conftest import build, cluster_objects

POLICIES = """
kind: NetworkPolicy
metadata: {name: deny-all, namespace: prod}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
kind: NetworkPolicy
metadata: {name: api, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: db}}}]
  - from:
    - podSelector: {matchLabels: {tier: frontend}}
    - namespaceSelector: {matchLabels: {env: dev}}
    ports: [{port: 22}, {port: http}]
---
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [169.254.169.254/32]}}], ports: [{port: 443}]}]
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]
"""


@pytest.fixture
def model():
    return build(POLICIES, declared_cidrs=["10.96.0.0/12"])


def test_isolation_per_pod(model):
    rows = {r.pod: r for r in model.isolation()}
    assert list(rows) == sorted(rows)
    assert rows["prod/api"].to_dict() == {
        "pod": "prod/api",
        "state": "active",
        "category": "isolated",
        "ingress_isolated": True,
        "egress_isolated": True,
        "policies": ["prod/deny-all", "prod/api"],
        "reason": "",
    }
    assert rows["dev/web"].category == "not isolated"
    assert rows["prod/worker"].category == "isolated"  # from a template: treated as running
    # hostNetwork: its own category, never protected or unprotected.
    agent = rows["prod/agent"]
    assert (agent.category, agent.ingress_isolated, agent.egress_isolated) == (
        "policy behaviour undefined",
        None,
        None,
    )
    assert agent.policies == ["prod/deny-all", "prod/web"]
    assert rows["prod/pending"].category == "no traffic"
    assert "has no IP" in rows["prod/pending"].reason
    assert "Succeeded" in rows["prod/done"].reason


def test_reach_explains_allowing_rule(model):
    v = model.reach("dev/web", "prod/api", 9090, "TCP")
    assert v.allowed
    d = v.to_dict()
    json.dumps(d)
    assert d["egress"]["isolated"] is False
    assert d["ingress"]["allowed_by"] == [{"policy": "prod/api", "rule": 1, "peer": 1, "port": 1}]
    assert d["ingress"]["isolating_policies"] == ["prod/deny-all", "prod/api"]


def test_reach_explains_denial(model):
    v = model.reach("prod/api", "prod/web", 443)
    assert v.outcome == "denied"
    assert v.egress.allowed is False
    assert v.egress.isolating_policies == ["prod/deny-all"]  # "api" has no egress side
    assert "no egress rule allows it" in v.egress.reason
    assert v.ingress.allowed and v.ingress.allowed_by[0].policy == "prod/web"
    assert "DENIED" in v.text()


def test_reach_lists_every_allowing_rule(model):
    v = model.reach("prod/db", "prod/api", 22)
    assert [m.to_dict() for m in v.ingress.allowed_by] == [
        {"policy": "prod/api", "rule": 0, "peer": 0, "port": None}
    ]
    assert not v.allowed  # db's own egress is denied by deny-all


def test_reach_with_addresses(model):
    assert model.reach("203.0.113.9", "prod/web", 443).allowed
    assert not model.reach("169.254.169.254", "prod/web", 443).allowed
    assert model.reach("prod/web", "93.184.216.34", 443).allowed
    assert not model.reach("prod/web", "10.9.0.1", 443).allowed
    # An address of a known pod is that pod.
    v = model.reach("prod/web", "10.1.0.2", 9090)
    assert v.dst.pod.key == "prod/api" and v.allowed
    assert model.reach("1.1.1.1", "2.2.2.2", 80).reason.startswith("no pod")


def test_reach_outside_enforcement(model):
    v = model.reach("prod/agent", "prod/api", 9090)
    assert (v.outcome, v.allowed) == ("undefined", False)
    assert "hostNetwork" in v.reason
    v = model.reach("prod/web", "prod/pending", 80)
    assert v.outcome == "no traffic"


def test_reach_bad_input(model):
    with pytest.raises(InputError, match="no pod"):
        model.reach("prod/nope", "prod/api", 80)
    with pytest.raises(InputError, match="neither"):
        model.reach("garbage", "prod/api", 80)
    with pytest.raises(InputError, match="protocol"):
        model.reach("prod/web", "prod/api", 80, "ICMP")
    with pytest.raises(InputError, match="port"):
        model.reach("prod/web", "prod/api", 0)


def test_matrix(model):
    m = model.matrix(port=9090)
    # hostNetwork, pending and finished pods are left out; template pods stay.
    assert m["pods"] == [
        "dev/web",
        "kube-system/dns",
        "monitoring/prom",
        "prod/api",
        "prod/db",
        "prod/web",
        "prod/worker",
    ]
    i = {p: n for n, p in enumerate(m["pods"])}
    assert m["matrix"][i["prod/web"]][i["prod/api"]] is True
    assert m["matrix"][i["dev/web"]][i["prod/api"]] is True
    assert m["matrix"][i["prod/db"]][i["prod/api"]] is False  # db egress denied
    assert all(m["matrix"][k][k] for k in range(len(m["pods"])))
    for a in m["pods"]:
        for b in m["pods"]:
            assert m["matrix"][i[a]][i[b]] == model.reach(a, b, 9090).allowed
    # Without a port: any port of the protocol.
    any_port = model.matrix()
    assert any_port["matrix"][i["prod/web"]][i["prod/api"]] is True
    assert model.matrix(protocol="SCTP")["matrix"][i["dev/web"]][i["prod/api"]] is False


def test_allowed_set_json_and_edges(model):
    allowed = model.allowed_connections()
    data = allowed.to_dict()
    json.dumps(data)
    api_class = model.evaluation.class_of["prod/api"]
    group = next(g for g in data["groups"] if api_class in g["destinations"])
    # db may not send (deny-all egress); web and dev/web reach api on 22 and "http".
    [entry] = group["allow"]
    assert entry["ports"] == ["TCP/22", "TCP/9090"] and entry["ipBlocks"] == []
    sources = {
        p for a, b in entry["sources"] for c in range(a, b + 1) for p in data["classes"][c]["pods"]
    }
    assert sources == {"prod/web", "dev/web"}
    edges = {(e["from"], e["to"]): e["ports"] for e in allowed.edges("namespace")}
    # dev/web's address is inside web's 0.0.0.0/0 ipBlock, hence 443.
    assert edges[("dev", "prod")] == ["TCP/22", "TCP/443", "TCP/9090"]
    assert ("monitoring", "prod") in edges and ("prod", "dev") not in edges
    assert edges[("ipBlock:0.0.0.0/1", "prod")] == ["TCP/443"]
    workload = {(e["from"], e["to"]) for e in allowed.edges("workload")}
    assert ("dev/Pod/web", "prod/Pod/api") in workload


def test_external_exposure(model):
    exposure = model.external_exposure()
    web = exposure.of_pod("prod/web")
    assert web["ingress"][0]["ports"] == ["TCP/443"]
    seen = _ips(web["ingress"][0]["cidrs"])
    assert seen.contains_ip("1.2.3.4") and not seen.contains_ip("169.254.169.254")
    # Declared (10.96.0.0/12) and inferred (node podCIDRs and addresses) ranges are inside.
    for inside in ("10.96.0.1", "10.1.77.1", "10.2.0.1", "192.168.0.11"):
        assert not seen.contains_ip(inside)
    assert seen.contains_ip("10.3.0.1")  # in no cluster range: external
    assert web["egress"][0]["ports"] == ["TCP/443"]
    assert model.external_exposure().of_pod("prod/api") == {"ingress": [], "egress": []}
    dev = exposure.of_pod("dev/web")
    assert dev["ingress"][0]["ports"] == ["TCP/*", "UDP/*", "SCTP/*"]
    assert _ips(dev["egress"][0]["cidrs"]).contains_ip("2001:db8::1")
    data = exposure.to_dict()
    json.dumps(data)
    assert all("prod/api" not in g["pods"] for g in data["groups"])


def _ips(cidrs):
    out = IPSet()
    for c in cidrs:
        out = out | IPSet.from_cidr(c)
    return out


def test_cluster_ranges_inferred_from_nodes_services_and_declared():
    service = {"metadata": {"name": "s", "namespace": "prod"}, "spec": {"clusterIP": "10.96.0.10"}}
    model = build(services=[service], declared_cidrs=["172.20.0.0/16"])
    inside = model.cluster_ranges()
    for address in (
        "10.1.200.1",
        "10.2.3.4",
        "192.168.0.11",
        "10.96.0.10",
        "172.20.1.1",
        "fd00:1::9",
    ):
        assert inside.contains_ip(address), address
    for address in ("10.3.0.1", "8.8.8.8", "172.21.0.1"):
        assert not inside.contains_ip(address), address


def test_records_and_raw_objects_mean_the_same():
    """Snapshots store normalised records; ``to_api()`` must rebuild the same meaning."""
    objs = cluster_objects()
    policies = [
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "prod"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                        "ports": [{"port": "pg"}],
                    }
                ],
            },
        }
    ]
    raw = ClusterModel.from_objects(objs["namespaces"], objs["pods"], objs["nodes"], policies)
    records = ClusterModel.from_objects(
        [normalize("Namespace", o) for o in objs["namespaces"]],
        [normalize("Pod", o) for o in objs["pods"]],
        [normalize("Node", o) for o in objs["nodes"]],
        [normalize("NetworkPolicy", o) for o in policies],
    )
    for port in (None, 5432, 8080):
        assert raw.matrix(port) == records.matrix(port)
    assert [i.to_dict() for i in raw.isolation()] == [i.to_dict() for i in records.isolation()]
    assert raw.external_exposure().to_dict() == records.external_exposure().to_dict()


def test_implicit_namespace_gets_name_label():
    pod = {
        "metadata": {"name": "a", "namespace": "ghost"},
        "status": {"phase": "Running", "podIP": "10.0.0.1"},
    }
    other = {
        "metadata": {"name": "b", "namespace": "x"},
        "status": {"phase": "Running", "podIP": "10.0.0.2"},
    }
    policy = {
        "metadata": {"name": "p", "namespace": "x"},
        "spec": {
            "podSelector": {},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "ghost"}
                            }
                        }
                    ]
                }
            ],
        },
    }
    model = ClusterModel.from_objects(pods=[pod, other], policies=[policy])
    assert model.reach("ghost/a", "x/b", 80).allowed
