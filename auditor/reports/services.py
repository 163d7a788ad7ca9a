"""Writes for reports: schedules on beat, building reports, delivering them.

1. ``report_schedule_sync`` keeps a schedule's beat entry (a crontab) in step with it.
2. ``report_request`` creates a *pending* report, unless the schedule has one pending
   or building (a partial unique index decides), and enqueues its build on commit.
3. ``report_build`` claims it (pending → running, compare-and-set), stores the content
   of the latest analysed snapshot, and creates one delivery per recipient and webhook,
   all in one transaction: a report is never half-written, and it is stored before
   anything is sent, so a failed delivery never loses it.
4. ``delivery_send`` makes one attempt. A transient failure leaves it *retrying* with
   the time of the next attempt and raises ``DeliveryRetry`` for the task to retry with
   backoff; after ``REPORT_DELIVERY_ATTEMPTS`` attempts, or on a permanent failure, it
   is *failed* with the error shown on the report page.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from auditor.beat import beat_entry_sync
from auditor.models import Delivery, Report, ReportSchedule
from auditor.selectors import team_namespaces

from . import delivery as senders
from . import selectors
from .content import build_content

logger = logging.getLogger(__name__)

ACTIVE = (Report.Status.PENDING, Report.Status.RUNNING)
BACKOFF_CAP = 3600  # seconds


class DeliveryRetry(Exception):
    def __init__(self, countdown: int):
        super().__init__(f"retry in {countdown} s")
        self.countdown = countdown


# --- Schedules ----------------------------------------------------------------------


def report_schedule_sync(*, schedule: ReportSchedule) -> None:
    """Create or update the schedule's beat entry so it matches the schedule.

    Unlike a cluster's snapshots, a new report schedule does not run at once: it first
    runs at its next time (use "Run now" for a report today).
    """
    from django_celery_beat.models import CrontabSchedule

    crontab, _ = CrontabSchedule.objects.get_or_create(
        **schedule.crontab_fields(), timezone=settings.TIME_ZONE
    )
    beat_entry_sync(
        schedule, name=f"report {schedule.name} of {schedule.cluster.name} (#{schedule.pk})",
        task="auditor.reports.tasks.run_report_schedule", args=[schedule.pk], crontab=crontab,
        enabled=schedule.enabled,
        description=f"Report '{schedule.name}' of {schedule.cluster.name}; edit it on the cluster's Reports page.",
    )


# --- Reports ------------------------------------------------------------------------


def report_fail_stale(*, schedule: ReportSchedule) -> int:
    """A report whose task was lost (broker wiped, worker killed) would block its schedule."""
    cutoff = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    return Report.objects.filter(
        schedule=schedule, status__in=ACTIVE, created_at__lt=cutoff
    ).update(
        status=Report.Status.FAILED,
        finished_at=timezone.now(),
        error="The report's task never finished (worker lost); the next run starts afresh.",
    )


def report_request(
    *,
    schedule: ReportSchedule,
    trigger: str = Report.Trigger.SCHEDULE,
    user=None,
    enqueue: bool = True,
) -> Report | None:
    """A new pending report, or None when the schedule already has one on its way."""
    report_fail_stale(schedule=schedule)
    try:
        with transaction.atomic():
            report = Report.objects.create(
                cluster_id=schedule.cluster_id,
                schedule=schedule,
                trigger=trigger,
                requested_by=user if user and user.is_authenticated else None,
            )
    except IntegrityError:
        logger.info(
            "schedule %s: %s report skipped, one is already pending or building",
            schedule.pk,
            trigger,
        )
        return None
    if enqueue:
        from .tasks import build_report

        transaction.on_commit(lambda: build_report.delay(report.pk))
    return report


def _claim(report_id: int) -> bool:
    return bool(
        Report.objects.filter(pk=report_id, status=Report.Status.PENDING).update(
            status=Report.Status.RUNNING, started_at=timezone.now()
        )
    )


def report_build(*, report_id: int) -> Report | None:
    """Build and store one pending report, then queue its deliveries; None if not pending."""
    if not _claim(report_id):
        logger.info("report #%s is not pending (taken or finished); nothing to do", report_id)
        return None
    report = Report.objects.select_related("schedule", "cluster").get(pk=report_id)
    snapshot = selectors.latest_analysed_snapshot(report.cluster)
    if snapshot is None:
        Report.objects.filter(pk=report.pk).update(
            status=Report.Status.FAILED,
            finished_at=timezone.now(),
            error=f"{report.cluster.name} has no analysed snapshot yet: take a snapshot, then run the report again.",
        )
        logger.warning("report #%s of %s: no analysed snapshot", report.pk, report.cluster.name)
        return None
    try:
        previous = selectors.previous_report(report)
        team = report.schedule.team if report.schedule else ""
        if previous is not None and ((previous.content or {}).get("team") or {}).get("name", "") != team:
            previous = None  # the schedule changed team: compare like with like, from the snapshot before
        baseline = None if previous else selectors.analysed_snapshot_before(snapshot)
        content = build_content(
            report=report, snapshot=snapshot, previous=previous, baseline_snapshot=baseline,
            team=team, namespaces=team_namespaces(report.cluster, snapshot, team),
        )
        compared = content["changes"]["baseline"] is not None
        with transaction.atomic():
            updated = Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(
                status=Report.Status.COMPLETE,
                finished_at=timezone.now(),
                error="",
                snapshot=snapshot,
                previous=previous,
                content=content,
                changed=content["changes"]["changed"],
                score=content["summary"]["score"],
                counts=content["summary"]["counts"],
                new_count=content["changes"]["new_count"] if compared else None,
                resolved_count=content["changes"]["resolved_count"] if compared else None,
            )
            if not updated:
                raise RuntimeError("the report was marked failed while it was being built")
            report.refresh_from_db()
            deliveries = deliveries_create(report=report)
    except Exception as exc:
        Report.objects.filter(pk=report.pk).update(
            status=Report.Status.FAILED,
            finished_at=timezone.now(),
            error=f"internal error: {type(exc).__name__}: {exc}",
        )
        logger.exception("report #%s of %s failed", report.pk, report.cluster.name)
        raise
    logger.info(
        "report #%s of %s complete: snapshot #%s, changed=%s, %d deliveries",
        report.pk,
        report.cluster.name,
        snapshot.pk,
        report.changed,
        sum(d.status == Delivery.Status.PENDING for d in deliveries),
    )
    return report


def deliveries_create(*, report: Report) -> list[Delivery]:
    """One delivery per recipient and webhook; *skipped* ones when nothing changed and
    the schedule sends only on change, so the page says why nothing arrived."""
    schedule = report.schedule
    if schedule is None:
        return []
    skip = schedule.send == ReportSchedule.Send.CHANGED and report.changed is False
    status = Delivery.Status.SKIPPED if skip else Delivery.Status.PENDING
    rows = [
        Delivery(report=report, channel=Delivery.Channel.EMAIL, target=address, status=status)
        for address in schedule.recipient_list
    ]
    if schedule.webhook_url:
        rows.append(
            Delivery(
                report=report,
                channel=Delivery.Channel.WEBHOOK,
                target=senders.redact_url(schedule.webhook_url),
                status=status,
            )
        )
    Delivery.objects.bulk_create(rows)
    created = list(Delivery.objects.filter(report=report).order_by("id"))  # ids on every database
    if not skip:
        from .tasks import deliver_report

        for row in created:
            transaction.on_commit(lambda pk=row.pk: deliver_report.delay(pk), robust=True)
    return created


# --- Deliveries -----------------------------------------------------------------------


def report_links(report: Report) -> senders.Links:
    base = settings.SITE_URL.rstrip("/")
    page = reverse("webui:report", args=[report.cluster.name, report.pk])

    def export(fmt: str) -> str:
        return base + reverse("webui:report_export", args=[report.cluster.name, report.pk, fmt])

    return senders.Links(
        html=base + page,
        pdf=export("pdf"),
        json=export("json"),
        csv=export("csv"),
        sarif=export("sarif"),
    )


def pdf_name(report: Report) -> str:
    return f"netpol-report-{report.cluster.name}-{report.pk}.pdf"


def _claim_delivery(delivery_id: int) -> bool:
    """Pending or retrying → sending; a *sending* row whose worker died is taken over."""
    now = timezone.now()
    stale = now - timedelta(
        seconds=2 * max(settings.REPORT_WEBHOOK_TIMEOUT, settings.EMAIL_TIMEOUT) + 60
    )
    ready = Q(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]) | Q(
        status=Delivery.Status.SENDING, last_attempt_at__lt=stale
    )
    return bool(
        Delivery.objects.filter(ready, pk=delivery_id).update(
            status=Delivery.Status.SENDING,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            next_attempt_at=None,
        )
    )


def backoff(attempt: int) -> int:
    """Seconds before attempt ``attempt + 1``: REPORT_DELIVERY_BACKOFF × 2^(attempt-1)."""
    return min(BACKOFF_CAP, settings.REPORT_DELIVERY_BACKOFF * 2 ** (attempt - 1))


def delivery_send(*, delivery_id: int) -> Delivery | None:
    """One attempt at one delivery. Raises ``DeliveryRetry`` when it should be tried again."""
    if not _claim_delivery(delivery_id):
        logger.info("delivery #%s is not waiting to be sent; nothing to do", delivery_id)
        return None
    delivery = Delivery.objects.select_related("report__schedule", "report__cluster").get(
        pk=delivery_id
    )
    try:
        code = _send(delivery)
    except senders.DeliveryError as exc:
        final = not exc.transient or delivery.attempts >= settings.REPORT_DELIVERY_ATTEMPTS
        error = str(exc)
        if final and exc.transient:
            error = f"gave up after {delivery.attempts} attempts: {error}"
        countdown = None if final else backoff(delivery.attempts)
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED if final else Delivery.Status.RETRYING,
            last_error=error[:2000],
            response_code=exc.code,
            next_attempt_at=None if final else timezone.now() + timedelta(seconds=countdown),
        )
        log = logger.error if final else logger.warning
        log(
            "delivery #%s (%s to %s) of report #%s, attempt %d: %s%s",
            delivery.pk,
            delivery.channel,
            delivery.target,
            delivery.report_id,
            delivery.attempts,
            error,
            "" if final else f"; next attempt in {countdown} s",
        )
        if countdown is not None:
            raise DeliveryRetry(countdown) from None
        return delivery
    except Exception as exc:
        # A bug, not the receiver: visible on the page, not retried.
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED,
            last_error=f"internal error: {type(exc).__name__}: {exc}"[:2000],
        )
        raise
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), last_error="", response_code=code
    )
    logger.info(
        "delivery #%s (%s to %s) of report #%s sent",
        delivery.pk,
        delivery.channel,
        delivery.target,
        delivery.report_id,
    )
    delivery.refresh_from_db()
    return delivery


def _send(delivery: Delivery) -> int | None:
    report = delivery.report
    schedule = report.schedule
    content = report.content
    links = report_links(report)
    if delivery.channel == Delivery.Channel.EMAIL:
        from .pdf import render_pdf

        attach = schedule is None or schedule.attach_pdf
        from .html import display

        context = {"c": display(content), "links": links, "report": report}
        senders.send_email(
            to=delivery.target,
            subject_line=senders.subject(content),
            text=render_to_string("reports/email.txt", context),
            html=render_to_string("reports/email.html", context),
            pdf=render_pdf(content, link=links.html) if attach else None,
            pdf_name=pdf_name(report),
        )
        return None
    if schedule is None or not schedule.webhook_url:
        raise senders.DeliveryError(
            "the schedule or its webhook was removed before this delivery", transient=False
        )
    try:
        secret = schedule.get_webhook_secret()
    except ValueError as exc:
        raise senders.DeliveryError(
            str(exc).replace("token", "webhook secret"), transient=False
        ) from None
    sent_at = timezone.now().isoformat()
    if schedule.webhook_format == ReportSchedule.WebhookFormat.SLACK:
        body = {"text": senders.slack_text(content, links)}
    else:
        body = senders.webhook_payload(content, links, delivery_id=delivery.pk, sent_at=sent_at)
    return senders.post_webhook(
        url=schedule.webhook_url,
        body=senders.json_body(body),
        secret=secret,
        delivery_id=delivery.pk,
    )


def delivery_retry(*, delivery: Delivery) -> bool:
    """Send a failed (or skipped) delivery again, from a fresh count of attempts."""
    updated = Delivery.objects.filter(
        pk=delivery.pk, status__in=[Delivery.Status.FAILED, Delivery.Status.SKIPPED]
    ).update(status=Delivery.Status.PENDING, attempts=0, next_attempt_at=None)
    if updated:
        from .tasks import deliver_report

        transaction.on_commit(lambda: deliver_report.delay(delivery.pk))
    return bool(updated)
