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


@pytest.fixture
def every_kind(tmp_path):
    """calico.yaml with ClusterNetworkPolicies and a Cilium policy beside it."""
    shutil.copy(CALICO, tmp_path / "calico.yaml")
    shutil.copy(FIXTURES / "every-kind-extra.yaml", tmp_path / "extra.yaml")
    return tmp_path


@pytest.mark.parametrize(
    ("src", "dst", "port", "code", "decided"),
    [
        # The Admin tier accepts both sides before Calico's default tier refuses them.
        ("monitoring/prom-0", "shop/db-0", 5432, 0, "cnp/monitoring-scrapes-db rule `to-db`"),
        # Nothing else isolates monitoring: the Admin tier's Deny is the only say.
        ("batch/job-0", "monitoring/prom-0", 9090, 1, "cnp/monitoring-refuses-batch"),
        # The Kubernetes NetworkPolicy allows it in the default tier; the Cilium deny wins.
        ("monitoring/prom-0", "shop/web-0", 8080, 1, "cilium/shop/web-refuses-monitoring"),
        # Unchanged by the new policies: Calico's answers stand.
        ("shop/web-0", "shop/db-0", 5432, 0, "calico/shop/allow-web-to-db"),
        ("batch/job-0", "shop/db-0", 5432, 1, "Calico tier security: gnp/deny-batch-to-db"),
    ],
)
def test_reach_with_every_kind_together(netaudit, every_kind, src, dst, port, code, decided):
    run = netaudit("reach", every_kind, "--from", src, "--to", dst, "--port", port)

    assert run.code == code, run.out + run.err
    assert "skipped" not in run.err and "ignored" not in run.err
    assert decided in run.out


def test_reach_explains_the_whole_chain(netaudit, every_kind):
    run = netaudit(
        "reach", every_kind, "--from", "monitoring/prom-0", "--to", "shop/db-0", "--port", 5432
    )

    assert run.code == 0
    ingress = run.out[run.out.index("ingress at shop/db-0") :].splitlines()
    # Calico's security tier (order 100) passes, then the Admin tier (1000) decides before
    # Calico's default tier, where the NetworkPolicies are.
    assert [line.strip() for line in ingress[1:4]] == [
        "Calico tier security: gnp/deny-batch-to-db ingress[1] Pass",
        "Admin tier: cnp/monitoring-scrapes-db rule `from-monitoring` Accept at priority 10",
        "not reached: Calico tier default",
    ]


def test_matrix_with_every_kind_together(netaudit, every_kind):
    run = netaudit("matrix", every_kind, "--port", 5432, "--format", "json")

    assert run.code == 0, run.err
    got = run.json()
    pods, matrix = got["pods"], got["matrix"]
    allowed = {(pods[i], pods[j]) for i, row in enumerate(matrix) for j, ok in enumerate(row) if ok}
    into_db = {src for src, dst in allowed if dst == "shop/db-0" and src != dst}
    # web by Calico's NetworkPolicy, prom by the Admin tier; batch refused by Calico's
    # security tier.
    assert into_db == {"shop/web-0", "monitoring/prom-0"}
    assert ("batch/job-0", "monitoring/prom-0") not in allowed


def test_a_tier_end_deny_names_the_policies_that_brought_the_pod_into_the_tier(netaudit):
    run = netaudit(
        "reach", CALICO, "--from", "monitoring/prom-0", "--to", "shop/db-0", "--port", 5432
    )

    assert run.code == 1
    # Calico: "If no policy in the tier matches, the tier's default action applies" to the
    # endpoints the tier's policies select; the answer says which ones selected them.
    assert (
        "ingress at shop/db-0: denied - default action Deny at the tier's end "
        "(it selects shop/db-0: calico/shop/allow-web-to-db)" in run.out
    )
    assert (
        "egress at monitoring/prom-0: denied - default action Deny at the tier's end "
        "(it selects monitoring/prom-0: calico/monitoring/prom-egress)" in run.out
    )
