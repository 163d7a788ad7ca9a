"""End to end in a real headless Chromium: which kind decided a connection, and the
page of a cluster-wide policy (issue 13), on the demo (Calico, with an Admin-tier
ClusterNetworkPolicy) and on the Cilium demo."""

from pathlib import Path

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .test_e2e_graph import READY as GRAPH_READY
from .test_pages_objects import _snapshot

pytestmark = pytest.mark.django_db(transaction=True)

CILIUM_DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster_cilium"


def _watch(page) -> list[str]:
    problems = []  # CSP violations and script errors
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "Refused" in m.text else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def test_from_the_admin_tier_deny_to_the_cluster_policy_page(
    live_server, page, personas, demo_snapshot
):
    problems = _watch(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.wait_for_selector("text=Log out viewer")

    # batch's queue workers towards the shop's database: the Admin tier decides.
    page.goto(
        f"{live_server.url}/clusters/demo/reach/?from=batch/Deployment/queue-worker"
        "&to=shop-db/postgres-0&port=5432&protocol=TCP"
    )
    page.wait_for_selector("#verdict")
    verdict = page.inner_text("#verdict")
    assert "DENIED" in verdict
    assert (
        "Decided by the Admin tier: ClusterNetworkPolicy batch-workers-not-to-shop-db, Deny"
        in verdict
    )
    screenshot(page, "kinds-reach-admin-tier")

    page.click("#verdict a:has-text('ClusterNetworkPolicy batch-workers-not-to-shop-db')")
    page.wait_for_selector("h1:has-text('ClusterNetworkPolicy batch-workers-not-to-shop-db')")
    main = page.inner_text("main")
    assert "Admin tier" in main and "priority 20" in main
    assert "queue-worker" in page.inner_text("#subject")
    egress = page.inner_text("#egress")
    assert "no-shop-db" in egress and "Deny" in egress and "postgres" in egress
    assert "kind: ClusterNetworkPolicy" in page.inner_text("#policy-yaml")
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"kinds-cluster-policy-{width}")

    # The workers' own page lists the policy with its tier.
    page.goto(f"{live_server.url}/clusters/demo/workloads/batch/Deployment/queue-worker/")
    other = page.inner_text("table.other-kinds")
    assert "ClusterNetworkPolicy batch-workers-not-to-shop-db" in other and "Admin tier" in other

    # batch has no NetworkPolicy: its namespace page says the cluster-wide policy decides.
    page.goto(f"{live_server.url}/clusters/demo/namespaces/batch/")
    policies = page.inner_text("#policies")
    assert "the policies below decide for its pods" in policies
    assert "ClusterNetworkPolicy batch-workers-not-to-shop-db" in policies
    screenshot(page, "kinds-namespace-batch-1024")

    # The database's incoming list names the NetworkPolicy that decided each row.
    page.goto(f"{live_server.url}/clusters/demo/workloads/shop-db/StatefulSet/postgres/")
    inbound = page.inner_text("#inbound")
    assert "NetworkPolicy shop-db/postgres" in inbound
    screenshot(page, "kinds-workload-decided-1024")
    assert problems == []


def test_cilium_demo_names_the_cilium_policy_that_decided(live_server, page, personas, db):
    _snapshot(CILIUM_DEMO, "demo-cilium")
    problems = _watch(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.wait_for_selector("text=Log out viewer")
    page.set_viewport_size({"width": 1440, "height": 900})

    page.goto(f"{live_server.url}/clusters/demo-cilium/workloads/web/Deployment/api/")
    inbound = page.inner_text("#inbound")
    assert "CiliumNetworkPolicy web/api" in inbound and "frontend" in inbound
    assert "scratch" not in inbound  # the ingressDeny keeps the sandbox out
    screenshot(page, "kinds-cilium-workload-1440")

    page.goto(
        f"{live_server.url}/clusters/demo-cilium/reach/?from=sandbox/Deployment/scratch"
        "&to=web/Deployment/api&port=8080&protocol=TCP"
    )
    verdict = page.inner_text("#verdict")
    assert "DENIED" in verdict and "Denied by CiliumNetworkPolicy web/api" in verdict
    assert "Overridden allow by CiliumNetworkPolicy web/api" in verdict
    screenshot(page, "kinds-cilium-reach-deny")

    # The namespace graph's edge web -> ledger names the Cilium policy that admits it.
    page.goto(f"{live_server.url}/clusters/demo-cilium/graph/")
    page.wait_for_selector(GRAPH_READY)
    page.evaluate("() => window.netpolGraph.getElementById('ns:web>ns:ledger').emit('tap')")
    page.wait_for_selector(
        "#graph-detail-links >> text=Ingress: CiliumNetworkPolicy ledger/isolate-ledger"
    )
    facts = page.inner_text("#graph-detail-facts")
    assert "web/api-" in facts and "ledger/ledger-db-" in facts and "TCP/5432" in facts
    screenshot(page, "kinds-cilium-graph-edge-1440")

    page.goto(
        f"{live_server.url}/clusters/demo-cilium/reach/?from=sandbox/Deployment/scratch"
        "&to=web/Deployment/api&port=8080&protocol=TCP"
    )
    page.click("#verdict a:has-text('CiliumNetworkPolicy web/api') >> nth=0")
    page.wait_for_selector("h1:has-text('CiliumNetworkPolicy web/api')")
    assert "spec.ingressDeny[0]" in page.inner_text("#ingress")
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"kinds-cilium-policy-{width}")
    assert problems == []
