"""Uploading a flow file on the Flows page (issue 14: "Large files stream (1 GB of flows in
bounded memory) with progress"): a file past Django's FILE_UPLOAD_MAX_MEMORY_SIZE is on
disk, never in memory, and a worker imports it telling how much it read; an upload over
FLOWS_UPLOAD_MAX_BYTES is stopped and the message names the limit and its setting; a file
that is no flows says at which line; the page's script (XMLHttpRequest) is told where to
go. An import that changes NP048 queues the current snapshot's analysis again."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from auditor import services
from auditor.flows import flows_dir
from auditor.management.commands.setup_demo import DEMO_FLOWS
from auditor.models import Analysis, Cluster, FlowImport, FlowReplayRun, Snapshot
from auditor.replay import services as replay_services
from auditor.replay.services import flows_replay_run_execute, flows_replay_run_fail_stale

from .findings.test_unused_rules import FLOWS

pytestmark = pytest.mark.django_db
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def flows_url(name: str = "demo", **query) -> str:
    base = reverse("webui:flows", args=[name])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_a_file_past_the_memory_limit_is_moved_from_its_temporary_file_and_imported_by_a_worker(
    var_dir, client_as, demo_snapshot, settings, monkeypatch
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    lines = DEMO_FLOWS.read_bytes() * 20
    moved = []
    real_move = replay_services.shutil.move
    monkeypatch.setattr(
        replay_services.shutil, "move", lambda src, dst: moved.append(src) or real_move(src, dst)
    )
    client = client_as("auditor")
    upload = SimpleUploadedFile("hubble.json", lines, content_type="application/json")
    answer = client.post(flows_url(), {"file": upload}, **XHR).json()
    run = FlowReplayRun.objects.get(kind="import")
    assert answer == {"redirect": flows_url(**{"import": run.pk})}
    # Django's TemporaryFileUploadHandler wrote it to disk; it was moved, not copied in memory.
    [source] = moved
    assert source.startswith(settings.FILE_UPLOAD_TEMP_DIR or "/") and source.endswith(
        ".upload.json"
    )
    incoming = flows_dir() / run.params["file"]
    assert incoming.read_bytes() == lines
    page = client.get(answer["redirect"]).content.decode()
    assert "Importing hubble.json" in page
    assert f"Import #{run.pk} pending: waiting for a worker…" in page
    state = client.get(reverse("webui:flows_run", args=["demo", run.pk])).json()
    assert (state["label"], state["done_text"]) == (
        "Import",
        f"0 bytes of {len(lines) / 1024:.1f} KiB read",
    )

    done = flows_replay_run_execute(run_id=run.pk)
    assert (done.status, done.done, done.total) == ("complete", len(lines), len(lines))
    assert not incoming.exists()  # the worker's copy is removed once imported
    flow_import = FlowImport.objects.get()
    assert (flow_import.flows, flow_import.conversations, flow_import.name) == (
        420,
        7,
        "hubble.json",
    )
    assert flow_import.imported_by.username == "auditor"
    page = client.get(answer["redirect"]).content.decode()
    assert "Imported 420 flows (7 distinct) from hubble.json." in page
    assert 'id="import-progress"' not in page


def test_an_upload_over_the_limit_is_stopped_and_named_with_its_setting(
    var_dir, client_as, demo_snapshot, settings
):
    settings.FLOWS_UPLOAD_MAX_BYTES = 2000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = client_as("auditor")
    upload = SimpleUploadedFile("week.json", DEMO_FLOWS.read_bytes() * 20)
    answer = client.post(flows_url(), {"file": upload}, **XHR).json()
    assert answer == {"redirect": flows_url()}
    assert not FlowReplayRun.objects.exists() and not FlowImport.objects.exists()
    assert not (flows_dir() / "incoming").exists()
    # The message waits for the page the script goes to.
    page = client.get(answer["redirect"]).content.decode()
    assert (
        "week.json is over the upload limit of 2.0 KiB (FLOWS_UPLOAD_MAX_BYTES, which the "
        "server&#x27;s environment can raise). Import it on the server with: manage.py "
        "import_flows demo FILE" in page
    )


def test_a_binary_upload_names_the_line_where_reading_failed(var_dir, client_as, demo_snapshot):
    client = client_as("auditor")
    data = b"time,src_ns\n2025-06-01,a\n\x89PNG\x00\x00\x1a\n"
    upload = SimpleUploadedFile("flows.csv", data)
    body = client.post(flows_url(), {"file": upload}, follow=True).content.decode()
    assert (
        "flows.csv: line 3 is binary data, not text: this is no flow file. Import Hubble JSON "
        "or Calico (Goldmane) JSON, one object a line, or CSV, gzipped or not" in body
    )
    assert not FlowImport.objects.exists()


def test_a_bad_upload_imported_by_a_worker_fails_with_its_line_and_what_to_do(
    var_dir, client_as, demo_snapshot, settings
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 16
    client = client_as("auditor")
    upload = SimpleUploadedFile("hubble.json", b'{"flow": {}}\n{not json at all\n')
    response = client.post(flows_url(), {"file": upload})
    run = FlowReplayRun.objects.get(kind="import")
    with pytest.raises(Exception, match="hubble.json:2: not JSON"):
        flows_replay_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "the first: hubble.json:2: not JSON" in run.error
    assert not (flows_dir() / run.params["file"]).exists()
    page = client.get(response.url).content.decode()
    problem = page.split('id="import-problem"')[1].split("</section>")[0]
    assert "Cannot import hubble.json." in problem and "hubble.json:2: not JSON" in problem
    assert "fix the file, or export it again, and import it below" in problem
    assert 'name="replay"' not in problem  # the uploaded file is gone: import it again


@pytest.fixture
def shop(settings, tmp_path):
    """A cluster whose analysed snapshot is current, its unused-rule window 30 days."""
    settings.VAR_DIR = tmp_path / "var"
    with mock.patch("django.db.transaction.on_commit"):
        cluster = Cluster.objects.create(
            name="shop", source=Cluster.Source.MANIFESTS, manifest_path="auditor/demo_cluster"
        )
        snapshot = services.snapshot_request(
            cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
        )
        services.snapshot_collect(snapshot_id=snapshot.pk)
        services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=snapshot.pk))
    return Snapshot.objects.get(pk=snapshot.pk)


def test_an_import_that_covers_the_window_reanalyses_the_current_snapshot(
    shop, client_as, django_capture_on_commit_callbacks
):
    """NP048 no longer waits for the next snapshot (docs/findings.md, NP048)."""
    assert not shop.findings.filter(rule="NP048").exists()  # no flows yet
    client = client_as("auditor")
    sent = []
    upload = SimpleUploadedFile("seen.csv", FLOWS.encode())  # 40 days of flows
    with (
        mock.patch(
            "auditor.tasks.analyze_snapshot.delay", side_effect=lambda *a, **k: sent.append((a, k))
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        client.post(flows_url("shop"), {"file": upload})
    assert sent == [((shop.pk,), {"again": True})]
    page = client.get(flows_url("shop")).content.decode()
    assert "Re-analysing the current snapshot with the new flows" in page
    services.snapshot_analyze(snapshot=shop, again=True)  # what the queued task does
    assert shop.findings.filter(rule="NP048").exists()
    assert Analysis.objects.get(snapshot=shop).status == "complete"
    page = client.get(flows_url("shop")).content.decode()
    assert "Re-analysing the current snapshot" not in page
    # Removing the flows takes NP048 away at once too.
    sent.clear()
    with (
        mock.patch(
            "auditor.tasks.analyze_snapshot.delay", side_effect=lambda *a, **k: sent.append((a, k))
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        client.post(flows_url("shop"), {"delete": FlowImport.objects.get().pk})
    assert sent == [((shop.pk,), {"again": True})]


def test_an_import_that_leaves_the_window_uncovered_queues_nothing(
    shop, client_as, django_capture_on_commit_callbacks
):
    sent = []
    upload = SimpleUploadedFile("hubble.json", DEMO_FLOWS.read_bytes())  # six minutes
    with (
        mock.patch(
            "auditor.tasks.analyze_snapshot.delay", side_effect=lambda *a, **k: sent.append((a, k))
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        client_as("auditor").post(flows_url("shop"), {"file": upload})
    assert FlowImport.objects.count() == 1 and sent == []


def test_changing_the_window_in_the_admin_reanalyses_the_current_snapshot(
    shop, client_as, admin_client, django_capture_on_commit_callbacks
):
    """A window the flows now cover (or no longer do) changes NP048 at once, as an import does."""
    with (
        mock.patch("auditor.tasks.analyze_snapshot.delay"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        client_as("auditor").post(
            flows_url("shop"), {"file": SimpleUploadedFile("seen.csv", FLOWS.encode())}
        )
    services.snapshot_analyze(snapshot=shop, again=True)
    assert shop.findings.filter(rule="NP048").exists()  # 40 days of flows, a 30-day window
    url = reverse("admin:auditor_cluster_change", args=[shop.cluster.pk])
    form = {
        "name": "shop",
        "source": "manifests",
        "manifest_path": "auditor/demo_cluster",
        "snapshot_interval": 600,
        "enabled": "on",
        "unused_rule_window": 60,
    }
    sent = []
    with (
        mock.patch(
            "auditor.tasks.analyze_snapshot.delay", side_effect=lambda *a, **k: sent.append((a, k))
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert admin_client.post(url, form).status_code == 302
    assert sent == [((shop.pk,), {"again": True})]
    # What the queued task does, with the snapshot (and its cluster) loaded afresh.
    services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=shop.pk), again=True)
    assert not shop.findings.filter(rule="NP048").exists()  # 40 days no longer cover 60
    # Saving the cluster without touching the window queues nothing.
    sent.clear()
    with (
        mock.patch(
            "auditor.tasks.analyze_snapshot.delay", side_effect=lambda *a, **k: sent.append((a, k))
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert admin_client.post(url, {**form, "description": "shop"}).status_code == 302
    assert sent == []


def test_an_import_whose_worker_died_fails_and_its_upload_is_removed(
    var_dir, client_as, demo_snapshot, settings
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # to the worker, as a large upload goes
    upload = SimpleUploadedFile("hubble.json", DEMO_FLOWS.read_bytes() * 20)
    client_as("auditor").post(flows_url(), {"file": upload}, **XHR)
    run = FlowReplayRun.objects.get(kind="import")
    incoming = flows_dir() / run.params["file"]
    assert incoming.exists()
    silent = timezone.now() - timedelta(seconds=settings.FLOWS_REPLAY_STALE_AFTER + 5)
    FlowReplayRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=silent)

    run = flows_replay_run_fail_stale(run=FlowReplayRun.objects.get(pk=run.pk))

    assert run.status == "failed"
    assert run.error.endswith(
        "during this import (no heartbeat for "
        f"{settings.FLOWS_REPLAY_STALE_AFTER} s). Import the file again."
    )
    assert not incoming.exists()
