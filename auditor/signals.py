"""Keep beat entries in step with clusters and report schedules, whoever saves them."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Cluster, ReportSchedule


@receiver(post_save, sender=Cluster)
def _sync_schedule(sender, instance: Cluster, raw=False, **kwargs):
    if not raw:
        from .services import cluster_sync_schedule

        cluster_sync_schedule(cluster=instance)


@receiver(post_delete, sender=Cluster)
def _drop_schedule(sender, instance: Cluster, **kwargs):
    if instance.periodic_task_id:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()


@receiver(post_save, sender=ReportSchedule)
def _sync_report_schedule(sender, instance: ReportSchedule, raw=False, **kwargs):
    if not raw:
        from .reports.services import report_schedule_sync

        report_schedule_sync(schedule=instance)


@receiver(post_delete, sender=ReportSchedule)
def _drop_report_schedule(sender, instance: ReportSchedule, **kwargs):
    """Also when a cluster's deletion takes its schedules along."""
    from .reports.services import report_schedule_drop

    report_schedule_drop(schedule=instance)
