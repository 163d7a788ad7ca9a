"""NP043-NP046: mistakes the other policy APIs invite (netpol/findings/kinds.py), on models
built from objects. Each case cites the documentation it comes from."""

from __future__ import annotations

from netpol.engine import ClusterModel
from netpol.findings import audit
from tests.findings.helpers import SECURE, of
from tests.objects import namespace, pod

NS_NAME = "kubernetes.io/metadata.name"
API = pod("web", "api-0", {"app": "api"}, ip="10.244.0.30", ports=[("http", 8080, "TCP")])
JOB = pod("batch", "job-0", {"app": "job"}, ip="10.244.0.20")


def audit_with(*, cilium=(), calico=(), cluster=(), extra=()):
    kinds = {"Namespace": [], "Pod": [], "Node": [], "NetworkPolicy": [], "Service": []}
    for obj in [*SECURE, namespace("web"), namespace("batch"), API, JOB, *extra]:
        kinds[obj["kind"]].append(obj)
    model = ClusterModel.from_objects(
        namespaces=kinds["Namespace"],
        pods=kinds["Pod"],
        nodes=kinds["Node"],
        policies=kinds["NetworkPolicy"],
        services=kinds["Service"],
        cilium_policies=list(cilium),
        calico_policies=list(calico),
        cluster_policies=list(cluster),
    )
    return audit(model)


def cnp_cilium(name, spec, ns="web"):
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"endpointSelector": {"matchLabels": {"app": "api"}}, **spec},
    }


PORT_8080 = [{"ports": [{"port": "8080", "protocol": "TCP"}]}]


# -- NP043 -------------------------------------------------------------------------------
# Cilium, Documentation/security/policy/layer3.rst, "Entities based": `all` "represents the
# combination of all known clusters as well world and whitelists all communication";
# `cluster` is "all network endpoints inside of the local cluster"; `world` "corresponds to
# all endpoints outside of the cluster".


def test_from_entities_all_is_np043():
    report = audit_with(
        cilium=[cnp_cilium("open", {"ingress": [{"fromEntities": ["all"], "toPorts": PORT_8080}]})]
    )
    [finding] = of(report, "NP043")
    assert finding.severity == "high"
    assert finding.objects == ["CiliumNetworkPolicy/web/open", "Pod/web/api-0"]
    assert finding.evidence["field"] == "spec.ingress[0].fromEntities"
    assert finding.evidence["entities"] == ["all"]
    assert "`fromEntities: all`" in finding.message and "TCP/8080" in finding.message


def test_world_with_cluster_in_one_egress_rule_is_np043():
    rule = {"toEntities": ["world", "cluster"], "toPorts": PORT_8080}
    report = audit_with(cilium=[cnp_cilium("out", {"egress": [rule]})])
    [finding] = of(report, "NP043")
    assert finding.evidence["field"] == "spec.egress[0].toEntities"
    assert finding.evidence["direction"] == "egress"


def test_world_alone_cluster_alone_or_ports_alone_are_no_np043():
    world = cnp_cilium("world", {"ingress": [{"fromEntities": ["world"], "toPorts": PORT_8080}]})
    cluster = cnp_cilium(
        "cluster", {"ingress": [{"fromEntities": ["cluster"], "toPorts": PORT_8080}]}
    )
    # "L4 policy ... to any layer 3 destination": written without peers on purpose.
    ports_only = cnp_cilium("ports", {"ingress": [{"toPorts": PORT_8080}]})
    # A deny of everything opens nothing.
    deny_all = cnp_cilium("deny", {"ingressDeny": [{"fromEntities": ["all"]}]})
    for policy in (world, cluster, ports_only, deny_all):
        assert of(audit_with(cilium=[policy]), "NP043") == [], policy["metadata"]["name"]


# -- NP044 -------------------------------------------------------------------------------
# Calico NetworkPolicy reference, `order`: "If the order is omitted, it may be considered to
# be 'infinite' - i.e. the policy will be applied last." Calico policy for Kubernetes:
# Kubernetes NetworkPolicies are in the default tier at order 1000.


def calico_np(name, spec, ns="shop", api="projectcalico.org/v3"):
    return {
        "apiVersion": api,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def gnp(name, spec):
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


# shop's db accepts web on its port pg (5432) by the Kubernetes NetworkPolicy shop/db.
DENY_WEB_TO_DB = {
    "selector": "app == 'db'",
    "types": ["Ingress"],
    "ingress": [
        {
            "action": "Deny",
            "protocol": "TCP",
            "source": {"selector": "app == 'web'"},
            "destination": {"ports": [5432]},
        }
    ],
}


def test_an_orderless_calico_policy_after_kubernetes_policies_is_np044():
    report = audit_with(calico=[calico_np("no-web-db", DENY_WEB_TO_DB)])
    [finding] = of(report, "NP044")
    assert finding.severity == "low"
    assert finding.objects[0] == "CalicoNetworkPolicy/shop/no-web-db"
    assert "NetworkPolicy/shop/db" in finding.evidence["applied_after"]
    assert finding.workloads == ["StatefulSet/shop/db"]
    assert "order: 990" in finding.snippet


def test_an_ordered_policy_or_one_sharing_no_pods_is_no_np044():
    ordered = audit_with(calico=[calico_np("no-web-db", {**DENY_WEB_TO_DB, "order": 100})])
    assert of(ordered, "NP044") == []
    # batch has no other policy: nothing is ordered before it.
    alone = calico_np("batch-in", {**DENY_WEB_TO_DB, "selector": "app == 'job'"}, ns="batch")
    assert of(audit_with(calico=[alone]), "NP044") == []


# -- NP045 -------------------------------------------------------------------------------
# Calico Tier reference, "How Policy Is Evaluated": policies in a tier are processed in
# order and "If a NetworkPolicy or GlobalNetworkPolicy in the Tier Allows or Denys the
# packet, then evaluation is done"; rules in written order, first match decides.


def test_a_calico_deny_after_a_kubernetes_allow_of_the_same_traffic_is_np045():
    report = audit_with(calico=[calico_np("no-web-db", DENY_WEB_TO_DB)])
    [finding] = of(report, "NP045")
    assert finding.severity == "medium"
    assert finding.objects[:2] == ["CalicoNetworkPolicy/shop/no-web-db", "NetworkPolicy/shop/db"]
    assert finding.evidence["field"] == "spec.ingress[0]"
    assert any("shop/db" in s for s in finding.evidence["allowed_first_by"])


def test_an_allow_written_differently_but_matching_the_same_pods_shadows_a_later_deny():
    spec = {
        "order": 10,
        "selector": "app == 'db'",
        "types": ["Ingress"],
        "ingress": [
            {"action": "Allow", "source": {"selector": "app in {'web', 'cache'}"}},
            {
                "action": "Deny",
                "protocol": "TCP",
                "source": {"selector": "has(app) && app == 'web'"},
            },
        ],
    }
    report = audit_with(calico=[gnp("db-in", spec)])
    [finding] = of(report, "NP045")
    assert finding.objects[0] == "CalicoGlobalNetworkPolicy/db-in"
    assert finding.evidence["field"] == "spec.ingress[1]"


def test_a_deny_first_or_one_wider_than_the_allow_is_no_np045():
    first = audit_with(calico=[calico_np("no-web-db", {**DENY_WEB_TO_DB, "order": 100})])
    assert of(first, "NP045") == []
    # Every source on 5432: the Kubernetes policy allows only web, so the Deny still fires.
    wider = {**DENY_WEB_TO_DB, "ingress": [{**DENY_WEB_TO_DB["ingress"][0], "source": {}}]}
    assert of(audit_with(calico=[calico_np("no-db", wider)]), "NP045") == []


# ClusterNetworkPolicy (KEP/NPEP, api-overview): within a tier, policies by priority (lower
# first), then rules in order; the first matching rule's action decides.


def cluster_np(name, priority, ingress, tier="Admin"):
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "tier": tier,
            "priority": priority,
            "subject": {"namespaces": {"matchLabels": {NS_NAME: "batch"}}},
            "ingress": ingress,
        },
    }


ACCEPT_ALL = [{"name": "all", "action": "Accept", "from": [{"namespaces": {}}]}]
DENY_SHOP = [
    {
        "name": "no-shop",
        "action": "Deny",
        "from": [{"namespaces": {"matchLabels": {NS_NAME: "shop"}}}],
    }
]


def test_an_admin_deny_at_a_later_priority_than_an_accept_of_everything_is_np045():
    report = audit_with(
        cluster=[cluster_np("accept-all", 10, ACCEPT_ALL), cluster_np("no-shop", 20, DENY_SHOP)]
    )
    [finding] = of(report, "NP045")
    assert finding.objects == [
        "ClusterNetworkPolicy/no-shop",
        "ClusterNetworkPolicy/accept-all",
        "Pod/batch/job-0",
    ]
    assert finding.evidence["allowed_first_by"] == ["ClusterNetworkPolicy/accept-all rule `all`"]


def test_an_admin_deny_before_the_accept_is_no_np045():
    report = audit_with(
        cluster=[cluster_np("accept-all", 10, ACCEPT_ALL), cluster_np("no-shop", 5, DENY_SHOP)]
    )
    assert of(report, "NP045") == []


# -- NP046 -------------------------------------------------------------------------------
# Cilium layer3.rst "DNS based" (toFQDNs) and layer7.rst (L7 `rules`); NPEP-133
# (domainNames); Calico Rule reference (`http` match). The engine's assumptions:
# docs/semantics-cilium.md, docs/semantics-clusternetworkpolicy.md, docs/semantics-calico.md.


def test_cilium_fqdn_and_l7_rules_are_one_np046_naming_each_field():
    spec = {
        "egress": [{"toFQDNs": [{"matchName": "api.example.com"}], "toPorts": PORT_8080}],
        "ingress": [
            {
                "fromEntities": ["cluster"],
                "toPorts": [
                    {
                        "ports": [{"port": "8080", "protocol": "TCP"}],
                        "rules": {"http": [{"method": "GET"}]},
                    }
                ],
            }
        ],
    }
    report = audit_with(cilium=[cnp_cilium("l7", spec)])
    [finding] = of(report, "NP046")
    assert finding.severity == "info"
    assert finding.objects == ["CiliumNetworkPolicy/web/l7", "Pod/web/api-0"]
    fields = finding.evidence["fields"]
    assert any(f.startswith("spec.egress[0].toFQDNs: ") and "matches no pod" in f for f in fields)
    assert any(
        f.startswith("spec.ingress[0].toPorts[0].rules: ") and "every request" in f for f in fields
    )


def test_domain_names_and_calico_http_are_np046():
    cnp = {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "to-example"},
        "spec": {
            "tier": "Admin",
            "priority": 10,
            "subject": {"namespaces": {"matchLabels": {NS_NAME: "batch"}}},
            "egress": [
                {"name": "ex", "action": "Accept", "to": [{"domainNames": ["example.com"]}]}
            ],
        },
    }
    http = calico_np(
        "get-only",
        {
            "order": 10,
            "selector": "app == 'job'",
            "ingress": [{"action": "Allow", "protocol": "TCP", "http": {"methods": ["GET"]}}],
        },
        ns="batch",
    )
    report = audit_with(cluster=[cnp], calico=[http])
    found = {f.objects[0]: f for f in of(report, "NP046")}
    assert set(found) == {"ClusterNetworkPolicy/to-example", "CalicoNetworkPolicy/batch/get-only"}
    assert (
        found["ClusterNetworkPolicy/to-example"]
        .evidence["fields"][0]
        .startswith("spec.egress[0]: Accept domainNames example.com")
    )
    assert found["CalicoNetworkPolicy/batch/get-only"].evidence["fields"] == [
        "spec.ingress[0].http: HTTP match: applied as if every request matched (method and "
        "path are not evaluated)"
    ]
    assert found["CalicoNetworkPolicy/batch/get-only"].workloads == ["Pod/batch/job-0"]


def test_rules_the_engine_decides_are_no_np046():
    plain = cnp_cilium("plain", {"ingress": [{"fromEntities": ["cluster"], "toPorts": PORT_8080}]})
    report = audit_with(cilium=[plain], calico=[calico_np("no-web-db", DENY_WEB_TO_DB)])
    assert of(report, "NP046") == []
