"""End to end in headless Chromium: the demo cluster's graph renders, a namespace opens
its workload graph, and a node's detail panel links to the workload page."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

READY = "#graph[data-state=ready]"


def centre_of(page, node_id: str) -> tuple[float, float]:
    """Where a Cytoscape node is drawn, in page coordinates, for the mouse."""
    x, y = page.evaluate(
        """(id) => {
            const position = window.netpolGraph.getElementById(id).renderedPosition();
            const box = document.getElementById("graph").getBoundingClientRect();
            return [box.left + position.x, box.top + position.y];
        }""",
        node_id,
    )
    return x, y


def test_graph_renders_and_clicks_through(live_server, page, personas, demo_snapshot):
    problems = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.text} {m.location.get('url')}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/graph/")
    page.wait_for_selector(READY)
    assert page.evaluate("() => window.netpolGraph.nodes().length") > 0
    assert page.evaluate("() => window.netpolGraph.edges().length") > 0
    assert page.evaluate(
        "() => window.netpolGraph.getElementById('ns:batch').hasClass('uncovered')"
    )
    page.mouse.move(5, 5)
    screenshot(page, "graph-namespaces")

    # Click a namespace: its detail; double-click: its workload graph.
    x, y = centre_of(page, "ns:shop-backend")
    page.mouse.click(x, y)
    page.wait_for_selector("#graph-detail:not([hidden])")
    assert page.inner_text("#graph-detail-title") == "shop-backend"
    assert "Isolated for ingress" in page.inner_text("#graph-detail-facts")
    page.mouse.dblclick(x, y)
    page.wait_for_url("**/graph/?namespace=shop-backend")
    page.wait_for_selector(READY)
    assert page.evaluate("() => window.netpolGraphData.level") == "workload"
    assert (
        page.evaluate(
            "() => window.netpolGraph.getElementById('wl:shop-backend/Deployment/orders').length"
        )
        == 1
    )
    page.mouse.move(5, 5)
    screenshot(page, "graph-workloads")

    # Click a workload: the detail panel, with a link to its page.
    x, y = centre_of(page, "wl:shop-backend/Deployment/orders")
    page.mouse.click(x, y)
    page.wait_for_selector("#graph-detail:not([hidden])")
    assert page.inner_text("#graph-detail-title") == "orders"
    facts = page.inner_text("#graph-detail-facts")
    assert "Deployment" in facts and "Isolated for egress" in facts
    screenshot(page, "graph-workload-detail")
    page.click("#graph-detail-links >> text=Workload page")
    page.wait_for_url("**/workloads/shop-backend/Deployment/orders/")
    assert "orders" in page.inner_text("main")
    assert problems == []


def test_graph_filters_and_empty_state(live_server, page, personas, demo_snapshot):
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/graph/")
    page.fill("input[name=around]", "shop-db")
    page.fill("input[name=port]", "9999")
    page.click("button:has-text('Apply')")
    page.wait_for_selector("#graph-empty:not([hidden])")
    assert "No flow matches these filters (around shop-db, port TCP/9999)" in page.inner_text(
        "#graph-empty"
    )
    screenshot(page, "graph-filter-empty")

    page.goto(f"{live_server.url}/clusters/demo/graph/?external=1")
    page.wait_for_selector(READY)
    kinds = page.evaluate("() => window.netpolGraph.edges().map((e) => e.data('kind'))")
    assert kinds and set(kinds) == {"external"}
    screenshot(page, "graph-external")

    page.goto(f"{live_server.url}/clusters/demo/graph/elements.json?port=http")
    assert "port must be a number" in page.inner_text("body")
