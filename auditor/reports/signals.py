"""Keep each report schedule's beat entry in step with it, whoever saves it."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from auditor.beat import beat_entry_drop
from auditor.models import ReportSchedule


@receiver(post_save, sender=ReportSchedule)
def _sync_report_schedule(sender, instance: ReportSchedule, raw=False, **kwargs):
    if not raw:
        from .services import report_schedule_sync

        report_schedule_sync(schedule=instance)


@receiver(post_delete, sender=ReportSchedule)
def _drop_report_schedule(sender, instance: ReportSchedule, **kwargs):
    """Also when a cluster's deletion takes its schedules along."""
    beat_entry_drop(instance)
