"""The worker SIGKILLed mid-snapshot and brought back by its supervisor; beat running twice."""

import time

import pytest

from auditor.models import Analysis, Pod, Snapshot
from auditor.selectors import latest_snapshot
from auditor.tasks import run_snapshot

from ..conftest import wait_until
from ..fakekube import FakeKube
from ..objects import small_cluster
from ..test_worker import live_cluster, status_of
from .conftest import assert_whole, first_snapshot, request_collecting

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

VISIBILITY = 5  # seconds; production's CELERY_VISIBILITY_TIMEOUT is an hour


def test_worker_sigkilled_mid_snapshot_the_restarted_worker_finishes_it(
    start_celery, celery_env, recovery, tmp_path, settings
):
    """No trigger needed: the killed task's message was never acknowledged, so the
    restarted worker gets it back once the visibility timeout has passed, takes over the
    snapshot whose heartbeat has stopped, and completes that same snapshot once.
    (tests/test_worker.py covers the other way back: the next trigger fails it and runs anew.)"""
    celery_env["CELERY_VISIBILITY_TIMEOUT"] = str(VISIBILITY)
    worker = start_celery("worker")
    with FakeKube(small_cluster()) as kube:
        cluster, good = first_snapshot(kube, tmp_path)
        kube.delay("Pod", 30, times=1)
        inflight = request_collecting(cluster, kube)
        worker.kill()
        recovery.begin()
        assert status_of(inflight) == "running"
        assert latest_snapshot(cluster) == good
        # The supervisor restarts it (runall, compose and Kubernetes all do).
        time.sleep(max(VISIBILITY, settings.SNAPSHOT_STALE_AFTER) + 1)
        start_celery("worker")
        wait_until(lambda: Analysis.objects.filter(snapshot=inflight, status="complete").exists(),
                   timeout=40, message="the killed snapshot completed by the restarted worker")
        recovery.end()
    assert latest_snapshot(cluster) == inflight
    assert_whole(cluster, 2)


def test_beat_running_twice_doubles_nothing(start_celery, recovery, tmp_path):
    """Two beats on one schedule (a second replica, or an old one not yet gone) send every
    tick twice; each tick still yields at most one snapshot, never two at once, and a task
    delivered again collects nothing twice."""
    interval = 4
    with FakeKube(small_cluster()) as kube:
        kube.delay("Pod", 1)
        cluster = live_cluster(kube, tmp_path, snapshot_interval=interval)
        worker = start_celery("worker", "--concurrency", "2")
        started = time.time()
        start_celery("beat")
        start_celery("beat")
        wait_until(lambda: cluster.snapshots.filter(status="complete").count() >= 3, timeout=60,
                   message="three scheduled snapshots")
        cluster.enabled = False
        cluster.save()
        elapsed = time.time() - started
        wait_until(lambda: not cluster.snapshots.filter(status__in=Snapshot.ACTIVE).exists(),
                   timeout=30, message="the last snapshot to finish")

        # The same collection task delivered again (a broker redelivery) does nothing.
        done = latest_snapshot(cluster)
        recovery.begin()
        run_snapshot.delay(done.pk)
        worker.wait_for_log(f"snapshot #{done.pk} is not pending")
        recovery.end()
        wait_until(lambda: not Analysis.objects.filter(snapshot__cluster=cluster).exclude(status="complete").exists()
                   and Analysis.objects.filter(snapshot__cluster=cluster).count()
                   == cluster.snapshots.filter(status="complete").count(),
                   timeout=20, message="every complete snapshot analysed")

    snapshots = list(cluster.snapshots.order_by("started_at"))
    assert len(snapshots) <= elapsed / interval + 2, "more snapshots than ticks"
    for earlier, later in zip(snapshots, snapshots[1:], strict=False):
        assert earlier.finished_at <= later.started_at, "two snapshots of one cluster ran at once"
    assert "snapshot skipped, snapshot #" in worker.log()
    assert_whole(cluster, len(snapshots))
    assert Pod.objects.filter(snapshot__cluster=cluster).count() == 6 * len(snapshots)
