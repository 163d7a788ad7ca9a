"""End to end in headless Chromium: the attack paths to the demo's crown jewel, reached
from the graph page, drawn and listed, and a workload's blast radius on its page; at 1440
and 1024 px, screenshots in artifacts/."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .test_e2e_graph import listen, nav_fits

pytestmark = pytest.mark.django_db(transaction=True)

JEWEL = "shop-db/StatefulSet/postgres"


@pytest.mark.parametrize("width", [1440, 1024])
def test_paths_from_the_internet_to_the_crown_jewel(live_server, browser, personas, demo_snapshot, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/graph/")
    page.click("text=Attack paths to crown jewels")
    page.wait_for_url("**/clusters/demo/attack-paths/")
    page.wait_for_selector("#paths-graph[data-state=ready]")
    nav_fits(page)
    assert "reached from the internet within 4 hops" in page.inner_text("#jewels")
    first = page.locator(".attack-path").first
    assert "2 hops to" in first.inner_text() and JEWEL in first.inner_text()
    rows = first.locator("table.hops tbody tr")
    assert rows.count() == 2
    assert "the internet" in rows.nth(0).inner_text()
    assert "TCP/5432" in rows.nth(1).inner_text()
    # The drawing: the internet on the left, the jewel on the right, labels legible.
    drawn = page.evaluate(
        """() => { const cy = window.netpolPaths;
            return { ids: cy.nodes().map((n) => n.id()), zoom: cy.zoom(),
                     internet: cy.$id('internet').renderedPosition().x,
                     jewel: cy.$id('shop-db/StatefulSet/postgres').renderedPosition().x,
                     font: Math.min(...cy.nodes().map((n) => parseFloat(n.style('font-size')))) }; }"""
    )
    assert "internet" in drawn["ids"] and JEWEL in drawn["ids"]
    assert drawn["internet"] < drawn["jewel"]
    assert drawn["font"] * drawn["zoom"] >= 11
    page.mouse.move(5, 5)
    screenshot(page, f"attack-paths-demo-{width}")

    # A rule opening a hop opens the policy page at that rule.
    link = rows.nth(1).locator(".hop-rules a").first
    link.click()
    page.wait_for_url("**/clusters/demo/policies/**")
    assert "rule=" in page.url

    # The workload page gives its blast radius and leads to paths from it.
    page.goto(f"{live_server.url}/clusters/demo/workloads/shop-frontend/Deployment/storefront/")
    blast = page.inner_text("#blast-radius")
    assert "1 crown jewel among them" in blast
    screenshot(page, f"workload-blast-radius-{width}")
    page.click("#blast-radius >> text=Attack paths from here")
    page.wait_for_selector("#paths-graph[data-state=ready]")
    assert "from shop-frontend/Deployment/storefront" in page.inner_text("#paths")
    assert problems == []
    context.close()
