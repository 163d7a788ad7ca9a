"""``netaudit reach`` and ``matrix`` by workload and namespace, on the demo."""

from __future__ import annotations

from netpol import load_paths
from tests.findings.test_demo import DEMO
from tests.test_cli import netaudit  # noqa: F401  (the fixture)


def test_matrix_by_namespace_is_the_aggregated_pod_matrix(netaudit):  # noqa: F811
    run = netaudit("matrix", DEMO, "--by", "namespace", "--format", "json")
    assert run.code == 0
    assert run.json() == load_paths([DEMO]).grouped_matrix("namespace")
    text = netaudit("matrix", DEMO, "--by", "namespace")
    assert text.out.startswith("31 of 64 namespace pairs allowed on any TCP port")
    assert "  shop-frontend -> shop-backend" in text.out
    assert not any(line.endswith("none") for line in text.out.splitlines())


def test_matrix_by_workload_on_a_port(netaudit):  # noqa: F811
    run = netaudit("matrix", DEMO, "--by", "workload", "--port", "5432", "--format", "json")
    d = run.json()
    assert d["by"] == "workload" and "shop-db/StatefulSet/postgres" in d["groups"]
    i = d["groups"].index("shop-backend/Deployment/orders")
    j = d["groups"].index("shop-db/StatefulSet/postgres")
    assert d["matrix"][i][j] == "all"


def test_reach_from_a_workload_explains_each_class_once(netaudit):  # noqa: F811
    run = netaudit(
        "reach", DEMO, "--from", "shop-frontend/Deployment/storefront",
        "--to", "shop-backend/Deployment/catalog", "--port", "8080",
    )
    assert run.code == 0
    assert run.out.startswith(
        "shop-frontend/Deployment/storefront -> shop-backend/Deployment/catalog on TCP/8080: all allowed"
    )
    assert "allowed by shop-backend/backend-api ingress[rule 0" in run.out
    denied = netaudit(
        "reach", DEMO, "--from", "batch/Deployment/queue-worker", "--to", "shop-db/StatefulSet/postgres",
        "--port", "5432", "--format", "json",
    )
    d = denied.json()
    assert denied.code == (0 if d["allowed"] == "all" else 1)
    assert d["verdicts"] and all("src_pods" in v for v in d["verdicts"])


def test_an_unknown_workload_is_named_with_the_option(netaudit):  # noqa: F811
    run = netaudit("reach", DEMO, "--from", "shop/Deployment/nope", "--to", "shop-db/postgres-0", "--port", "1")
    assert run.code == 2
    assert "--from: no workload 'shop/Deployment/nope' (namespace/Kind/name" in run.err
