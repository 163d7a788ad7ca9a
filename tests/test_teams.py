"""Teams on the pages: ``?team=`` narrows every list to the team's namespaces and labels the
figures with the team; the mapping set in the admin wins over the label; the teams page."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from auditor.models import Finding, TeamAssignment
from auditor.selectors import namespace_teams, pick_team, team_figures
from netpol.findings.stored import StoredReport

SHOP = {"shop-frontend", "shop-backend", "shop-db"}


def url(page: str, **query) -> str:
    base = reverse(f"webui:{page}", args=["demo"])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_demo_namespaces_teams_come_from_their_labels(demo_snapshot):
    assigned = namespace_teams(demo_snapshot, demo_snapshot.cluster.team_rule())
    assert {n for n, t in assigned.items() if t == "shop"} == SHOP
    assert assigned["kube-system"] == ""
    choice = pick_team(demo_snapshot.cluster, demo_snapshot, "-")
    assert choice.namespaces == {"kube-system"} and choice.label == "no team"
    assert choice.teams == ("data", "payments", "platform", "shop", "-")


def test_the_team_figures_are_the_sums_of_its_namespaces(demo_snapshot):
    report = StoredReport.from_dict(demo_snapshot.analysis.report)
    figures = team_figures(demo_snapshot, report, frozenset(SHOP))
    counts = [report.coverage.namespaces[n].counts for n in SHOP]
    assert figures["pods"] == sum(c.pods for c in counts) > 0
    assert figures["ingress"] == sum(c.ingress.pods for c in counts)
    open_findings = Finding.objects.filter(snapshot=demo_snapshot, namespace__in=SHOP).count()
    assert figures["findings"] == open_findings > 0  # the demo waives nothing
    assert figures["lowest"] == min((report.score.namespaces[n], n) for n in SHOP)


def test_the_namespaces_page_of_a_team(client_as, demo_snapshot):
    response = client_as("viewer").get(url("cluster", team="shop"))
    assert response.status_code == 200
    assert {row["name"] for row in response.context["page"]} == SHOP
    body = response.content.decode()
    assert "Coverage, team shop" in body and "Open findings, team shop" in body
    assert 'data-team="shop"' in body  # the header's selector says a team is chosen
    # Navigation keeps the team.
    assert f'href="{url("findings", team="shop")}"' in body
    whole = client_as("viewer").get(url("cluster")).content.decode()
    assert "Coverage, team" not in whole and "Whole cluster" in whole


def test_an_unknown_team_is_404_and_names_the_teams(client_as, demo_snapshot):
    response = client_as("viewer").get(url("findings", team="nobody"))
    assert response.status_code == 404
    assert "no namespace of team nobody" in response.content.decode()
    assert "team shop" in response.content.decode()


def test_findings_list_csv_and_groups_of_a_team(client_as, demo_snapshot):
    client = client_as("viewer")
    listed = client.get(url("findings", team="shop"))
    shop_findings = Finding.objects.filter(snapshot=demo_snapshot, namespace__in=SHOP)
    assert listed.context["page"].paginator.count == shop_findings.count() > 0
    assert set(listed.context["namespaces"]) <= SHOP
    assert "Findings of team shop" in listed.content.decode()
    exported = client.get(url("findings", team="shop", format="csv"))
    assert 'team-shop.csv"' in exported["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert len(rows) == shop_findings.count() and {r["namespace"] for r in rows} <= SHOP
    grouped = client.get(url("findings", team="shop", group="namespace"))
    assert {g["key"] for g in grouped.context["groups"]} == set(
        shop_findings.values_list("namespace", flat=True)
    )


def test_no_team_lists_the_namespaces_without_one(client_as, demo_snapshot):
    response = client_as("viewer").get(url("cluster", team="-"))
    assert [row["name"] for row in response.context["page"]] == ["kube-system"]
    assert "Coverage, no team" in response.content.decode()


def test_the_admin_mapping_wins_over_the_label(client_as, demo_snapshot):
    cluster = demo_snapshot.cluster
    change = reverse("admin:auditor_cluster_change", args=[cluster.pk])
    client = client_as("admin")
    form = client.get(change).context["adminform"].form
    data = {
        name: value for name, value in form.initial.items() if value is not None and name != "token"
    }
    data.update(team_label="team", team_mapping="payments=shop\n# a comment\n\n", enabled="on")
    response = client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(
        TeamAssignment.objects.filter(cluster=cluster).values_list("namespace", "team")
    ) == [("payments", "shop")]
    page = client.get(url("cluster", team="shop"))
    assert {row["name"] for row in page.context["page"]} == SHOP | {"payments"}
    # The graph groups by the same rule.
    elements = json.loads(
        client.get(reverse("webui:graph_elements", args=["demo"]) + "?view=groups").content
    )
    groups = {n["data"].get("group") for n in elements["elements"]["nodes"]}
    assert "team=shop" in groups and "team=payments" not in groups
    # A malformed line is refused with its number.
    bad = client.post(change, {**data, "team_mapping": "payments"})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["team_mapping"] == [
        "Line 1: write 'namespace=team', not 'payments'."
    ]


def test_the_teams_page_and_its_empty_state(client_as, demo_snapshot):
    client = client_as("viewer")
    response = client.get(url("teams"))
    rows = {row["team"]: row for row in response.context["rows"]}
    assert list(rows) == ["data", "payments", "platform", "shop", "-"]
    assert set(rows["shop"]["namespaces"]) == SHOP
    assert (
        rows["shop"]["findings"]
        == Finding.objects.filter(snapshot=demo_snapshot, namespace__in=SHOP).count()
    )
    body = response.content.decode()
    assert (
        f'href="{url("graph", team="shop")}"' in body and "No namespace has a team yet" not in body
    )
    cluster = demo_snapshot.cluster
    cluster.team_label = ""
    cluster.save(update_fields=["team_label"])
    empty = client.get(url("teams")).content.decode()
    assert "No namespace has a team yet" in empty and "kubectl label namespace" in empty


def test_the_graph_and_matrix_of_a_team(client_as, demo_snapshot):
    client = client_as("viewer")
    page = client.get(url("graph", team="shop"))
    assert page.status_code == 200
    assert "team=shop" in page.context["elements_url"]
    data = json.loads(
        client.get(reverse("webui:graph_elements", args=["demo"]) + "?team=shop").content
    )
    drawn = {
        n["data"]["namespace"]
        for n in data["elements"]["nodes"]
        if n["data"]["kind"] == "namespace"
    }
    assert SHOP <= drawn
    assert data["notes"][0].startswith("Team shop: its 3 namespaces")
    matrix = client.get(url("graph", team="shop", view="matrix"))
    assert [h["label"] for h in matrix.context["matrix"]["rows"]][:3] == sorted(SHOP)
    assert (
        client.get(reverse("webui:graph_elements", args=["demo"]) + "?team=nobody").status_code
        == 404
    )


def test_the_waivers_of_a_team(client_as, demo_snapshot, personas):
    from django.utils import timezone

    from auditor import services

    shop = Finding.objects.filter(snapshot=demo_snapshot, namespace__in=SHOP).first()
    other = (
        Finding.objects.filter(snapshot=demo_snapshot)
        .exclude(namespace__in=SHOP)
        .exclude(namespace="")
        .first()
    )
    for finding in (shop, other):
        services.waiver_create(
            finding=finding,
            author=personas["auditor"],
            reason="accepted for the test",
            expires_at=timezone.now() + timezone.timedelta(days=5),
        )
    response = client_as("viewer").get(url("waivers", team="shop"))
    assert [w.fingerprint for w in response.context["active"]] == [shop.fingerprint]
    assert len(client_as("viewer").get(url("waivers")).context["active"]) == 2


@pytest.mark.parametrize("team", ["shop", "-"])
def test_every_team_page_answers(client_as, demo_snapshot, team):
    client = client_as("viewer")
    for view in ("cluster", "findings", "graph", "waivers", "teams", "cluster_snapshots"):
        assert client.get(url(view, team=team)).status_code == 200, view


@pytest.fixture
def report_cache(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.SITE_URL = "https://netpol.example.com"


def test_a_teams_report_on_demand_holds_only_the_team(client_as, demo_snapshot, report_cache):
    client = client_as("viewer")
    base = reverse("webui:snapshot_report", args=["demo", demo_snapshot.pk, "json"])
    response = client.get(base + "?team=shop")
    assert response.status_code == 200 and response["X-Report-Cache"] == "miss"
    assert 'team-shop.json"' in response["Content-Disposition"]
    content = json.loads(response.content)
    assert content["team"]["name"] == "shop" and set(content["team"]["namespaces"]) == SHOP
    assert {f["namespace"] for f in content["findings"]} <= SHOP
    assert (
        len(content["findings"])
        == Finding.objects.filter(snapshot=demo_snapshot, namespace__in=SHOP).count()
    )
    assert {row["namespace"] for row in content["namespaces"]} == SHOP
    report = StoredReport.from_dict(demo_snapshot.analysis.report)
    assert content["summary"]["coverage"]["pods"] == sum(
        report.coverage.namespaces[n].counts.pods for n in SHOP
    )
    assert all(c["namespace"] in SHOP for c in content["compliance"])
    assert "team=shop" in content["link"]
    # The cluster's report is another file; the team's is served from the cache next time.
    whole = json.loads(client.get(base).content)
    assert whole["team"] is None and len(whole["findings"]) > len(content["findings"])
    assert client.get(base + "?team=shop")["X-Report-Cache"] == "hit"
    html = client.get(base.replace("json", "html") + "?team=shop").content.decode()
    assert "Network policy audit: demo, team shop</h1>" in html and "Score (whole cluster)" in html
    assert client.get(base + "?team=nobody").status_code == 404


def test_a_schedule_can_target_one_team(client_as, demo_snapshot, report_cache):
    from auditor.reports import delivery
    from tests.reports.helpers import build, make_schedule

    form = (
        client_as("admin").get(reverse("webui:report_schedule_new", args=["demo"])).context["form"]
    )
    assert ("shop", "team shop") in form.fields["team"].choices
    schedule = make_schedule(demo_snapshot.cluster, team="shop", recipients="sec@example.com")
    report = build(schedule)
    assert report.status == "complete", report.error
    assert report.content["team"]["name"] == "shop"
    assert {f["namespace"] for f in report.content["findings"]} <= SHOP
    assert "(team shop)" in delivery.subject(report.content)
    page = (
        client_as("viewer").get(reverse("webui:report", args=["demo", report.pk])).content.decode()
    )
    assert "team shop" in page


def test_the_namespace_page_names_its_team_and_the_reports_list_filters(
    client_as, demo_snapshot, report_cache
):
    from tests.reports.helpers import make_schedule

    client = client_as("viewer")
    shop = client.get(reverse("webui:namespace", args=["demo", "shop-db"])).content.decode()
    assert (
        f'Team <a href="{url("cluster", team="shop")}">shop</a> (from its <code>team</code> label)'
        in shop
    )
    kube = client.get(reverse("webui:namespace", args=["demo", "kube-system"])).content.decode()
    assert "No team: neither the admin's mapping nor a <code>team</code> label names one" in kube
    make_schedule(demo_snapshot.cluster, name="Shop weekly", team="shop")
    make_schedule(demo_snapshot.cluster, name="Everything")
    listed = client.get(url("reports", team="shop"))
    assert [s.name for s in listed.context["schedules"]] == ["Shop weekly"]
    body = listed.content.decode()
    assert "Reports of team shop" in body
    assert (
        reverse("webui:snapshot_report", args=["demo", demo_snapshot.pk, "pdf"]) + "?team=shop"
        in body
    )
    assert len(client.get(url("reports")).context["schedules"]) == 2


def test_the_overview_adds_a_teams_figures_to_each_card(client_as, demo_snapshot):
    client = client_as("viewer")
    whole = client.get(reverse("webui:home"))
    assert ("shop", "team shop") in whole.context["team_choices"] and (
        "-",
        "no team",
    ) in whole.context["team_choices"]
    assert "team-line" not in whole.content.decode()
    response = client.get(reverse("webui:home") + "?team=shop")
    [row] = response.context["rows"]
    open_shop = Finding.objects.filter(snapshot=demo_snapshot, namespace__in=SHOP).count()
    assert row["team"]["namespaces"] == 3 and row["team"]["findings"] == open_shop
    body = response.content.decode()
    assert "<strong>Team shop</strong> in demo: 3 namespaces" in body
    assert f'href="{url("graph", team="shop")}"' in body
    missing = client.get(reverse("webui:home") + "?team=nobody").content.decode()
    assert "No namespace of team nobody in this cluster" in missing
