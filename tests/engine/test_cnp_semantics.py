"""ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy / BaselineAdminNetworkPolicy
(v1alpha1) semantics, each case written from the API's documentation (the types' doc
comments in kubernetes-sigs/network-policy-api and its site's API overview; see
docs/semantics-clusternetworkpolicy.md). Every verdict is checked against the allowed
set and the plain per-pod reference, as in test_semantics.py.
"""

from __future__ import annotations

import yaml

from netpol.engine import ClusterModel
from netpol.engine import reference as ref
from netpol.engine.model import ACTIVE
from tests.engine.conftest import cluster_objects


def build(cluster_yaml: str, policies_yaml: str = "") -> ClusterModel:
    objs = cluster_objects()
    docs = [d for d in yaml.safe_load_all(cluster_yaml) if d]
    policies = [d for d in yaml.safe_load_all(policies_yaml) if d] if policies_yaml else []
    return ClusterModel.from_objects(
        namespaces=objs["namespaces"],
        pods=objs["pods"],
        nodes=objs["nodes"],
        policies=policies,
        cluster_policies=docs,
    )


def verdict(model: ClusterModel, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
    """``reach``'s answer, checked against the allowed set and the tiered reference."""
    result = model.reach(src, dst, port, protocol).allowed
    s, d = model.endpoint(src), model.endpoint(dst)
    pods = [e.pod for e in (s, d) if e.pod is not None]
    if s.pod is not None and s.pod is d.pod or any(p.state != ACTIVE for p in pods):
        return result
    if any(e.node and e.node in {p.node_name for p in pods} for e in (s, d)):
        return result  # a pod and its own node: outside every policy
    ends = [e.pod if e.pod is not None else e.ip for e in (s, d)]
    expected = ref.tiered_connection_allowed(
        model.policies, model.cluster_policies, model.namespaces, model.nodes, *ends, port, protocol
    )
    assert result == expected, f"reach says {result}, reference says {expected}"
    ev, allowed = model.evaluation, model.allowed_connections()
    if s.pod is not None and d.pod is not None:
        fast = allowed.allows(s.pod.key, d.pod.key, port, protocol)
    elif d.pod is not None:
        group = allowed.groups[allowed.group_of[ev.class_of[d.pod.key]]]
        fast = any(e.ports.has(port, protocol) and s.ip in e.ips for e in group.entries)
    else:
        c = ev.class_of[s.pod.key]
        group = next(g for g in ev.egress_ips() if c in g.classes)
        fast = any(ports.has(port, protocol) and d.ip in ips for ports, ips in group.entries)
    assert fast == expected, f"fast evaluation says {fast}, reference says {expected}"
    return result


def cnp(name, tier, priority, subject, ingress=None, egress=None) -> str:
    spec = {"tier": tier, "priority": priority, "subject": subject}
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return yaml.safe_dump(
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


PROD = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "prod"}}}
DEV_PEER = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "dev"}}}
ALL_NS = {"namespaces": {}}
ALLOW_DEV_NP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-dev, namespace: prod}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {env: dev}}}]}]
"""
DENY_ALL_NP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: prod}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


def test_admin_deny_cannot_be_overridden_by_a_networkpolicy():
    # "The Admin tier takes precedence over all other policies ... If Admin tier has made
    # a final decision (Accept or Deny) on a connection, then no further evaluation is done."
    rules = [{"name": "no-dev", "action": "Deny", "from": [DEV_PEER]}]
    model = build(cnp("deny-dev", "Admin", 50, PROD, ingress=rules), ALLOW_DEV_NP)
    assert not verdict(model, "dev/web", "prod/web", 8080)
    v = model.reach("dev/web", "prod/web", 8080)
    assert v.ingress.decided_by == "Admin"
    assert v.ingress.tiers == [
        "Admin tier: cnp/deny-dev rule `no-dev` Deny at priority 50 (peer namespaces "
        "{kubernetes.io/metadata.name=dev})",
        "NetworkPolicy tier not reached",
    ]
    assert "cnp/deny-dev rule `no-dev` Deny at priority 50" in v.text()
    assert verdict(model, "monitoring/prom", "prod/web", 8080) is False  # the NP isolates


def test_admin_accept_overrides_a_networkpolicy_deny():
    rules = [{"name": "monitoring", "action": "Accept", "from": [{"namespaces": {}}]}]
    model = build(cnp("allow-all", "Admin", 1, PROD, ingress=rules), DENY_ALL_NP)
    assert verdict(model, "monitoring/prom", "prod/db", 5432)
    assert model.reach("monitoring/prom", "prod/db", 5432).ingress.decided_by == "Admin"


def test_pass_hands_the_connection_to_the_networkpolicy_tier():
    # Pass "skips all further ClusterNetworkPolicy rules in the current tier ... and
    # passes evaluation to the next tier"; lower-precedence Admin rules are skipped.
    policies = (
        cnp("delegate", "Admin", 10, PROD, ingress=[{"action": "Pass", "from": [DEV_PEER]}])
        + "---\n"
        + cnp("deny", "Admin", 20, PROD, ingress=[{"action": "Deny", "from": [ALL_NS]}])
    )
    model = build(policies, ALLOW_DEV_NP)
    assert verdict(model, "dev/web", "prod/web", 8080)  # passed, then allowed by the NP
    assert not verdict(model, "monitoring/prom", "prod/web", 8080)  # Deny at priority 20
    v = model.reach("dev/web", "prod/web", 8080)
    assert v.ingress.decided_by == "NetworkPolicy"
    assert "passed to the NetworkPolicy tier" in v.ingress.tiers[0]


def test_pass_without_networkpolicy_goes_to_baseline_then_default_allow():
    policies = (
        cnp("delegate", "Admin", 10, PROD, ingress=[{"action": "Pass", "from": [ALL_NS]}])
        + "---\n"
        + cnp("base", "Baseline", 10, PROD, ingress=[{"action": "Deny", "from": [DEV_PEER]}])
    )
    model = build(policies)
    assert not verdict(model, "dev/web", "prod/web", 8080)  # Baseline Deny
    assert verdict(model, "monitoring/prom", "prod/web", 8080)  # nothing decides: allowed
    assert model.reach("monitoring/prom", "prod/web", 8080).ingress.decided_by == "default"


def test_baseline_applies_only_to_pods_no_networkpolicy_isolates():
    # "Baseline tier is a cluster-wide policy that can be overridden by the v1.NetworkPolicy."
    base = cnp(
        "base",
        "Baseline",
        5,
        {"namespaces": {}},
        ingress=[{"name": "deny-dev", "action": "Deny", "from": [DEV_PEER]}],
    )
    model = build(base, ALLOW_DEV_NP)
    assert verdict(model, "dev/web", "prod/web", 8080)  # the NP decides for prod
    assert not verdict(model, "dev/web", "monitoring/prom", 9090)  # no NP: Baseline denies


def test_lower_priority_value_first_then_written_order():
    policies = (
        cnp("later", "Admin", 20, PROD, ingress=[{"action": "Deny", "from": [ALL_NS]}])
        + "---\n"
        + cnp(
            "first",
            "Admin",
            10,
            PROD,
            ingress=[
                {
                    "name": "a",
                    "action": "Accept",
                    "from": [DEV_PEER],
                    "protocols": [{"tcp": {"destinationPort": {"number": 8080}}}],
                },
                {"name": "b", "action": "Deny", "from": [DEV_PEER]},
            ],
        )
    )
    model = build(policies)
    assert verdict(model, "dev/web", "prod/web", 8080)  # rule a, priority 10
    assert not verdict(model, "dev/web", "prod/web", 8081)  # rule b
    assert not verdict(model, "monitoring/prom", "prod/web", 8080)  # priority 20


def test_egress_accept_still_needs_the_destinations_ingress():
    # Accept (egress): "No further egress ClusterNetworkPolicy or NetworkPolicy rules
    # will be processed but any ingress rules at the destination do apply."
    egress = [{"action": "Accept", "to": [{"namespaces": {}}]}]
    model = build(cnp("out", "Admin", 1, {"namespaces": {}}, egress=egress), DENY_ALL_NP)
    assert not verdict(model, "dev/web", "prod/web", 8080)
    assert verdict(model, "prod/web", "dev/web", 8081)


def test_networks_match_pod_ips_too():
    # "cluster-internal traffic will be checked against the rule as well. So if you
    # Accept or Deny traffic to "0.0.0.0/0", that will ... deny all IPv4 pod-to-pod traffic"
    egress = [{"action": "Deny", "to": [{"networks": ["10.2.0.0/16"]}]}]
    model = build(cnp("no-node2", "Admin", 1, PROD, egress=egress))
    assert not verdict(model, "prod/web", "dev/web", 8081)  # 10.2.0.1
    assert verdict(model, "prod/web", "prod/api", 9090)  # 10.1.0.2
    assert not verdict(model, "prod/web", "10.2.9.9", 443)
    assert verdict(model, "prod/web", "8.8.8.8", 443)


def test_nodes_peer_selects_node_addresses_not_pods():
    egress = [{"action": "Deny", "to": [{"nodes": {}}]}]
    model = build(cnp("no-nodes", "Admin", 1, {"namespaces": {}}, egress=egress))
    assert not verdict(model, "prod/web", "192.168.0.11", 10250)  # node-2, not its own
    assert verdict(model, "prod/web", "192.168.0.10", 10250)  # its own node: always allowed
    assert verdict(model, "prod/web", "dev/web", 8081)


def test_domain_names_cannot_be_decided_and_the_verdict_says_so():
    egress = [
        {"name": "to-example", "action": "Accept", "to": [{"domainNames": ["*.example.com"]}]},
        {"name": "rest", "action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]},
    ]
    model = build(cnp("fqdn", "Admin", 1, PROD, egress=egress))
    v = model.reach("prod/web", "93.184.216.34", 443)
    assert not v.allowed
    assert v.egress.depends_on == [
        "cnp/fqdn rule `to-example` (Accept domainNames *.example.com): the engine cannot "
        "resolve names"
    ]
    assert "depends on cnp/fqdn rule `to-example`" in v.text()


def test_named_ports_resolve_per_destination_pod():
    # destinationNamedPort "selects a destination port on a pod based on the ContainerPort name"
    ingress = [
        {"action": "Accept", "from": [ALL_NS], "protocols": [{"destinationNamedPort": "http"}]},
        {"action": "Deny", "from": [ALL_NS]},
    ]
    model = build(cnp("http-only", "Admin", 1, PROD, ingress=ingress))
    assert verdict(model, "dev/web", "prod/web", 8080)
    assert not verdict(model, "dev/web", "prod/web", 9090)
    assert verdict(model, "dev/web", "prod/api", 9090)
    assert not verdict(model, "dev/web", "prod/db", 5432)
    assert verdict(model, "dev/web", "prod/db", 5000, "UDP")  # db's http is UDP/5000


def test_port_ranges_and_protocols():
    ingress = [
        {
            "action": "Deny",
            "from": [ALL_NS],
            "protocols": [
                {"tcp": {"destinationPort": {"range": {"start": 5000, "end": 6000}}}},
                {"udp": {}},
            ],
        }
    ]
    model = build(cnp("ranges", "Admin", 1, PROD, ingress=ingress))
    assert not verdict(model, "dev/web", "prod/db", 5432)
    assert verdict(model, "dev/web", "prod/db", 6001)
    assert not verdict(model, "dev/web", "prod/db", 53, "UDP")
    assert verdict(model, "dev/web", "prod/db", 5432, "SCTP")


def test_host_network_pods_are_never_selected_and_a_pod_reaches_itself():
    deny = [{"action": "Deny", "from": [ALL_NS]}]
    model = build(cnp("deny-all", "Admin", 0, {"namespaces": {}}, ingress=deny))
    assert model.reach("prod/agent", "prod/web", 8080).outcome == "undefined"
    assert model.reach("prod/web", "prod/web", 8080).allowed  # "not subject to CNP"
    assert model.matrix(port=8080)["matrix"][0][0]


def test_v1alpha1_admin_and_baseline_admin_network_policies():
    anp = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: allow-monitoring}
spec:
  priority: 10
  subject: {namespaces: {}}
  ingress:
  - name: prometheus
    action: Allow
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports: [{portNumber: {protocol: TCP, port: 9100}}, {namedPort: http}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - {name: default-deny, action: Deny, from: [{namespaces: {}}]}
"""
    model = build(anp, DENY_ALL_NP)
    assert verdict(model, "monitoring/prom", "prod/api", 9100)  # ANP Allow beats the NP
    assert verdict(model, "monitoring/prom", "prod/api", 9090)  # named port http
    assert not verdict(model, "monitoring/prom", "prod/api", 9200)  # the NP isolates
    assert not verdict(model, "prod/web", "dev/web", 8081)  # BANP default deny
    assert not verdict(model, "monitoring/prom", "dev/web", 9200)  # dev/web: http is 8081
    assert verdict(model, "monitoring/prom", "dev/web", 8081)
    v = model.reach("prod/web", "dev/web", 8081)
    assert v.ingress.tiers[-1].startswith("Baseline tier: banp/default rule `default-deny` Deny")
    assert model.errors == []


def test_equal_priorities_that_overlap_are_reported():
    deny = [{"action": "Deny", "from": [DEV_PEER]}]
    accept = [{"action": "Accept", "from": [DEV_PEER]}]
    policies = (
        cnp("a", "Admin", 7, PROD, ingress=deny)
        + "---\n"
        + cnp("b", "Admin", 7, {"namespaces": {}}, ingress=accept)
        + "---\n"
        + cnp("c", "Baseline", 7, PROD, ingress=accept)  # other tier: no overlap
    )
    model = build(policies)
    assert [(w.policy, w.field, w.kind) for w in model.tier_warnings] == [
        ("cnp/a", "spec.priority", "ClusterNetworkPolicy")
    ]
    assert "cnp/b" in model.tier_warnings[0].message
    assert not verdict(model, "dev/web", "prod/web", 8080)  # by name: a before b


def test_fail_closed_and_invalid_policies():
    # "For Deny and Pass rules, fail closed means: treat the rule as a 'Deny all' rule";
    # for Accept rules, "treat the rule as matching no traffic".
    policies = (
        cnp("broken-pass", "Admin", 1, PROD, ingress=[{"action": "Pass", "from": [{}]}])
        + "---\n"
        + cnp(
            "broken-accept",
            "Admin",
            1,
            {"namespaces": {"matchLabels": {"team": "shop"}}},
            egress=[{"action": "Accept", "to": [{"bogus": {}}]}],
        )
        + "---\n"
        + cnp("bad-tier", "Middle", 1, PROD, ingress=[{"action": "Deny", "from": [ALL_NS]}])
    )
    model = build(policies)
    assert not verdict(model, "monitoring/prom", "prod/web", 8080)
    assert verdict(model, "dev/web", "monitoring/prom", 9090)
    fields = {(e.policy, e.field) for e in model.errors}
    assert fields == {
        ("cnp/broken-pass", "spec.ingress[0].from[0]"),
        ("cnp/broken-accept", "spec.egress[0].to[0]"),
        ("cnp/bad-tier", "spec.tier"),
    }
    assert [p.key for p in model.cluster_policies] == ["cnp/broken-pass", "cnp/broken-accept"]
    assert (
        "Deny of everything"
        in next(e for e in model.errors if e.policy == "cnp/broken-pass").message
    )
    assert str(model.errors[0]).startswith("ClusterNetworkPolicy cnp/")
