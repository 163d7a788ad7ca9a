"""Observed flows in the app: the import (service, command, upload), the Flows page and
the what-if page's would-deny list, on the demo cluster and its Hubble file. What the
pages show is what ``netpol.flows`` answers for the same files."""

from __future__ import annotations

import gzip
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from auditor.flows import (
    FlowImportError,
    flows_dir,
    flows_import,
    flows_replay,
    stored_conversations,
)
from auditor.management.commands.setup_demo import DEMO_FLOWS
from auditor.models import Cluster, FlowImport, FlowReplayRun
from auditor.replay.services import flows_replay_run_execute
from auditor.storage import engine_model
from netpol import whatif
from netpol.flows import replay
from webui.views.common import policy_page_url

# Written for these tests from the CSV columns the issue names: one flow matched by
# name, one by IP only, one to a pod the snapshot does not hold, one the CNI says it
# dropped though the policies allow it, and a line that is no flow.
CSV = """\
time,src_ns,src_pod,dst_ns,dst_pod,dst_ip,port,protocol,verdict
2025-06-01T10:00:00Z,shop-frontend,storefront-0,shop-backend,catalog-0,,8080,TCP,ALLOWED
2025-06-01T10:00:01Z,shop-frontend,storefront-0,shop-backend,catalog-0,,8080,TCP,ALLOWED
2025-06-01T10:00:02Z,shop-frontend,storefront-0,shop-backend,ghost-0,,8080,TCP,ALLOWED
2025-06-01T10:00:03Z,shop-backend,orders-0,shop-db,postgres-0,,5432,TCP,DENIED
2025-06-01T10:00:04Z,shop-frontend,storefront-0,shop-backend,catalog-0,,not-a-port,TCP,
"""
REMOVE_POSTGRES = "shop-db/postgres"  # the policy that lets orders reach postgres


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def flows_url(**query) -> str:
    base = reverse("webui:flows", args=["demo"])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def csv_file(tmp_path):
    path = tmp_path / "seen.csv"
    path.write_text(CSV)
    return path


# --- the import ------------------------------------------------------------------------


def test_import_keeps_distinct_conversations_and_what_reading_found(
    var_dir, demo_snapshot, personas
):
    cluster = demo_snapshot.cluster
    flow_import = flows_import(cluster=cluster, path=csv_file(var_dir), user=personas["auditor"])
    assert (flow_import.format, flow_import.lines, flow_import.flows) == ("csv", 6, 4)
    assert flow_import.conversations == 3  # the two storefront → catalog flows are one
    assert flow_import.malformed == 1
    [example] = flow_import.examples  # by the name given, not the path read
    assert example.startswith("seen.csv:6: ") and "not-a-port" in example
    # The window of the flows read (the malformed line's time is not one).
    assert (flow_import.first_seen, flow_import.last_seen) == (
        "2025-06-01T10:00:00Z",
        "2025-06-01T10:00:03Z",
    )
    # Matched against the snapshot current at import time, as netpol.flows replays the file.
    expected = replay(engine_model(demo_snapshot), [csv_file(var_dir)])
    assert (
        (flow_import.matched, flow_import.unmatched)
        == (expected.matched, expected.unmatched)
        == (3, 1)
    )
    assert flow_import.imported_by == personas["auditor"]
    stored = dict(stored_conversations(flow_import))
    assert sum(stored.values()) == 4 and max(stored.values()) == 2
    assert (flows_dir() / flow_import.stored).exists()


def test_a_file_with_no_flow_is_refused_naming_the_file(var_dir, demo_snapshot):
    bad = var_dir / "bad.json"
    bad.write_text('{"flow": {"Type": "L3_L4", "l4": {"TCP": {"destination_port": "x"}}}}\n')
    with pytest.raises(
        FlowImportError, match=r"^bad.json: no hubble flow in it and 1 malformed line"
    ):
        flows_import(cluster=demo_snapshot.cluster, path=bad)
    # Records that are all skipped (here an L7 event) leave nothing to replay either.
    l7 = var_dir / "l7.json"
    l7.write_text('{"flow": {"Type": "L7", "l4": {"TCP": {"destination_port": 80}}}}\n')
    with pytest.raises(
        FlowImportError, match=r"^l7.json: no flow to replay in 1 line \(1 not an L3/L4 event"
    ):
        flows_import(cluster=demo_snapshot.cluster, path=l7)
    assert not FlowImport.objects.exists()


def test_import_flows_command(var_dir, demo_snapshot, tmp_path):
    gz = tmp_path / "hubble.json.gz"
    gz.write_bytes(gzip.compress(DEMO_FLOWS.read_bytes()))
    out = io.StringIO()
    call_command("import_flows", "demo", str(DEMO_FLOWS), str(gz), stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(
        "21 flows" in line and "21 matched, 0 unmatched" in line for line in lines
    )
    assert FlowImport.objects.filter(cluster__name="demo").count() == 2
    with pytest.raises(CommandError, match="no cluster named 'nope'"):
        call_command("import_flows", "nope", str(DEMO_FLOWS))
    with pytest.raises(CommandError, match="cannot read it"):
        call_command("import_flows", "demo", str(tmp_path / "missing.json"))


def test_setup_demo_imports_the_demo_flows_once(var_dir, db):
    call_command("setup_demo", stdout=io.StringIO())
    call_command("setup_demo", stdout=io.StringIO())
    [flow_import] = Cluster.objects.get(name="demo").flow_imports.all()
    assert (flow_import.name, flow_import.format, flow_import.flows) == (
        "hubble.jsonl",
        "hubble",
        21,
    )


# --- the Flows page ----------------------------------------------------------------------


def test_figures_read_with_thousands_separators(var_dir, client_as, demo_snapshot):
    header, first = CSV.splitlines()[:2]
    path = var_dir / "busy.csv"
    path.write_text("\n".join([header] + [first] * 12_345) + "\n")
    flows_import(cluster=demo_snapshot.cluster, path=path)
    body = client_as("viewer").get(flows_url()).content.decode()
    assert 'data-figure="matched">12,345<' in body
    assert 'data-figure="allowed">12,345<' in body
    assert "<td>12,346</td>" in body  # lines read, the header included


def test_the_page_shows_the_replay_as_netpol_flows_answers_it(var_dir, client_as, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    expected = replay(engine_model(demo_snapshot), [DEMO_FLOWS]).to_dict()
    body = client_as("viewer").get(flows_url()).content.decode()
    allowed = sum(e["flows"] for e in expected["allowed"])
    denied = sum(e["flows"] for e in expected["denied"])
    for figure, value in (
        ("matched", 21),
        ("unmatched", 0),
        ("allowed", allowed),
        ("denied", denied),
    ):
        assert f'data-figure="{figure}">{value}<' in body
    assert (allowed, denied) == (15, 6)
    # The denied flows, each with the policies that deny it linked to their page.
    for entry in expected["denied"]:
        assert entry["from"] in body and entry["to"] in body
        for rule in entry["rule"]:
            # Each kind's own page: the demo's Admin-tier ClusterNetworkPolicy denies some.
            assert policy_page_url("demo", rule["kind"], rule["policy"]) in body
    # The unused rules, ranked by what they open, linked at the rule.
    top = expected["unused_rules"][0]
    assert top["policy"] == "shop-frontend/admin-ui-allow-all"
    section = body.split('id="unused-rules"')[1]
    assert section.index(top["policy"]) < section.index(expected["unused_rules"][1]["policy"])
    link = reverse("webui:policy", args=["demo", "shop-frontend", "admin-ui-allow-all"])
    assert f"{link}?rule=ingress-0#ingress-0" in body
    assert f"{len(expected['unused_rules'])}, most opening first" in body
    assert "hubble.jsonl" in body


def test_unmatched_ends_and_disagreements_are_listed(var_dir, client_as, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=csv_file(var_dir))
    body = client_as("viewer").get(flows_url()).content.decode()
    unmatched = body.split('id="unmatched-ends"')[1].split("</section>")[0]
    assert "shop-backend/ghost-0" in unmatched and "no pod" in unmatched.lower()
    disagreements = body.split('id="disagreements"')[1].split("</section>")[0]
    assert "shop-backend/orders-0" in disagreements and "shop-db/postgres-0" in disagreements
    assert "denied" in disagreements and "allowed" in disagreements
    assert "seen.csv:6:" in body  # the malformed line, by file and line


def test_empty_state_says_how_to_export_and_import(var_dir, client_as, demo_snapshot):
    body = client_as("viewer").get(flows_url()).content.decode()
    assert 'id="no-flows"' in body
    assert "hubble observe" in body and "-o json" in body and "Goldmane" in body
    assert "manage.py import_flows demo FILE" in body
    assert 'type="file"' not in body  # a viewer cannot import
    assert 'type="file"' in client_as("auditor").get(flows_url()).content.decode()


def test_upload_as_auditor_then_remove(var_dir, client_as, demo_snapshot):
    client = client_as("auditor")
    upload = SimpleUploadedFile("seen.csv", CSV.encode(), content_type="text/csv")
    response = client.post(flows_url(), {"file": upload}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Imported 4 flows (3 distinct) from seen.csv. 1 malformed lines skipped." in body
    flow_import = FlowImport.objects.get(cluster__name="demo")
    assert flow_import.imported_by.username == "auditor"
    stored = flows_dir() / flow_import.stored
    assert stored.exists()
    assert client.post(flows_url(), {"delete": "x"}).status_code == 404
    assert client.post(flows_url(), {"delete": flow_import.pk + 1}).status_code == 404
    response = client.post(flows_url(), {"delete": flow_import.pk}, follow=True)
    assert "Removed the flows of seen.csv." in response.content.decode()
    assert not FlowImport.objects.exists() and not stored.exists()


def test_upload_over_the_limit_says_how_to_import_it(var_dir, client_as, demo_snapshot, settings):
    settings.FLOWS_UPLOAD_MAX_BYTES = 100
    upload = SimpleUploadedFile("big.csv", CSV.encode(), content_type="text/csv")
    body = client_as("auditor").post(flows_url(), {"file": upload}, follow=True).content.decode()
    # The upload stops at the limit (FlowUploadLimit): the message names it and its setting.
    assert (
        "big.csv is over the upload limit of 100 bytes (FLOWS_UPLOAD_MAX_BYTES, which the "
        "server&#x27;s environment can raise)." in body
    )
    assert "manage.py import_flows demo FILE" in body
    assert not FlowImport.objects.exists()


def test_a_big_upload_streams_through_a_temporary_file(var_dir, client_as, demo_snapshot, settings):
    # Over Django's in-memory limit the upload handler writes the file to disk in chunks.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    lines = DEMO_FLOWS.read_bytes() * 20
    assert len(lines) > 1024
    upload = SimpleUploadedFile("hubble.json", lines, content_type="application/json")
    response = client_as("auditor").post(flows_url(), {"file": upload})
    # A file past that limit is imported by a worker that tells how much it read.
    run = FlowReplayRun.objects.get(kind="import")
    assert response.url == flows_url(**{"import": run.pk})
    assert (run.total, run.params["name"]) == (len(lines), "hubble.json")
    flows_replay_run_execute(run_id=run.pk)
    flow_import = FlowImport.objects.get()
    assert (flow_import.flows, flow_import.conversations, flow_import.matched) == (420, 7, 420)


def test_a_bad_upload_is_explained(var_dir, client_as, demo_snapshot):
    upload = SimpleUploadedFile("notes.txt", b"{not json\n", content_type="text/plain")
    body = client_as("auditor").post(flows_url(), {"file": upload}, follow=True).content.decode()
    assert "notes.txt: line 1 is neither JSON nor CSV" in body


@pytest.mark.parametrize("role, status", [("viewer", 403), ("stranger", 403)])
def test_only_auditors_import(var_dir, client_as, demo_snapshot, role, status):
    upload = SimpleUploadedFile("seen.csv", CSV.encode())
    assert client_as(role).post(flows_url(), {"file": upload}).status_code == status
    assert not FlowImport.objects.exists()


def test_strangers_and_anonymous_cannot_read(var_dir, client, client_as, demo_snapshot):
    assert client_as("stranger").get(flows_url()).status_code == 403
    client.logout()
    assert client.get(flows_url()).status_code == 302


def test_linked_from_the_overview_cluster_and_whatif_pages(var_dir, client_as, demo_snapshot):
    client = client_as("auditor")
    link = reverse("webui:flows", args=["demo"])
    for page in ("webui:home", "webui:whatif"):
        args = [] if page == "webui:home" else ["demo"]
        assert link in client.get(reverse(page, args=args)).content.decode()


# --- the what-if page ----------------------------------------------------------------------


def test_whatif_lists_the_observed_flows_a_change_would_deny(var_dir, client_as, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    url = reverse("webui:whatif", args=["demo"])
    response = client_as("auditor").post(url, {"remove": REMOVE_POSTGRES, "run": "1"})
    assert response.status_code == 200
    body = response.content.decode()
    section = body.split('id="would-deny"')[1].split("</div>")[0]
    assert "Would deny 3 observed flows" in section
    assert "shop-backend/orders-0" in section and "shop-db/postgres-0" in section
    assert "TCP/5432" in section


def test_whatif_without_flows_says_how_to_get_them(var_dir, client_as, demo_snapshot):
    url = reverse("webui:whatif", args=["demo"])
    body = client_as("auditor").post(url, {"remove": REMOVE_POSTGRES, "run": "1"}).content.decode()
    assert "No observed flows for demo" in body and reverse("webui:flows", args=["demo"]) in body


def test_linked_from_the_cluster_page(var_dir, client_as, demo_snapshot):
    body = client_as("viewer").get(reverse("webui:cluster", args=["demo"])).content.decode()
    assert f'href="{reverse("webui:flows", args=["demo"])}"' in body


def test_would_deny_from_the_kept_replay_is_the_full_replays(var_dir, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    model = engine_model(demo_snapshot)
    changed, _ = whatif.changed_model(model, add=[], remove={REMOVE_POSTGRES})
    full = replay(model, [DEMO_FLOWS], changed=changed).to_dict()["would_deny"]
    assert (
        flows_replay(cluster=demo_snapshot.cluster, model=model, changed=changed)["would_deny"]
        == full
    )
    assert [(e["from"], e["to"], e["port"]) for e in full] == [
        ("shop-backend/orders-0", "shop-db/postgres-0", 5432)
    ]


def test_import_tells_its_progress_in_bytes(var_dir, demo_snapshot):
    # The reader reports every 65,536 records: a file of 70,000 is reported once or more.
    row = "2025-06-01T10:00:00Z,shop-frontend,storefront-0,shop-backend,catalog-0,,8080,TCP,\n"
    path = var_dir / "many.csv"
    path.write_text(row * 70_000)
    seen = []
    flow_import = flows_import(
        cluster=demo_snapshot.cluster,
        path=path,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert flow_import.flows == 70_000 and flow_import.conversations == 1
    size = path.stat().st_size
    assert seen and all(0 < done <= total == size for done, total in seen)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_command_shows_progress_on_a_terminal(var_dir, demo_snapshot):
    row = "2025-06-01T10:00:00Z,shop-frontend,storefront-0,shop-backend,catalog-0,,8080,TCP,\n"
    path = var_dir / "many.csv"
    path.write_text(row * 70_000)
    err, out = Terminal(), io.StringIO()
    call_command("import_flows", "demo", str(path), stdout=out, stderr=err)
    assert f"\r{path}: " in err.getvalue() and "%" in err.getvalue()
    assert err.getvalue().endswith("\n")
    assert "imported many.csv: csv, 70,000 lines, 70,000 flows in 1 conversations" in out.getvalue()
    # Not on a pipe: nothing but the result.
    piped = io.StringIO()
    call_command("import_flows", "demo", str(path), stdout=io.StringIO(), stderr=piped)
    assert piped.getvalue() == ""
