"""Reports of a cluster: schedules, the stored reports, their exports and deliveries.

Who does what: viewers read reports and download them; auditors also "run now" and
send a failed delivery again; admins create, edit and delete schedules, because a
schedule decides where the cluster's findings are sent outside the app.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from auditor.access import require_role
from auditor.models import Delivery, Report, ReportSchedule, Snapshot
from auditor.reports import exports, ondemand, selectors, services
from auditor.reports.forms import ReportScheduleForm
from auditor.reports.html import display
from auditor.selectors import SnapshotChoiceError, latest_snapshot, pick_team
from netpol.teams import describe

from .common import get_cluster

PER_PAGE = 30
# format -> (content type, disposition)
EXPORTS = {
    "pdf": ("application/pdf", "inline"),
    "json": ("application/json", "attachment"),
    "csv": ("text/csv; charset=utf-8", "attachment"),
    "sarif": ("application/sarif+json", "attachment"),
}


def _report(cluster, pk) -> Report:
    return get_object_or_404(
        Report.objects.select_related("schedule", "snapshot"), pk=pk, cluster=cluster
    )


@require_role("viewer")
def report_list(request, name):
    cluster = get_cluster(name)
    reports, schedules = selectors.reports_of(cluster), selectors.schedules_of(cluster)
    # A team (?team=, kept by the navigation): its schedules' reports; its report on demand.
    team = request.GET.get("team", "").strip()[:100]
    current = latest_snapshot(cluster)
    if team:
        reports = reports.filter(schedule__team=team)
        schedules = schedules.filter(team=team)
    page = Paginator(reports, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "reports/list.html",
        {
            "cluster": cluster,
            "schedules": schedules,
            "page": page,
            "team_name": team,
            "team_label": describe(team) if team else "",
            "current": current,
        },
    )


@require_role("viewer")
def report_detail(request, name, pk):
    cluster = get_cluster(name)
    report = _report(cluster, pk)
    return render(
        request,
        "reports/report.html",
        {
            "cluster": cluster,
            "report": report,
            "c": display(report.content),
            "deliveries": selectors.deliveries_of(report),
            "formats": list(EXPORTS),
            "building": report.status in (Report.Status.PENDING, Report.Status.RUNNING),
        },
    )


@require_role("viewer")
def report_export(request, name, pk, fmt):
    cluster = get_cluster(name)
    report = _report(cluster, pk)
    if fmt not in EXPORTS or report.status != Report.Status.COMPLETE:
        raise Http404(
            "No such export: the report is not complete, or the format is not pdf, json, csv or sarif."
        )
    content = report.content
    if fmt == "pdf":
        from auditor.reports.pdf import render_pdf

        body = render_pdf(content, link=services.report_links(report).html)
    elif fmt == "json":
        body = exports.report_json(content)
    elif fmt == "csv":
        body = exports.report_csv(content)
    else:
        body = json.dumps(exports.report_sarif(content), indent=2)
    content_type, disposition = EXPORTS[fmt]
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'{disposition}; filename="netpol-report-{cluster.name}-{report.pk}.{fmt}"'
    )
    return response


@require_role("viewer")
def snapshot_report(request, name, pk, fmt):
    """Any complete snapshot's report in one format, built once and then served from the cache."""
    cluster = get_cluster(name)
    snapshot = get_object_or_404(
        Snapshot.objects.select_related("analysis", "cluster"), pk=pk, cluster=cluster
    )
    if fmt not in ondemand.FORMATS:
        raise Http404(f"No report format '{fmt}': choose {', '.join(ondemand.FORMATS)}.")
    team = ""
    if request.GET.get("team"):
        try:
            team = pick_team(cluster, snapshot, request.GET["team"]).team
        except SnapshotChoiceError as exc:
            raise Http404(exc.message) from None
    try:
        built = ondemand.snapshot_report(snapshot, fmt, team)
    except ondemand.NotReportable as exc:
        raise Http404(str(exc)) from None
    response = HttpResponse(built.body, content_type=built.content_type)
    response["Content-Disposition"] = f'{built.disposition}; filename="{built.filename}"'
    response["X-Report-Cache"] = "hit" if built.cached else "miss"
    if fmt == "html":
        response["Content-Security-Policy"] = ondemand.html_csp(built.body)
    return response


def _schedule_form(request, cluster, schedule: ReportSchedule | None):
    form = ReportScheduleForm(request.POST or None, instance=schedule, cluster=cluster)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        if schedule is None:
            saved.created_by = request.user
        saved.save()
        messages.success(
            request,
            f"Schedule '{saved.name}' saved: {saved.when}"
            + ("" if saved.enabled else " (disabled)")
            + ".",
        )
        return redirect("webui:reports", name=cluster.name)
    return render(
        request,
        "reports/schedule_form.html",
        {"cluster": cluster, "form": form, "schedule": schedule},
        status=400 if form.errors else 200,
    )


@require_role("admin")
def schedule_create(request, name):
    return _schedule_form(request, get_cluster(name), None)


@require_role("admin")
def schedule_edit(request, name, pk):
    cluster = get_cluster(name)
    return _schedule_form(
        request, cluster, get_object_or_404(ReportSchedule, pk=pk, cluster=cluster)
    )


@require_POST
@require_role("admin")
def schedule_delete(request, name, pk):
    cluster = get_cluster(name)
    schedule = get_object_or_404(ReportSchedule, pk=pk, cluster=cluster)
    schedule.delete()
    messages.success(request, f"Schedule '{schedule.name}' deleted; its reports are kept.")
    return redirect("webui:reports", name=cluster.name)


@require_POST
@require_role("auditor")
def schedule_run(request, name, pk):
    cluster = get_cluster(name)
    schedule = get_object_or_404(ReportSchedule, pk=pk, cluster=cluster)
    report = services.report_request(
        schedule=schedule, trigger=Report.Trigger.MANUAL, user=request.user
    )
    if report is None:
        messages.warning(
            request, f"'{schedule.name}' already has a report on its way; this one was skipped."
        )
        return redirect("webui:reports", name=cluster.name)
    messages.info(
        request, f"Report #{report.pk} queued; it is sent to the schedule's recipients when built."
    )
    return redirect("webui:report", name=cluster.name, pk=report.pk)


@require_POST
@require_role("auditor")
def delivery_retry(request, name, pk):
    cluster = get_cluster(name)
    delivery = get_object_or_404(
        Delivery.objects.select_related("report"), pk=pk, report__cluster=cluster
    )
    if services.delivery_retry(delivery=delivery):
        messages.info(request, f"Sending the report to {delivery.target} again.")
    else:
        messages.warning(
            request,
            f"The delivery to {delivery.target} is {delivery.get_status_display().lower()}; "
            "only failed or skipped deliveries are sent again.",
        )
    return redirect("webui:report", name=cluster.name, pk=delivery.report_id)
