import csv
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from auditor import services
from auditor.access import require_role
from auditor.models import Finding, NetworkPolicy, Snapshot, Waiver
from auditor.reports.exports import _cell as csv_cell
from auditor.selectors import (
    GROUP_KEYS,
    GROUP_SAMPLE,
    active_waivers,
    analysis_of,
    finding_groups,
    findings_of,
    group_samples,
    latest_snapshot,
    partly_waived,
    previous_complete,
)
from netpol.findings.catalogue import RULES, SEVERITIES
from netpol.findings.kinds import NAMED_BY_CONTENT
from netpol.summaries import ref_parts

from ..templatetags.evidence import affected_workloads, evidence_rows
from .common import get_cluster, render_problem, snapshot_for, team_for

PER_PAGE = 50
GROUPS_PER_PAGE = 50
DEFAULT_WAIVER_DAYS = 90
WORKLOADS_SHOWN = 500
# The namespace filter's value for cluster-wide findings: no Kubernetes name starts with "-".
CLUSTER_WIDE = "-"


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
    group = request.GET.get("group", "")
    if group and group not in GROUP_KEYS:
        problems.append(f"Unknown grouping '{group[:20]}': use rule or namespace.")
        group = ""
    waived = request.GET.get("waived", "hide")
    if waived not in ("hide", "show", "only"):
        problems.append(f"Unknown waived filter '{waived[:20]}': use hide, show or only.")
        waived = "hide"
    return {
        "severity": severity,
        "rule": rule,
        "namespace": request.GET.get("namespace", "").strip(),
        "q": request.GET.get("q", "").strip()[:200],
        "new": request.GET.get("new") == "1",
        "waived": waived,
        "group": group,
    }, problems


def _selection(snapshot, filters: dict, problems: list[str], team=None):
    """``findings_of(snapshot)`` narrowed by the list's filters and the team: what the
    list shows, the CSV exports and a group waiver accepts."""
    findings = findings_of(snapshot)
    if team is not None:
        findings = team.filter(findings)
    if filters["severity"]:
        findings = findings.filter(severity=filters["severity"])
    if filters["rule"]:
        findings = findings.filter(rule=filters["rule"])
    if filters["namespace"]:
        findings = findings.filter(namespace="" if filters["namespace"] == CLUSTER_WIDE else filters["namespace"])
    if filters["q"]:
        q = filters["q"]
        findings = findings.annotate(workloads_text=Cast("workloads", TextField())).filter(
            Q(title__icontains=q) | Q(message__icontains=q) | Q(namespace__icontains=q)
            | Q(workloads_text__icontains=q) | Q(fingerprint=q)
        )
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
    return findings, previous


def _query(request, **changes) -> str:
    """The list's query string without its page, with ``changes`` (None drops a key)."""
    query = request.GET.copy()
    for key in ("page", "format", *changes):
        query.pop(key, None)
    for key, value in changes.items():
        if value is not None:
            query[key] = value
    return query.urlencode()


@require_role("viewer")
def finding_list(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    team, problem = team_for(request, cluster, snapshot)
    if problem:
        return problem
    filters, problems = _filters(request)
    findings, previous = _selection(snapshot, filters, problems, team)
    if request.GET.get("format") == "csv":
        return _csv_response(cluster, snapshot, findings, team.team)
    for problem in problems:
        messages.warning(request, problem)
    context = {
        "cluster": cluster, "snapshot": snapshot, "analysis": analysis_of(snapshot),
        "filters": filters, "query": _query(request), "previous": previous,
        "severities": SEVERITIES, "rules": sorted(RULES.values(), key=lambda r: r.id),
        "namespaces": list(team.filter(Finding.objects.filter(snapshot=snapshot)).exclude(namespace="")
                           .order_by("namespace").values_list("namespace", flat=True).distinct()),
        "team": team,
        "csv_query": _query(request, format="csv"),
        "waive_query": _query(request, group=None, waived=None),
        "cluster_wide": CLUSTER_WIDE,
        "filtered": any(filters[k] for k in ("severity", "rule", "namespace", "q", "new")),
    }
    if filters["group"]:
        by = filters["group"]
        # One aggregate query; at most one row per namespace, so paged here rather than
        # asking the database to aggregate twice (count, then the page).
        page = Paginator(list(finding_groups(findings, by)), GROUPS_PER_PAGE).get_page(request.GET.get("page"))
        groups = list(page)
        samples = group_samples(findings, by, [g["key"] for g in groups])
        partial = partly_waived([f for rows in samples.values() for f in rows], cluster)
        for group in groups:
            group["rows"] = samples[group["key"]]
            for f in group["rows"]:
                f.partly = partial.get(f.pk)
            group["rule"] = RULES.get(group["key"]) if by == "rule" else None
            group["severities"] = [(s, group[f"n_{s}"]) for s in SEVERITIES if group[f"n_{s}"]]
            narrowed = {by: group["key"] or CLUSTER_WIDE}
            group["list_query"] = _query(request, group=None, **narrowed)
            # ``group`` stays so that the waiver returns to the grouped list.
            group["waive_query"] = _query(request, waived=None, **narrowed)
        context.update(page=page, groups=groups, group_by=by, sample=GROUP_SAMPLE)
    else:
        page = Paginator(findings, PER_PAGE).get_page(request.GET.get("page"))
        partial = partly_waived(list(page), cluster)
        for f in page:
            f.partly = partial.get(f.pk)
        context.update(page=page)
    return render(request, "webui/findings.html", context)


CSV_COLUMNS = ("rule", "severity", "title", "namespace", "objects", "affected_workloads", "workloads",
               "fingerprint", "waived", "waiver_reason", "waiver_expires", "message")


class _Echo:
    """A file-like object whose ``write`` hands the line back, for a streamed CSV."""

    def write(self, value):
        return value


def _csv_response(cluster, snapshot, findings, team: str = "") -> StreamingHttpResponse:
    """The findings as filtered, streamed row by row so 50,000 findings never sit in memory."""
    waivers = active_waivers(cluster)

    def waiver_of(fingerprint, aliases):
        return waivers.get(fingerprint) or next((waivers[a] for a in aliases if a in waivers), None)

    def rows():
        writer = csv.writer(_Echo())
        yield writer.writerow(CSV_COLUMNS)
        fields = ("rule", "severity", "title", "namespace", "object_refs", "workloads", "fingerprint", "aliases",
                  "waived", "message")
        for f in findings.values(*fields).iterator(chunk_size=2000):
            waiver = waiver_of(f["fingerprint"], f["aliases"]) if f["waived"] else None
            yield writer.writerow([csv_cell(v) for v in (
                f["rule"], f["severity"], f["title"], f["namespace"], " ".join(f["object_refs"]),
                len(f["workloads"]), " ".join(f["workloads"]), f["fingerprint"], "yes" if f["waived"] else "no",
                waiver.reason if waiver else "", f"{waiver.expires_at:%Y-%m-%d}" if waiver else "", f["message"],
            )])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    # The team is in the name: a team's export is never taken for the cluster's.
    of_team = f"-team-{slugify(team) or 'none'}" if team else ""
    response["Content-Disposition"] = (
        f'attachment; filename="findings-{cluster.name}-snapshot-{snapshot.pk}{of_team}.csv"'
    )
    return response


def _expiry(request):
    """The waiver form's expiry: the end of the chosen day, or None when missing or not a date."""
    expiry = parse_date(request.POST.get("expires", "") or "")
    return expiry, (timezone.make_aware(timezone.datetime.combine(expiry, timezone.datetime.max.time()))
                    if expiry else None)


def _waiver_errors(request, exc: ValidationError, expiry) -> None:
    for field, errors in exc.message_dict.items():
        for error in errors:
            messages.error(request, f"{'Expiry' if field == 'expires_at' else 'Reason'}: {error}")
    if not expiry and request.POST.get("expires"):
        messages.error(request, f"'{request.POST['expires'][:40]}' is not a date (YYYY-MM-DD).")


@require_role("auditor")
def finding_waive_selection(request, name):
    """Waive every open finding of a selection of the list (a rule's or a namespace's
    group, or whatever the filters show) at once: GET asks for confirmation, naming how
    many findings and which rule and namespace; POST makes one waiver per fingerprint."""
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    team, problem = team_for(request, cluster, snapshot)
    if problem:
        return problem
    filters, problems = _filters(request)
    filters["waived"] = "hide"  # only open findings are waived
    findings, _ = _selection(snapshot, filters, problems, team)
    count = findings.count()
    # From a group: back to the grouped list, no longer narrowed to the group just waived.
    back = _query(request, waived=None, **({filters["group"]: None} if filters["group"] else {}))
    list_url = f"{reverse('webui:findings', args=[cluster.name])}?{back}"
    if request.method == "POST":
        expected = request.POST.get("expected", "")
        if expected != str(count):
            messages.error(request, f"The selection changed since you confirmed: it now holds {count} open "
                                    f"findings, not {expected[:10]}. Check it and confirm again.")
        else:
            expiry, expires_at = _expiry(request)
            try:
                waivers = services.waiver_create_many(
                    cluster=cluster, findings=findings.only("fingerprint", "rule", "title", "object_refs"),
                    author=request.user, reason=request.POST.get("reason", ""), expires_at=expires_at,
                )
            except ValidationError as exc:
                _waiver_errors(request, exc, expiry)
            else:
                messages.success(request, f"{len(waivers)} findings waived until {expiry:%Y-%m-%d}; each waiver "
                                          "follows its finding into later snapshots.")
                return redirect(list_url)
    for problem in problems:
        messages.warning(request, problem)
    return render(request, "webui/findings_waive.html", {
        "cluster": cluster, "snapshot": snapshot, "filters": filters, "count": count,
        "rule": RULES.get(filters["rule"]), "list_url": list_url, "team": team,
        "severities": findings.order_by().values_list("severity", flat=True).distinct(),
        "namespace_count": findings.order_by().values("namespace").distinct().count(),
        "reason": request.POST.get("reason", ""),
        "default_expiry": request.POST.get("expires") or (timezone.now() + timedelta(days=DEFAULT_WAIVER_DAYS)).date(),
        "max_expiry": (timezone.now() + timedelta(days=services.MAX_WAIVER_DAYS)).date(),
    }, status=400 if request.method == "POST" else 200)


@require_role("viewer")
def finding_detail(request, name, pk):
    cluster = get_cluster(name)
    finding = get_object_or_404(Finding.objects.select_related("snapshot"), pk=pk, snapshot__cluster=cluster)
    return _finding_page(request, cluster, finding)


@require_role("viewer")
def finding_by_fingerprint(request, name, fingerprint):
    """The stable link of a finding: its latest occurrence (the current snapshot's, or the
    last snapshot it was in, saying when it was resolved). An alias (the fingerprint of a
    per-workload finding of an earlier recipe) redirects to the finding that stands for it."""
    cluster = get_cluster(name)
    complete = Finding.objects.filter(snapshot__cluster=cluster, snapshot__status=Snapshot.Status.COMPLETE)
    newest_first = ("-snapshot__finished_at", "-snapshot_id")
    finding = complete.filter(fingerprint=fingerprint).select_related("snapshot").order_by(*newest_first).first()
    if finding is None:
        # Aliases are a JSON list; its text holds the quoted fingerprint (24 hex digits, so
        # no false match).
        standing = (complete.annotate(aliases_text=Cast("aliases", TextField()))
                    .filter(aliases_text__contains=f'"{fingerprint[:64]}"').order_by(*newest_first).first())
        if standing is not None and standing.rule in NAMED_BY_CONTENT:
            messages.info(request, f"{fingerprint[:64]} named this finding's rule by its place in the policy; "
                                   "it is now named by its content, so inserting a rule above keeps it.")
        elif standing is not None:
            messages.info(request, f"{fingerprint[:64]} was a per-workload finding; it is now part of this one, "
                                   "one finding per cause.")
        if standing is not None:
            return redirect("webui:finding_fp", name=cluster.name, fingerprint=standing.fingerprint)
        return render_problem(request, cluster, f"{cluster.name} has no finding with fingerprint "
                                                f"'{fingerprint[:64]}' in any complete snapshot.", status=404)
    return _finding_page(request, cluster, finding, stable=True)


def _finding_page(request, cluster, finding, *, stable: bool = False):
    waivers = (Waiver.objects.filter(cluster=cluster, fingerprint__in=[finding.fingerprint, *finding.aliases])
               .select_related("author"))
    finding.waived = findings_of(finding.snapshot).filter(pk=finding.pk, waived=True).exists()
    in_force = active_waivers(cluster)
    # Its own waiver, or (waived through its aliases) the waiver of its first alias.
    active_waiver = in_force.get(finding.fingerprint) or (
        next((in_force[a] for a in finding.aliases if a in in_force), None) if finding.waived else None)
    current = latest_snapshot(cluster)
    newer = current if current is not None and current.pk != finding.snapshot_id else None
    # The first complete snapshot after the last one with it: the one that resolved it.
    resolved_in = None
    if newer is not None and not Finding.objects.filter(snapshot=current, fingerprint=finding.fingerprint).exists():
        last = (Finding.objects.filter(snapshot__cluster=cluster, snapshot__status=Snapshot.Status.COMPLETE,
                                       fingerprint=finding.fingerprint)
                .select_related("snapshot").order_by("-snapshot__finished_at", "-snapshot_id").first())
        resolved_in = last and (Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.COMPLETE,
                                                        finished_at__gt=last.snapshot.finished_at)
                                .order_by("finished_at", "id").first())
    policy_key = (finding.evidence or {}).get("policy")
    policy_spec = None
    if isinstance(policy_key, str) and "/" in policy_key:
        namespace, _, policy_name = policy_key.partition("/")
        policy_spec = (NetworkPolicy.objects.filter(snapshot_id=finding.snapshot_id, namespace=namespace,
                                                    name=policy_name).values_list("spec", flat=True).first())
    return render(request, "webui/finding.html", {
        "cluster": cluster, "finding": finding, "rule": RULES.get(finding.rule),
        "refs": [ref_parts(r) for r in finding.object_refs[:200]],
        "waivers": waivers, "active_waiver": active_waiver,
        "partly": partly_waived([finding], cluster).get(finding.pk) if not active_waiver else None,
        "workloads": affected_workloads(finding, WORKLOADS_SHOWN),
        "workloads_more": max(0, len(finding.workloads) - WORKLOADS_SHOWN),
        "evidence": evidence_rows(finding.evidence, cluster=cluster.name, snapshot_id=finding.snapshot_id,
                                  policy_spec=policy_spec, namespace=finding.namespace),
        "stable_url": request.build_absolute_uri(
            reverse("webui:finding_fp", args=[cluster.name, finding.fingerprint])),
        "stable": stable, "newer": newer, "resolved_in": resolved_in,
        "default_expiry": (timezone.now() + timedelta(days=DEFAULT_WAIVER_DAYS)).date(),
        "max_expiry": (timezone.now() + timedelta(days=services.MAX_WAIVER_DAYS)).date(),
    })


@require_POST
@require_role("auditor")
def finding_waive(request, name, pk):
    cluster = get_cluster(name)
    finding = get_object_or_404(Finding.objects.select_related("snapshot__cluster"), pk=pk, snapshot__cluster=cluster)
    expiry, expires_at = _expiry(request)
    try:
        services.waiver_create(finding=finding, author=request.user, reason=request.POST.get("reason", ""),
                               expires_at=expires_at)
    except ValidationError as exc:
        _waiver_errors(request, exc, expiry)
        return redirect("webui:finding", name=cluster.name, pk=finding.pk)
    messages.success(request, f"{finding.rule} waived until {expiry:%Y-%m-%d}; the waiver follows this finding into later snapshots.")
    return redirect("webui:finding", name=cluster.name, pk=finding.pk)


@require_role("viewer")
def waiver_list(request, name):
    cluster = get_cluster(name)
    now = timezone.now()
    waivers = Waiver.objects.filter(cluster=cluster).select_related("author")
    current = latest_snapshot(cluster)
    team = None
    if current is not None:
        team, problem = team_for(request, cluster, current)
        if problem:
            return problem
    if team is not None and team.team:
        # A waiver names a fingerprint, not a namespace: it is the team's when the current
        # snapshot's finding with that fingerprint (or standing for it) is in the team's namespaces.
        rows = team.filter(Finding.objects.filter(snapshot=current)).values_list("fingerprint", "aliases")
        fingerprints = {fp for fp, _ in rows} | {a for _, aliases in rows for a in aliases}
        waivers = waivers.filter(fingerprint__in=sorted(fingerprints))
    return render(request, "webui/waivers.html", {
        "cluster": cluster, "team": team,
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


