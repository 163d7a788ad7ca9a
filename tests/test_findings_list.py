"""The findings list at one row per cause: waivers made before (aliases), grouping by rule
and namespace, group waivers, CSV export, and the API's workloads, aliases and groups."""

import csv
import io
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from auditor import services
from auditor.models import Finding, Waiver
from auditor.selectors import finding_groups, findings_of
from webui.views import findings as findings_views

pytestmark = pytest.mark.django_db

LIST = reverse("webui:findings", args=["demo"])
WAIVE = reverse("webui:findings_waive", args=["demo"])


def in_days(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).date().isoformat()


def with_aliases(snapshot) -> Finding:
    """A demo finding that stands for several per-workload findings of the old recipe."""
    found = max(Finding.objects.filter(snapshot=snapshot).order_by("pk"), key=lambda f: len(f.aliases))
    assert len(found.aliases) >= 3, "the demo should hold a finding with 3 aliases (NP002 kube-system)"
    return found


def waive_fingerprints(cluster, fingerprints, author, *, days=30, reason="accepted before the change"):
    for fp in fingerprints:
        Waiver.objects.create(cluster=cluster, fingerprint=fp, rule="NP002", summary="old per-workload finding",
                              reason=reason, author=author, expires_at=timezone.now() + timedelta(days=days))


# --- Waivers made before still apply -----------------------------------------------------


def test_waivers_on_every_alias_waive_the_finding(client_as, demo_snapshot, personas):
    finding = with_aliases(demo_snapshot)
    waive_fingerprints(demo_snapshot.cluster, finding.aliases, personas["auditor"])
    assert findings_of(demo_snapshot).get(pk=finding.pk).waived
    client = client_as("viewer")
    assert f"/findings/{finding.pk}/" not in client.get(LIST).content.decode()
    assert f"/findings/{finding.pk}/" in client.get(LIST + "?waived=only").content.decode()
    page = client.get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    assert "Waived by auditor" in page and f"waivers of all {len(finding.aliases)} affected workloads" in page
    # A lapsed alias waiver opens it again.
    Waiver.objects.filter(fingerprint=finding.aliases[0]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert not findings_of(demo_snapshot).get(pk=finding.pk).waived


def test_waivers_on_some_aliases_leave_it_open_and_say_how_many(client_as, demo_snapshot, personas):
    finding = with_aliases(demo_snapshot)
    waived = finding.aliases[:-1]
    waive_fingerprints(demo_snapshot.cluster, waived, personas["auditor"], days=20)
    assert not findings_of(demo_snapshot).get(pk=finding.pk).waived
    expected = (f"{len(waived)} of {len(finding.aliases)} affected workloads were waived before "
                f"(by auditor until {in_days(20)})")
    client = client_as("viewer")
    listing = client.get(LIST + f"?rule={finding.rule}&namespace={finding.namespace}").content.decode()
    assert f"/findings/{finding.pk}/" in listing and expected in listing
    page = client.get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    assert expected in page and "Waived by" not in page
    for workload in finding.workloads:
        assert workload in page


def test_a_waiver_on_the_new_fingerprint_still_waives(client_as, demo_snapshot, personas):
    finding = with_aliases(demo_snapshot)
    waive_fingerprints(demo_snapshot.cluster, [finding.fingerprint], personas["auditor"])
    assert findings_of(demo_snapshot).get(pk=finding.pk).waived


# --- Grouping ------------------------------------------------------------------------------


def open_findings(snapshot, **filters):
    return [f for f in findings_of(snapshot).filter(waived=False, **filters)]


@pytest.mark.parametrize("by", ["rule", "namespace"])
def test_groups_show_counts_of_findings_workloads_and_severities(client_as, demo_snapshot, by):
    page = client_as("viewer").get(LIST + f"?group={by}").content.decode()
    rows = open_findings(demo_snapshot)
    groups = Counter(getattr(f, by) for f in rows)
    assert page.count('<details class="group card ') == len(groups)
    for key, count in groups.items():
        members = [f for f in rows if getattr(f, by) == key]
        workloads = sum(len(f.workloads) for f in members)
        assert (f"<strong>{count}</strong> finding{'s' if count != 1 else ''} · <strong>{workloads}</strong> "
                f"workload{'s' if workloads != 1 else ''}") in page, key
        for severity, n in Counter(f.severity for f in members).items():
            assert f'title="{n} {severity}"' in page


def test_grouping_keeps_the_filters(client_as, demo_snapshot):
    client = client_as("auditor")
    page = client.get(LIST + "?group=namespace&severity=high").content.decode()
    high = {f.namespace for f in open_findings(demo_snapshot, severity="high")}
    assert page.count('<details class="group card ') == len(high)
    assert "sev-medium" not in page.split('class="list-actions"', 1)[1]
    # The group's links keep the filter and narrow to the group.
    namespace = sorted(high)[0]
    assert f"severity=high&amp;namespace={namespace}" in page
    assert 'value="namespace" selected' in page and 'value="high" selected' in page


def test_groups_paginate_and_cost_the_same_queries_however_large(client_as, demo_snapshot, monkeypatch):
    monkeypatch.setattr(findings_views, "GROUPS_PER_PAGE", 3)
    client = client_as("viewer")
    rules = {f.rule for f in open_findings(demo_snapshot)}
    pages = -(-len(rules) // 3)
    first = client.get(LIST + "?group=rule").content.decode()
    assert f"Page 1 of {pages} ({len(rules)} in all)" in first and first.count('<details class="group card ') == 3
    with CaptureQueriesContext(connection) as before:
        client.get(LIST + "?group=rule")
    # 300 more findings in one group: the page asks the database the same number of times.
    first = finding_groups(findings_of(demo_snapshot).filter(waived=False), "rule")[0]
    template = Finding.objects.filter(snapshot=demo_snapshot, rule=first["key"]).first()
    Finding.objects.bulk_create([
        Finding(snapshot=demo_snapshot, rule=first["key"], severity=template.severity, title=template.title,
                message=template.message, namespace=f"ns-{i}", workloads=[f"Deployment/ns-{i}/web"],
                fingerprint=f"extra{i:04d}")
        for i in range(300)
    ])
    with CaptureQueriesContext(connection) as after:
        page = client.get(LIST + "?group=rule").content.decode()
    assert len(after) == len(before)
    assert f"All {first['findings'] + 300} findings of this group" in page


def test_cluster_wide_findings_group_under_their_own_header(client_as, demo_snapshot):
    template = Finding.objects.filter(snapshot=demo_snapshot).first()
    Finding.objects.create(snapshot=demo_snapshot, rule="NP037", severity="low", title="cluster rule",
                           message="m", namespace="", fingerprint="clusterwide1")
    page = client_as("auditor").get(LIST + "?group=namespace").content.decode()
    assert "Cluster-wide" in page
    confirm = client_as("auditor").get(WAIVE + "?namespace=-").content.decode()
    assert "Waive 1 open finding " in confirm and "cluster-wide findings (no namespace)" in confirm
    assert template.namespace  # the others are namespaced


def test_search_finds_by_workload_and_title(client_as, demo_snapshot):
    finding = with_aliases(demo_snapshot)
    workload = finding.workloads[0].rsplit("/", 1)[1]
    page = client_as("viewer").get(LIST + f"?q={workload}").content.decode()
    assert f"/findings/{finding.pk}/" in page
    others = [f for f in open_findings(demo_snapshot) if not any(workload in w for w in f.workloads)
              and workload not in f.title + f.message + f.namespace]
    assert all(f"/findings/{f.pk}/" not in page for f in others)


# --- Group waiver ----------------------------------------------------------------------------


def test_a_group_is_waived_after_confirmation(client_as, demo_snapshot, personas):
    client = client_as("auditor")
    group = open_findings(demo_snapshot, rule="NP013")
    assert len(group) >= 2
    listing = client.get(LIST + "?group=rule").content.decode()
    assert f'href="{WAIVE}?group=rule&amp;rule=NP013"' in listing
    confirm = client.get(WAIVE + "?rule=NP013")
    text = confirm.content.decode()
    assert confirm.status_code == 200
    assert f"Waive {len(group)} open findings" in text and "NP013" in text
    response = client.post(WAIVE + "?group=rule&rule=NP013", {
        "reason": "ingress exposure reviewed", "expires": in_days(60), "expected": str(len(group))}, follow=True)
    assert f"{len(group)} findings waived until {in_days(60)}" in response.content.decode()
    assert response.redirect_chain[-1][0] == LIST + "?group=rule"  # back to the groups, not to the empty one
    waivers = Waiver.objects.filter(cluster=demo_snapshot.cluster)
    assert sorted(w.fingerprint for w in waivers) == sorted(f.fingerprint for f in group)
    assert {(w.reason, w.author_id, w.expires_at, w.rule) for w in waivers} == {
        ("ingress exposure reviewed", personas["auditor"].pk, waivers[0].expires_at, "NP013")}
    assert "NP013" not in client.get(LIST + "?group=rule").content.decode().split('class="list-actions"', 1)[1]


def test_a_namespace_group_with_filters_waives_only_what_they_select(client_as, demo_snapshot):
    client = client_as("admin")
    namespace = "shop-backend"
    medium = open_findings(demo_snapshot, namespace=namespace, severity="medium")
    others = open_findings(demo_snapshot, namespace=namespace).__len__() - len(medium)
    assert medium and others
    query = f"?severity=medium&namespace={namespace}"
    assert f"Waive {len(medium)} open findings" in client.get(WAIVE + query).content.decode()
    client.post(WAIVE + query, {"reason": "backend team accepts", "expires": in_days(10), "expected": len(medium)})
    assert sorted(Waiver.objects.values_list("fingerprint", flat=True)) == sorted(f.fingerprint for f in medium)
    assert len(open_findings(demo_snapshot, namespace=namespace)) == others


def test_a_viewer_cannot_waive_a_group(client_as, demo_snapshot):
    client = client_as("viewer")
    for response in (client.get(WAIVE + "?rule=NP013"),
                     client.post(WAIVE + "?rule=NP013", {"reason": "not mine to say", "expires": in_days(5),
                                                         "expected": "3"})):
        assert response.status_code == 403 and b"needs the auditor role" in response.content
    assert not Waiver.objects.exists()
    assert "Waive this group" not in client.get(LIST + "?group=rule").content.decode()


def test_a_group_waiver_needs_the_csrf_token(personas, demo_snapshot):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["auditor"])
    response = client.post(WAIVE + "?rule=NP013", {"reason": "no token here", "expires": in_days(5), "expected": "3"})
    assert response.status_code == 403 and not Waiver.objects.exists()


@pytest.mark.parametrize("form, message", [
    ({"reason": "", "expires": 30}, "Reason: Say why"),
    ({"reason": "fine by me", "expires": 400}, "at most 365 days"),
    ({"reason": "fine by me", "expires": 30, "expected": "99"}, "The selection changed since you confirmed"),
])
def test_bad_group_waivers_are_refused_with_a_reason(client_as, demo_snapshot, form, message):
    count = len(open_findings(demo_snapshot, rule="NP013"))
    data = {"expected": str(count), **form, "expires": in_days(form["expires"])}
    response = client_as("auditor").post(WAIVE + "?rule=NP013", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Waiver.objects.exists()


# --- CSV ---------------------------------------------------------------------------------------


def read_csv(response) -> list[dict]:
    assert response.streaming
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_exports_the_list_as_filtered(client_as, demo_snapshot, personas):
    finding = with_aliases(demo_snapshot)
    services.waiver_create(finding=finding, author=personas["auditor"], reason="system namespace",
                           expires_at=timezone.now() + timedelta(days=9))
    response = client_as("viewer").get(LIST + f"?rule={finding.rule}&waived=show&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="findings-demo-snapshot-{demo_snapshot.pk}.csv"')
    rows = read_csv(response)
    assert list(rows[0]) == list(findings_views.CSV_COLUMNS)
    assert sorted(r["fingerprint"] for r in rows) == sorted(
        Finding.objects.filter(snapshot=demo_snapshot, rule=finding.rule).values_list("fingerprint", flat=True))
    row = next(r for r in rows if r["fingerprint"] == finding.fingerprint)
    assert row["workloads"].split() == finding.workloads
    assert row["affected_workloads"] == str(len(finding.workloads))
    assert (row["waived"], row["waiver_reason"], row["waiver_expires"]) == ("yes", "system namespace", in_days(9))
    # Hidden again without waived=show, as on the page.
    hidden = read_csv(client_as("viewer").get(LIST + f"?rule={finding.rule}&format=csv"))
    assert finding.fingerprint not in {r["fingerprint"] for r in hidden}


def test_csv_cells_cannot_start_a_formula(client_as, demo_snapshot):
    Finding.objects.create(snapshot=demo_snapshot, rule="NP010", severity="high", title='=HYPERLINK("x")',
                           message="@SUM(1)", namespace="evil", workloads=["+Deployment/evil/x", "-y"],
                           fingerprint="evil0001")
    rows = read_csv(client_as("viewer").get(LIST + "?namespace=evil&format=csv"))
    assert len(rows) == 1
    assert rows[0]["title"] == "'=HYPERLINK(\"x\")" and rows[0]["message"] == "'@SUM(1)"
    assert rows[0]["workloads"] == "'+Deployment/evil/x -y"


def test_the_list_links_its_csv_with_the_filters(client_as, demo_snapshot):
    page = client_as("viewer").get(LIST + "?severity=high&group=rule&page=1").content.decode()
    assert 'href="?severity=high&amp;group=rule&amp;format=csv"' in page


def test_a_finding_page_lists_its_workloads_up_to_a_cap(client_as, demo_snapshot, monkeypatch):
    monkeypatch.setattr(findings_views, "WORKLOADS_SHOWN", 3)
    finding = Finding.objects.create(snapshot=demo_snapshot, rule="NP032", severity="high", title="DNS",
                                     message="m", namespace="big", fingerprint="big00001",
                                     workloads=[f"Deployment/big/web-{i}" for i in range(5)])
    page = client_as("viewer").get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    assert "Deployment/big/web-2" in page and "Deployment/big/web-3" not in page
    assert "… and 2 more (the CSV export lists them all)" in page
