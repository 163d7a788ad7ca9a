"""``netaudit reach`` and ``netaudit matrix`` on a cluster mixing NetworkPolicy with
CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (``tests/fixtures/cli/cilium.yaml``;
its header comment lists the rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol.cli import main
from tests.test_cli import Run

CILIUM = Path(__file__).parent / "fixtures" / "cli" / "cilium.yaml"


@pytest.fixture
def netaudit(capsys):
    """``netaudit(*args)``: ``main`` in-process, as in test_cli.py."""

    def run(*args) -> Run:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.mark.parametrize(
    ("src", "dst", "port", "code"),
    [
        ("shop/web-0", "shop/db-0", 5432, 0),  # the NetworkPolicy
        ("monitoring/prom-0", "shop/db-0", 9100, 0),  # the Cilium allow joins the union
        ("monitoring/prom-0", "shop/db-0", 5432, 1),
        ("batch/job-0", "shop/db-0", 5432, 1),  # egress lockdown and the clusterwide deny
        ("batch/job-0", "shop/web-0", 80, 1),  # web accepts only monitoring
        ("batch/job-0", "8.8.8.8", 443, 0),  # toEntities world
        ("batch/job-0", "8.8.8.8", 80, 1),
        ("monitoring/prom-0", "shop/web-0", 8080, 0),  # through an L7 rule
        ("shop/db-0", "shop/web-0", 8080, 1),
    ],
)
def test_reach_exits_by_every_kind(netaudit, src, dst, port, code):
    run = netaudit("reach", CILIUM, "--from", src, "--to", dst, "--port", port, "--protocol", "TCP")
    assert run.code == code, run.out + run.err


def test_reach_names_the_cilium_rules(netaudit):
    run = netaudit("reach", CILIUM, "--from", "batch/job-0", "--to", "shop/db-0", "--port", 5432)
    assert "isolated by cilium/batch/lockdown" in run.out
    assert "denied by ccnp/no-batch-to-db spec.ingressDeny[0]" in run.out
    run = netaudit(
        "reach",
        CILIUM,
        "--from",
        "monitoring/prom-0",
        "--to",
        "shop/web-0",
        "--port",
        8080,
        "--format",
        "json",
    )
    ingress = run.json()["ingress"]
    assert ingress["allowed_by"][0]["policy"] == "cilium/shop/web-metrics"
    assert ingress["depends_on"] == [
        "cilium/shop/web-metrics spec.ingress[0]: L7 rule spec.ingress[0].toPorts[0].rules (http)"
    ]


def test_matrix_includes_the_cilium_policies(netaudit):
    run = netaudit("matrix", CILIUM, "--port", 9100, "--format", "json")
    assert run.code == 0
    got = run.json()
    pods, matrix = got["pods"], got["matrix"]
    allowed = {
        (pods[i], pods[j])
        for i, row in enumerate(matrix)
        for j, ok in enumerate(row)
        if ok and i != j
    }
    # db takes monitoring through Cilium; web only 8080; batch sends nowhere on 9100;
    # nothing isolates the ingress of batch and monitoring.
    assert allowed == {
        ("monitoring/prom-0", "shop/db-0"),
        ("monitoring/prom-0", "batch/job-0"),
        ("shop/web-0", "batch/job-0"),
        ("shop/db-0", "batch/job-0"),
        ("shop/web-0", "monitoring/prom-0"),
        ("shop/db-0", "monitoring/prom-0"),
    }
