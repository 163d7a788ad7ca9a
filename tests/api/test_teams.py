"""Teams in the API: ``?team=`` on the finding lists and report list, and the teams of a
snapshot, each answer checked against the schema."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from auditor.models import Finding, ReportSchedule
from netpol.findings.stored import StoredReport
from netpol.teams import NO_TEAM

from .conftest import assert_matches_schema

pytestmark = pytest.mark.django_db

SHOP = {"shop-frontend", "shop-backend", "shop-db"}


def test_findings_of_a_team(api, demo_snapshot):
    response = api.get("/api/v1/clusters/demo/findings", team="shop", page_size=200)
    assert response.status_code == 200
    assert_matches_schema(response, "/api/v1/clusters/{name}/findings")
    body = response.json()
    assert body["team"] == "shop"
    assert {f["namespace"] for f in body["results"]} <= SHOP
    assert body["count"] == Finding.objects.filter(snapshot=demo_snapshot, namespace__in=SHOP).count() > 0
    assert api.get("/api/v1/clusters/demo/findings").json()["team"] is None
    groups = api.get("/api/v1/clusters/demo/findings/groups", by="namespace", team="shop")
    assert_matches_schema(groups, "/api/v1/clusters/{name}/findings/groups")
    assert {g["key"] for g in groups.json()["results"]} <= SHOP


def test_an_unknown_team_is_404_naming_the_parameter(api, demo_snapshot):
    response = api.get("/api/v1/clusters/demo/findings", team="nobody")
    assert response.status_code == 404
    assert response.json()["parameter"] == "team" and "team shop" in response.json()["detail"]


def test_the_teams_of_a_snapshot(api, demo_snapshot):
    response = api.get("/api/v1/clusters/demo/teams")
    assert response.status_code == 200
    assert_matches_schema(response, "/api/v1/clusters/{name}/teams")
    body = response.json()
    assert body["team_label"] == "team" and body["mapped"] == 0
    teams = {t["team"]: t for t in body["teams"]}
    assert list(teams) == ["data", "payments", "platform", "shop", NO_TEAM]
    assert set(teams["shop"]["namespaces"]) == SHOP and teams[NO_TEAM]["label"] == "no team"
    report = StoredReport.from_dict(demo_snapshot.analysis.report)
    assert teams["shop"]["pods"] == sum(report.coverage.namespaces[n].counts.pods for n in SHOP)
    assert teams["shop"]["findings"] == sum(teams["shop"]["counts"].values())
    # Its findings link answers with exactly those findings.
    path, _, query = teams["shop"]["findings_url"].partition("?")
    linked = api.get(path, page_size=200, **dict(parse_qsl(query))).json()
    assert linked["count"] == teams["shop"]["findings"]
    one = api.get("/api/v1/clusters/demo/teams", team="shop").json()
    assert [t["team"] for t in one["teams"]] == ["shop"]


def test_reports_of_a_team(api, demo_snapshot):
    from auditor.reports.services import report_build, report_request

    for name, team in (("All", ""), ("Shop weekly", "shop")):
        schedule = ReportSchedule.objects.create(cluster=demo_snapshot.cluster, name=name, team=team)
        report_build(report_id=report_request(schedule=schedule, enqueue=False).pk)
    response = api.get("/api/v1/clusters/demo/reports", team="shop")
    assert_matches_schema(response, "/api/v1/clusters/{name}/reports")
    assert [(r["schedule"]["name"], r["team"]) for r in response.json()["results"]] == [("Shop weekly", "shop")]
    assert len(api.get("/api/v1/clusters/demo/reports").json()["results"]) == 2
