"""The teams of a cluster: each team's namespaces, coverage and findings, linking to the
pages filtered by it (``?team=``, netpol.teams)."""

from django.shortcuts import render

from auditor.access import require_role
from auditor.selectors import analysis_of, namespace_teams, stored_report, teams_summary
from netpol.teams import NO_TEAM

from .common import get_cluster, snapshot_for, team_for


@require_role("viewer")
def teams_page(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    team, problem = team_for(request, cluster, snapshot)
    if problem:
        return problem
    rule = cluster.team_rule()
    assigned = namespace_teams(snapshot, rule)
    rows = teams_summary(snapshot, stored_report(analysis_of(snapshot)), assigned)
    if team.team:
        rows = [row for row in rows if row["team"] == team.team]
    return render(
        request,
        "webui/teams.html",
        {
            "cluster": cluster,
            "snapshot": snapshot,
            "team": team,
            "rows": rows,
            "rule": rule,
            "no_team": NO_TEAM,
            "mapped": len(rule.mapping),
            "any_team": any(assigned.values()),
        },
    )
