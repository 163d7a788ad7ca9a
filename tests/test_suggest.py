"""Least-privilege suggestions from observed flows (issue 14): the generator's semantics on
hand-written flows, its verification, a property test, and ``netaudit suggest``'s contract.

The expected policies follow the NetworkPolicy documentation
(https://kubernetes.io/docs/concepts/services-networking/network-policies/): a policy
selecting pods with both policyTypes isolates them both ways, allowed traffic is the union
of the rules; a peer with namespaceSelector and podSelector in one entry means those pods
of those namespaces; a named port in an ingress rule is the selected pod's, in an egress
rule the destination pod's; ipBlock CIDRs name addresses outside the pods.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netpol import load_paths
from netpol.engine import ClusterModel, InputError, parse_policy
from netpol.flows import replay
from netpol.flows.judge import Judge
from netpol.suggest import SuggestionError, suggest
from tests.test_cli import netaudit  # noqa: F401  (the fixture)

HERE = Path(__file__).parent / "fixtures" / "suggest"
CLUSTER = HERE / "cluster"
CSV = HERE / "flows.csv"
HUBBLE = HERE / "hubble.json"


@pytest.fixture(scope="module")
def model():
    return load_paths([CLUSTER])


@pytest.fixture(scope="module")
def replayed(model):
    return replay(model, [CSV]).to_dict()


def policy(result, name):
    found = [p for p in result.policies if p["metadata"]["name"] == name]
    assert found, [p["metadata"]["name"] for p in result.policies]
    return found[0]["spec"]


DNS_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    # coredns names its ports: the rule uses the names (resolved on the destination pods).
    "ports": [{"protocol": "TCP", "port": "dns-tcp"}, {"protocol": "UDP", "port": "dns"}],
}


def test_one_policy_per_workload_with_observed_peers(model, replayed):
    result = suggest(model, replayed, namespace="shop")
    assert [p["metadata"]["name"] for p in result.policies] == [
        "least-privilege-deployment-api",
        "least-privilege-deployment-web",
        "least-privilege-statefulset-db",
    ]
    api = policy(result, "least-privilege-deployment-api")
    # The shortest of the shared labels that selects the same pods; no pod-template-hash.
    assert api["podSelector"] == {"matchLabels": {"app": "api"}}
    assert api["policyTypes"] == ["Ingress", "Egress"]
    # web (same namespace) and worker (batch) use the same port: one rule, two peers;
    # api's pods name 9000 "http", so the ingress rule says http.
    assert api["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "batch"}},
                    "podSelector": {"matchLabels": {"app": "worker"}},
                },
                {"podSelector": {"matchLabels": {"app": "web"}}},
            ],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]
    # DNS first, always; the observed DNS flow adds no rule of its own; db names no port.
    assert api["egress"] == [
        DNS_RULE,
        {
            "to": [{"ipBlock": {"cidr": "198.51.100.20/32"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        {
            "to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
            "ports": [{"protocol": "TCP", "port": 5432}],
        },
    ]


def test_unstable_labels_are_left_out(model, replayed):
    db = policy(
        suggest(model, replayed, workload="shop/StatefulSet/db"), "least-privilege-statefulset-db"
    )
    assert db["podSelector"] == {"matchLabels": {"app": "db"}}  # not pod-name nor revision hash


def test_addresses_are_merged_only_into_blocks_wholly_observed(model, replayed):
    web = policy(suggest(model, replayed, namespace="shop"), "least-privilege-deployment-web")
    # .4-.7 were all seen: one /30; .9 alone (.8 was not seen, so no /29).
    assert web["ingress"] == [
        {
            "from": [
                {"ipBlock": {"cidr": "203.0.113.4/30"}},
                {"ipBlock": {"cidr": "203.0.113.9/32"}},
            ],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]


def test_a_conversation_only_seen_refused_is_not_allowed(model, replayed):
    result = suggest(model, replayed, namespace="shop")
    db = policy(result, "least-privilege-statefulset-db")
    peers = [peer for rule in db["ingress"] for peer in rule["from"]]
    assert peers == [{"podSelector": {"matchLabels": {"app": "api"}}}]  # web's was DROPPED
    assert "1 conversation(s) the flows only saw refused are not allowed" in result.notes


def test_verification_figures_and_what_it_closes(model, replayed):
    result = suggest(model, replayed, namespace="shop")
    # Every line touches shop; one is only seen DROPPED: 11 (DNS included).
    assert result.verified == {"conversations": 11, "flows": 11, "denied": 0, "opened": 0}
    assert result.summary().startswith(
        "verified against 11 observed conversations (11 flows), 0 denied"
    )
    # No policy isolated anything before: the suggestion closes what no flow used, e.g.
    # worker reaching db, and never an observed one.
    closed = {(c["from"], c["to"]) for c in result.closes}
    assert ("batch/ReplicaSet/worker-4b2", "shop/StatefulSet/db") in closed
    # api keeps db's 5432 only: every other port of that pair is closed.
    api_db = [
        c["ports"]
        for c in result.closes
        if c["from"] == "shop/Deployment/api" and c["to"] == "shop/StatefulSet/db"
    ]
    assert api_db == [["TCP/1-5431", "TCP/5433-65535", "UDP/*", "SCTP/*"]]
    # One-pod api reaching itself is its loopback: not a connection it loses.
    assert ("shop/Deployment/api", "shop/Deployment/api") not in closed
    assert ("shop/Deployment/web", "shop/Deployment/web") in closed  # two pods
    assert result.closes_total == len(result.closes)
    # The changed model allows every verified conversation again (checked independently).
    changed = model.with_policies(add=[parse_policy(p)[0] for p in result.policies])
    judge = Judge(changed)
    for c in replayed["allowed"]:
        if c["to"] == "shop/db-0" and c["from"] == "shop/web-5d8f7-a":
            assert judge.decide(c["from"], c["to"], c["port"], c["protocol"]).outcome == "denied"
        else:
            assert judge.decide(c["from"], c["to"], c["port"], c["protocol"]).outcome == "allowed"


def test_a_workload_whose_labels_select_another_is_skipped(model, replayed):
    result = suggest(model, replayed, namespace="batch")
    assert result.policies == []
    assert result.skipped == [
        {
            "workload": "batch/ReplicaSet/worker-4b2",
            "reason": "its labels app=worker also select batch/Pod/debug",
        }
    ]


def test_scope_errors_and_no_traffic(model, replayed):
    with pytest.raises(InputError, match="'shop/Deployment/nope': no such workload"):
        suggest(model, replayed, workload="shop/Deployment/nope")
    with pytest.raises(InputError, match="'nope': no such namespace"):
        suggest(model, replayed, namespace="nope")
    quiet = suggest(model, replayed, workload="batch/Pod/debug")
    assert quiet.policies == [] and quiet.verified["conversations"] == 0


def test_a_wrong_suggestion_is_never_returned(model, replayed, monkeypatch):
    from netpol import suggest as module

    # A generator that forgets every ingress peer would deny observed traffic.
    real = module._rules
    monkeypatch.setattr(
        module, "_rules", lambda ns, peers, side: [] if side == "from" else real(ns, peers, side)
    )
    with pytest.raises(SuggestionError) as caught:
        suggest(model, replayed, namespace="shop")
    assert caught.value.denied and all(d["to"].startswith("shop/") for d in caught.value.denied)


def test_hubble_flows_give_the_same_rules(model, tmp_path):
    # ``hubble observe -o json`` lines, shaped as Hubble's flow.Flow documentation shows.
    result = suggest(model, replay(model, [HUBBLE]).to_dict(), workload="shop/Deployment/api")
    api = policy(result, "least-privilege-deployment-api")
    assert api["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]
    assert api["egress"] == [DNS_RULE]
    assert result.verified["denied"] == 0 and result.verified["conversations"] == 2


# --- the property: a suggestion never denies an observed flow -----------------------------


def _cluster(rng: random.Random) -> ClusterModel:
    namespaces = ["a", "b"]
    pods, ip = [], 10
    for ns in namespaces:
        for w in range(rng.randint(1, 3)):
            labels = {"app": f"w{w}"} if rng.random() < 0.8 else {"app": "shared"}
            if rng.random() < 0.5:
                labels["tier"] = rng.choice(["x", "y"])
            for i in range(rng.randint(1, 2)):
                ports = [{"name": "web", "containerPort": 80}] if rng.random() < 0.5 else []
                pods.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": f"w{w}-h{ns}-{i}",
                            "namespace": ns,
                            "labels": {**labels, "pod-template-hash": f"h{ns}"},
                            "ownerReferences": [
                                {"kind": "ReplicaSet", "name": f"w{w}-h{ns}", "controller": True}
                            ],
                        },
                        "spec": {"containers": [{"name": "c", "ports": ports}]},
                        "status": {"phase": "Running", "podIP": f"10.0.0.{ip}"},
                    }
                )
                ip += 1
    policies = []
    for n in range(rng.randint(0, 3)):  # existing policies the suggestion adds to
        ns = rng.choice(namespaces)
        spec = {"podSelector": rng.choice([{}, {"matchLabels": {"app": "w0"}}])}
        types = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        spec["policyTypes"] = types
        if "Ingress" in types and rng.random() < 0.7:
            spec["ingress"] = [{"from": [{"podSelector": {"matchLabels": {"app": "w1"}}}]}]
        if "Egress" in types and rng.random() < 0.7:
            spec["egress"] = [{"ports": [{"port": 80}]}]
        policies.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"p{n}", "namespace": ns},
                "spec": spec,
            }
        )
    return ClusterModel.from_objects(
        namespaces=[{"metadata": {"name": ns}} for ns in namespaces], pods=pods, policies=policies
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.sampled_from([None, "a", "b"]))
def test_property_a_suggestion_never_denies_an_observed_flow(seed, namespace):
    rng = random.Random(seed)
    model = _cluster(rng)
    keys = [p.key for p in model.pods]
    judge = Judge(model)
    allowed = []
    for _ in range(rng.randint(1, 12)):
        src = rng.choice(keys + ["192.0.2.7"])
        dst = rng.choice(keys + ["198.51.100.1"])
        port, protocol = rng.choice([80, 443, 53]), rng.choice(["TCP", "UDP"])
        if src == dst or "/" not in src + dst:
            continue
        if judge.decide(src, dst, port, protocol).outcome == "allowed":
            allowed.append(
                {
                    "from": src,
                    "to": dst,
                    "port": port,
                    "protocol": protocol,
                    "flows": 1,
                    "observed": {"allowed": 1},
                }
            )
    result = suggest(
        model, {"allowed": allowed, "denied": []}, namespace=namespace
    )  # no SuggestionError
    assert result.verified["denied"] == 0
    changed = model.with_policies(add=[parse_policy(p)[0] for p in result.policies])
    after = Judge(changed)
    for c in allowed:
        assert after.decide(c["from"], c["to"], c["port"], c["protocol"]).outcome == "allowed", c


# --- netaudit suggest -------------------------------------------------------------------------


def test_cli_yaml_is_kubectl_applicable_with_a_header(netaudit):  # noqa: F811
    run = netaudit("suggest", CLUSTER, "--flows", CSV, "--namespace", "shop")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "# Least-privilege NetworkPolicies suggested by netaudit for namespace shop"
    assert lines[1] == "# Verified against 11 observed conversations (11 flows), 0 denied."
    assert lines[2].startswith("# Closes ") and lines[2].endswith(
        "workload connections no observed flow used."
    )
    docs = [d for d in yaml.safe_load_all(run.out) if d]
    assert [(d["kind"], d["metadata"]["namespace"]) for d in docs] == [
        ("NetworkPolicy", "shop")
    ] * 3
    assert all(d["apiVersion"] == "networking.k8s.io/v1" for d in docs)


def test_cli_json_contract(netaudit):  # noqa: F811
    run = netaudit(
        "suggest", CLUSTER, "--flows", CSV, "--workload", "shop/Deployment/api", "--format", "json"
    )
    assert run.code == 0, run.err
    d = run.json()
    assert set(d) == {
        "scope",
        "policies",
        "skipped",
        "verified",
        "still_denied",
        "closes",
        "closes_total",
        "notes",
    }
    assert d["scope"] == {"workload": "shop/Deployment/api", "text": "workload shop/Deployment/api"}
    assert d["verified"] == {"conversations": 6, "flows": 6, "denied": 0, "opened": 0}
    assert [p["metadata"]["name"] for p in d["policies"]] == ["least-privilege-deployment-api"]
    for c in d["closes"]:
        assert set(c) == {"from", "to", "ports"}


def test_cli_exit_statuses(netaudit):  # noqa: F811
    quiet = netaudit("suggest", CLUSTER, "--flows", CSV, "--workload", "batch/Pod/debug")
    assert quiet.code == 1 and quiet.out == ""
    assert "no observed traffic for workload batch/Pod/debug: nothing to suggest" in quiet.err
    bad = netaudit("suggest", CLUSTER, "--flows", CSV, "--workload", "shop/Deployment/nope")
    assert (
        bad.code == 2 and "--workload workload 'shop/Deployment/nope': no such workload" in bad.err
    )
    both = netaudit("suggest", CLUSTER, "--flows", CSV, "--workload", "a/B/c", "--namespace", "a")
    assert both.code == 2
    missing = netaudit("suggest", CLUSTER, "--flows", HERE / "nope.csv")
    assert missing.code == 2 and "nope.csv" in missing.err


def test_cli_a_failed_verification_shows_nothing(netaudit, monkeypatch):  # noqa: F811
    from netpol import suggest as module

    real = module._rules
    monkeypatch.setattr(
        module, "_rules", lambda ns, peers, side: [] if side == "from" else real(ns, peers, side)
    )
    run = netaudit("suggest", CLUSTER, "--flows", CSV, "--namespace", "shop")
    assert run.code == 3 and run.out == ""
    assert "nothing shown, the suggestion would deny" in run.err


def test_flows_the_snapshot_denies_but_the_cni_forwarded_are_counted_as_opened(tmp_path):
    # The snapshot has a default deny in shop the flows contradict (FORWARDED): an older
    # snapshot, or a policy not applied yet. The suggestion allows what was observed and
    # says how many of those the snapshot denies today.
    (tmp_path / "cluster.yaml").write_text((CLUSTER / "cluster.yaml").read_text())
    (tmp_path / "deny.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: default-deny, namespace: shop}\n"
        "spec: {podSelector: {}, policyTypes: [Ingress]}\n"
    )
    model = load_paths([tmp_path])
    result = suggest(model, replay(model, [CSV]).to_dict(), workload="shop/Deployment/api")
    # Into api: web-a, web-b, worker (denied today); out of api: db is denied too
    # (ingress of db), the address and DNS are not.
    assert result.verified == {"conversations": 5, "flows": 5, "denied": 0, "opened": 3}
    # api -> db stays denied by db's side (the default deny), outside the suggestion.
    assert [(c["from"], c["to"]) for c in result.still_denied] == [
        ("shop/api-6c9a1-a", "shop/db-0")
    ]


def test_node_and_ipv6_addresses_are_ip_blocks(tmp_path):
    # The kubelet's node address (a probe) and IPv6 peers: ipBlock /32 and /128.
    (tmp_path / "cluster.yaml").write_text((CLUSTER / "cluster.yaml").read_text())
    (tmp_path / "node.yaml").write_text(
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\nspec: {podCIDR: 10.0.0.0/16}\n"
        "status: {addresses: [{type: InternalIP, address: 192.168.1.5}]}\n"
    )
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "time,src_ns,src_pod,src_ip,dst_ns,dst_pod,dst_ip,port,protocol,verdict\n"
        "2025-06-01T10:00:00Z,,,192.168.1.5,shop,api-6c9a1-a,10.0.1.20,9000,TCP,FORWARDED\n"
        "2025-06-01T10:00:01Z,shop,api-6c9a1-a,10.0.1.20,,,2001:db8::7,443,TCP,FORWARDED\n"
    )
    model = load_paths([tmp_path / "cluster.yaml", tmp_path / "node.yaml"])
    result = suggest(model, replay(model, [flows]).to_dict(), workload="shop/Deployment/api")
    api = policy(result, "least-privilege-deployment-api")
    assert api["ingress"] == [
        {
            "from": [{"ipBlock": {"cidr": "192.168.1.5/32"}}],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]
    assert api["egress"][1:] == [
        {
            "to": [{"ipBlock": {"cidr": "2001:db8::7/128"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        }
    ]
    assert result.verified["conversations"] == 2 and result.verified["denied"] == 0
