"""Keep each cluster's beat entry in step with the cluster, whoever saves it."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .beat import beat_entry_drop
from .models import Cluster


@receiver(post_save, sender=Cluster)
def _sync_schedule(sender, instance: Cluster, raw=False, **kwargs):
    if not raw:
        from .services import cluster_sync_schedule

        cluster_sync_schedule(cluster=instance)


@receiver(post_delete, sender=Cluster)
def _drop_schedule(sender, instance: Cluster, **kwargs):
    beat_entry_drop(instance)
