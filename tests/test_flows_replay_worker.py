"""Flow replays through a real Celery worker, on the configured broker (Redis in CI), as
tests/test_whatif_worker.py does for what-if runs."""

from __future__ import annotations

import pytest

from auditor import services
from auditor.flows import bounded_replay, flows_import, flows_import_delete, flows_replay
from auditor.management.commands.setup_demo import DEMO_FLOWS
from auditor.models import Analysis, Cluster, FlowReplayRun, Snapshot
from auditor.replay.services import flows_replay_run_for
from auditor.storage import engine_model

from .conftest import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_replays_the_flows_and_stores_what_the_page_draws(start_celery):
    # The worker reads the stored conversations under its VAR_DIR, the default one here
    # (a VAR_DIR of its own would give it another secret key): removed at the end.
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
    flow_import = flows_import(cluster=cluster, path=DEMO_FLOWS)
    try:
        run = flows_replay_run_for(snapshot=snapshot)
        wait_until(
            lambda: (
                FlowReplayRun.objects.filter(pk=run.pk)
                .exclude(status="pending")
                .exclude(status="running")
            ),
            message="the flow replay",
        )
        run.refresh_from_db()
        expected = bounded_replay(flows_replay(cluster=cluster, model=engine_model(snapshot)))
    finally:
        flows_import_delete(flow_import=flow_import)
    assert (run.status, run.progress, run.error) == ("complete", "done", "")
    assert (run.done, run.total) == (7, 7)
    assert run.started_at and run.finished_at
    assert run.result == expected and run.result["matched"] == 21


def test_worker_answers_a_suggestion_and_a_whatifs_would_deny(start_celery, settings):
    """The suggestion page's and the what-if page's questions on a large snapshot go to
    the same worker task as the Flows page's replay, and come back as the pages draw them
    inline."""
    from auditor.flows import suggestion_result, whatif_replay

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
    flow_import = flows_import(cluster=cluster, path=DEMO_FLOWS)
    try:
        asked = {
            "suggest": {"namespace": "", "workload": "shop-backend/Deployment/catalog"},
            "whatif": {"yaml": "", "remove": ["shop-db/postgres"]},
        }
        runs = {
            kind: flows_replay_run_for(snapshot=snapshot, kind=kind, params=params)
            for kind, params in asked.items()
        }
        for run in runs.values():
            wait_until(
                lambda run=run: FlowReplayRun.objects.filter(
                    pk=run.pk, status__in=["complete", "failed"]
                ).exists(),
                message=f"the {run.kind} run",
            )
            run.refresh_from_db()
        model = engine_model(snapshot)
        replayed = flows_replay(cluster=cluster, model=model)
        expected = {
            "suggest": suggestion_result(model, replayed, **asked["suggest"]),
            "whatif": whatif_replay(
                cluster=cluster, model=model, text="", remove=asked["whatif"]["remove"]
            ),
        }
    finally:
        flows_import_delete(flow_import=flow_import)
    for kind, run in runs.items():
        assert (run.status, run.error, run.done) == ("complete", "", 7), kind
        assert run.result == expected[kind], kind
    assert runs["whatif"].result["would_deny"]["flows"] == 3
    assert "least-privilege-deployment-catalog" in runs["suggest"].result["yaml"]
