"""What every cluster page needs: the cluster, access, and the snapshot it shows."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from auditor.models import Cluster
from auditor.selectors import (
    NoCompleteSnapshot,
    SnapshotChoiceError,
    TeamChoice,
    active_snapshot,
    pick_snapshot,
    pick_team,
)


def get_cluster(name: str) -> Cluster:
    return get_object_or_404(Cluster, name=name)


def snapshot_for(request, cluster: Cluster):
    """The snapshot a page shows: ``?snapshot=ID`` (complete only) or the current one.

    Returns ``(snapshot, None)`` or ``(None, response)`` where the response is the empty
    state explaining why there is nothing to show yet and what to do.
    """
    try:
        return pick_snapshot(cluster, request.GET.get("snapshot")), None
    except NoCompleteSnapshot:
        return None, render(request, "webui/empty_cluster.html", {
            "cluster": cluster, "active": active_snapshot(cluster), "last": cluster.snapshots.first(),
        })
    except SnapshotChoiceError as problem:
        return None, render_problem(request, cluster, problem.message, status=problem.status)


def render_problem(request, cluster, message: str, *, status: int):
    return render(request, "webui/problem.html", {"cluster": cluster, "message": message}, status=status)


def team_for(request, cluster: Cluster, snapshot) -> tuple[TeamChoice | None, object]:
    """The ``?team=`` a page filters by: ``(choice, None)``, or ``(None, response)`` naming
    the snapshot's teams when it has no such team. Pages put the choice in their context
    as ``team``: the header's team selector reads it."""
    try:
        return pick_team(cluster, snapshot, request.GET.get("team")), None
    except SnapshotChoiceError as problem:
        return None, render_problem(request, cluster, problem.message, status=problem.status)


def policy_page_url(cluster_name: str, kind: str, key: str) -> str:
    """The page of a policy of any kind: ``kind`` as the pages name it (``NetworkPolicy``,
    ``ClusterNetworkPolicy``, ``CalicoNetworkPolicy``...), ``key`` as the engine does
    (``ns/name``; ``cilium/ns/name``; ``cnp/name``)."""
    if kind == "NetworkPolicy":
        namespace, _, name = key.partition("/")
        return reverse("webui:policy", args=[cluster_name, namespace, name])
    parts = key.split("/")
    if len(parts) == 3:
        return reverse("webui:kind_policy", args=[cluster_name, kind, parts[1], parts[2]])
    return reverse("webui:cluster_policy", args=[cluster_name, kind, parts[-1]])
