"""Overly permissive rules NP010-NP016, positive and negative, checked against reach."""

from __future__ import annotations

import pytest

from tests.findings.helpers import NS_NAME, SECURE, check_probe, of, rules, run
from tests.objects import namespace, pod, policy

WEB_SEL = {"matchLabels": {"app": "web"}}


def _ingress(name, rule, selector=WEB_SEL, ns="shop"):
    return policy(
        ns, name, {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": [rule]}
    )


def _egress(name, rule, selector=WEB_SEL, ns="shop"):
    return policy(ns, name, {"podSelector": selector, "policyTypes": ["Egress"], "egress": [rule]})


def test_np010_allow_all_ingress_rule():
    m, report = run(*SECURE, _ingress("allow-all", {}))
    [f] = of(report, "NP010")
    assert f.severity == "high"
    assert f.objects == ["NetworkPolicy/shop/allow-all", "Deployment/shop/web"]
    assert f.evidence["policy"] == "shop/allow-all"
    assert f.evidence["direction"] == "ingress" and f.evidence["rule"] == 0
    assert "spec.ingress[0]" in f.message and "every port" in f.message
    # An arbitrary outside address reaches web through that policy and rule.
    check_probe(m, f)
    assert not of(report, "NP016")


def test_np010_ports_only_rule_and_egress():
    m, report = run(
        *SECURE,
        _ingress("any-source-8080", {"ports": [{"port": 8080}]}),
        _egress("any-dest-443", {"ports": [{"port": 443}]}),
    )
    found = {(f.evidence["policy"], f.evidence["direction"]) for f in of(report, "NP010")}
    assert found == {("shop/any-source-8080", "ingress"), ("shop/any-dest-443", "egress")}
    for f in of(report, "NP010"):
        check_probe(m, f)
    assert not of(report, "NP014")  # ports are given


def test_np016_allow_all_on_whole_namespace_policy():
    m, report = run(*SECURE, _egress("allow-egress-all", {}, selector={}))
    [f] = of(report, "NP016")
    assert f.severity == "critical"
    assert "every pod of namespace shop" in f.message
    check_probe(m, f)
    assert not of(report, "NP010")
    nsa = [
        c for c in report.compliance if c["namespace"] == "shop" and c["control"].startswith("NSA")
    ]
    assert nsa[0]["status"] == "fail"
    assert "2 pods still egress-open through allow-egress-all" in nsa[0]["evidence"]
    assert "default-deny egress present" in nsa[0]["evidence"]


def test_np011_empty_namespace_selector():
    m, report = run(
        *SECURE,
        _ingress("from-all-ns", {"from": [{"namespaceSelector": {}}], "ports": [{"port": 8080}]}),
    )
    [f] = of(report, "NP011")
    assert f.evidence["peer"] == 0 and f.evidence["namespaces"] == ["kube-system", "shop"]
    assert not of(report, "NP012")
    check_probe(m, f)


def test_np012_namespace_selector_alone_and_with_empty_pod_selector():
    sel = {"namespaceSelector": {"matchLabels": {NS_NAME: "shop"}}}
    m, report = run(
        *SECURE,
        _ingress("alone", {"from": [sel], "ports": [{"port": 8080}]}),
        _ingress("empty-pods", {"from": [{**sel, "podSelector": {}}], "ports": [{"port": 8080}]}),
    )
    assert sorted(f.evidence["policy"] for f in of(report, "NP012")) == [
        "shop/alone",
        "shop/empty-pods",
    ]
    for f in of(report, "NP012"):
        check_probe(m, f)


def test_np012_not_for_namespace_and_pod_selector():
    # SECURE's coredns policy has both: no finding.
    _, report = run(*SECURE)
    assert "NP012" not in rules(report)


@pytest.mark.parametrize(
    ("cidr", "hit"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("8.0.0.0/7", True),
        ("10.0.0.0/8", False),
        ("2001:db8::/16", True),
        ("2001:db8::/32", False),
    ],
)
def test_np013_wide_ipblocks(cidr, hit):
    _, report = run(
        *SECURE, _egress("wide", {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 443}]})
    )
    found = of(report, "NP013")
    assert bool(found) == hit
    if hit:
        assert found[0].evidence["cidr"] == cidr


def test_np014_no_ports():
    _, report = run(*SECURE, _egress("no-ports", {"to": [{"podSelector": {}}]}))
    [f] = of(report, "NP014")
    assert f.evidence["policy"] == "shop/no-ports" and f.evidence["rule"] == 0
    _, report = run(*SECURE)
    assert not of(report, "NP014")


def test_np015_wide_end_port_range():
    _, report = run(
        *SECURE,
        _egress(
            "wide",
            {
                "to": [{"podSelector": {}}],
                "ports": [{"port": 9000, "endPort": 9099}, {"port": 8000, "endPort": 8098}],
            },
        ),
    )
    [f] = of(report, "NP015")
    assert f.evidence["port_index"] == 0
    assert "100 ports (TCP/9000-9099)" in f.message


def test_rule_findings_skip_invalid_rules():
    _, report = run(*SECURE, _ingress("bad", {"from": [{"ipBlock": {"cidr": "nope"}}]}))
    assert not of(report, "NP014") and not of(report, "NP013")
    assert of(report, "NP035")


def test_other_namespace_pods_reach_through_np011():
    other = pod("other", "client", {"app": "c"}, ip="10.244.0.90")
    m, report = run(
        *SECURE,
        namespace("other"),
        other,
        _ingress("from-all-ns", {"from": [{"namespaceSelector": {}}], "ports": [{"port": 8080}]}),
    )
    assert m.reach("other/client", "shop/web-7f9c-abcde", 8080).allowed
    assert of(report, "NP011")
