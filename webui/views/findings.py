from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from auditor import services
from auditor.access import require_role
from auditor.models import Finding, Waiver
from auditor.selectors import active_waivers, findings_of, previous_complete
from netpol.findings.catalogue import RULES, SEVERITIES
from netpol.summaries import ref_parts

from .common import get_cluster, snapshot_for

PER_PAGE = 50
DEFAULT_WAIVER_DAYS = 90


def _filters(request) -> tuple[dict, list[str]]:
    """The list's filters from the query string, and a message for each one ignored."""
    problems = []
    severity = request.GET.get("severity", "")
    if severity and severity not in SEVERITIES:
        problems.append(f"Unknown severity '{severity}': use one of {', '.join(SEVERITIES)}.")
        severity = ""
    rule = request.GET.get("rule", "").upper()
    if rule and rule not in RULES:
        problems.append(f"Unknown rule '{rule}'.")
        rule = ""
    return {
        "severity": severity,
        "rule": rule,
        "namespace": request.GET.get("namespace", "").strip(),
        "new": request.GET.get("new") == "1",
        "waived": request.GET.get("waived", "hide"),
    }, problems


@require_role("viewer")
def finding_list(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    filters, problems = _filters(request)
    findings = findings_of(snapshot)
    if filters["severity"]:
        findings = findings.filter(severity=filters["severity"])
    if filters["rule"]:
        findings = findings.filter(rule=filters["rule"])
    if filters["namespace"]:
        findings = findings.filter(namespace=filters["namespace"])
    previous = previous_complete(snapshot)
    if filters["new"]:
        if previous is None:
            problems.append("This is the first snapshot: every finding is new.")
        else:
            findings = findings.exclude(fingerprint__in=Finding.objects.filter(snapshot=previous).values("fingerprint"))
    if filters["waived"] == "hide":
        findings = findings.filter(waived=False)
    elif filters["waived"] == "only":
        findings = findings.filter(waived=True)
    for problem in problems:
        messages.warning(request, problem)
    page = Paginator(findings, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "webui/findings.html", {
        "cluster": cluster, "snapshot": snapshot, "analysis": getattr(snapshot, "analysis", None),
        "page": page, "filters": filters, "query": query.urlencode(), "previous": previous,
        "severities": SEVERITIES, "rules": sorted(RULES.values(), key=lambda r: r.id),
        "namespaces": list(Finding.objects.filter(snapshot=snapshot).exclude(namespace="")
                           .order_by("namespace").values_list("namespace", flat=True).distinct()),
    })


@require_role("viewer")
def finding_detail(request, name, pk):
    cluster = get_cluster(name)
    finding = get_object_or_404(Finding.objects.select_related("snapshot"), pk=pk, snapshot__cluster=cluster)
    waivers = Waiver.objects.filter(cluster=cluster, fingerprint=finding.fingerprint).select_related("author")
    return render(request, "webui/finding.html", {
        "cluster": cluster, "finding": finding, "rule": RULES.get(finding.rule),
        "refs": [ref_parts(r) for r in finding.object_refs[:200]],
        "waivers": waivers, "active_waiver": active_waivers(cluster).get(finding.fingerprint),
        "default_expiry": (timezone.now() + timedelta(days=DEFAULT_WAIVER_DAYS)).date(),
        "max_expiry": (timezone.now() + timedelta(days=services.MAX_WAIVER_DAYS)).date(),
    })


@require_POST
@require_role("auditor")
def finding_waive(request, name, pk):
    cluster = get_cluster(name)
    finding = get_object_or_404(Finding.objects.select_related("snapshot__cluster"), pk=pk, snapshot__cluster=cluster)
    expiry = parse_date(request.POST.get("expires", "") or "")
    expires_at = timezone.make_aware(timezone.datetime.combine(expiry, timezone.datetime.max.time())) if expiry else None
    try:
        services.waiver_create(finding=finding, author=request.user, reason=request.POST.get("reason", ""),
                               expires_at=expires_at)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                messages.error(request, f"{'Expiry' if field == 'expires_at' else 'Reason'}: {error}")
        if not expiry and request.POST.get("expires"):
            messages.error(request, f"'{request.POST['expires']}' is not a date (YYYY-MM-DD).")
        return redirect("webui:finding", name=cluster.name, pk=finding.pk)
    messages.success(request, f"{finding.rule} waived until {expiry:%Y-%m-%d}; the waiver follows this finding into later snapshots.")
    return redirect("webui:finding", name=cluster.name, pk=finding.pk)


@require_role("viewer")
def waiver_list(request, name):
    cluster = get_cluster(name)
    now = timezone.now()
    waivers = Waiver.objects.filter(cluster=cluster).select_related("author")
    return render(request, "webui/waivers.html", {
        "cluster": cluster,
        "active": [w for w in waivers if w.is_active(now)],
        "lapsed": [w for w in waivers if not w.is_active(now)][:200],
    })


@require_POST
@require_role("auditor")
def waiver_revoke(request, name, pk):
    cluster = get_cluster(name)
    waiver = get_object_or_404(Waiver, pk=pk, cluster=cluster)
    services.waiver_revoke(waiver=waiver)
    messages.success(request, f"Waiver of {waiver.rule} revoked; the finding counts again.")
    return redirect("webui:waivers", name=cluster.name)


