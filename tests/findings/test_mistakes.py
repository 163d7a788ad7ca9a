"""Mistakes NP030-NP039, positive and negative, checked against reach."""

from __future__ import annotations

from tests.findings.helpers import (
    CALICO,
    NS_NAME,
    SECURE,
    check_probe,
    dns_egress,
    host_network,
    of,
    owned,
    rules,
    run,
    without,
)
from tests.objects import namespace, pod, policy

WEB_SEL = {"matchLabels": {"app": "web"}}
PAY = pod("payments", "api-0", {"app": "api"}, ip="10.244.0.70", ports=[("grpc", 9000, "TCP")])


def test_np030_name_label_nobody_carries_suggests_metadata_name():
    rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"name": "payments"}},
                "podSelector": {"matchLabels": {"app": "api"}},
            }
        ],
        "ports": [{"port": "grpc"}],
    }
    m, report = run(
        *SECURE,
        namespace("payments"),
        PAY,
        policy(
            "shop",
            "to-payments",
            {"podSelector": WEB_SEL, "policyTypes": ["Egress"], "egress": [rule]},
        ),
    )
    [f] = of(report, "NP030")
    assert f.evidence["suggested_namespace"] == "payments"
    assert "kubernetes.io/metadata.name: payments" in f.message
    assert f"{NS_NAME}: payments" in f.snippet and "app: api" in f.snippet
    assert "Namespace/payments" in f.objects
    check_probe(m, f)  # web -> payments/api-0 on grpc: denied at egress
    assert f.evidence["probe"]["expect"] == "denied"


def test_np030_pod_selector_matching_no_pod():
    _, report = run(
        *SECURE,
        policy(
            "shop",
            "typo",
            {
                "podSelector": WEB_SEL,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"podSelector": {"matchLabels": {"app": "dbb"}}}],
                        "ports": [{"port": 5432}],
                    }
                ],
            },
        ),
    )
    [f] = of(report, "NP030")
    assert "matches no running pod" in f.message
    _, report = run(*SECURE)
    assert not of(report, "NP030")


def test_np031_policy_selecting_nothing():
    _, report = run(
        *SECURE,
        policy(
            "shop",
            "ghost",
            {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress"]},
        ),
    )
    [f] = of(report, "NP031")
    assert f.objects == ["NetworkPolicy/shop/ghost"]


def test_np032_no_dns_and_np033_udp_only():
    objects = without(SECURE, "NetworkPolicy", "allow-dns", "shop")
    m, report = run(*objects)
    found = of(report, "NP032")
    # web is allowed egress (to db) and cannot resolve; db is allowed no egress at all.
    assert [f.workloads for f in found] == [["Deployment/shop/web"]]
    assert found[0].objects == [
        "NetworkPolicy/shop/default-deny-all",
        "NetworkPolicy/shop/web",
        "Deployment/shop/web",
    ]
    check_probe(m, found[0])
    assert not m.reach("shop/web-7f9c-abcde", "kube-system/coredns-0", 53, "UDP").allowed
    assert "port: 53" in found[0].snippet
    m, report = run(*objects, dns_egress("shop", ports=[("UDP", 53)]))
    assert not of(report, "NP032")
    [found] = of(report, "NP033")  # db is now allowed egress (DNS over UDP) too: one cause
    assert found.workloads == ["Deployment/shop/web", "StatefulSet/shop/db"]
    assert found.evidence["pods"] == 2 and found.evidence["workloads"] == 2
    assert len(found.aliases) == 2
    check_probe(m, found)
    assert m.reach("shop/web-7f9c-abcde", "kube-system/coredns-0", 53, "UDP").allowed


def test_np032_counts_the_dns_pods_own_ingress():
    objects = without(SECURE, "NetworkPolicy", "coredns", "kube-system")  # CoreDNS denies all
    m, report = run(*objects)
    [found] = of(report, "NP032")
    assert found.workloads == ["Deployment/shop/web", "StatefulSet/shop/db"]
    assert "In shop, 2 pods of 2 workloads (Deployment/web, StatefulSet/db)" in found.message
    check_probe(m, found)
    # Egress allows it; CoreDNS's ingress does not.
    assert found.evidence["egress_policies"] == [
        "shop/allow-dns",
        "shop/default-deny-all",
        "shop/web",
    ]


def test_np034_named_port_undefined():
    _, report = run(
        *SECURE,
        policy(
            "shop",
            "web-in",
            {
                "podSelector": WEB_SEL,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": {}}], "ports": [{"port": "https"}, {"port": "http"}]}
                ],
            },
        ),
    )
    [f] = of(report, "NP034")
    assert f.evidence["port"] == "https" and f.evidence["port_index"] == 0
    _, report = run(*SECURE)
    assert not of(report, "NP034")


def test_np035_invalid_policy_reported_not_crashing():
    m, report = run(
        *SECURE,
        policy(
            "shop",
            "bad",
            {
                "podSelector": WEB_SEL,
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]},
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]},
                ],
            },
        ),
        policy("shop", "ignored", {"podSelector": {"matchLabels": "oops"}}),
    )
    found = of(report, "NP035")
    fields = sorted(f.evidence["field"] for f in found)
    assert fields == [
        "spec.egress[0].to[0].ipBlock.cidr",
        "spec.egress[1].to[0].ipBlock.except[0]",
        "spec.podSelector.matchLabels",
    ]
    assert all(f.severity == "high" for f in found)
    assert "not strictly inside" in [f for f in found if "except" in f.evidence["field"]][0].message


def test_np036_shadowed_rule():
    wide = {"to": [{"podSelector": {}}], "ports": [{"port": 5432}, {"port": 6379}]}
    _, report = run(
        *SECURE,
        policy("shop", "wide", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [wide]}),
    )
    [f] = of(report, "NP036")
    assert f.evidence["policy"] == "shop/web"
    assert f.evidence["shadowed_by"] == {"policy": "shop/wide", "rule": 0}
    # narrower selection in the wider rule: no shadowing
    _, report = run(
        *SECURE,
        policy(
            "shop",
            "wide",
            {
                "podSelector": {"matchLabels": {"app": "db"}},
                "policyTypes": ["Egress"],
                "egress": [wide],
            },
        ),
    )
    assert not of(report, "NP036")


def test_np036_identical_rules_report_one():
    rule = {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}
    _, report = run(
        *SECURE,
        policy(
            "shop", "zcopy", {"podSelector": WEB_SEL, "policyTypes": ["Egress"], "egress": [rule]}
        ),
    )
    [f] = of(report, "NP036")
    assert f.evidence["policy"] == "shop/zcopy"


def test_np037_host_network_pods():
    agent = owned(
        host_network(pod("kube-system", "agent-x1", {"k8s-app": "agent"}, ip="192.168.0.11")),
        "DaemonSet",
        "agent",
    )
    _, report = run(*SECURE, agent)
    [f] = of(report, "NP037")
    assert f.objects == ["DaemonSet/kube-system/agent", "Pod/kube-system/agent-x1"]


def test_np038_flannel_alone_and_every_finding_warns():
    flannel = owned(
        host_network(
            pod("kube-flannel", "kube-flannel-ds-abc", {"app": "flannel"}, ip="192.168.0.11")
        ),
        "DaemonSet",
        "kube-flannel-ds",
    )
    objects = without(SECURE, "Pod", CALICO["metadata"]["name"])
    _, report = run(*objects, flannel)
    assert report.cni["status"] == "not enforcing" and report.cni["plugins"] == ["flannel"]
    [f] = of(report, "NP038")
    assert f.severity == "critical"
    assert report.findings and all(report.cni["warning"] in x.warnings for x in report.findings)
    assert report.score["cluster"] == 0
    # flannel with calico (canal-style): enforcing
    _, report = run(*SECURE, flannel)
    assert report.cni["status"] == "enforcing" and not of(report, "NP038")


def test_np039_unknown_cni():
    objects = without(SECURE, "Pod", CALICO["metadata"]["name"])
    _, report = run(*objects)
    assert report.cni["status"] == "unknown"
    assert rules(report) == {"NP039"}
    assert report.findings[0].warnings == []
