from django.shortcuts import render

from auditor import selectors
from auditor.models import Snapshot
from auditor.selectors import latest_snapshot, previous_complete

from ..access import require_role
from .common import get_cluster, render_problem

LIST_CAP = 200


def _complete(cluster, value: str, which: str):
    """A complete snapshot of the cluster by id, or an error message naming the parameter."""
    if not (value.isascii() and value.isdigit()):
        return None, f"'{which}' must be a snapshot number, not '{value}'."
    snapshot = Snapshot.objects.filter(cluster=cluster, pk=int(value)).select_related("analysis").first()
    if snapshot is None:
        return None, f"{cluster.name} has no snapshot #{value}."
    if snapshot.status != Snapshot.Status.COMPLETE:
        return None, f"Snapshot #{value} is {snapshot.status}; only complete snapshots can be compared."
    return snapshot, None


@require_role("viewer")
def snapshot_diff(request, name):
    """``?old=ID&new=ID``; without them, the current snapshot against the one before it."""
    cluster = get_cluster(name)
    new_id, old_id = request.GET.get("new", ""), request.GET.get("old", "")
    if new_id:
        new, problem = _complete(cluster, new_id, "new")
    else:
        new, problem = latest_snapshot(cluster), None
    if new is None and problem is None:
        problem = f"{cluster.name} has no complete snapshot yet."
    old = None
    if problem is None:
        if old_id:
            old, problem = _complete(cluster, old_id, "old")
        else:
            old = previous_complete(new)
            if old is None:
                problem = f"Snapshot #{new.pk} is the first complete one: there is nothing to compare it with yet."
    if problem:
        status = 400 if "must be a snapshot number" in problem else 404
        return render_problem(request, cluster, problem, status=status)
    diff = selectors.snapshot_diff(old, new, cap=LIST_CAP)
    return render(request, "webui/diff.html", {"cluster": cluster, "diff": diff})
