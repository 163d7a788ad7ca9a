"""The Flows page's replay of a large snapshot in a worker (``auditor.replay``), as the
what-if runs do (docs/architecture.md, "a what-if Run on a large snapshot"): below
``FLOWS_INLINE_MAX_PODS`` pods the page answers at once; above, a run row is queued,
the page shows its progress, then the result stored by the worker, or its error with
what to do. The run's result is what the inline replay shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from auditor import flows as auditor_flows
from auditor.flows import bounded_replay, flows_dir, flows_import, flows_replay
from auditor.management.commands.setup_demo import DEMO_FLOWS
from auditor.models import Cluster, FlowReplayRun
from auditor.replay.services import (
    flows_replay_run_execute,
    flows_replay_run_for,
)
from auditor.storage import engine_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def worker_replays(settings):
    """Every snapshot counts as large: its replay goes to a worker."""
    settings.FLOWS_INLINE_MAX_PODS = 0
    return settings


def flows_url(name: str = "demo") -> str:
    return reverse("webui:flows", args=[name])


def test_below_the_threshold_the_page_replays_at_once_without_a_run(
    var_dir, client_as, demo_snapshot, settings
):
    assert demo_snapshot.pod_count <= settings.FLOWS_INLINE_MAX_PODS
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    body = client_as("viewer").get(flows_url()).content.decode()
    assert 'data-figure="matched">21<' in body
    assert "data-flow-run-url" not in body and 'id="replay-progress"' not in body
    # The demo's flows span six minutes of one day.
    assert (
        "Flows cover less than a day of the 30-day window: unused-rule findings start when "
        "they cover it." in body
    )
    assert not FlowReplayRun.objects.exists()


def test_above_the_threshold_a_run_is_queued_and_the_page_shows_its_progress(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    client = client_as("viewer")
    body = client.get(flows_url()).content.decode()
    run = FlowReplayRun.objects.get()
    assert (run.status, run.snapshot, run.total, run.done) == ("pending", demo_snapshot, 7, 0)
    run_url = reverse("webui:flows_run", args=["demo", run.pk])
    assert f'data-flow-run-url="{run_url}"' in body
    assert f"Replay #{run.pk} pending: waiting for a worker… 0 of 7 conversations" in body
    assert 'id="flow-figures"' not in body  # no figures until the worker's result
    assert "js/flows.js" in body  # a viewer's page polls too
    # Reloading the page waits on the same run instead of queueing another.
    client.get(flows_url())
    assert FlowReplayRun.objects.count() == 1
    state = client.get(run_url).json()
    assert (state["status"], state["done"], state["total"], state["percent"]) == (
        "pending",
        0,
        7,
        0,
    )


def test_progress_moves_as_the_conversations_are_replayed(var_dir, demo_snapshot, monkeypatch):
    """``progress(done, total)`` rises from 0 to every conversation; the run's counts
    are what it last heard."""
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    monkeypatch.setattr(auditor_flows, "_TELL_EVERY", 2)
    heard = []
    flows_replay(
        cluster=demo_snapshot.cluster,
        model=engine_model(demo_snapshot),
        progress=lambda done, total: heard.append((done, total)),
    )
    assert heard == [(0, 7), (2, 7), (4, 7), (6, 7), (7, 7)]
    run = flows_replay_run_for(snapshot=demo_snapshot, enqueue=False)
    done = flows_replay_run_execute(run_id=run.pk)
    assert (done.status, done.done, done.total, done.fraction) == ("complete", 7, 7, 1.0)


def test_a_computed_run_shows_what_the_inline_replay_shows(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    run = flows_replay_run_for(snapshot=demo_snapshot, enqueue=False)
    done = flows_replay_run_execute(run_id=run.pk)
    assert done.status == "complete" and done.progress == "done" and done.error == ""
    assert done.started_at and done.finished_at
    assert flows_replay_run_execute(run_id=run.pk) is None  # a second delivery finds it taken
    expected = bounded_replay(
        flows_replay(cluster=demo_snapshot.cluster, model=engine_model(demo_snapshot))
    )
    assert done.result == expected
    client = client_as("viewer")
    assert client.get(reverse("webui:flows_run", args=["demo", run.pk])).json()["status"] == (
        "complete"
    )
    stored = client.get(flows_url()).content.decode()
    worker_replays.FLOWS_INLINE_MAX_PODS = 10_000
    inline = client.get(flows_url()).content.decode()
    for text in (
        'data-figure="matched">21<',
        'data-figure="allowed">15<',
        'data-figure="denied">6<',
        "shop-frontend/admin-ui-allow-all",
        f"{expected['unused_rules']['total']}, most opening first",
    ):
        assert text in stored and text in inline, text
    assert "data-flow-run-url" not in stored
    assert FlowReplayRun.objects.count() == 1


def test_a_failed_run_shows_its_error_and_can_be_replayed_again(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flow_import = flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    (flows_dir() / flow_import.stored).unlink()  # the stored conversations are gone
    run = flows_replay_run_for(snapshot=demo_snapshot, enqueue=False)
    with pytest.raises(FileNotFoundError):
        flows_replay_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.finished_at
    assert run.error.startswith("FileNotFoundError: ")
    assert "Replay again; if it fails again, the worker's log has the details." in run.error
    body = client_as("viewer").get(flows_url()).content.decode()
    assert "Cannot replay the flows." in body and "FileNotFoundError" in body
    assert "Ask an auditor to replay them again" in body and "data-flow-run-url" not in body
    assert FlowReplayRun.objects.count() == 1  # a failed run is shown, not retried by itself
    auditor = client_as("auditor")
    assert 'name="replay"' in auditor.get(flows_url()).content.decode()
    response = auditor.post(flows_url(), {"replay": run.pk})
    assert response.status_code == 302
    again = FlowReplayRun.objects.exclude(pk=run.pk).get()
    assert again.status == "pending"
    assert "data-flow-run-url" in auditor.get(flows_url()).content.decode()
    assert auditor.post(flows_url(), {"replay": "x"}).status_code == 404


def test_imports_changed_after_the_request_fail_the_run_saying_what_to_do(
    var_dir, demo_snapshot, worker_replays, tmp_path
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    run = flows_replay_run_for(snapshot=demo_snapshot, enqueue=False)
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS, name="again.jsonl")
    with pytest.raises(Exception, match="flow imports changed"):
        flows_replay_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "reload the page to replay the current ones" in run.error
    # The page asks for the current imports' replay: a new run, not the failed one.
    assert flows_replay_run_for(snapshot=demo_snapshot, enqueue=False).pk != run.pk


def test_a_run_whose_worker_died_fails_with_a_message(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    run = flows_replay_run_for(snapshot=demo_snapshot, enqueue=False)
    beat = timezone.now() - timedelta(seconds=worker_replays.FLOWS_REPLAY_STALE_AFTER - 5)
    FlowReplayRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=beat)
    client = client_as("viewer")
    status_url = reverse("webui:flows_run", args=["demo", run.pk])
    assert client.get(status_url).json()["status"] == "running"  # still beating
    FlowReplayRun.objects.filter(pk=run.pk).update(heartbeat_at=beat - timedelta(seconds=10))
    state = client.get(status_url).json()
    assert state["status"] == "failed"
    assert (
        "worker stopped during this replay (no heartbeat for 60 s). Replay again."
        in (state["error"])
    )
    body = client.get(flows_url()).content.decode()
    assert "Cannot replay the flows." in body and "data-flow-run-url" not in body


def test_runs_are_of_their_own_cluster(var_dir, client_as, demo_snapshot, worker_replays):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    run = flows_replay_run_for(snapshot=demo_snapshot, enqueue=False)
    Cluster.objects.create(name="other", manifest_path="x")
    client = client_as("auditor")
    assert client.get(reverse("webui:flows_run", args=["other", run.pk])).status_code == 404
    assert client.post(flows_url("other"), {"replay": run.pk}).status_code == 404
    assert (
        client_as("stranger").get(reverse("webui:flows_run", args=["demo", run.pk])).status_code
        == 403
    )


def test_inline_a_stored_file_gone_is_said_with_what_to_do(var_dir, client_as, demo_snapshot):
    flow_import = flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    (flows_dir() / flow_import.stored).unlink()
    response = client_as("auditor").get(flows_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert "Cannot replay the flows." in body
    assert "remove that import below and import its file again" in body
    assert 'name="replay"' not in body and not FlowReplayRun.objects.exists()
