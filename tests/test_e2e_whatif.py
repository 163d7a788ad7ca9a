"""End to end in a real headless Chromium: an auditor runs a what-if on the demo cluster."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .test_whatif import DENY_BATCH

pytestmark = pytest.mark.django_db(transaction=True)


def test_auditor_pastes_a_default_deny_and_sees_what_changes(
    live_server,
    page,
    personas,
    demo_snapshot,
):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/what-if/")
    assert "What-if" in page.inner_text("h1")
    screenshot(page, "whatif-form")

    page.fill("textarea[name=yaml]", DENY_BATCH)
    page.check("input[name=remove][value='shop-frontend/admin-ui-allow-all']")
    page.click("button[name=run]")
    page.wait_for_selector("#result")

    result = page.inner_text("#result")
    assert "batch/default-deny-all" in result and "shop-frontend/admin-ui-allow-all" in result
    assert "Findings removed" in result and "NP003" in result and "NP010" in result
    assert "Connections lost" in result and "batch/Deployment/queue-worker" in result
    # Above the details, the rules elsewhere that the deny makes dead, linked.
    dead = page.locator("p.allow-cut", has_text="shop-db/postgres")
    assert dead.is_visible()
    assert "spec.ingress[0]" in dead.inner_text()
    assert "batch/CronJob/db-backup → shop-db/StatefulSet/postgres on TCP/5432" in dead.inner_text()
    assert dead.bounding_box()["y"] < page.locator("#findings").bounding_box()["y"]
    dead.scroll_into_view_if_needed()
    screenshot(page, "whatif-dead-rule-warning")
    # The form keeps what was tried, ready for the next attempt.
    assert "namespace: batch" in page.input_value("textarea[name=yaml]")
    assert page.is_checked("input[name=remove][value='shop-frontend/admin-ui-allow-all']")
    assert not [e for e in errors if "Content Security Policy" in e]
    screenshot(page, "whatif-result")

    page.fill("textarea[name=yaml]", "kind: NetworkPolicy\n  bad: [\n")
    page.uncheck("input[name=remove][value='shop-frontend/admin-ui-allow-all']")
    page.click("button[name=run]")
    problem = page.inner_text(".whatif-problem")
    assert "pasted YAML, document 1: invalid YAML at line 2" in problem
    screenshot(page, "whatif-bad-yaml")

    # Over the size limit the browser says so at once, without posting.
    page.fill("textarea[name=yaml]", "#" * (1024 * 1024 + 1))
    page.click("button[name=run]")
    assert page.is_visible("#whatif-too-big")
    assert "1,048,577 bytes, over the limit of 1,048,576" in page.inner_text("#whatif-too-big")
    assert page.is_enabled("button[name=run]")


def test_a_run_on_a_large_snapshot_shows_its_progress_then_its_result(
    live_server, page, personas, demo_snapshot, settings, start_celery
):
    """Above WHATIF_INLINE_MAX_PODS the Run is a worker's: the page says it waits, then
    draws the result without a reload by hand."""
    settings.WHATIF_INLINE_MAX_PODS = 0
    log_in(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/what-if/")
    page.fill("textarea[name=yaml]", DENY_BATCH)
    page.click("button[name=run]")
    progress = page.locator("[data-run-url]")
    progress.wait_for()
    assert "run=" in page.url
    assert "pending" in progress.inner_text()  # no worker yet: queued
    screenshot(page, "whatif-run-progress")

    start_celery("worker")
    page.wait_for_selector("#result .whatif-summary", timeout=60_000)
    result = page.inner_text("#result")
    assert "batch/default-deny-all" in result and "Connections lost" in result
    assert "This change cuts DNS." in result and "explicitly allows." in result
    assert page.locator("[data-run-url]").count() == 0
    # The form keeps what was tried.
    assert "namespace: batch" in page.input_value("textarea[name=yaml]")
    screenshot(page, "whatif-run-result")


@pytest.fixture
def calico_snapshot(transactional_db, tmp_path):
    import shutil

    from .test_pages_objects import _snapshot
    from .test_whatif_staged_page import CALICO

    shutil.copy(CALICO, tmp_path)
    return _snapshot(tmp_path, "calico")


@pytest.mark.parametrize("width", [1440, 1024])
def test_auditor_tries_the_staged_policies_with_one_click(
    live_server, browser, personas, calico_snapshot, width
):
    """tests/fixtures/cli/calico.yaml holds one StagedGlobalNetworkPolicy: the page lists
    it, one button runs what enforcing it would change, and each lost connection names
    the Calico tier or policy that decides it."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server.url}/clusters/calico/what-if/")
    staged = page.locator("#staged")
    assert "Staged policies" in staged.inner_text()
    assert "default.deny-everything" in staged.inner_text() and "Set" in staged.inner_text()
    screenshot(page, f"whatif-staged-list-{width}", full_page=False)

    page.click("button[name=staged][value=all]")
    page.wait_for_selector("#result .whatif-summary")
    result = page.locator("#result")
    assert "What enforcing the staged policies would change" in result.inner_text()
    assert "Calico GlobalNetworkPolicy default.deny-everything" in result.inner_text()
    row = page.locator("table.whatif-connections tr", has_text="TCP/5432").first  # web -> db
    assert "Calico tier default" in row.inner_text()
    assert "Calico NetworkPolicy shop/allow-web-to-db" in row.inner_text()
    # The decided column stays readable: no word broken letter by letter.
    cell = row.locator("td").nth(3)
    assert cell.bounding_box()["width"] > 150
    # As if pasted: the enforced form is in the text box.
    assert "kind: GlobalNetworkPolicy" in page.input_value("textarea[name=yaml]")
    assert not [e for e in errors if "Content Security Policy" in e]
    page.locator("#connections").scroll_into_view_if_needed()
    screenshot(page, f"whatif-staged-result-{width}")
    context.close()
