"""What a report holds: summary, findings, top offenders, changes and waivers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from auditor.models import Delivery, Finding, Report, ReportSchedule, Waiver
from auditor.reports import services

from .conftest import take_snapshot
from .helpers import build, make_schedule

pytestmark = pytest.mark.django_db


def test_first_report_summarises_the_demo_and_has_nothing_to_compare(demo_cluster):
    snapshot = take_snapshot(demo_cluster)
    report = build(make_schedule(demo_cluster))
    assert report.status == Report.Status.COMPLETE and report.snapshot == snapshot
    c = report.content
    assert c["summary"]["score"] == 45 == report.score
    assert (
        c["summary"]["counts"]
        == {"critical": 0, "high": 7, "medium": 14, "low": 8, "info": 0}
        == report.counts
    )
    assert c["summary"]["coverage"]["pods"] == 51
    assert c["summary"]["coverage"]["percent"] == round(100 * (39 + 37) / 102, 1)
    assert c["summary"]["namespaces_without_policy"] == ["batch"]
    assert len(c["findings"]) == Finding.objects.filter(snapshot=snapshot).count() == 29
    assert (
        c["changes"]["baseline"] is None
        and c["changes"]["changed"] is True
        and report.changed is True
    )
    assert report.new_count is None and report.resolved_count is None  # nothing to compare with
    assert set(c["rules"]) == {f["rule"] for f in c["findings"]}


def test_top_offenders_rank_namespaces_and_workloads_by_high_findings(demo_cluster):
    take_snapshot(demo_cluster)
    offenders = build(make_schedule(demo_cluster)).content["top_offenders"]
    namespaces = offenders["namespaces"]
    assert namespaces[0] == {
        "namespace": "shop-frontend",
        "high_or_above": 2,
        "total": 2,
        "critical": 0,
        "high": 2,
    }
    assert {n["namespace"] for n in namespaces} == {
        "shop-frontend",
        "batch",
        "ingress-nginx",
        "payments",
        "shop-backend",
        "shop-db",  # NP050: the internet is two connections from postgres
    }
    assert all(n["high_or_above"] > 0 for n in namespaces)
    highs = [n["high_or_above"] for n in namespaces]
    assert highs == sorted(highs, reverse=True)
    workloads = {w["workload"]: w for w in offenders["workloads"]}
    assert "Deployment/batch/queue-worker" in workloads  # NP003: the whole namespace is open


def test_second_report_shows_what_changed_since_the_first(demo_cluster, changing_demo):
    _, change = changing_demo
    take_snapshot(demo_cluster)
    schedule = make_schedule(demo_cluster)
    first = build(schedule)
    change()
    second_snapshot = take_snapshot(demo_cluster)
    second = build(schedule)
    changes = second.content["changes"]
    assert changes["baseline"] == {
        "kind": "report",
        "report_id": first.pk,
        "snapshot_id": first.snapshot_id,
        "at": first.content["snapshot"]["finished_at"],
    }
    assert second.previous == first and second.snapshot == second_snapshot
    assert second.changed is True and changes["changed"] is True
    new = {(f["rule"], f["namespace"]) for f in changes["new"]}
    assert ("NP003", "legacy") in new
    resolved = {(f["rule"], f["namespace"]) for f in changes["resolved"]}
    assert ("NP010", "shop-frontend") in resolved
    assert changes["new_count"] == len(changes["new"]) == second.new_count
    assert changes["resolved_count"] == len(changes["resolved"]) == second.resolved_count
    assert changes["policies"]["removed"] == ["shop-frontend/admin-ui-allow-all"]
    assert changes["coverage"]["pods"]["change"] == 2
    assert changes["coverage"]["percent"]["old"] == first.content["summary"]["coverage"]["percent"]
    assert changes["score"]["old"] == 45


def test_a_report_without_a_new_snapshot_is_unchanged_and_sends_nothing_when_asked(demo_cluster):
    take_snapshot(demo_cluster)
    schedule = make_schedule(
        demo_cluster,
        send=ReportSchedule.Send.CHANGED,
        recipients="sec@example.com",
        webhook_url="https://hooks.example.com/services/T0/B0/xyz",
    )
    first = build(schedule)
    assert [d.status for d in first.deliveries.all()] == [Delivery.Status.PENDING] * 2
    second = build(schedule)
    assert second.status == Report.Status.COMPLETE and second.changed is False
    assert second.content["changes"]["new"] == [] and second.content["changes"]["resolved"] == []
    deliveries = list(second.deliveries.order_by("channel"))
    assert [(d.channel, d.status) for d in deliveries] == [
        ("email", "skipped"),
        ("webhook", "skipped"),
    ]
    # The webhook's path (its secret, for Slack) is never shown.
    assert deliveries[1].target == "https://hooks.example.com/…"
    # "Always" sends the same unchanged report.
    schedule.send = ReportSchedule.Send.ALWAYS
    schedule.save()
    third = build(schedule)
    assert third.changed is False and {d.status for d in third.deliveries.all()} == {"pending"}


def test_first_report_after_several_snapshots_compares_with_the_previous_snapshot(
    demo_cluster, changing_demo
):
    _, change = changing_demo
    before = take_snapshot(demo_cluster)
    change()
    take_snapshot(demo_cluster)
    report = build(make_schedule(demo_cluster))
    baseline = report.content["changes"]["baseline"]
    assert baseline["kind"] == "snapshot" and baseline["snapshot_id"] == before.pk
    assert report.content["changes"]["new_count"] > 0


def test_waivers_in_force_and_ended_and_counts_leave_waived_findings_out(demo_cluster, personas):
    snapshot = take_snapshot(demo_cluster)
    np003 = Finding.objects.get(snapshot=snapshot, rule="NP003")
    from auditor.services import waiver_create

    waiver_create(
        finding=np003,
        author=personas["auditor"],
        reason="batch is being migrated this quarter",
        expires_at=timezone.now() + timedelta(days=5),
    )
    old = Finding.objects.filter(snapshot=snapshot, rule="NP010").first()
    Waiver.objects.create(
        cluster=demo_cluster,
        fingerprint=old.fingerprint,
        rule=old.rule,
        summary="allow-all",
        reason="debugging",
        author=personas["auditor"],
        expires_at=timezone.now() - timedelta(days=2),
    )
    c = build(make_schedule(demo_cluster)).content
    assert c["summary"]["counts"]["high"] == 6 and c["summary"]["waived"] == 1
    [active] = c["waivers"]["active"]
    assert (
        active["rule"] == "NP003"
        and active["expires_soon"] is True
        and active["author"] == "auditor"
    )
    [ended] = c["waivers"]["expired"]
    assert ended["rule"] == "NP010" and ended["ended"] == "expired" and ended["in_snapshot"] is True
    assert "batch" not in {n["namespace"] for n in c["top_offenders"]["namespaces"]}
    [waived] = [f for f in c["findings"] if f["waived"]]
    assert waived["fingerprint"] == np003.fingerprint


def test_no_analysed_snapshot_fails_the_report_visibly(demo_cluster):
    report = build(make_schedule(demo_cluster, recipients="sec@example.com"))
    assert report.status == Report.Status.FAILED
    assert "no analysed snapshot yet" in report.error
    assert not report.deliveries.exists()


def test_one_report_on_its_way_per_schedule(demo_cluster):
    schedule = make_schedule(demo_cluster)
    first = services.report_request(schedule=schedule, enqueue=False)
    assert first is not None
    assert services.report_request(schedule=schedule, enqueue=False) is None
    # A report whose task was lost long ago no longer blocks the schedule.
    Report.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert services.report_request(schedule=schedule, enqueue=False) is not None
    assert Report.objects.get(pk=first.pk).status == Report.Status.FAILED


def test_report_content_is_kept_when_the_snapshot_and_schedule_go(demo_cluster):
    snapshot = take_snapshot(demo_cluster)
    schedule = make_schedule(demo_cluster)
    report = build(schedule)
    content = report.content
    snapshot.delete()
    schedule.delete()
    report.refresh_from_db()
    assert report.snapshot is None and report.schedule is None and report.content == content
