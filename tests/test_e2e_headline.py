"""End to end in headless Chromium: the score and its reason on the overview and the
namespaces table of a generated 5,000-pod, 200-namespace cluster, at 1440 and 1024 px;
screenshots in artifacts/."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .generated import analysed_cluster
from .test_e2e_graph import listen, nav_fits

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cluster_200(transactional_db, tmp_path):
    """``kubectl_list(5000, 200, 1000)`` registered as a manifests cluster, snapshotted and analysed."""
    return analysed_cluster(tmp_path, "wide")


def inside(page, selector: str) -> None:
    """Every element matching ``selector`` lies within the window's width."""
    width = page.viewport_size["width"]
    for left, right in page.eval_on_selector_all(
        selector, "(els) => els.map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })"
    ):
        assert 0 <= left and right <= width + 1, f"{selector} spans {left}-{right} of {width}"


@pytest.mark.parametrize("width", [1440, 1024])
def test_overview_and_namespaces_table_explain_the_score_at_200_namespaces(
    live_server, browser, personas, cluster_200, width
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)

    page.goto(f"{live_server.url}/")
    nav_fits(page)
    reason = page.inner_text(".cluster-card .headline-reason")
    assert "of 200 namespaces pass CIS 5.3.2; score" in reason and reason.endswith("fix that first.")
    assert page.locator(".fix-first-line a").count() == 3
    inside(page, ".cluster-card")
    page.mouse.move(5, 5)
    screenshot(page, f"headline-home-200-{width}")

    page.goto(f"{live_server.url}/clusters/wide/?sort=score")
    assert page.inner_text("[data-figure=reason]") == reason
    assert page.locator(".drivers tbody tr").count() == 5
    assert page.locator(".fix-first li").count() == 3
    inside(page, ".stats.card")
    inside(page, "table.namespaces")
    # the lowest score first, its costliest cause named beside it and its sentence on hover
    first = page.locator("table.namespaces td.ns-score").first
    assert first.locator(".why a").count() == 1
    assert "points lost" in first.get_attribute("title")
    page.mouse.move(5, 5)
    screenshot(page, f"headline-namespaces-200-{width}")
    # the cause links to its finding
    first.locator(".why a").click()
    page.wait_for_url("**/findings/?q=*")
    assert page.locator("text=No finding matches").count() == 0
    assert problems == []
    context.close()
