"""Keep each report schedule's beat entry in step with it, whoever saves it."""

from auditor.beat import follow
from auditor.models import ReportSchedule


def _sync(schedule: ReportSchedule) -> None:
    from .services import report_schedule_sync

    report_schedule_sync(schedule=schedule)


follow(ReportSchedule, _sync)
