"""External exposure NP020-NP024, positive and negative, checked against reach and the
engine's own exposure."""

from __future__ import annotations

from tests.findings.helpers import SECURE, WEB, check_probe, of, run
from tests.objects import policy

WEB_SEL = {"matchLabels": {"app": "web"}}


def _rule(name, direction, rule):
    return policy(
        "shop",
        name,
        {"podSelector": WEB_SEL, "policyTypes": [direction.title()], direction: [rule]},
    )


def test_np020_public_ipblock_ingress():
    m, report = run(
        *SECURE,
        _rule(
            "cdn",
            "ingress",
            {"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": "http"}]},
        ),
    )
    [f] = of(report, "NP020")
    assert f.evidence["public_cidrs"] == ["203.0.113.0/24"]
    assert f.evidence["ports"] == ["TCP/8080"]  # the named port, resolved on web
    check_probe(m, f)
    exposure = m.external_exposure().of_pod(
        WEB["metadata"]["namespace"] + "/" + WEB["metadata"]["name"]
    )
    assert exposure["ingress"] == [{"ports": ["TCP/8080"], "cidrs": ["203.0.113.0/24"]}]
    assert not of(report, "NP021")


def test_np021_private_outside_range():
    m, report = run(
        *SECURE,
        _rule(
            "vpn",
            "ingress",
            {"from": [{"ipBlock": {"cidr": "172.16.0.0/16"}}], "ports": [{"port": 8080}]},
        ),
    )
    [f] = of(report, "NP021")
    assert f.evidence["external_cidrs"] == ["172.16.0.0/16"] and f.evidence["public_cidrs"] == []
    check_probe(m, f)
    assert not of(report, "NP020")


def test_ipblock_inside_cluster_only_is_not_exposure():
    _, report = run(
        *SECURE,
        _rule(
            "pods",
            "ingress",
            {"from": [{"ipBlock": {"cidr": "10.244.0.0/24"}}], "ports": [{"port": 8080}]},
        ),
    )
    assert not of(report, "NP020") and not of(report, "NP021")
    [f] = of(report, "NP023")  # but it bypasses selectors
    assert f.evidence["pods_matched"] == 4
    assert f.evidence["pod_cidrs"] == ["10.244.0.0/24 (node node-1)"]


def test_np022_metadata_endpoint_and_except_clears_it():
    m, report = run(
        *SECURE,
        _rule(
            "internet",
            "egress",
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]},
        ),
    )
    [f] = [x for x in of(report, "NP022") if x.evidence["address"] == "169.254.169.254"]
    check_probe(m, f)
    assert "169.254.169.254/32" in f.snippet
    _, report = run(
        *SECURE,
        _rule(
            "internet",
            "egress",
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}],
                "ports": [{"port": 443}],
            },
        ),
    )
    assert not of(report, "NP022")


def test_np022_named_port_never_reaches_an_address():
    _, report = run(
        *SECURE,
        _rule(
            "internet",
            "egress",
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": "https"}]},
        ),
    )
    assert not of(report, "NP022") and not of(report, "NP024")
    assert of(report, "NP034")


def test_np023_ipblock_with_cluster_ranges():
    m, report = run(
        *SECURE,
        _rule(
            "internet",
            "egress",
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}],
                "ports": [{"port": 5432}],
            },
        ),
        declared_cidrs=["10.96.0.0/12"],
    )
    [f] = of(report, "NP023")
    assert f.evidence["declared_cidrs"] == ["10.96.0.0/12"]
    assert f.evidence["pods_matched"] == 4
    check_probe(m, f)  # web reaches db by address through this rule
    # except the cluster ranges: no finding
    _, report = run(
        *SECURE,
        _rule(
            "internet",
            "egress",
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                "ports": [{"port": 5432}],
            },
        ),
    )
    assert not of(report, "NP023")


def test_node_addresses_alone_are_not_np023():
    _, report = run(
        *SECURE,
        _rule(
            "nodes",
            "egress",
            {"to": [{"ipBlock": {"cidr": "192.168.0.0/24"}}], "ports": [{"port": 9100}]},
        ),
    )
    assert not of(report, "NP023")


def test_np024_internet_egress():
    m, report = run(
        *SECURE,
        _rule(
            "internet",
            "egress",
            {
                "to": [
                    {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.0.0/16"]}}
                ],
                "ports": [{"port": 443}],
            },
        ),
    )
    [f] = of(report, "NP024")
    assert f.evidence["families"] == ["IPv4"] and f.evidence["ports"] == ["TCP/443"]
    check_probe(m, f)
    _, report = run(
        *SECURE,
        _rule(
            "partner",
            "egress",
            {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"port": 443}]},
        ),
    )
    assert not of(report, "NP024")
