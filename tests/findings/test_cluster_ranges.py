"""The cluster's ranges without Nodes (a ``kubectl get -o yaml`` export): the pod ranges
are inferred from pod IPs, said to be inferred, and the gaps between pod addresses are
never "outside the cluster"."""

from __future__ import annotations

import pytest

from netpol.engine import InputError, IPSet
from tests.findings.helpers import DNS, deny_all, of, owned, run
from tests.objects import namespace, pod, policy

# Pods scattered over three node ranges of 10.244.0.0/16, as a real cluster places them.
PODS = [
    owned(
        pod("shop", f"web-{i}", {"app": "web"}, ip=ip, ports=[("http", 8080, "TCP")]),
        "ReplicaSet",
        "web",
        "7f9c",
    )
    for i, ip in enumerate(["10.244.0.10", "10.244.1.20", "10.244.7.30", "10.244.200.4"])
]


def _from_block(cidr: str) -> dict:
    return policy(
        "shop",
        "from-block",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 8080}]}],
        },
    )


def _cluster(*extra, declared_cidrs=()):
    return run(
        namespace("shop"),
        namespace("kube-system"),
        DNS,
        *PODS,
        *extra,
        declared_cidrs=declared_cidrs,
    )


def test_without_nodes_pod_ranges_are_inferred_and_said_to_be():
    m, report = _cluster(_from_block("10.244.0.0/16"))
    assert m.pod_ranges == (["10.244.0.0/16"], "inferred")
    assert report.to_dict()["cluster_ranges"] == {
        "pod": ["10.244.0.0/16"],
        "service": [],
        "node": [],
        "source": "inferred",
    }
    # The block holds only the pod range: nothing in it is outside the cluster.
    assert not of(report, "NP020") and not of(report, "NP021")


def test_no_gap_between_pod_ips_is_reported_as_outside():
    m, report = _cluster(_from_block("10.0.0.0/8"))
    [f] = of(report, "NP021")
    outside = IPSet([])
    for cidr in f.evidence["external_cidrs"]:
        outside = outside | IPSet.from_cidr(cidr)
    pod_span = IPSet.from_cidr("10.244.0.0/16")
    assert not (outside & pod_span), "an address between two pods was called outside"
    assert f.evidence["external_cidrs"][:2] == ["10.0.0.0/9", "10.128.0.0/10"]
    assert "10.244.0.0/16" not in f.message


def test_declared_pod_cidr_replaces_the_inference():
    m, report = _cluster(_from_block("10.244.0.0/16"), declared_cidrs={"pod": ["10.244.0.0/17"]})
    assert m.pod_ranges == (["10.244.0.0/17"], "declared")
    # The declared range leaves 10.244.128.0/17 outside, but for the pod that lives there.
    [f] = of(report, "NP021")
    assert "10.244.128.0/17" not in f.evidence["external_cidrs"]
    assert "10.244.128.0/18" in f.evidence["external_cidrs"]


def test_remediation_excepts_ranges_never_pod_addresses():
    egress = policy(
        "shop",
        "anywhere",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
        },
    )
    _, report = _cluster(deny_all("shop"), egress)
    [f] = of(report, "NP023")
    assert f.evidence["cluster_cidrs"] == ["10.244.0.0/16"]
    assert "10.244.0.0/16" in f.snippet and "10.244.1.20" not in f.snippet


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ({"pod": ["10.0.0.0/33"]}, "declared pod CIDR '10.0.0.0/33' is not a CIDR"),
        ({"service": ["fast"]}, "declared service CIDR 'fast' is not a CIDR"),
        ({"nodes": ["10.0.0.0/8"]}, "unknown kind 'nodes'"),
    ],
)
def test_bad_declared_cidrs_are_named(declared, problem):
    with pytest.raises(InputError, match=problem):
        _cluster(declared_cidrs=declared)


def _service(name: str, ip: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "selector": {"app": "web"}},
    }


def test_remediation_with_many_scattered_service_ips_names_blocks_not_addresses():
    services = [_service(f"svc-{i}", f"10.{96 + i % 3}.{i}.{i * 3 % 250 + 1}") for i in range(40)]
    egress = policy(
        "shop",
        "anywhere",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
        },
    )
    _, report = _cluster(deny_all("shop"), egress, *services)
    [f] = of(report, "NP023")
    assert f.evidence["service_ips"] == 40
    excepted = [line.strip("- ") for line in f.snippet.splitlines() if line.startswith("    - ")]
    assert excepted == ["10.96.0.0/15", "10.98.0.0/16", "10.244.0.0/16"]  # merged blocks
    assert len(f.evidence["cluster_cidrs"]) == 21  # 20 shown, then the count of the rest
    assert f.evidence["cluster_cidrs"][-1] == "... and more: 41 address ranges in all"
