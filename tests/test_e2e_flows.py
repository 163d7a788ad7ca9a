"""End to end in a real headless Chromium: an auditor imports observed flows for the
demo cluster, reads their replay on the Flows page, and sees on the what-if page which
of them a change would deny; at 1440 and 1024 px."""

import time

import pytest

from auditor.management.commands.setup_demo import DEMO_FLOWS

from .browser import log_in, screenshot
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def fits(page) -> bool:
    """Nothing sticks out sideways: the page scrolls down, never across."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1440, 1024])
def test_auditor_imports_flows_and_sees_them_replayed(
    live_server, page, personas, demo_snapshot, settings, tmp_path, width
):
    settings.VAR_DIR = tmp_path
    page.set_viewport_size({"width": width, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, "auditor", PASSWORD)

    # Reached from the overview, not the top navigation.
    page.goto(f"{live_server.url}/")
    page.click("text=Observed flows")
    assert "Observed flows" in page.inner_text("h1")
    empty = page.inner_text("#no-flows")
    assert "hubble observe" in empty and "manage.py import_flows demo FILE" in empty
    screenshot(page, f"flows-empty-{width}")

    # Over the upload limit the browser says so at once, without uploading.
    settings.FLOWS_UPLOAD_MAX_BYTES = 1000
    page.reload()
    page.set_input_files("input[type=file]", str(DEMO_FLOWS))
    page.click("button:has-text('Import')")
    too_big = page.inner_text("#flow-too-big")
    assert f"hubble.jsonl is {DEMO_FLOWS.stat().st_size:,} bytes, over the upload limit" in too_big
    assert "manage.py import_flows demo FILE" in too_big
    assert page.is_enabled("button:has-text('Import')")

    settings.FLOWS_UPLOAD_MAX_BYTES = 2**20
    page.reload()
    page.set_input_files("input[type=file]", str(DEMO_FLOWS))
    page.click("button:has-text('Import')")
    page.wait_for_selector("#flow-figures")
    assert "Imported 21 flows (7 distinct) from hubble.jsonl." in page.inner_text(".messages")
    figures = {
        name: page.inner_text(f"[data-figure={name}]")
        for name in ("matched", "unmatched", "allowed", "denied")
    }
    assert figures == {"matched": "21", "unmatched": "0", "allowed": "15", "denied": "6"}
    denied = page.inner_text("#denied-flows")
    assert "batch/queue-worker-0" in denied and "shop-db/postgres-1" in denied
    assert "TCP/5432" in denied
    unused = page.locator("#unused-rules tbody tr").first.inner_text()
    assert "shop-frontend/admin-ui-allow-all" in unused and "spec.ingress[0]" in unused
    assert fits(page)
    screenshot(page, f"flows-replay-{width}")

    # A deciding rule leads to its policy.
    page.locator("#denied-flows a", has_text="shop-db/postgres").first.click()
    assert "postgres" in page.inner_text("h1")

    # The what-if page: removing the policy that lets orders reach postgres.
    page.goto(f"{live_server.url}/clusters/demo/what-if/")
    page.fill("input[name=q]", "postgres")
    page.click("button[name=browse]")
    page.check("input[name=remove][value='shop-db/postgres']")
    page.click("button[name=run]")
    page.wait_for_selector("#would-deny")
    would = page.locator("#would-deny")
    text = would.inner_text()
    assert "Would deny 3 observed flows" in text
    assert "shop-backend/orders-0" in text and "shop-db/postgres-0" in text
    would.scroll_into_view_if_needed()
    assert fits(page)
    screenshot(page, f"whatif-would-deny-{width}", full_page=False)
    assert not [e for e in errors if "Content Security Policy" in e]


def test_a_large_snapshots_replay_shows_its_progress_then_its_result(
    live_server, page, personas, demo_snapshot, settings, start_celery
):
    """Above FLOWS_INLINE_MAX_PODS a worker replays the flows: the page says it waits,
    then draws the replay without a reload by hand (as the what-if page does for a Run)."""
    from auditor.flows import flows_import, flows_import_delete

    settings.FLOWS_INLINE_MAX_PODS = 0
    # The worker reads the stored conversations under the default VAR_DIR (one of its own
    # would give it another secret key); removed at the end.
    flow_import = flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    try:
        log_in(page, live_server, "viewer", PASSWORD)
        page.goto(f"{live_server.url}/clusters/demo/flows/")
        progress = page.locator("#replay-progress [data-flow-run-url]")
        progress.wait_for()
        assert "pending" in progress.inner_text()  # no worker yet: queued
        assert "0 of 7 conversations" in progress.inner_text()
        assert page.locator("#replay-progress progress").count() == 1
        screenshot(page, "flows-replay-progress")

        start_celery("worker")
        page.wait_for_selector("#flow-figures", timeout=60_000)
        assert page.inner_text("[data-figure=matched]") == "21"
        assert "shop-frontend/admin-ui-allow-all" in page.inner_text("#unused-rules")
        assert page.locator("[data-flow-run-url]").count() == 0
        screenshot(page, "flows-replay-from-worker")
    finally:
        flows_import_delete(flow_import=flow_import)


@pytest.mark.parametrize("width", [1440, 1024])
def test_a_large_upload_shows_its_progress_then_the_imports(
    live_server, page, personas, demo_snapshot, settings, start_celery, tmp_path, width
):
    """A file past FILE_UPLOAD_MAX_MEMORY_SIZE: the browser shows how much is uploaded
    (XMLHttpRequest progress), then the page the import's progress, then the import."""
    from auditor.models import FlowImport

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    big = tmp_path / "week.jsonl"
    big.write_bytes(DEMO_FLOWS.read_bytes() * 20)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/flows/")
    # A slow uplink, so the upload's progress can be seen.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 40_000},
    )
    page.set_input_files("input[type=file]", str(big))
    page.click("button:has-text('Import')")
    uploading = page.locator("#flow-upload-progress .progress")
    uploading.wait_for()
    bar = page.locator("#flow-upload-progress progress")
    deadline = time.monotonic() + 20
    while bar.evaluate("e => e.value") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)  # the page's CSP refuses wait_for_function's eval
    assert 0 < bar.evaluate("e => e.value") < 100
    assert "Uploading week.jsonl:" in uploading.inner_text()
    assert page.is_disabled("button:has-text('Importing')")
    screenshot(page, f"flows-upload-progress-{width}")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    progress = page.locator("#import-progress [data-flow-run-url]")
    progress.wait_for(timeout=30_000)
    assert "Importing week.jsonl" in page.inner_text("#import-progress h2")
    assert "waiting for a worker" in progress.inner_text()  # no worker yet: queued
    assert fits(page)
    screenshot(page, f"flows-import-progress-{width}")
    try:
        start_celery("worker")
        page.wait_for_selector("#import-done", timeout=60_000)
        assert "Imported 420 flows (7 distinct) from week.jsonl." in page.inner_text("#import-done")
        assert "week.jsonl" in page.inner_text("#flow-imports")
        screenshot(page, f"flows-imported-by-worker-{width}")
    finally:
        from auditor.flows import flows_import_delete

        for flow_import in FlowImport.objects.all():
            flows_import_delete(flow_import=flow_import)
