"""PostgreSQL drops the worker's connection in the middle of writing a snapshot."""

import time

import pytest
from django.db import connection
from django.utils import timezone

from auditor import services
from auditor.models import Pod, Snapshot
from auditor.selectors import latest_snapshot

from ..conftest import wait_until
from ..fakekube import FakeKube
from ..objects import small_cluster
from ..test_worker import status_of
from .conftest import assert_whole, first_snapshot, request_collecting, snapshot_and_analyse

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres():
    """Connections of the test's own to the test database, for a lock and for
    ``pg_terminate_backend``: ``postgres()`` opens one."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend needs PostgreSQL: run with DATABASE_URL=postgres://… (CI does)")
    import psycopg

    db = connection.settings_dict
    opened = []

    def connect():
        opened.append(psycopg.connect(
            host=db["HOST"] or "localhost", port=db["PORT"] or 5432, user=db["USER"],
            password=db["PASSWORD"] or None, dbname=db["NAME"], application_name="fault-suite",
            autocommit=True,
        ))
        return opened[-1]

    yield connect
    for conn in opened:
        conn.close()


def terminate_others(pg, own: set[int]) -> int:
    """Cut every other connection to the test database: what a PostgreSQL restart does."""
    return pg.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND NOT pid = ANY(%s)", [list(own)],
    ).fetchone()[0]


def waiting_writer(pg, own: set[int]) -> int | None:
    """The backend of this database that waits on a lock: the worker's write."""
    row = pg.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND NOT pid = ANY(%s)", [list(own)],
    ).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("losses", [1, 2])
def test_connection_lost_while_the_snapshot_is_written(start_celery, postgres, recovery, tmp_path, losses):
    """Lost once, the write is made again on a new connection and the snapshot completes;
    lost again, the snapshot is failed at once, keeps nothing, and the next one runs."""
    start_celery("worker")
    with FakeKube(small_cluster()) as kube:
        cluster, good = first_snapshot(kube, tmp_path)

        # Hold the pods table so the worker's write stops half-way (namespaces inserted,
        # pods waiting), then cut every connection the worker has, as a PostgreSQL restart
        # or a failover does.
        holder, observer = postgres(), postgres()
        connection.ensure_connection()
        own = {holder.info.backend_pid, observer.info.backend_pid, connection.connection.info.backend_pid}
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE auditor_pod IN SHARE MODE")
        inflight = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
        for _ in range(losses):
            # Each poll is its own transaction: pg_stat_activity is a snapshot per transaction.
            wait_until(lambda: waiting_writer(observer, own), timeout=30, message="the write to wait")
            assert terminate_others(observer, own) >= 1
            recovery.begin()
        assert latest_snapshot(cluster) == good
        holder.execute("ROLLBACK")

        if losses == 1:
            wait_until(lambda: Snapshot.objects.filter(pk=inflight.pk, analysis__status="complete").exists(),
                       timeout=20, message="the snapshot written again, and analysed")
            recovery.end()
            assert latest_snapshot(cluster) == inflight
            assert_whole(cluster, 2)
            return

        # Failed at once (not left running until it is stale), with nothing of it kept.
        wait_until(lambda: status_of(inflight) == "failed", timeout=3, message="the snapshot to be failed")
        dead = Snapshot.objects.get(pk=inflight.pk)
        assert "database connection was lost" in dead.error, dead.error
        assert not Pod.objects.filter(snapshot=dead).exists()
        assert latest_snapshot(cluster) == good
        retry = snapshot_and_analyse(cluster)  # the next trigger runs afresh
        recovery.end()
    assert latest_snapshot(cluster) == retry
    dead.delete()
    assert_whole(cluster, 2)


def test_connections_lost_during_collection(start_celery, postgres, recovery, tmp_path):
    """The heartbeat thread loses its connection as well: it reconnects and keeps beating,
    so a long snapshot is not taken for a dead one."""
    start_celery("worker")
    with FakeKube(small_cluster()) as kube:
        cluster, good = first_snapshot(kube, tmp_path)
        kube.delay("Pod", 12, times=1)  # three stale periods (SNAPSHOT_STALE_AFTER=4)
        inflight = request_collecting(cluster, kube)
        observer = postgres()
        connection.ensure_connection()
        time.sleep(1)
        terminate_others(observer, {observer.info.backend_pid, connection.connection.info.backend_pid})
        recovery.begin()
        cut = timezone.now()
        wait_until(lambda: Snapshot.objects.filter(pk=inflight.pk, heartbeat_at__gt=cut).exists(),
                   timeout=10, message="the heartbeat written again")
        recovery.end()
        # A trigger after the stale period must find it alive, not fail it.
        time.sleep(5)
        assert services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL) is None
        assert status_of(inflight) == "running"
        wait_until(lambda: status_of(inflight) == "complete", timeout=30, message="the snapshot to complete")
        assert latest_snapshot(cluster) == inflight != good
        wait_until(lambda: Snapshot.objects.filter(
            pk=inflight.pk, analysis__status="complete").exists(), message="its analysis")
    assert_whole(cluster, 2)
