"""In a real headless Chromium: an admin schedules the demo's weekly report, an auditor
runs it, and the report page shows what changed, within the CSP."""

from __future__ import annotations

import pytest

from auditor.models import Report, ReportSchedule
from auditor.reports import services

from ..browser import log_in, screenshot
from ..conftest import PASSWORD
from .conftest import take_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_schedule_run_and_read_a_weekly_report(
    live_server, page, personas, demo_cluster, changing_demo
):
    _, change = changing_demo
    problems = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "Refused" in m.text else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    take_snapshot(demo_cluster)

    log_in(page, live_server, "admin", PASSWORD)
    page.wait_for_selector("text=Log out admin")
    page.goto(f"{live_server.url}/clusters/demo/reports/")
    page.click("text=New schedule")
    page.fill("input[name=name]", "Weekly security review")
    page.select_option("select[name=frequency]", "weekly")
    page.select_option("select[name=day_of_week]", "mon")
    page.fill("input[name=time_of_day]", "08:00")
    page.fill("textarea[name=recipients]", "ciso@example.com")
    page.fill("input[name=webhook_url]", "https://hooks.example.com/services/T0/B0/xyz")
    page.fill("input[name=webhook_secret]", "hmac-secret")
    screenshot(page, "reports-schedule-form")
    page.click("button:has-text('Save schedule')")
    page.wait_for_selector("text=Schedule 'Weekly security review' saved: weekly, Monday 08:00.")
    schedule = ReportSchedule.objects.get(name="Weekly security review")
    assert schedule.get_webhook_secret() == "hmac-secret"

    # Last week's report, then this week's snapshot with a change, then "Run now".
    services.report_build(report_id=services.report_request(schedule=schedule, enqueue=False).pk)
    change()
    take_snapshot(demo_cluster)
    page.goto(f"{live_server.url}/clusters/demo/reports/")
    page.click("button:has-text('Run now')")
    page.wait_for_selector("text=is being built")
    report = Report.objects.filter(schedule=schedule).latest("pk")
    services.report_build(report_id=report.pk)
    page.reload()
    page.wait_for_selector("h2:has-text('What changed')")
    main = page.inner_text("main")
    assert "Namespace with no NetworkPolicy" in main and "legacy" in main
    assert "Rule allowing every source or destination" in main  # resolved since last week
    assert "ciso@example.com" in main and "https://hooks.example.com/…" in main
    assert "hmac-secret" not in page.content()
    screenshot(page, "reports-report")
    page.goto(f"{live_server.url}/clusters/demo/reports/")
    screenshot(page, "reports-list")
    assert problems == []
