"""``netaudit reach`` and ``netaudit matrix`` on a cluster mixing NetworkPolicy with
ClusterNetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy
(``tests/fixtures/cli/tiers.yaml``; its header comment lists the rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol.cli import main
from tests.test_cli import Run

TIERS = Path(__file__).parent / "fixtures" / "cli" / "tiers.yaml"


@pytest.fixture
def netaudit(capsys):
    """``netaudit(*args)``: ``main`` in-process, as in test_cli.py."""

    def run(*args) -> Run:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.mark.parametrize(
    ("src", "dst", "port", "code", "decided"),
    [
        ("batch/job-0", "shop/db-0", 5432, 1, ("egress", "Admin")),  # cnp/isolate-batch
        ("shop/web-0", "shop/db-0", 5432, 0, ("ingress", "NetworkPolicy")),
        ("monitoring/prom-0", "shop/db-0", 9100, 0, ("ingress", "Admin")),  # anp overrides
        ("monitoring/prom-0", "shop/db-0", 5432, 1, ("ingress", "NetworkPolicy")),
        ("shop/web-0", "batch/job-0", 80, 1, ("ingress", "Baseline")),  # banp/default
        ("monitoring/prom-0", "batch/job-0", 9100, 0, ("ingress", "Admin")),
    ],
)
def test_reach_exits_by_the_tiers(netaudit, src, dst, port, code, decided):
    run = netaudit("reach", TIERS, "--from", src, "--to", dst, "--port", port, "--protocol", "TCP")
    assert run.code == code, run.out + run.err
    as_json = netaudit(
        "reach", TIERS, "--from", src, "--to", dst, "--port", port, "--format", "json"
    )
    side, tier = decided
    assert as_json.json()[side]["decided_by"] == tier


def test_reach_names_the_deciding_rule(netaudit):
    run = netaudit("reach", TIERS, "--from", "batch/job-0", "--to", "shop/db-0", "--port", 5432)
    assert "Admin tier: cnp/isolate-batch rule `deny-all` Deny at priority 50" in run.out
    assert "NetworkPolicy tier not reached" in run.out
    run = netaudit("reach", TIERS, "--from", "shop/web-0", "--to", "batch/job-0", "--port", 80)
    assert "Baseline tier: banp/default rule `same-namespace-only` Deny" in run.out


def test_matrix_includes_the_cluster_policies(netaudit):
    run = netaudit("matrix", TIERS, "--port", 9100, "--format", "json")
    assert run.code == 0
    got = run.json()
    pods, matrix = got["pods"], got["matrix"]
    allowed = {
        (pods[i], pods[j])
        for i, row in enumerate(matrix)
        for j, ok in enumerate(row)
        if ok and i != j
    }
    # Only monitoring reaches anything on 9100 (the AdminNetworkPolicy); batch sends nowhere.
    assert allowed == {
        ("monitoring/prom-0", "batch/job-0"),
        ("monitoring/prom-0", "shop/db-0"),
        ("monitoring/prom-0", "shop/web-0"),
    }
