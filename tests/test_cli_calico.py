"""``netaudit reach`` and ``netaudit matrix`` on a cluster mixing NetworkPolicy with
Calico's objects from both of its API groups (``tests/fixtures/cli/calico.yaml``; its
header comment lists the rules), and on a directory holding Calico and Cilium together."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netpol.cli import main
from tests.test_cli import Run

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
CALICO = FIXTURES / "calico.yaml"


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
        ("shop/web-0", "shop/db-0", 5432, 0),  # the v3 Calico NetworkPolicy, after a Pass
        ("batch/job-0", "shop/db-0", 5432, 1),  # the security tier's Deny comes first
        ("monitoring/prom-0", "shop/db-0", 5432, 1),  # the default tier's end: Deny
        ("monitoring/prom-0", "shop/web-0", 8080, 0),  # Kubernetes policy + v1 egress Allow
        ("monitoring/prom-0", "shop/web-0", 9090, 1),  # neither allows 9090
        ("batch/job-0", "shop/web-0", 8080, 1),  # the Kubernetes policy takes monitoring only
        ("batch/job-0", "monitoring/prom-0", 9090, 0),  # no policy selects either: profile
        ("monitoring/prom-0", "8.8.8.8", 443, 1),  # prom's egress policy ends its tier
    ],
)
def test_reach_exits_by_calico_tiers(netaudit, src, dst, port, code):
    run = netaudit("reach", CALICO, "--from", src, "--to", dst, "--port", port, "--protocol", "TCP")
    assert run.code == code, run.out + run.err


def test_staged_policies_are_read_but_never_enforced(netaudit):
    # The fixture stages a GlobalNetworkPolicy selecting all() with no rules: enforced, it
    # would end both tiers of every pod with Deny.
    run = netaudit(
        "reach", CALICO, "--from", "batch/job-0", "--to", "monitoring/prom-0", "--port", 1
    )
    assert run.code == 0, run.out + run.err
    assert "skipped" not in run.err


def test_reach_names_each_calico_tier(netaudit):
    run = netaudit("reach", CALICO, "--from", "batch/job-0", "--to", "shop/db-0", "--port", 5432)
    assert "Calico tier security: gnp/deny-batch-to-db ingress[0] Deny" in run.out
    run = netaudit(
        "reach",
        CALICO,
        "--from",
        "shop/web-0",
        "--to",
        "shop/db-0",
        "--port",
        5432,
        "--format",
        "json",
    )
    ingress = run.json()["ingress"]
    assert ingress["tiers"] == [
        "Calico tier security: gnp/deny-batch-to-db ingress[1] Pass",
        "Calico tier default: calico/shop/allow-web-to-db ingress[0] Allow",
    ]
    assert ingress["decided_by"] == "Calico tier default"


def test_matrix_includes_the_calico_policies(netaudit):
    run = netaudit("matrix", CALICO, "--port", 8080, "--format", "json")
    assert run.code == 0
    got = run.json()
    pods, matrix = got["pods"], got["matrix"]
    allowed = {
        (pods[i], pods[j])
        for i, row in enumerate(matrix)
        for j, ok in enumerate(row)
        if ok and i != j
    }
    # web accepts monitoring only; db nobody on 8080; prom sends only to web; nothing
    # selects the ingress of batch and monitoring.
    assert allowed == {
        ("monitoring/prom-0", "shop/web-0"),
        ("shop/web-0", "batch/job-0"),
        ("shop/db-0", "batch/job-0"),
        ("shop/web-0", "monitoring/prom-0"),
        ("shop/db-0", "monitoring/prom-0"),
        ("batch/job-0", "monitoring/prom-0"),
    }


def test_a_directory_with_calico_and_cilium_reads_both(netaudit, tmp_path):
    shutil.copy(CALICO, tmp_path / "calico.yaml")
    cilium = (FIXTURES / "cilium.yaml").read_text()
    (tmp_path / "cilium.yaml").write_text(cilium[cilium.index("apiVersion: cilium.io/v2") :])

    run = netaudit("reach", tmp_path, "--from", "shop/web-0", "--to", "shop/db-0", "--port", 5432)

    assert run.code == 0, run.out + run.err
    # Every document is read: nothing skipped; the engine says what it does with the mix.
    assert "skipped" not in run.err
    assert "Cilium policies are not evaluated beside Calico policies" in run.err
    assert "calico/shop/allow-web-to-db" in run.out
