from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from auditor import history, services
from auditor.access import require_role
from auditor.models import Analysis, Cluster, Snapshot
from auditor.selectors import (
    SnapshotChoiceError,
    active_snapshot,
    analysis_of,
    latest_snapshot,
    namespace_teams,
    pick_team,
    stored_report,
    team_figures,
)
from netpol.findings.stored import CLUSTER_COUNTS_PATH, CoverageCounts
from netpol.teams import NO_TEAM, describe

from ..charts import trend
from .common import get_cluster

TREND_POINTS = 30


_SUMMARY_FIELDS = {
    "score": "analysis__score",
    "analysis_status": "analysis__status",
    "counts": "analysis__finding_counts",
    # Picked out by the database: the full report is megabytes at 50,000 pods.
    "cluster_counts": "__".join(("analysis__report", *CLUSTER_COUNTS_PATH)),
    # The score's sentence and first fixes (``headline.compute``); None before they were kept.
    "reason": "analysis__report__score__reason",
    "fix_first": "analysis__report__score__fix_first",
}


# What a trend point needs. Each path picked out of the report makes PostgreSQL read the
# whole report again (megabytes at 50,000 pods): the 30 points skip the sentence.
_TREND_FIELDS = ("score", "analysis_status", "cluster_counts")


def _summaries(snapshots, fields=tuple(_SUMMARY_FIELDS)) -> list[dict]:
    """Score, coverage and finding counts of each snapshot, in the order given."""
    rows = {
        row["pk"]: row
        for row in Snapshot.objects.filter(pk__in=[s.pk for s in snapshots]).values("pk", **{
            key: F(_SUMMARY_FIELDS[key]) for key in fields
        })
    }
    out = []
    for snapshot in snapshots:
        row = rows[snapshot.pk]
        counts = row.pop("cluster_counts")
        row["coverage"] = (
            CoverageCounts.from_dict(counts).percent if row["analysis_status"] == "complete" else None
        )
        out.append(row)
    return out


def _trend(cluster: Cluster) -> dict:
    recent = list(
        Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.COMPLETE).order_by("-finished_at")[:TREND_POINTS]
    )[::-1]
    summaries = _summaries(recent, _TREND_FIELDS)
    return trend([
        {
            "id": snapshot.pk,
            "date": snapshot.finished_at,
            "score": s["score"] if s["analysis_status"] == "complete" else None,
            "coverage": s["coverage"],
        }
        for snapshot, s in zip(recent, summaries, strict=True)
    ])


def _team_of(cluster: Cluster, current, team: str) -> dict | None:
    """The card's line for ``?team=``: the team's figures in this cluster, or that it has
    no namespace of that team (teams are per cluster: each cluster assigns its own)."""
    if not team or current is None:
        return None
    try:
        choice = pick_team(cluster, current, team)
    except SnapshotChoiceError:
        return {"missing": True, "label": describe(team)}
    report = stored_report(analysis_of(current))
    return {"label": choice.label, "team": choice.team, **team_figures(current, report, choice.namespaces)}


@require_role("viewer")
def home(request):
    rows = []
    team = request.GET.get("team", "").strip()[:100]
    teams: set[str] = set()
    for cluster in Cluster.objects.all():
        current = latest_snapshot(cluster)
        summary = _summaries([current])[0] if current else None
        if current is not None:
            teams.update(t for t in namespace_teams(current, cluster.team_rule()).values())
        rows.append({
            "cluster": cluster,
            "current": current,
            "analysis": summary,
            "coverage": summary and summary["coverage"],
            "active": active_snapshot(cluster),
            "last": cluster.snapshots.first(),
            "trend": _trend(cluster),
            "team": _team_of(cluster, current, team),
        })
    choices = sorted(t for t in teams if t) + ([NO_TEAM] if "" in teams else [])
    return render(request, "webui/home.html", {
        "rows": rows, "team_choices": [(t, describe(t)) for t in choices], "team_name": team,
        "team_label": describe(team) if team else "",
    })


@require_POST
@require_role("auditor")
def snapshot_now(request, name):
    cluster = get_cluster(name)
    snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
    if snapshot is None:
        messages.warning(request, f"{cluster.name}: a snapshot is already pending or running; this one was skipped.")
    else:
        messages.info(request, f"{cluster.name}: snapshot #{snapshot.pk} queued.")
    return redirect("webui:home")


@require_role("viewer")
def snapshot_progress(request, name):
    """Polled by static/js/progress.js while a snapshot runs."""
    cluster = get_cluster(name)
    active = active_snapshot(cluster)
    last = cluster.snapshots.exclude(status__in=Snapshot.ACTIVE).first()
    current = latest_snapshot(cluster)
    analysis = None
    if current:
        status = Analysis.objects.filter(snapshot=current).values_list("status", flat=True).first()
        # No row yet: the analysis task is queued; the page keeps waiting for it.
        analysis = {
            "snapshot": current.pk, "status": status or "pending",
            # How long it has waited: a queued analysis nobody takes means no worker runs.
            "waiting": timesince(current.finished_at), "waited_seconds": int(
                (timezone.now() - current.finished_at).total_seconds()
            ),
        }
    return JsonResponse({
        "analysis": analysis,
        "active": active and {
            "id": active.pk, "status": active.status, "progress": active.progress or active.get_status_display(),
            "since": timesince(active.started_at or active.created_at),
        },
        "last": last and {"id": last.pk, "status": last.status, "error": last.error},
    })


@require_role("viewer")
def cluster_snapshots(request, name):
    """Every snapshot, newest first, each marked when it repeats the one before it; pick
    any two complete ones to compare."""
    cluster = get_cluster(name)
    page = Paginator(cluster.snapshots.all(), 50).get_page(request.GET.get("page"))
    listed = list(page.object_list)
    before = None
    if listed:
        oldest = listed[-1]
        before = (cluster.snapshots.filter(status=Snapshot.Status.COMPLETE, created_at__lt=oldest.created_at)
                  .order_by("-created_at").first())
    complete = [s for s in listed if s.status == Snapshot.Status.COMPLETE]
    return render(request, "webui/snapshots.html", {
        "cluster": cluster, "page": page, "current": latest_snapshot(cluster),
        "unchanged": history.unchanged_ids(listed, before),
        "default_new": complete[0].pk if complete else None,
        "default_old": complete[1].pk if len(complete) > 1 else None,
        "keep_unchanged_days": settings.SNAPSHOT_KEEP_UNCHANGED_DAYS,
    })
