"""Report pages for each role: viewers read and download, auditors run and resend,
admins manage schedules; strangers get nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from pypdf import PdfReader

from auditor.models import Delivery, Report, ReportSchedule

from .conftest import take_snapshot
from .helpers import build, make_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(demo_cluster):
    take_snapshot(demo_cluster)
    schedule = make_schedule(
        demo_cluster,
        recipients="ciso@example.com",
        webhook_url="https://hooks.example.com/services/T0/B0/very-secret",
    )
    schedule.set_webhook_secret("hmac-key-never-shown")
    schedule.save()
    return build(schedule)


def url(name, *args):
    return reverse(f"webui:{name}", args=["demo", *args])


def test_stranger_and_anonymous_get_nothing(client, client_as, report):
    assert client.get(url("reports")).status_code == 302  # to the login page
    stranger = client_as("stranger")
    for page in (url("reports"), url("report", report.pk), url("report_export", report.pk, "pdf")):
        assert stranger.get(page).status_code == 403


def test_viewer_reads_the_list_and_the_report_but_changes_nothing(client_as, report):
    viewer = client_as("viewer")
    page = viewer.get(url("reports"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Weekly review" in html and f"#{report.pk}" in html and "weekly, Monday 08:00" in html
    assert "Run now" not in html and "New schedule" not in html
    detail = viewer.get(url("report", report.pk)).content.decode()
    assert (
        "What changed" in detail
        and "Top offenders" in detail
        and "Namespace with no NetworkPolicy" in detail
    )
    assert "ciso@example.com" in detail and "https://hooks.example.com/…" in detail
    assert "very-secret" not in detail and "hmac-key-never-shown" not in detail
    assert "Send again" not in detail
    schedule = report.schedule
    assert viewer.post(url("report_schedule_run", schedule.pk)).status_code == 403
    assert viewer.get(url("report_schedule", schedule.pk)).status_code == 403
    assert viewer.post(url("report_schedule_delete", schedule.pk)).status_code == 403


@pytest.mark.parametrize("fmt", ["pdf", "json", "csv", "sarif"])
def test_viewer_downloads_every_format(client_as, report, fmt, sarif_validator):
    response = client_as("viewer").get(url("report_export", report.pk, fmt))
    assert response.status_code == 200
    assert f'filename="netpol-report-demo-{report.pk}.{fmt}"' in response["Content-Disposition"]
    if fmt == "pdf":
        assert response["Content-Type"] == "application/pdf"
        assert (
            "Network policy audit: demo"
            in PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
        )
    elif fmt == "json":
        assert json.loads(response.content) == report.content
    elif fmt == "csv":
        assert response.content.decode().startswith("severity,rule,title")
    else:
        sarif_validator.validate(json.loads(response.content))


def test_unknown_format_or_unfinished_report_is_404(client_as, report):
    viewer = client_as("viewer")
    assert viewer.get(url("report_export", report.pk, "docx")).status_code == 404
    pending = Report.objects.create(cluster=report.cluster, schedule=None)
    assert viewer.get(url("report_export", pending.pk, "pdf")).status_code == 404
    page = viewer.get(url("report", pending.pk))
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.content.decode()


def test_auditor_runs_a_schedule_now_and_sends_a_failed_delivery_again(client_as, report):
    auditor = client_as("auditor")
    assert "Run now" in auditor.get(url("reports")).content.decode()
    response = auditor.post(url("report_schedule_run", report.schedule.pk))
    queued = Report.objects.filter(schedule=report.schedule, trigger=Report.Trigger.MANUAL).latest(
        "pk"
    )
    assert queued.pk != report.pk and queued.status == Report.Status.PENDING
    assert response.status_code == 302 and response["Location"] == url("report", queued.pk)
    # A second click while it is on its way is skipped, and says so.
    again = auditor.post(url("report_schedule_run", report.schedule.pk), follow=True)
    assert "already has a report on its way" in again.content.decode()

    delivery = report.deliveries.get(channel=Delivery.Channel.EMAIL)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, attempts=5, last_error="boom"
    )
    page = auditor.get(url("report", report.pk)).content.decode()
    assert "Send again" in page and "boom" in page
    auditor.post(url("report_delivery_retry", delivery.pk))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    # Auditors do not manage schedules.
    assert auditor.get(url("report_schedule_new")).status_code == 403
    assert auditor.get(url("report_schedule", report.schedule.pk)).status_code == 403


def test_admin_creates_a_weekly_schedule_on_beat_with_an_encrypted_secret(
    client_as, demo_cluster, personas
):
    admin = client_as("admin")
    assert admin.get(url("report_schedule_new")).status_code == 200
    response = admin.post(
        url("report_schedule_new"),
        {
            "name": "Weekly for the CISO",
            "enabled": "on",
            "frequency": "weekly",
            "day_of_week": "fri",
            "time_of_day": "07:30",
            "cron": "",
            "send": "changed",
            "recipients": "ciso@example.com\nsec@example.com",
            "attach_pdf": "on",
            "webhook_url": "https://hooks.example.com/x",
            "webhook_format": "slack",
            "webhook_secret": "topsecret",
        },
    )
    assert response.status_code == 302
    schedule = ReportSchedule.objects.get(name="Weekly for the CISO")
    assert schedule.cluster == demo_cluster and schedule.created_by == personas["admin"]
    assert schedule.recipient_list == ["ciso@example.com", "sec@example.com"]
    assert (
        schedule.get_webhook_secret() == "topsecret"
        and "topsecret" not in schedule.webhook_secret_encrypted
    )
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "7", "fri")
    assert task.task == "auditor.reports.tasks.run_report_schedule" and task.args == f"[{schedule.pk}]"

    edit = admin.get(url("report_schedule", schedule.pk)).content.decode()
    assert "topsecret" not in edit and schedule.webhook_secret_encrypted not in edit
    assert "A secret is stored" in edit
    # Saving without a new secret keeps the stored one.
    admin.post(
        url("report_schedule", schedule.pk),
        {
            "name": "Weekly for the CISO",
            "frequency": "cron",
            "cron": "0 6 * * 1-5",
            "day_of_week": "mon",
            "time_of_day": "08:00",
            "send": "always",
            "recipients": "ciso@example.com",
            "webhook_url": "",
            "webhook_format": "json",
        },
    )
    schedule.refresh_from_db()
    assert schedule.get_webhook_secret() == "topsecret" and schedule.enabled is False
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week, task.enabled) == (
        "0",
        "6",
        "1-5",
        False,
    )

    admin.post(url("report_schedule_delete", schedule.pk))
    assert not ReportSchedule.objects.filter(pk=schedule.pk).exists()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_schedule_form_errors_are_shown(client_as, demo_cluster):
    make_schedule(demo_cluster, name="Taken")
    page = client_as("admin").post(
        url("report_schedule_new"),
        {
            "name": "Taken",
            "frequency": "cron",
            "cron": "99 * * *",
            "day_of_week": "mon",
            "time_of_day": "08:00",
            "send": "always",
            "recipients": "not-an-address",
            "webhook_url": "ftp://x",
            "webhook_format": "json",
        },
    )
    assert page.status_code == 400
    html = page.content.decode()
    assert "already has a schedule named" in html
    assert "Five fields" in html
    assert "is not an email address" in html
    assert ReportSchedule.objects.filter(cluster=demo_cluster).count() == 1


def test_admin_pages_for_reports_render(client, personas, report):
    superuser = personas["admin"]
    superuser.is_superuser = True
    superuser.save()
    client.force_login(superuser)
    for path in (
        "/admin/auditor/reportschedule/",
        f"/admin/auditor/reportschedule/{report.schedule.pk}/change/",
        "/admin/auditor/report/",
        f"/admin/auditor/report/{report.pk}/change/",
        "/admin/auditor/delivery/",
        "/admin/auditor/reportschedule/add/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "hmac-key-never-shown" not in response.content.decode()
    response = client.post(
        "/admin/auditor/reportschedule/",
        {"action": "run_now", "_selected_action": [report.schedule.pk]},
        follow=True,
    )
    assert "queued" in response.content.decode()
