"""End to end in headless Chromium: the namespace page on the demo and on a generated
200-namespace cluster, reached from the namespaces table, with its neighbourhood graph
drawn; at 1440 and 1024 px, screenshots in artifacts/."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .test_e2e_graph import (
    READY,
    big_cluster,  # noqa: F401  (the fixture, shared)
    listen,
    nav_fits,
    smallest_label_px,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1440, 1024])
def test_demo_namespace_page_from_the_namespaces_table(live_server, browser, personas, demo_snapshot, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/")
    page.click("table.namespaces a.ns-link >> text=shop-db")
    page.wait_for_url("**/clusters/demo/namespaces/shop-db/")
    page.wait_for_selector(READY)
    nav_fits(page)
    assert "Ingress" in page.inner_text("#coverage") and "Egress" in page.inner_text("#coverage")
    assert "shop-db/postgres" in page.inner_text("#policies")
    assert "postgres" in page.inner_text("#workloads")
    assert "shop-backend" in page.inner_text("#flows")
    ids = page.evaluate("() => window.netpolGraph.nodes().map((n) => n.id())")
    assert "ns:shop-db" in ids and "ns:shop-backend" in ids
    assert smallest_label_px(page) >= 11
    page.mouse.move(5, 5)
    screenshot(page, f"namespace-demo-{width}")
    page.click(".namespace-links >> text=What-if: a default deny here")
    page.wait_for_url("**/what-if/?q=shop-db*")
    assert "default-deny-all" in page.input_value("textarea[name=yaml]")
    assert problems == []
    context.close()


@pytest.mark.parametrize("width", [1440, 1024])
def test_200_namespace_page_and_its_links(live_server, browser, personas, big_cluster, width):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/big/namespaces/app-0007/")
    page.wait_for_selector(READY)
    nav_fits(page)
    assert "team=team-07" in page.inner_text("main")
    assert page.evaluate("() => window.netpolGraphData.filters.around") == "app-0007"
    assert smallest_label_px(page) >= 11
    page.mouse.move(5, 5)
    screenshot(page, f"namespace-200-{width}")
    # kube-system (DNS) hears from most: a peer in its flow lists opens that peer's page.
    page.goto(f"{live_server.url}/clusters/big/namespaces/kube-system/")
    page.wait_for_selector(READY)
    assert page.evaluate("() => window.netpolGraph.nodes().length") > 10
    screenshot(page, f"namespace-200-kube-system-{width}")
    peer = page.locator("#flows a.ns-link").first
    name = peer.inner_text()
    peer.click()
    page.wait_for_url(f"**/clusters/big/namespaces/{name}/")
    page.wait_for_selector(READY)
    assert problems == []
    context.close()
