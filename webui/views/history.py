from django.shortcuts import render

from auditor import selectors
from auditor.access import require_role

from .common import get_cluster, render_problem, team_for

LIST_CAP = 200


@require_role("viewer")
def snapshot_diff(request, name):
    """``?old=ID&new=ID``; without them, the current snapshot against the one before it."""
    cluster = get_cluster(name)
    try:
        old, new = selectors.pick_pair(cluster, request.GET.get("new", ""), request.GET.get("old", ""))
    except selectors.SnapshotChoiceError as problem:
        return render_problem(request, cluster, problem.message, status=problem.status)
    team, problem = team_for(request, cluster, new)
    if problem:
        return problem
    diff = selectors.snapshot_diff(old, new, cap=LIST_CAP, namespaces=team.namespaces)
    return render(request, "webui/diff.html", {"cluster": cluster, "diff": diff, "team": team})
