"""Snapshots through a real Celery worker and beat, on the configured broker (Redis in CI)."""

import time
from datetime import timedelta

import pytest
from django.test import override_settings

from auditor import services
from auditor.models import Analysis, Cluster, Finding, Pod, Snapshot
from auditor.selectors import latest_snapshot

from .conftest import wait_until
from .fakekube import FakeKube
from .objects import small_cluster

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def live_cluster(kube: FakeKube, tmp_path, **fields) -> Cluster:
    path = kube.write_kubeconfig(tmp_path / "kubeconfig")
    return Cluster.objects.create(
        name="live", source=Cluster.Source.KUBECONFIG, kubeconfig_path=str(path), **fields
    )


def status_of(snapshot: Snapshot) -> str:
    return Snapshot.objects.values_list("status", flat=True).get(pk=snapshot.pk)


def test_worker_collects_a_requested_snapshot_and_hands_it_to_analysis(start_celery, tmp_path):
    worker = start_celery("worker")
    with FakeKube(small_cluster()) as kube:
        cluster = live_cluster(kube, tmp_path, enabled=False)
        snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
        wait_until(lambda: status_of(snapshot) == "complete", message="the snapshot to complete")
    assert Pod.objects.filter(snapshot=snapshot).count() == 6
    worker.wait_for_log(f"snapshot #{snapshot.pk} of live analysed")
    analysis = Analysis.objects.get(snapshot=snapshot)
    assert analysis.status == "complete" and analysis.score is not None
    assert Finding.objects.filter(snapshot=snapshot, rule="NP010", namespace="shop").exists()  # allow-web admits every source


def test_beat_snapshots_on_schedule_and_skips_a_trigger_while_one_runs(start_celery, tmp_path):
    with FakeKube(small_cluster()) as kube:
        kube.delay("Pod", 7, times=1)  # the first snapshot runs past the next trigger
        cluster = live_cluster(kube, tmp_path, snapshot_interval=3)
        worker = start_celery("worker", "--concurrency", "2")
        start_celery("beat")
        wait_until(
            lambda: cluster.snapshots.filter(status="complete").count() >= 2,
            timeout=60,
            message="two scheduled snapshots",
        )
    assert set(cluster.snapshots.values_list("trigger", flat=True)) == {"schedule"}
    worker.wait_for_log("schedule snapshot skipped, snapshot #")


def test_worker_killed_mid_snapshot_leaves_nothing_and_the_next_run_succeeds(
    start_celery, tmp_path, settings
):
    worker = start_celery("worker")
    with FakeKube(small_cluster()) as kube:
        kube.delay("Pod", 30, times=1)
        cluster = live_cluster(kube, tmp_path, enabled=False)
        good = None
        snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
        wait_until(
            lambda: any(path == "/api/v1/pods" for _, path, _ in kube.requests),
            message="the pods list",
        )
        assert status_of(snapshot) == "running"
        worker.kill()

        assert not Pod.objects.filter(snapshot=snapshot).exists()
        assert latest_snapshot(cluster) is good
        # A new trigger while the heartbeat is still fresh is skipped...
        assert services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL) is None
        # ...and once it has gone stale, the dead snapshot is failed and a new one runs.
        time.sleep(settings.SNAPSHOT_STALE_AFTER + 1)
        start_celery("worker")
        retry = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
        assert retry is not None
        wait_until(lambda: status_of(retry) == "complete", message="the next snapshot to complete")

    dead = Snapshot.objects.get(pk=snapshot.pk)
    assert dead.status == "failed" and "worker stopped during collection" in dead.error
    assert not Pod.objects.filter(snapshot=dead).exists()
    assert latest_snapshot(cluster).pk == retry.pk


def test_demo_cluster_through_the_worker_yields_its_pinned_findings(start_celery):
    from .findings.test_demo import EXPECTED

    start_celery("worker")
    cluster = Cluster.objects.create(name="demo", source=Cluster.Source.MANIFESTS,
                                     manifest_path="auditor/demo_cluster", enabled=False)
    snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
    wait_until(lambda: Analysis.objects.filter(snapshot=snapshot, status="complete").exists(),
               message="the demo snapshot's analysis")
    stored = {
        (f.rule, f.object_refs[0], f.evidence.get("direction"), f.evidence.get("rule"))
        for f in Finding.objects.filter(snapshot=snapshot)
    }
    assert stored == EXPECTED
    analysis = Analysis.objects.get(snapshot=snapshot)
    assert analysis.score == 45
    assert analysis.report["score"]["namespaces"]["shop-db"] == 80  # NP050: postgres, two connections from the internet
    assert analysis.report["score"]["namespaces"]["batch"] == 0


def test_a_snapshot_whose_task_message_was_lost_runs_on_the_next_trigger(start_celery, tmp_path, celery_env):
    """The broker lost the queued message: the next trigger sends the task again instead
    of skipping the cluster for half an hour."""
    with FakeKube(small_cluster()) as kube:
        cluster = live_cluster(kube, tmp_path, enabled=False)
        lost = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False)
        Snapshot.objects.filter(pk=lost.pk).update(created_at=lost.created_at - timedelta(seconds=5))
        worker = start_celery("worker")
        with override_settings(SNAPSHOT_REQUEUE_AFTER=1):
            assert services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.SCHEDULE) is None
        wait_until(lambda: status_of(lost) == "complete", message="the waiting snapshot to complete")
    assert cluster.snapshots.count() == 1
    worker.wait_for_log(f"snapshot #{lost.pk} of live analysed")
