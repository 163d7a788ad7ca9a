"""Redis, the broker, restarted under a real worker and beat: mid-snapshot, as the
snapshot is finished, and while beat's tick is due. Redis runs without persistence, so a
restart loses every queued message, as a default Redis deployment does."""

import time

import pytest
from django.test import override_settings

from auditor import services
from auditor.models import Analysis, Snapshot
from auditor.selectors import latest_snapshot

from ..conftest import wait_until
from ..fakekube import FakeKube
from ..objects import small_cluster
from ..test_worker import live_cluster, status_of
from .conftest import assert_whole, first_snapshot, request_collecting, snapshot_and_analyse

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OUTAGE = 3  # seconds Redis stays down


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_redis_restart_mid_snapshot(
    start_celery, redis_server, ping, recovery, tmp_path, concurrency
):
    worker = start_celery("worker", "--concurrency", concurrency)
    with FakeKube(small_cluster()) as kube:
        cluster, good = first_snapshot(kube, tmp_path)

        kube.delay("Pod", 3 * OUTAGE, times=1)  # the snapshot outlasts the outage
        inflight = request_collecting(cluster, kube)
        redis_server.stop()
        time.sleep(OUTAGE)
        assert latest_snapshot(cluster) == good  # the outage shows the last complete one
        redis_server.start()
        recovery.begin()
        wait_until(ping, timeout=60, message="the worker to answer a ping after the restart")
        recovery.end()

        wait_until(lambda: Analysis.objects.filter(snapshot=inflight, status="complete").exists(),
                   timeout=40, message="the in-flight snapshot analysed")
        assert latest_snapshot(cluster) == inflight
        snapshot_and_analyse(cluster)  # the worker still consumes
    assert worker.process.poll() is None, worker.log()[-3000:]
    assert "Unrecoverable error" not in worker.log()
    assert_whole(cluster, 3)


def test_redis_down_when_a_snapshot_completes(start_celery, redis_server, recovery, tmp_path):
    """The snapshot is written while the broker is away, so its analysis cannot be sent:
    the next trigger sends it, and the snapshot is analysed once."""
    start_celery("worker")
    with FakeKube(small_cluster()) as kube:
        cluster, good = first_snapshot(kube, tmp_path)
        kube.delay("Pod", 2, times=1)
        inflight = request_collecting(cluster, kube)
        redis_server.stop()
        wait_until(lambda: status_of(inflight) == "complete", timeout=20,
                   message="the snapshot written during the outage")
        time.sleep(1)
        assert not Analysis.objects.filter(snapshot=inflight, status="complete").exists()
        redis_server.start()
        recovery.begin()
        # The next trigger (beat's, or a person's) finds the snapshot never analysed.
        with override_settings(SNAPSHOT_REQUEUE_AFTER=1):
            assert services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.SCHEDULE)
        wait_until(lambda: Analysis.objects.filter(snapshot=inflight, status="complete").exists(),
                   timeout=40, message="the snapshot written in the outage analysed")
        recovery.end()
        wait_until(lambda: cluster.snapshots.filter(status="complete").count() == 3
                   and Analysis.objects.filter(snapshot__cluster=cluster, status="complete").count() == 3,
                   timeout=40, message="the next snapshot analysed")
    assert good != inflight
    assert_whole(cluster, 3)


def test_redis_restart_while_beat_is_due(start_celery, redis_server, recovery, tmp_path):
    """The tick that falls in the outage is sent when Redis is back, not dropped until
    the next interval."""
    interval = 30
    with FakeKube(small_cluster()) as kube:
        cluster = live_cluster(kube, tmp_path, snapshot_interval=interval)
        worker = start_celery("worker")
        beat = start_celery("beat")
        wait_until(lambda: cluster.snapshots.filter(status="complete").exists(), timeout=40,
                   message="the first scheduled snapshot")
        first = cluster.snapshots.get()
        due = first.created_at.timestamp() + interval
        # Down from a little before the next tick until a little after it.
        time.sleep(max(0, due - 2 - time.time()))
        redis_server.stop()
        time.sleep(max(0, due + OUTAGE - time.time()))
        assert latest_snapshot(cluster) == first
        redis_server.start()
        recovery.begin()
        wait_until(lambda: cluster.snapshots.filter(status="complete").count() == 2,
                   timeout=interval - OUTAGE - 5,
                   message="the tick of the outage, before the one after it")
        recovery.end()
    assert beat.process.poll() is None and worker.process.poll() is None
    assert set(cluster.snapshots.values_list("trigger", flat=True)) == {"schedule"}
    assert cluster.snapshots.count() == 2
