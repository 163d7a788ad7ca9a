from django.shortcuts import render

from auditor import selectors
from auditor.access import require_role
from auditor.models import Snapshot
from auditor.selectors import latest_snapshot, previous_complete

from .common import get_cluster, render_problem

LIST_CAP = 200


class _Problem(Exception):
    """Why the two snapshots cannot be compared, and the status that says so."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


def _complete(cluster, value: str, which: str) -> Snapshot:
    """A complete snapshot of the cluster by id; the error names the parameter."""
    if not (value.isascii() and value.isdigit()):
        raise _Problem(f"'{which}' must be a snapshot number, not '{value}'.", status=400)
    snapshot = Snapshot.objects.filter(cluster=cluster, pk=int(value)).first()
    if snapshot is None:
        raise _Problem(f"{cluster.name} has no snapshot #{value}.")
    if snapshot.status != Snapshot.Status.COMPLETE:
        raise _Problem(f"Snapshot #{value} is {snapshot.status}; only complete snapshots can be compared.")
    return snapshot


def _pair(cluster, new_id: str, old_id: str) -> tuple[Snapshot, Snapshot]:
    new = _complete(cluster, new_id, "new") if new_id else latest_snapshot(cluster)
    if new is None:
        raise _Problem(f"{cluster.name} has no complete snapshot yet.")
    old = _complete(cluster, old_id, "old") if old_id else previous_complete(new)
    if old is None:
        raise _Problem(f"Snapshot #{new.pk} is the first complete one: there is nothing to compare it with yet.")
    return old, new


@require_role("viewer")
def snapshot_diff(request, name):
    """``?old=ID&new=ID``; without them, the current snapshot against the one before it."""
    cluster = get_cluster(name)
    try:
        old, new = _pair(cluster, request.GET.get("new", ""), request.GET.get("old", ""))
    except _Problem as problem:
        return render_problem(request, cluster, str(problem), status=problem.status)
    diff = selectors.snapshot_diff(old, new, cap=LIST_CAP)
    return render(request, "webui/diff.html", {"cluster": cluster, "diff": diff})
