"""End to end in headless Chromium: the demo cluster's graph renders, a namespace opens
its workload graph, and a node's detail panel links to the workload page."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .generated import analysed_cluster

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


# --- Zoom, fit, search, rules, legibility; the grouped graph and matrix at 200 namespaces


def listen(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: problems.append(m.text)
        if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
        else None,
    )
    return problems


def positions(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries(window.netpolGraph.nodes().map(
            (n) => [n.id(), [Math.round(n.position("x")), Math.round(n.position("y"))]]))"""
    )


def smallest_label_px(page) -> float:
    """The smallest node label as drawn on screen: its font size times the zoom."""
    return page.evaluate(
        """() => {
            const cy = window.netpolGraph;
            const sizes = cy.nodes().filter((n) => n.visible() && n.data("label"))
                .map((n) => parseFloat(n.style("font-size")));
            return Math.min(...sizes) * cy.zoom();
        }"""
    )


def nav_fits(page) -> None:
    """No two links of the top bar overlap and none leaves the window."""
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.topbar a, .topbar button, .topbar strong, .topbar .role')]
            .map((e) => { const r = e.getBoundingClientRect(); return [e.textContent.trim(), r.left, r.top, r.right, r.bottom]; })"""
    )
    width = page.viewport_size["width"]
    for name, left, _top, right, _bottom in boxes:
        assert 0 <= left and right <= width, f"{name} leaves the window: {left}-{right} of {width}"
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, f"{a[0]} and {b[0]} overlap"


@pytest.mark.parametrize("width", [1440, 1024])
def test_demo_graph_is_stable_legible_and_searchable(live_server, browser, personas, demo_snapshot, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/graph/")
    page.wait_for_selector(READY)
    nav_fits(page)
    first = positions(page)
    assert smallest_label_px(page) >= 11
    page.mouse.move(5, 5)
    screenshot(page, f"graph-demo-{width}")
    # The same picture on every load.
    page.reload()
    page.wait_for_selector(READY)
    assert positions(page) == first

    # Zoom and fit.
    zoom = lambda: page.evaluate("() => window.netpolGraph.zoom()")  # noqa: E731
    before = zoom()
    page.click("#graph-zoom-in")
    assert zoom() == pytest.approx(before * 1.25)
    page.click("#graph-zoom-out")
    page.click("#graph-zoom-out")
    assert zoom() < before
    page.click("#graph-actual")
    assert zoom() == 1

    # Search focuses a node and shows its detail.
    page.fill("#graph-search-input", "shop-db")
    page.click("#graph-search button")
    page.wait_for_selector("#graph-detail:not([hidden])")
    assert page.inner_text("#graph-detail-title") == "shop-db"
    assert page.evaluate("() => window.netpolGraph.getElementById('ns:shop-db').selected()")
    page.fill("#graph-search-input", "nothing-like-it")
    page.click("#graph-search button")
    assert "No node matches" in page.inner_text("#graph-search-status")

    # An edge's detail links to the rules allowing it (from the first, legible view).
    page.click("#graph-fit")
    page.reload()
    page.wait_for_selector(READY)
    page.evaluate("() => window.netpolGraph.getElementById('ns:shop-backend>ns:shop-db').emit('tap')")
    page.wait_for_selector("#graph-detail-links >> text=Allowed by shop-db/postgres, ingress rule 0")
    screenshot(page, f"graph-demo-edge-rules-{width}")
    page.click("#graph-detail-links >> text=Allowed by shop-db/postgres, ingress rule 0")
    page.wait_for_url("**/policies/shop-db/postgres/?rule=ingress-0#ingress-0")
    assert problems == []
    context.close()


def test_workload_graph_legend_names_peer_workloads(live_server, page, personas, demo_snapshot):
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/graph/?namespace=shop-db")
    page.wait_for_selector(READY)
    assert page.evaluate("() => window.netpolGraph.nodes('.peer').length") > 0
    assert "Workload of another namespace" in page.inner_text(".graph-legend")
    assert smallest_label_px(page) >= 11


@pytest.fixture
def big_cluster(transactional_db, tmp_path):
    """A generated 200-namespace cluster (the kubectl export shape), snapshotted and analysed."""
    return analysed_cluster(tmp_path, "big", 2_000, 200, 600)


@pytest.mark.parametrize("width", [1440, 1024])
def test_200_namespaces_grouped_with_risk_first_and_a_matrix(live_server, browser, personas, big_cluster, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/big/graph/")
    page.wait_for_selector(READY)
    nav_fits(page)
    data = page.evaluate("() => window.netpolGraphData")
    assert data["level"] == "groups" and data["notes"][0].startswith("200 namespaces in ")
    # Every namespace is drawn, in a group, or named as hidden: nothing silently dropped.
    drawn = page.evaluate(
        """() => window.netpolGraph.nodes().filter((n) => ['namespace', 'nsgroup'].includes(n.data('kind')))
            .map((n) => n.data('member_count') || 1).reduce((a, b) => a + b, 0)"""
    )
    assert drawn == 200
    assert smallest_label_px(page) >= 11
    assert page.is_visible("#graph-risk") and int(page.inner_text("#graph-risk-count").split()[0]) > 0
    page.mouse.move(5, 5)
    screenshot(page, f"graph-200-grouped-{width}")

    # Search for a namespace inside a closed group: the group opens, focused on it.
    page.fill("#graph-search-input", "app-0007")
    page.click("#graph-search button")
    page.wait_for_url("**/graph/?expand=*focus=app-0007")
    page.wait_for_selector(READY)
    assert page.evaluate("() => window.netpolGraph.getElementById('ns:app-0007').selected()")
    assert page.evaluate("() => window.netpolGraph.getElementById('ns:app-0007').parent().data('kind')") == "nsgroup-open"
    assert page.inner_text("#graph-detail-title") == "app-0007"
    screenshot(page, f"graph-200-search-open-group-{width}")

    # The matrix: groups, then a pair of groups, then the rules of a namespace pair.
    page.goto(f"{live_server.url}/clusters/big/graph/?view=matrix")
    rows = page.locator("table.matrix tbody tr").count()
    assert 3 < rows <= 120
    screenshot(page, f"graph-200-matrix-{width}")
    page.locator("table.matrix td:not(.level-none) a[title^='team='][title*='→ team=']").first.click()
    page.wait_for_url("**view=matrix&rows=*")
    assert page.locator("table.matrix thead th.col a").count() > 1
    cell = page.locator("table.matrix td:not(.level-none) a").last
    title = cell.get_attribute("title")
    cell.click()
    page.wait_for_selector("#pair")
    assert page.inner_text("#pair h2") == title.split(":")[0]
    assert title.split(": ", 1)[1] in page.inner_text("#pair")
    assert page.locator("table.matrix td.chosen").count() == 1
    screenshot(page, f"graph-200-matrix-pair-{width}")
    assert problems == []
    context.close()
