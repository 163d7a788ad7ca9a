"""The audited cluster's API server misbehaves under a real worker: errors, dropped
connections, expired pages, stalls. (tests/test_collect_live.py pins each retry rule on
the collector alone; here the whole snapshot is checked: nothing lost, nothing doubled.)"""

import pytest

from auditor import services
from auditor.models import Pod, Snapshot
from auditor.selectors import latest_snapshot

from ..conftest import wait_until
from ..fakekube import FakeKube
from ..objects import small_cluster
from ..test_worker import status_of
from .conftest import assert_whole, first_snapshot, snapshot_and_analyse

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 4  # KUBE_ATTEMPTS, the default


def transient(kube: FakeKube) -> None:
    kube.fail("Pod", 503, times=2, retry_after="1")
    kube.fail("Service", 429, times=1, retry_after="1")
    kube.drop_connection("NetworkPolicy", mid_body=True)
    kube.drop_connection("Namespace")
    kube.expire_continue_once("Pod")
    kube.delay("Node", 3, times=1)  # past the read timeout once


@pytest.fixture
def worker(start_celery, celery_env):
    # Small pages, so that a continue token can expire; a short read timeout, so that a
    # stall is cut off within the test.
    celery_env.update(KUBE_PAGE_SIZE="2", KUBE_READ_TIMEOUT="2", KUBE_ATTEMPTS=str(ATTEMPTS))
    return start_celery("worker")


def test_transient_api_faults_are_retried_into_one_whole_snapshot(worker, recovery, tmp_path):
    with FakeKube(small_cluster()) as kube:
        cluster, good = first_snapshot(kube, tmp_path)
        transient(kube)
        recovery.begin()  # how much longer the faults make a snapshot take
        snapshot = snapshot_and_analyse(cluster)
        recovery.end()
    assert latest_snapshot(cluster) == snapshot != good
    assert not Snapshot.objects.get(pk=snapshot.pk).error
    assert_whole(cluster, 2)


@pytest.mark.parametrize("fault", ["500", "403", "stall"])
def test_an_api_that_stays_broken_fails_the_snapshot_and_the_last_one_stays_current(
    worker, recovery, tmp_path, fault
):
    with FakeKube(small_cluster()) as kube:
        cluster, good = first_snapshot(kube, tmp_path)
        if fault == "500":
            kube.fail("Pod", 500, times=ATTEMPTS)
        elif fault == "403":
            kube.forbid("Pod")
        else:
            kube.delay("Pod", 3, times=ATTEMPTS)
        broken = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
        wait_until(lambda: status_of(broken) == "failed", timeout=60, message="the snapshot to fail")
        failed = Snapshot.objects.get(pk=broken.pk)
        assert failed.error and "internal error" not in failed.error, failed.error
        assert failed.pod_count == 0 and not Pod.objects.filter(snapshot=failed).exists()
        assert latest_snapshot(cluster) == good

        if fault == "403":
            with kube._lock:  # RBAC fixed by the cluster's admin
                kube._forbidden.clear()
        recovery.begin()  # the API answers again: the next trigger completes
        snapshot_and_analyse(cluster)
        recovery.end()
    failed.delete()
    assert_whole(cluster, 2)
