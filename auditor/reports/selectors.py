"""Reads for reports: which snapshot a report covers, and what it is compared with."""

from __future__ import annotations

from auditor.models import Analysis, Cluster, Delivery, Report, ReportSchedule, Snapshot


def latest_analysed_snapshot(cluster: Cluster) -> Snapshot | None:
    """The newest complete snapshot whose analysis finished: a report needs its findings."""
    return (
        Snapshot.objects.filter(
            cluster=cluster,
            status=Snapshot.Status.COMPLETE,
            analysis__status=Analysis.Status.COMPLETE,
        )
        .select_related("analysis", "cluster")
        .order_by("-finished_at", "-id")
        .first()
    )


def analysed_snapshot_before(snapshot: Snapshot) -> Snapshot | None:
    """The analysed snapshot before ``snapshot``: the baseline of a schedule's first report."""
    return (
        Snapshot.objects.filter(
            cluster_id=snapshot.cluster_id,
            status=Snapshot.Status.COMPLETE,
            analysis__status=Analysis.Status.COMPLETE,
            finished_at__lt=snapshot.finished_at,
        )
        .select_related("analysis")
        .order_by("-finished_at", "-id")
        .first()
    )


def previous_report(report: Report) -> Report | None:
    """The schedule's last complete report before ``report``: what "changed" is counted from."""
    if report.schedule_id is None:
        return None
    return (
        Report.objects.filter(
            schedule_id=report.schedule_id, status=Report.Status.COMPLETE, pk__lt=report.pk
        )
        .order_by("-pk")
        .first()
    )


def schedules_of(cluster: Cluster):
    return ReportSchedule.objects.filter(cluster=cluster).select_related("periodic_task")


def reports_of(cluster: Cluster):
    # Lists never need the content (it can be megabytes per report).
    return (
        Report.objects.filter(cluster=cluster)
        .defer("content")
        .select_related("schedule")
        .prefetch_related("deliveries")
    )


def deliveries_of(report: Report):
    return Delivery.objects.filter(report=report).order_by("channel", "id")
