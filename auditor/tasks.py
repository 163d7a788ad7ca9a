"""Celery tasks: each loads by id and calls a service; retries belong here."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services
from .models import Cluster, Snapshot

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def snapshot_cluster(cluster_id: int, trigger: str = Snapshot.Trigger.SCHEDULE) -> None:
    """Beat's entry point: request a snapshot (skipped if one is active)."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        logger.warning("cluster #%s no longer exists; its schedule should be gone too", cluster_id)
        return
    if not cluster.enabled and trigger == Snapshot.Trigger.SCHEDULE:
        logger.info("cluster %s is disabled; scheduled snapshot skipped", cluster.name)
        return
    services.snapshot_request(cluster=cluster, trigger=trigger)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_snapshot(snapshot_id: int) -> None:
    """Collect one pending snapshot. Safe to deliver twice: the claim is a compare-and-set."""
    try:
        services.snapshot_collect(snapshot_id=snapshot_id)
    except Exception:
        # Already recorded on the snapshot as its failure; the task itself is done.
        logger.info("snapshot #%s ended failed; see its error text", snapshot_id)


@shared_task(acks_late=True, ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def analyze_snapshot(snapshot_id: int, again: bool = False) -> None:
    snapshot = Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.COMPLETE).first()
    if snapshot is None:
        logger.warning("snapshot #%s is not complete; nothing to analyse", snapshot_id)
        return
    services.snapshot_analyze(snapshot=snapshot, again=again)
