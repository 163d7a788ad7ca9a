"""End to end in a real headless Chromium: log in and see the demo cluster's snapshots."""

import pytest
from django.core.management import call_command

from .browser import browser, log_in, page, screenshot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_log_in_and_see_the_demo_cluster_snapshot(live_server, page, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ADMIN_PASSWORD", "demo-pass-123")
    call_command("setup_demo")
    call_command("snapshot", "demo")

    log_in(page, live_server, "admin", "demo-pass-123")
    page.wait_for_selector("text=Clusters")
    body = page.inner_text("main")
    assert "demo" in body and "Complete" in body
    assert "pods" in body and "policies" in body
    screenshot(page, "home")

    page.click("text=All snapshots of demo")
    page.wait_for_selector("text=Snapshots of demo")
    assert "current" in page.inner_text("table")
    screenshot(page, "snapshots")

    page.goto(f"{live_server.url}/admin/auditor/cluster/")
    assert "demo" in page.inner_text("#result_list")
    screenshot(page, "admin-clusters")


def test_wrong_password_is_refused(live_server, page, django_user_model):  # noqa: F811
    django_user_model.objects.create_user("viewer", password="right-pass-123")
    log_in(page, live_server, "viewer", "wrong")
    assert "didn't match" in page.inner_text("main")
