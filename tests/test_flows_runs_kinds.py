"""Suggestions and a what-if's would-deny flows on a large snapshot, by a worker (issue 14):
the same run as the Flows page's replay (``FlowReplayRun`` with a ``kind``; docs/
architecture.md, "the replay of a large snapshot's flows"). Below ``FLOWS_INLINE_MAX_PODS``
pods the pages answer at once; above, a run is queued, the page polls it, then draws what
the worker stored: what the inline page shows. Errors say what to do."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from auditor.flows import flows_import
from auditor.management.commands.setup_demo import DEMO_FLOWS
from auditor.models import FlowReplayRun
from auditor.replay.services import flows_replay_run_execute, flows_replay_run_for

pytestmark = pytest.mark.django_db

CATALOG = "shop-backend/Deployment/catalog"
REMOVE_POSTGRES = "shop-db/postgres"  # the policy that lets orders reach postgres


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def worker_replays(settings):
    """Every snapshot counts as large: flows are replayed by a worker."""
    settings.FLOWS_INLINE_MAX_PODS = 0
    return settings


def suggest_url(**query) -> str:
    base = reverse("webui:flows_suggest", args=["demo"])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _yaml_of(body: str) -> str:
    return html.unescape(body.split('id="suggest-yaml">')[1].split("</pre>")[0])


def test_below_the_threshold_a_suggestion_needs_no_run(var_dir, client_as, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    body = client_as("viewer").get(suggest_url(workload=CATALOG)).content.decode()
    assert "least-privilege-deployment-catalog" in _yaml_of(body)
    assert "data-flow-run-url" not in body and not FlowReplayRun.objects.exists()


def test_above_the_threshold_a_suggestion_is_a_run_whose_result_is_the_inline_one(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    client = client_as("viewer")
    body = client.get(suggest_url(workload=CATALOG)).content.decode()
    run = FlowReplayRun.objects.get()
    assert (run.kind, run.params, run.status, run.total) == (
        "suggest",
        {"namespace": "", "workload": CATALOG},
        "pending",
        7,
    )
    run_url = reverse("webui:flows_run", args=["demo", run.pk])
    assert f'data-flow-run-url="{run_url}"' in body
    assert f"Suggestion #{run.pk} pending: waiting for a worker… 0 of 7 conversations" in body
    assert 'id="suggest-yaml"' not in body and "js/flows.js" in body
    # The form lists the snapshot's namespaces while no replay of the flows is stored.
    assert '<option value="shop-db">' in body
    client.get(suggest_url(workload=CATALOG))  # a reload waits on the same run
    assert FlowReplayRun.objects.count() == 1
    state = client.get(run_url).json()
    assert (state["kind"], state["label"], state["status"]) == ("suggest", "Suggestion", "pending")

    done = flows_replay_run_execute(run_id=run.pk)
    assert (done.status, done.progress, done.error, done.done) == ("complete", "done", "", 7)
    stored = client.get(suggest_url(workload=CATALOG)).content.decode()
    worker_replays.FLOWS_INLINE_MAX_PODS = 10_000
    inline = client.get(suggest_url(workload=CATALOG)).content.decode()
    assert _yaml_of(stored) == _yaml_of(inline)
    assert "least-privilege-deployment-catalog" in _yaml_of(stored)
    verified = stored.split('id="suggest-verified"')[1].split("</p>")[0]
    assert verified == inline.split('id="suggest-verified"')[1].split("</p>")[0]
    assert "data-flow-run-url" not in stored
    # Another scope is another question: another run.
    client.get(suggest_url(namespace="shop-backend"))
    worker_replays.FLOWS_INLINE_MAX_PODS = 0
    client.get(suggest_url(namespace="shop-backend"))
    assert FlowReplayRun.objects.filter(kind="suggest").count() == 2


def test_an_unknown_workload_fails_the_run_saying_so_and_it_can_be_asked_again(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    ghost = "shop-backend/Deployment/ghost"
    client_as("viewer").get(suggest_url(workload=ghost))
    run = FlowReplayRun.objects.get()
    with pytest.raises(Exception, match="no such workload"):
        flows_replay_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == f"workload {ghost!r}: no such workload in the snapshot (ns/Kind/name)"
    body = client_as("viewer").get(suggest_url(workload=ghost)).content.decode()
    problem = body.split('id="suggest-problem"')[1].split("</section>")[0]
    assert "Cannot suggest." in problem and "no such workload in the snapshot" in problem
    assert "Ask an auditor to ask for it again" in problem and "data-flow-run-url" not in body
    auditor = client_as("auditor")
    assert 'name="replay"' in auditor.get(suggest_url(workload=ghost)).content.decode()
    response = auditor.post(reverse("webui:flows", args=["demo"]), {"replay": run.pk})
    assert response.status_code == 302
    assert response.url == suggest_url(workload=ghost.replace("/", "%2F")) + (
        f"&snapshot={demo_snapshot.pk}"
    )
    again = FlowReplayRun.objects.exclude(pk=run.pk).get()
    assert (again.kind, again.params, again.status) == ("suggest", run.params, "pending")


def test_a_namespace_and_a_workload_together_are_refused_without_a_run(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    response = client_as("viewer").get(suggest_url(namespace="shop-backend", workload=CATALOG))
    assert response.status_code == 400
    assert "choose a namespace or a workload, not both" in response.content.decode()
    assert not FlowReplayRun.objects.exists()


def _whatif(client, **form):
    url = reverse("webui:whatif", args=["demo"])
    return client.post(url, {"remove": REMOVE_POSTGRES, "run": "1", **form})


def _section(body: str) -> str:
    return body.split('id="would-deny"')[1].split("</div>")[0]


def test_above_the_threshold_a_whatifs_would_deny_is_a_run_drawn_as_inline(
    var_dir, client_as, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    client = client_as("auditor")
    body = _whatif(client).content.decode()
    run = FlowReplayRun.objects.get()
    assert (run.kind, run.params, run.window_days) == (
        "whatif",
        {"yaml": "", "remove": [REMOVE_POSTGRES]},
        0,
    )
    section = _section(body)
    assert f"What-if replay #{run.pk} pending: waiting for a worker… 0 of 7 conversations" in (
        section
    )
    assert 'data-replace="#would-deny"' in section and "Would deny" not in section
    assert "js/flows.js" in body.split('id="would-deny"')[1]
    _whatif(client)  # the same change asked again waits on the same run
    assert FlowReplayRun.objects.count() == 1

    done = flows_replay_run_execute(run_id=run.pk)
    assert done.status == "complete" and done.error == ""
    state = client.get(reverse("webui:flows_run", args=["demo", run.pk])).json()
    assert state["status"] == "complete" and 'id="would-deny"' in state["html"]
    stored = _section(_whatif(client).content.decode())
    worker_replays.FLOWS_INLINE_MAX_PODS = 10_000
    inline = _section(_whatif(client).content.decode())
    assert stored == inline == _section(state["html"])
    assert "Would deny 3 observed flows" in stored and "TCP/5432" in stored


def test_a_failed_whatif_replay_says_why_and_offers_to_replay_again(
    var_dir, client_as, demo_snapshot, worker_replays, monkeypatch
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    client = client_as("auditor")
    _whatif(client)
    run = FlowReplayRun.objects.get()
    FlowReplayRun.objects.filter(pk=run.pk).update(
        status="failed", error="The worker stopped during this replay (no heartbeat for 60 s)."
    )
    state = client.get(reverse("webui:flows_run", args=["demo", run.pk])).json()
    assert "Cannot replay the observed flows on this change." in state["html"]
    assert "no heartbeat for 60 s" in state["html"] and 'name="replay"' in state["html"]
    next_page = reverse("webui:whatif", args=["demo"]) + f"?snapshot={demo_snapshot.pk}"
    response = client.post(
        reverse("webui:flows", args=["demo"]), {"replay": run.pk, "next": next_page}
    )
    assert response.status_code == 302 and response.url == next_page
    # Only a page of this site is gone back to.
    client.post(
        reverse("webui:flows", args=["demo"]), {"replay": run.pk, "next": "https://evil.example/"}
    )
    assert FlowReplayRun.objects.filter(kind="whatif", status="pending").count() == 2
    again = client.post(
        reverse("webui:flows", args=["demo"]),
        {"replay": run.pk, "next": "https://evil.example/"},
    )
    assert again.url.startswith(reverse("webui:flows", args=["demo"]))


def test_the_flows_replay_and_a_suggestion_are_runs_of_their_own(
    var_dir, demo_snapshot, worker_replays
):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    replay = flows_replay_run_for(snapshot=demo_snapshot, enqueue=False)
    suggestion = flows_replay_run_for(
        snapshot=demo_snapshot,
        kind="suggest",
        params={"namespace": "shop-backend", "workload": ""},
        enqueue=False,
    )
    assert replay.pk != suggestion.pk and (replay.kind, replay.params) == ("replay", {})
    assert flows_replay_run_for(snapshot=demo_snapshot, enqueue=False).pk == replay.pk
