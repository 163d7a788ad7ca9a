from django.contrib import messages
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from auditor import services
from auditor.models import Cluster, Snapshot
from auditor.selectors import active_snapshot, latest_snapshot

from ..access import require_role
from ..charts import polyline
from .common import get_cluster

TREND_POINTS = 30


def coverage_percent(analysis) -> float | None:
    """Isolated (pod, direction) pairs over all of them, as the score's coverage counts."""
    if analysis is None or analysis.status != "complete":
        return None
    counts = (analysis.report.get("coverage") or {}).get("cluster") or {}
    if not counts.get("pods"):
        return None
    isolated = counts["ingress"]["pods"] + counts["egress"]["pods"]
    return round(100 * isolated / (2 * counts["pods"]), 1)


def _trend(cluster: Cluster) -> dict:
    recent = list(
        Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.COMPLETE)
        .select_related("analysis").order_by("-finished_at")[:TREND_POINTS]
    )[::-1]
    analyses = [getattr(s, "analysis", None) for s in recent]
    scores = [a.score if a and a.score is not None else None for a in analyses]
    coverage = [coverage_percent(a) for a in analyses]
    return {
        "score_points": polyline(scores),
        "coverage_points": polyline(coverage),
        "count": len(recent),
        "first": recent[0].finished_at if recent else None,
    }


@require_role("viewer")
def home(request):
    rows = []
    for cluster in Cluster.objects.all():
        current = latest_snapshot(cluster)
        analysis = getattr(current, "analysis", None) if current else None
        rows.append({
            "cluster": cluster,
            "current": current,
            "analysis": analysis,
            "coverage": coverage_percent(analysis),
            "active": active_snapshot(cluster),
            "last": cluster.snapshots.first(),
            "trend": _trend(cluster),
        })
    return render(request, "webui/home.html", {"rows": rows})


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
    return JsonResponse({
        "active": active and {
            "id": active.pk, "status": active.status, "progress": active.progress or active.get_status_display(),
            "since": timesince(active.started_at or active.created_at),
        },
        "last": last and {"id": last.pk, "status": last.status, "error": last.error},
    })


@require_role("viewer")
def cluster_snapshots(request, name):
    cluster = get_cluster(name)
    page = Paginator(cluster.snapshots.select_related("analysis"), 50).get_page(request.GET.get("page"))
    return render(request, "webui/snapshots.html", {"cluster": cluster, "page": page, "current": latest_snapshot(cluster)})
