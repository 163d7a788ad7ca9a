"""What-if runs through a real Celery worker, on the configured broker (Redis in CI)."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from auditor import services
from auditor.models import Analysis, Cluster, Snapshot, WhatIfRun
from auditor.storage import engine_model
from auditor.whatif.services import whatif_run_request
from netpol import whatif

from .conftest import wait_until
from .generated import analysed_cluster
from .test_whatif import DENY_BATCH

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def status_of(run: WhatIfRun) -> str:
    return WhatIfRun.objects.values_list("status", flat=True).get(pk=run.pk)


def test_worker_computes_a_run_and_stores_what_the_page_draws(start_celery):
    start_celery("worker")
    cluster = Cluster.objects.create(
        name="demo",
        source=Cluster.Source.MANIFESTS,
        manifest_path="auditor/demo_cluster",
        enabled=False,
    )
    snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
    wait_until(
        lambda: Analysis.objects.filter(snapshot=snapshot, status="complete").exists(),
        message="the demo snapshot's analysis",
    )
    snapshot.refresh_from_db()
    run = whatif_run_request(
        snapshot=snapshot, user=None, text=DENY_BATCH, remove=["shop-db/redis"], notes=[]
    )
    wait_until(lambda: status_of(run) == "complete", message="the what-if run")
    run.refresh_from_db()
    assert run.progress == "done" and run.error == "" and run.started_at and run.finished_at
    # What the worker stored is what the same comparison gives here, as JSON keeps it.
    expected = whatif.bounded(
        whatif.compare(
            engine_model(snapshot),
            add=whatif.read_policies(DENY_BATCH)[0],
            remove={"shop-db/redis"},
        )
    )
    assert run.result["connections"]["lost_total"] == expected["connections"]["lost_total"] > 0
    assert run.result["allows_cut"] == expected["allows_cut"] != []
    assert run.result["dns_cut"] == expected["dns_cut"]
    assert run.result["changes"] == expected["changes"]


def test_a_worker_killed_mid_run_leaves_a_failed_run_that_says_so(
    start_celery, celery_env, tmp_path, settings, client_as
):
    """5,000 pods: long enough a run to kill its worker while it runs."""
    settings.WHATIF_STALE_AFTER = 4
    celery_env["WHATIF_STALE_AFTER"] = "4"  # the worker's heartbeat: every second
    cluster = analysed_cluster(tmp_path / "big", "big", enabled=False)
    snapshot = cluster.snapshots.get()
    worker = start_celery("worker")
    namespace = "app-0001"
    # A CIDR no policy names: the changed model is built in full, the longest kind of run.
    paste = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: out, namespace: {namespace}}}\n"
        "spec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: 198.51.100.0/24}}]}]}\n"
    )
    run = whatif_run_request(snapshot=snapshot, user=None, text=paste, remove=[], notes=[])
    deadline = time.monotonic() + 60
    while status_of(run) == "pending" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert status_of(run) == "running", "the run finished before the worker could be killed"
    worker.kill()

    client = client_as("auditor")
    status_url = reverse("webui:whatif_run", args=["big", run.pk])
    assert client.get(status_url).json()["status"] == "running"  # its heartbeat is fresh
    state = wait_until(
        lambda: (s := client.get(status_url).json())["status"] == "failed" and s,
        timeout=30,
        message="the dead run to be failed",
    )
    assert "worker stopped during this what-if (no heartbeat for 4 s)" in state["error"]
    page = client.get(reverse("webui:whatif", args=["big"]) + f"?run={run.pk}").content.decode()
    assert "Cannot run this what-if." in page and "Run it again." in page
    assert "data-run-url" not in page  # nothing left spinning
