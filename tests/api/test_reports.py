"""Reports through the API: the runs of a cluster's schedules and their content."""

from __future__ import annotations

import pytest

from auditor.models import Report

from .conftest import assert_matches_schema

pytestmark = pytest.mark.django_db

LIST = "/api/v1/clusters/{name}/reports"
DETAIL = "/api/v1/clusters/{name}/reports/{id}"


def test_reports_list_without_content(api, demo_report):
    failed = Report.objects.create(
        cluster=demo_report.cluster,
        status="failed",
        trigger="manual",
        error="demo has no analysed snapshot yet",
    )
    body = assert_matches_schema(api.get("/api/v1/clusters/demo/reports"), LIST)
    assert body["count"] == 2
    assert [r["id"] for r in body["results"]] == [failed.pk, demo_report.pk]
    done = body["results"][1]
    assert done["status"] == "complete" and done["snapshot"] == demo_report.snapshot_id
    assert done["schedule"] == {"id": demo_report.schedule_id, "name": "Weekly review"}
    assert done["score"] == demo_report.score and done["counts"] == demo_report.counts
    assert done["url"] == f"/api/v1/clusters/demo/reports/{demo_report.pk}"
    assert "content" not in done
    assert body["results"][0]["schedule"] is None and body["results"][0]["error"]
    only = api.get("/api/v1/clusters/demo/reports", status="complete").json()
    assert [r["id"] for r in only["results"]] == [demo_report.pk]
    response = api.get("/api/v1/clusters/demo/reports", status="lost")
    assert response.status_code == 400 and response.json()["parameter"] == "status"


def test_report_detail_has_the_content(api, demo_report):
    body = assert_matches_schema(api.get(f"/api/v1/clusters/demo/reports/{demo_report.pk}"), DETAIL)
    assert body["content"] == demo_report.content
    assert body["content"]["summary"]["total"] == 29
    assert len(body["content"]["findings"]) == 29


def test_report_of_another_cluster_or_unknown_is_404(api, demo_report):
    from auditor.models import Cluster

    Cluster.objects.create(name="other", source=Cluster.Source.MANIFESTS, manifest_path="x")
    for url in (
        f"/api/v1/clusters/other/reports/{demo_report.pk}",
        "/api/v1/clusters/demo/reports/99999",
    ):
        response = api.get(url)
        assert response.status_code == 404
        assert_matches_schema(response, DETAIL)


def test_reports_never_show_where_they_are_delivered(api, demo_report):
    schedule = demo_report.schedule
    schedule.recipients = "ciso@example.com"
    schedule.webhook_url = "https://hooks.example.com/services/T000/SECRET"
    schedule.set_webhook_secret("hmac-key")
    schedule.save()
    for url in ("/api/v1/clusters/demo/reports", f"/api/v1/clusters/demo/reports/{demo_report.pk}"):
        text = api.get(url).content.decode()
        for secret in (
            "ciso@example.com",
            "hooks.example.com",
            "SECRET",
            "hmac-key",
            schedule.webhook_secret_encrypted,
        ):
            assert secret not in text, secret
