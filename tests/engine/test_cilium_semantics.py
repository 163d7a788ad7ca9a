"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy semantics (L3/L4), each case
written from Cilium's documentation (Documentation/security/policy/: intro, language,
layer3, layer4, deny, kubernetes; see docs/semantics-cilium.md). Every verdict is checked
against the allowed set (or the egress-to-address set) and the plain per-pod reference,
as in test_cnp_semantics.py.
"""

from __future__ import annotations

import yaml

from netpol.engine import ClusterModel
from netpol.engine import reference as ref
from netpol.engine.model import ACTIVE
from tests.engine.conftest import cluster_objects


def build(cilium: str, policies: str = "", cluster: str = "") -> ClusterModel:
    objs = cluster_objects()
    return ClusterModel.from_objects(
        namespaces=objs["namespaces"],
        pods=objs["pods"],
        nodes=objs["nodes"],
        policies=[d for d in yaml.safe_load_all(policies) if d],
        cluster_policies=[d for d in yaml.safe_load_all(cluster) if d],
        cilium_policies=[d for d in yaml.safe_load_all(cilium) if d],
    )


def verdict(model: ClusterModel, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
    """``reach``'s answer, checked against the fast evaluation and the reference."""
    result = model.reach(src, dst, port, protocol).allowed
    s, d = model.endpoint(src), model.endpoint(dst)
    pods = [e.pod for e in (s, d) if e.pod is not None]
    if s.pod is not None and s.pod is d.pod or any(p.state != ACTIVE for p in pods):
        return result
    if any(e.node and e.node in {p.node_name for p in pods} for e in (s, d)):
        return result  # a pod and its own node: outside every policy
    ends = [e.pod if e.pod is not None else e.ip for e in (s, d)]
    expected = ref.full_connection_allowed(
        model.policies,
        model.cluster_policies,
        model.cilium_policies,
        model.namespaces,
        model.nodes,
        model._cluster_ips,
        *ends,
        port,
        protocol,
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


def cnp(name: str, spec: dict, namespace: str | None = "prod") -> str:
    obj = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy" if namespace else "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
        "spec": spec,
    }
    return yaml.safe_dump(obj) + "---\n"


API = {"matchLabels": {"app": "api"}}
DB = {"matchLabels": {"app": "db"}}
WEB = {"matchLabels": {"app": "web"}}


def test_from_endpoints_stays_in_the_policys_namespace():
    # language/kubernetes docs: fromEndpoints of a namespaced policy select endpoints of
    # its namespace unless the selector names io.kubernetes.pod.namespace.
    m = build(cnp("api-from-web", {"endpointSelector": API, "ingress": [{"fromEndpoints": [WEB]}]}))
    assert verdict(m, "prod/web", "prod/api", 9090)
    assert not verdict(m, "dev/web", "prod/api", 9090)
    assert not verdict(m, "monitoring/prom", "prod/api", 9090)
    # Default deny only for the direction that has rules: api's egress stays open.
    assert verdict(m, "prod/api", "dev/web", 8081)
    assert verdict(m, "dev/web", "prod/db", 5432)  # db is not selected


def test_namespace_label_crosses_namespaces_with_the_k8s_prefix():
    other = {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "dev", "k8s:app": "web"}}
    m = build(
        cnp("api-from-dev", {"endpointSelector": API, "ingress": [{"fromEndpoints": [other]}]})
    )
    assert verdict(m, "dev/web", "prod/api", 9090)
    assert not verdict(m, "prod/web", "prod/api", 9090)
    # Namespace labels through io.cilium.k8s.namespace.labels.*, within the namespace.
    ns_labels = {"matchLabels": {"io.cilium.k8s.namespace.labels.env": "prod"}}
    m = build(
        cnp("api-env", {"endpointSelector": API, "ingress": [{"fromEndpoints": [ns_labels]}]})
    )
    assert verdict(m, "prod/web", "prod/api", 9090)
    assert not verdict(m, "dev/web", "prod/api", 9090)


def test_clusterwide_selects_across_namespaces_and_peers_everywhere():
    spec = {
        "endpointSelector": WEB,
        "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "prometheus"}}]}],
    }
    m = build(cnp("web-from-prom", spec, namespace=None))
    assert verdict(m, "monitoring/prom", "prod/web", 8080)
    assert verdict(m, "monitoring/prom", "dev/web", 8081)
    assert not verdict(m, "prod/api", "prod/web", 8080)
    assert not verdict(m, "prod/api", "dev/web", 8081)


def test_allows_are_a_union_with_kubernetes_network_policies():
    np = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-prom, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports: [{port: 9100}]
"""
    m = build(
        cnp(
            "api-from-web",
            {
                "endpointSelector": API,
                "ingress": [{"fromEndpoints": [WEB], "toPorts": [{"ports": [{"port": "http"}]}]}],
            },
        ),
        np,
    )
    assert verdict(m, "monitoring/prom", "prod/api", 9100)
    assert verdict(m, "prod/web", "prod/api", 9090)  # named port http on api
    assert not verdict(m, "prod/web", "prod/api", 9100)
    assert not verdict(m, "monitoring/prom", "prod/api", 9090)
    text = m.reach("prod/web", "prod/api", 9090).text()
    assert "cilium/prod/api-from-web" in text


def test_deny_overrides_every_allow():
    # deny.rst: "Deny policies take precedence over allow policies, regardless of
    # whether they are a Cilium Network Policy, a Clusterwide ... or even a Kubernetes
    # Network Policy."
    np = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-open, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{}]
"""
    deny = {
        "endpointSelector": {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "prod"}},
        "ingress": [{"fromEntities": ["all"]}],
        "ingressDeny": [
            {
                "fromEndpoints": [{"matchLabels": {"io.kubernetes.pod.namespace": "dev"}}],
                "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}],
            }
        ],
    }
    m = build(cnp("no-dev-to-pg", deny, namespace=None), np)
    assert not verdict(m, "dev/web", "prod/db", 5432)
    assert verdict(m, "dev/web", "prod/db", 5433)
    assert verdict(m, "prod/web", "prod/db", 5432)
    v = m.reach("dev/web", "prod/db", 5432)
    assert "ccnp/no-dev-to-pg spec.ingressDeny[0]" in v.ingress.denied_by
    assert "deny rules override every allow" in v.ingress.reason


def test_deny_only_policy_puts_the_endpoint_in_default_deny_unless_disabled():
    # enableDefaultDeny: "If not specified, the default is true for each traffic direction
    # that has rules ... if a policy only has Ingress or IngressDeny rules, then the
    # default for ingress is true and egress is false."
    spec = {"endpointSelector": DB, "ingressDeny": [{"fromEndpoints": [WEB]}]}
    m = build(cnp("db-deny-web", spec))
    assert not verdict(m, "prod/web", "prod/db", 5432)
    assert not verdict(m, "prod/api", "prod/db", 5432)  # default deny
    assert verdict(m, "prod/db", "prod/api", 9090)  # egress untouched
    spec["enableDefaultDeny"] = {"ingress": False}
    m = build(cnp("db-deny-web", spec))
    assert not verdict(m, "prod/web", "prod/db", 5432)
    assert verdict(m, "prod/api", "prod/db", 5432)


def test_enable_default_deny_false_adds_allows_without_isolating():
    # A default-allow policy: its allows matter only where another policy isolates.
    spec = {
        "endpointSelector": API,
        "enableDefaultDeny": {"ingress": False, "egress": False},
        "ingress": [{"fromEndpoints": [WEB]}],
    }
    m = build(cnp("api-allow-web", spec))
    assert verdict(m, "dev/web", "prod/api", 9090)
    assert m.reach("dev/web", "prod/api", 9090).ingress.isolated is False
    isolate = cnp(
        "api-only-prom",
        {
            "endpointSelector": API,
            "ingress": [
                {
                    "fromEndpoints": [
                        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "monitoring"}}
                    ]
                }
            ],
        },
    )
    m = build(cnp("api-allow-web", spec) + isolate)
    assert verdict(m, "prod/web", "prod/api", 9090)
    assert verdict(m, "monitoring/prom", "prod/api", 9090)
    assert not verdict(m, "dev/web", "prod/api", 9090)


def test_empty_rule_selects_nothing_and_l4_only_rule_every_peer():
    # language.rst, ingress default deny: "ingress: - {}" puts the endpoints in default
    # deny and allows nothing. A rule with toPorts alone applies to every peer (layer4).
    m = build(cnp("db-deny-all", {"endpointSelector": DB, "ingress": [{}]}))
    assert not verdict(m, "prod/web", "prod/db", 5432)
    l4 = {
        "endpointSelector": DB,
        "ingress": [{"toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}],
    }
    m = build(cnp("db-5432", l4))
    assert verdict(m, "dev/web", "prod/db", 5432)
    assert verdict(m, "8.8.8.8", "prod/db", 5432)
    assert not verdict(m, "dev/web", "prod/db", 5433)
    assert not verdict(m, "dev/web", "prod/db", 5432, "UDP")


def test_to_ports_protocol_any_and_port_ranges():
    spec = {
        "endpointSelector": DB,
        "ingress": [
            {"fromEndpoints": [{}], "toPorts": [{"ports": [{"port": "5000", "endPort": 5010}]}]}
        ],
    }
    m = build(cnp("db-range", spec))
    for protocol in ("TCP", "UDP", "SCTP"):
        assert verdict(m, "prod/web", "prod/db", 5005, protocol)
    assert not verdict(m, "prod/web", "prod/db", 5011)
    assert not verdict(m, "dev/web", "prod/db", 5005)  # {} is the policy's namespace


def test_entities():
    # layer3 entities: world is outside the cluster; cluster is every endpoint and node;
    # remote-node the other nodes; all everything.
    def egress(entities):
        return build(
            cnp("web-out", {"endpointSelector": WEB, "egress": [{"toEntities": entities}]})
        )

    m = egress(["world"])
    assert verdict(m, "prod/web", "8.8.8.8", 443)
    assert not verdict(m, "prod/web", "prod/api", 9090)
    assert not verdict(m, "prod/web", "192.168.0.11", 443)  # node-2: remote-node
    assert not verdict(m, "prod/web", "10.2.99.9", 443)  # inside the pod range
    m = egress(["cluster"])
    assert verdict(m, "prod/web", "prod/api", 9090)
    assert verdict(m, "prod/web", "192.168.0.11", 10250)
    assert not verdict(m, "prod/web", "8.8.8.8", 443)
    m = egress(["remote-node"])
    assert verdict(m, "prod/web", "192.168.0.11", 10250)
    assert not verdict(m, "prod/web", "prod/api", 9090)
    m = egress(["all"])
    assert verdict(m, "prod/web", "8.8.8.8", 443) and verdict(m, "prod/web", "prod/api", 9090)


def test_cidr_rules_with_except_and_never_pods():
    # layer3 CIDR: "CIDR rules do not apply to traffic where both sides of the connection
    # are either managed by Cilium or use an IP belonging to a node in the cluster".
    spec = {
        "endpointSelector": WEB,
        "egress": [
            {"toCIDRSet": [{"cidr": "8.8.0.0/16", "except": ["8.8.8.0/24"]}]},
            {"toCIDR": ["10.2.0.0/16", "192.168.0.0/24"]},
        ],
    }
    m = build(cnp("web-cidr", spec))
    assert verdict(m, "prod/web", "8.8.4.4", 53)
    assert not verdict(m, "prod/web", "8.8.8.8", 53)
    assert not verdict(m, "prod/web", "dev/web", 8081)  # a pod in the CIDR
    assert verdict(m, "prod/web", "10.2.99.9", 80)  # an address that is no pod
    assert not verdict(m, "prod/web", "192.168.0.11", 80)  # a node in the CIDR


def test_l7_and_fqdn_rules_are_named_never_ignored():
    spec = {
        "endpointSelector": API,
        "ingress": [
            {
                "fromEndpoints": [WEB],
                "toPorts": [{"ports": [{"port": "9090"}], "rules": {"http": [{"method": "GET"}]}}],
            }
        ],
        "egress": [{"toFQDNs": [{"matchName": "example.com"}]}],
    }
    m = build(cnp("api-l7", spec))
    v = m.reach("prod/web", "prod/api", 9090)
    assert v.allowed
    assert any("L7 rule" in d and "http" in d for d in v.ingress.depends_on)
    v = m.reach("prod/api", "93.184.216.34", 443)
    assert not v.allowed
    assert any("toFQDNs" in d for d in v.egress.depends_on)
    assert not verdict(m, "prod/api", "93.184.216.34", 443)
    assert m.partially_modelled() == {"prod/api": ["cilium/prod/api-l7"]}


def test_deny_overrides_the_admin_tier_too():
    accept = """
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: accept-dev}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: prod}}}
  ingress:
  - {name: dev, action: Accept, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: dev}}}]}
"""
    deny = {
        "endpointSelector": DB,
        "ingressDeny": [
            {"fromEndpoints": [{"matchLabels": {"io.kubernetes.pod.namespace": "dev"}}]}
        ],
    }
    m = build(cnp("db-no-dev", deny), cluster=accept)
    assert not verdict(m, "dev/web", "prod/db", 5432)
    assert verdict(m, "dev/web", "prod/api", 9090)
    v = m.reach("dev/web", "prod/db", 5432)
    assert v.ingress.decided_by == "Cilium deny"


def test_unreadable_parts_are_reported():
    bad = {
        "endpointSelector": {"matchLabels": {"reserved:host": ""}},
        "ingress": [{"fromEndpoints": [WEB]}],
    }
    m = build(
        cnp("bad-subject", bad)
        + cnp("bad-entity", {"endpointSelector": DB, "ingress": [{"fromEntities": ["moon"]}]})
    )
    fields = {(e.policy, e.field) for e in m.errors}
    assert ("cilium/prod/bad-subject", "spec.endpointSelector") in fields
    assert ("cilium/prod/bad-entity", "spec.ingress[0].fromEntities[0]") in fields
    assert [p.key for p in m.cilium_policies] == ["cilium/prod/bad-entity"]
    assert not verdict(m, "prod/web", "prod/db", 5432)  # a bad peer matches nothing
