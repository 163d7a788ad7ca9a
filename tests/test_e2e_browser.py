"""End to end in a real headless Chromium: overview, snapshot now, a finding and its waiver."""

import pytest
from django.core.management import call_command

from auditor.models import Snapshot, Waiver

from .browser import log_in, screenshot
from .conftest import PASSWORD, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def demo_with_snapshot(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "demo-pass-123")
    call_command("setup_demo")
    call_command("snapshot", "demo")
    from auditor.services import snapshot_analyze

    snapshot_analyze(snapshot=Snapshot.objects.get(status="complete"))


def test_overview_and_history(live_server, page, monkeypatch):
    demo_with_snapshot(monkeypatch)
    log_in(page, live_server, "admin", "demo-pass-123")
    page.wait_for_selector("text=Clusters")
    card = page.inner_text("section.cluster-card")
    assert "demo" in card and "60 pods" in card and "/100" in card and "high" in card
    screenshot(page, "home")

    page.click("p.links >> text=Snapshots")
    page.wait_for_selector("text=Snapshots of demo")
    assert "current" in page.inner_text("table")
    screenshot(page, "snapshots")

    page.goto(f"{live_server.url}/admin/auditor/cluster/")
    assert "demo" in page.inner_text("#result_list")


def test_snapshot_now_shows_progress_until_it_is_in(live_server, page, monkeypatch, personas, start_celery):
    demo_with_snapshot(monkeypatch)
    start_celery("worker")
    log_in(page, live_server, "auditor", PASSWORD)
    page.click("button:has-text('Snapshot now')")
    # The page says it is queued (or already shows its progress); progress.js polls and
    # reloads the page once the snapshot is complete.
    wait_until(lambda: Snapshot.objects.filter(trigger="manual").exists(), timeout=15, message="the manual snapshot")
    newest = Snapshot.objects.get(trigger="manual")
    # The page reloads once the analysis is stored too: collection and analysis, on a
    # loaded machine, may take a while.
    page.wait_for_function(f"() => document.body.innerText.includes('#{newest.pk} · 60 pods')", timeout=90000)
    assert Snapshot.objects.get(pk=newest.pk).status == "complete"
    screenshot(page, "home-after-snapshot-now")


def test_review_a_finding_and_waive_it(live_server, page, monkeypatch, personas):
    demo_with_snapshot(monkeypatch)
    log_in(page, live_server, "auditor", PASSWORD)
    page.click("a.badge.sev-high")
    page.wait_for_selector("table.findings")
    screenshot(page, "findings-high")
    page.click("table.findings tbody tr:first-child a")
    page.wait_for_selector("text=Why it matters")
    assert "Evidence" in page.inner_text("main")
    page.fill("textarea[name=reason]", "Reviewed with the shop team; fixed in the next release")
    page.click("button:has-text('Waive this finding')")
    page.wait_for_selector("text=waived until")
    screenshot(page, "finding-waived")
    assert Waiver.objects.get().reason.startswith("Reviewed with the shop team")


def test_wrong_password_is_refused(live_server, page, django_user_model):
    django_user_model.objects.create_user("viewer", password="right-pass-123")
    log_in(page, live_server, "viewer", "wrong")
    assert "didn't match" in page.inner_text("main")
