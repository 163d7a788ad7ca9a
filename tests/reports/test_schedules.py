"""Schedules on beat: the crontab entry follows the schedule; a real beat fires a weekly
report and a real worker builds it and delivers it by email and webhook, retrying."""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from auditor.models import Cluster, Delivery, Report, ReportSchedule
from auditor.reports import services
from auditor.reports.delivery import SIGNATURE_HEADER
from tests.conftest import wait_until

from .conftest import take_snapshot
from .helpers import make_schedule

WEEKDAYS = [day.value for day in ReportSchedule.Weekday]  # Monday first, as datetime.weekday()


def crontab_of(schedule) -> tuple:
    task = PeriodicTask.objects.select_related("crontab").get(pk=schedule.periodic_task_id)
    c = task.crontab
    return (
        c.minute,
        c.hour,
        c.day_of_month,
        c.month_of_year,
        c.day_of_week,
        str(c.timezone),
        task.enabled,
    )


@pytest.mark.django_db
def test_beat_entry_follows_the_schedule(demo_cluster, settings):
    schedule = make_schedule(demo_cluster)  # weekly, Monday 08:00 by default
    assert crontab_of(schedule) == ("0", "8", "*", "*", "mon", settings.TIME_ZONE, True)
    assert schedule.when == "weekly, Monday 08:00"
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "auditor.reports.tasks.run_report_schedule" and json.loads(task.args) == [
        schedule.pk
    ]
    # Unlike a cluster's snapshots, a new schedule waits for its time: no start time in the past.
    assert task.start_time is None and task.last_run_at is None

    schedule.frequency = ReportSchedule.Frequency.DAILY
    schedule.time_of_day = "18:45"
    schedule.save()
    assert crontab_of(schedule)[:5] == ("45", "18", "*", "*", "*")
    schedule.frequency, schedule.cron, schedule.enabled = (
        ReportSchedule.Frequency.CRON,
        "*/15 9-17 * * 1-5",
        False,
    )
    schedule.save()
    assert crontab_of(schedule) == ("*/15", "9-17", "*", "*", "1-5", settings.TIME_ZONE, False)
    assert PeriodicTask.objects.filter(task="auditor.reports.tasks.run_report_schedule").count() == 1

    # The cluster's deletion takes its schedules and their beat entries along.
    Cluster.objects.filter(pk=demo_cluster.pk).delete()
    assert not PeriodicTask.objects.filter(task="auditor.reports.tasks.run_report_schedule").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cron", "ok"),
    [
        ("0 7 * * 1", True),
        ("*/5 * * * *", True),
        ("0 7 * *", False),
        ("61 * * * *", False),
        ("0 7 * * funday", False),
    ],
)
def test_cron_expressions_are_checked(demo_cluster, cron, ok):
    schedule = ReportSchedule(
        cluster=demo_cluster, name="x", frequency=ReportSchedule.Frequency.CRON, cron=cron
    )
    if ok:
        schedule.full_clean()
    else:
        with pytest.raises(ValidationError) as exc:
            schedule.full_clean()
        assert "cron" in exc.value.message_dict


@pytest.mark.django_db
def test_the_beat_task_skips_disabled_and_deleted_schedules(demo_cluster):
    from auditor.reports.tasks import run_report_schedule

    schedule = make_schedule(demo_cluster, enabled=False)
    run_report_schedule(schedule.pk)
    run_report_schedule(schedule.pk + 1000)
    assert not Report.objects.exists()


def worker_env(celery_env, smtp_sink):
    celery_env.update(
        {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": smtp_sink.host,
            "EMAIL_PORT": str(smtp_sink.port),
            "EMAIL_USE_TLS": "0",
            "SITE_URL": "https://audit.example.com",
            "REPORT_DELIVERY_BACKOFF": "1",
            "REPORT_DELIVERY_ATTEMPTS": "3",
        }
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_fires_a_weekly_report_that_arrives_by_email_and_webhook(
    start_celery, celery_env, smtp_sink, receiver, demo_cluster, changing_demo
):
    _, change = changing_demo
    take_snapshot(demo_cluster)
    # Weekly, on this weekday at this minute: beat only looks at crontabs whose hour is
    # near the current one (django-celery-beat filters the others out).
    now = timezone.localtime()
    schedule = make_schedule(
        demo_cluster,
        name="Weekly security review",
        recipients="ciso@example.com",
        webhook_url=receiver.url,
        day_of_week=WEEKDAYS[now.weekday()],
        time_of_day=now.time().replace(second=0, microsecond=0),
    )
    schedule.set_webhook_secret("hmac-key")
    schedule.save()
    last_week = services.report_request(schedule=schedule, enqueue=False)
    services.report_build(report_id=last_week.pk)
    Delivery.objects.filter(report=last_week).update(status=Delivery.Status.SENT)
    change()
    take_snapshot(demo_cluster)
    # Its last run a week and a day ago: beat finds this week's run due at once.
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        last_run_at=timezone.now() - timedelta(days=8)
    )
    receiver.answers = [503]  # the first POST fails: the worker retries it after the backoff

    worker_env(celery_env, smtp_sink)
    worker = start_celery("worker")
    beat = start_celery("beat")
    try:
        report = wait_until(
            lambda: (
                Report.objects.filter(schedule=schedule, trigger="schedule", status="complete")
                .exclude(pk=last_week.pk)
                .first()
            ),
            message="the scheduled report",
        )
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nbeat:\n{beat.log()[-3000:]}\nworker:\n{worker.log()[-3000:]}"
        ) from None
    wait_until(
        lambda: set(report.deliveries.values_list("status", flat=True)) == {"sent"},
        message="both deliveries to be sent",
    )

    assert report.previous == last_week and report.changed is True
    assert report.new_count >= 1 and report.resolved_count >= 1
    [mail] = smtp_sink.messages
    message = email.message_from_bytes(mail["data"], policy=email.policy.default)
    assert mail["to"] == ["ciso@example.com"]
    assert "legacy" in message.get_body(("plain",)).get_content()
    assert (
        f"https://audit.example.com/clusters/demo/reports/{report.pk}/"
        in message.get_body(("plain",)).get_content()
    )
    assert [p.get_content_type() for p in message.iter_attachments()] == ["application/pdf"]

    webhook = report.deliveries.get(channel="webhook")
    assert webhook.attempts == 2 and len(receiver.requests) == 2
    body = receiver.requests[-1]["body"]
    expected = "sha256=" + hmac.new(b"hmac-key", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(receiver.requests[-1]["headers"][SIGNATURE_HEADER], expected)
    payload = json.loads(body)
    assert payload["report"]["id"] == report.pk
    assert {f["namespace"] for f in payload["changes"]["new"]} >= {"legacy"}
    assert (
        payload["report"]["links"]["pdf"]
        == f"https://audit.example.com/clusters/demo/reports/{report.pk}/export.pdf"
    )
    worker.wait_for_log("next attempt in 1 s")
    # Only once: the next run is a week away.
    assert Report.objects.filter(schedule=schedule).count() == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_gives_up_on_a_receiver_that_is_down_and_keeps_the_report(
    start_celery, celery_env, smtp_sink, down_url, demo_cluster
):
    take_snapshot(demo_cluster)
    schedule = make_schedule(demo_cluster, webhook_url=down_url)
    worker_env(celery_env, smtp_sink)
    worker = start_celery("worker")
    report = services.report_request(schedule=schedule, trigger=Report.Trigger.MANUAL)
    delivery = wait_until(
        lambda: Delivery.objects.filter(report=report, status="failed").first(),
        timeout=60,
        message="the delivery to fail",
    )
    assert delivery.attempts == 3 and delivery.last_error.startswith(
        "gave up after 3 attempts: cannot reach"
    )
    report.refresh_from_db()
    assert report.status == "complete" and report.content["summary"]["score"] == 45
    worker.wait_for_log(f"delivery #{delivery.pk} (webhook to http://127.0.0.1")
