"""Celery tasks of reports: each loads by id and calls a report service."""

from __future__ import annotations

import logging

from celery import shared_task

from auditor.models import ReportSchedule

from . import services as report_services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def run_report_schedule(schedule_id: int) -> None:
    """Beat's entry point for a report schedule: request a report (skipped if one is on its way)."""
    schedule = ReportSchedule.objects.select_related("cluster").filter(pk=schedule_id).first()
    if schedule is None:
        logger.warning("report schedule #%s no longer exists; its beat entry should be gone too", schedule_id)
        return
    if not schedule.enabled:
        logger.info("report schedule %s is disabled; skipped", schedule)
        return
    report_services.report_request(schedule=schedule)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def build_report(report_id: int) -> None:
    """Build one pending report. Safe to deliver twice: the claim is a compare-and-set."""
    try:
        report_services.report_build(report_id=report_id)
    except Exception:
        logger.info("report #%s ended failed; see its error text", report_id)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
def deliver_report(self, delivery_id: int) -> None:
    """One attempt at a delivery; the service says when to try again (backoff), and
    stops after REPORT_DELIVERY_ATTEMPTS, so max_retries is left to it."""
    try:
        report_services.delivery_send(delivery_id=delivery_id)
    except report_services.DeliveryRetry as retry:
        raise self.retry(countdown=retry.countdown) from None
