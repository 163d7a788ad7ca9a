"""What every cluster page needs: the cluster, access, and the snapshot it shows."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from auditor.models import Cluster, Snapshot
from auditor.selectors import active_snapshot, latest_snapshot


def get_cluster(name: str) -> Cluster:
    return get_object_or_404(Cluster, name=name)


def snapshot_for(request, cluster: Cluster):
    """The snapshot a page shows: ``?snapshot=ID`` (complete only) or the current one.

    Returns ``(snapshot, None)`` or ``(None, response)`` where the response is the empty
    state explaining why there is nothing to show yet and what to do.
    """
    wanted = request.GET.get("snapshot")
    if wanted:
        if not (wanted.isascii() and wanted.isdigit()):
            return None, render_problem(request, cluster, f"'{wanted}' is not a snapshot number.", status=400)
        snapshot = Snapshot.objects.filter(cluster=cluster, pk=int(wanted)).first()
        if snapshot is None:
            return None, render_problem(request, cluster, f"{cluster.name} has no snapshot #{wanted}.", status=404)
        if snapshot.status != Snapshot.Status.COMPLETE:
            return None, render_problem(
                request, cluster, f"Snapshot #{wanted} is {snapshot.get_status_display().lower()}; only complete snapshots can be shown.",
                status=404,
            )
        return snapshot, None
    snapshot = latest_snapshot(cluster)
    if snapshot is None:
        return None, render(request, "webui/empty_cluster.html", {
            "cluster": cluster, "active": active_snapshot(cluster), "last": cluster.snapshots.first(),
        })
    return snapshot, None


def render_problem(request, cluster, message: str, *, status: int):
    return render(request, "webui/problem.html", {"cluster": cluster, "message": message}, status=status)
