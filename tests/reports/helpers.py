from __future__ import annotations

from auditor.models import Report, ReportSchedule
from auditor.reports import services


def make_schedule(cluster, **fields) -> ReportSchedule:
    fields.setdefault("name", "Weekly review")
    fields.setdefault("frequency", ReportSchedule.Frequency.WEEKLY)
    return ReportSchedule.objects.create(cluster=cluster, **fields)


def build(schedule, trigger=Report.Trigger.MANUAL) -> Report:
    """Request and build one report in-process (deliveries are created, not sent)."""
    report = services.report_request(schedule=schedule, trigger=trigger, enqueue=False)
    assert report is not None
    services.report_build(report_id=report.pk)
    report.refresh_from_db()
    return report
