"""The API's endpoints: thin reads over the selectors, answered as ``serialize`` shapes.

Every endpoint but the schema needs a token of a user with a role (``http.api_view``);
all of them only read. Lists are paginated; findings and reach answer for the current
snapshot, or for ``?snapshot=ID`` (a complete snapshot of the same cluster).
"""

from __future__ import annotations

from django.db.models import OuterRef
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from auditor.access import role_of
from auditor.models import Cluster, Finding, Report, Snapshot
from auditor.selectors import (
    GROUP_KEYS,
    SnapshotChoiceError,
    TeamChoice,
    analysis_of,
    current_snapshot_id,
    finding_groups,
    findings_of,
    latest_snapshot,
    namespace_teams,
    pick_snapshot,
    pick_team,
    stored_report,
    teams_summary,
)
from auditor.storage import engine_model
from netpol.collect.validate import name_problem
from netpol.engine import PROTOCOLS, InputError, ip_to_int
from netpol.findings.catalogue import RULES, SEVERITIES

from . import serialize
from .http import PAGE_PARAMETERS, ApiError, Query, api_view, json_response, paginate
from .schema import openapi_document


def _cluster(name: str) -> Cluster:
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is None:
        raise ApiError(404, f"No cluster named '{name[:100]}'.")
    return cluster


def _snapshots():
    return Snapshot.objects.select_related("cluster", "analysis")


def _complete_snapshot(cluster: Cluster, query: Query) -> Snapshot:
    """``?snapshot=ID`` (complete, of this cluster) or the current snapshot; 404 otherwise."""
    try:
        return pick_snapshot(cluster, query.integer("snapshot"), purpose="have answers")
    except SnapshotChoiceError as problem:
        raise ApiError(problem.status, problem.message) from None


@api_view
def me(request):
    Query(request, set())
    return serialize.me(request.api_token, role_of(request.user))


@api_view
def cluster_list(request):
    query = Query(request, PAGE_PARAMETERS)
    clusters = Cluster.objects.annotate(current_id=current_snapshot_id(OuterRef("pk"))).order_by(
        "name"
    )

    def rows(page: list[Cluster]) -> list[dict]:
        # The page's current snapshots in one query, not one per cluster.
        snapshots = _snapshots().in_bulk([c.current_id for c in page if c.current_id])
        return [serialize.cluster(c, snapshots.get(c.current_id)) for c in page]

    return paginate(request, query, clusters, rows)


@api_view
def cluster_detail(request, name):
    Query(request, set())
    cluster = _cluster(name)
    current = latest_snapshot(cluster)
    if current is not None:
        current = _snapshots().get(pk=current.pk)
    return serialize.cluster(cluster, current)


@api_view
def snapshot_list(request, name):
    query = Query(request, PAGE_PARAMETERS | {"status"})
    cluster = _cluster(name)
    snapshots = _snapshots().filter(cluster=cluster).order_by("-created_at", "-id")
    statuses = query.items("status", allowed=Snapshot.Status.values, max_items=4)
    if statuses:
        snapshots = snapshots.filter(status__in=statuses)
    return paginate(
        request, query, snapshots, lambda page: [serialize.snapshot_summary(s) for s in page]
    )


@api_view
def snapshot_detail(request, name, pk):
    Query(request, set())
    cluster = _cluster(name)
    snapshot = _snapshots().filter(cluster=cluster, pk=pk).first()
    if snapshot is None:
        raise ApiError(404, f"{cluster.name} has no snapshot #{pk}.")
    return serialize.snapshot_detail(snapshot)


FINDING_FILTERS = {"snapshot", "severity", "rule", "namespace", "waived", "team"}


def _team_name(query: Query) -> str:
    team = query.text("team")
    if len(team) > 100:
        raise ApiError(400, "team: at most 100 characters.", parameter="team")
    return team


def _team(query: Query, cluster: Cluster, snapshot: Snapshot) -> TeamChoice:
    """``?team=`` against the snapshot's teams; 404 naming them when no namespace has it."""
    try:
        return pick_team(cluster, snapshot, _team_name(query))
    except SnapshotChoiceError as problem:
        raise ApiError(problem.status, problem.message, parameter="team") from None


def _findings(query: Query, cluster: Cluster):
    """The snapshot asked for and its findings narrowed by the list's filters."""
    # Parameters first, so a malformed one is a 400 whatever the snapshots are.
    severities = query.items("severity", allowed=SEVERITIES, max_items=len(SEVERITIES))
    rules = query.items("rule", allowed=tuple(RULES), upper=True, max_items=len(RULES))
    namespaces = query.items("namespace", max_items=20, check=lambda v: name_problem(v, "label"))
    waived = query.boolean("waived")
    snapshot = _complete_snapshot(cluster, query)
    team = _team(query, cluster, snapshot)
    findings = team.filter(findings_of(snapshot))
    if severities:
        findings = findings.filter(severity__in=severities)
    if rules:
        findings = findings.filter(rule__in=rules)
    if namespaces:
        findings = findings.filter(namespace__in=namespaces)
    if waived is not None:
        findings = findings.filter(waived=waived)
    return snapshot, findings, team.team or None


@api_view
def finding_list(request, name):
    query = Query(request, PAGE_PARAMETERS | FINDING_FILTERS)
    cluster = _cluster(name)
    snapshot, findings, team = _findings(query, cluster)
    page = paginate(
        request, query, findings, lambda rows: [serialize.finding(f, cluster.name) for f in rows]
    )
    return {"cluster": cluster.name, "snapshot": snapshot.pk, "team": team, **page}


@api_view
def finding_group_list(request, name):
    query = Query(request, PAGE_PARAMETERS | FINDING_FILTERS | {"by"})
    by = query.text("by")
    if by not in GROUP_KEYS:
        raise ApiError(
            400, f"by: required, one of {', '.join(GROUP_KEYS)}; not '{by[:20]}'.", parameter="by"
        )
    cluster = _cluster(name)
    snapshot, findings, team = _findings(query, cluster)
    page = paginate(
        request,
        query,
        finding_groups(findings, by),
        lambda rows: [serialize.finding_group(g) for g in rows],
    )
    return {"cluster": cluster.name, "snapshot": snapshot.pk, "team": team, "by": by, **page}


@api_view
def finding_detail(request, name, pk):
    Query(request, set())
    cluster = _cluster(name)
    found = (
        Finding.objects.filter(pk=pk, snapshot__cluster=cluster).select_related("snapshot").first()
    )
    if found is None:
        raise ApiError(404, f"{cluster.name} has no finding #{pk}.")
    # The same row through findings_of, for its waived flag as of now.
    row = findings_of(found.snapshot).get(pk=pk)
    return serialize.finding_detail(row, cluster.name)


def _reach_end(param: str, value: str) -> bool:
    """True for a pod ("namespace/name"), False for an address; 400 for anything else."""
    if not value:
        raise ApiError(
            400, f"{param}: required; give namespace/pod or an IP address.", parameter=param
        )
    try:
        ip_to_int(value)
        return False
    except ValueError:
        pass
    namespace, _, name = value.partition("/")
    if not (namespace and name) or "/" in name:
        raise ApiError(
            400,
            f"{param}: '{value[:100]}' is neither namespace/pod nor an IP address.",
            parameter=param,
        )
    return True


@api_view
def reach(request, name):
    """The engine's verdict on one connection, as ``Verdict.to_dict()`` gives it.

    A malformed end is a 400; a well-formed pod the snapshot does not have is a 404,
    like any unknown object. Any address is a valid end (outside the cluster, or a node's).
    """
    query = Query(request, {"from", "to", "port", "protocol", "snapshot"})
    cluster = _cluster(name)
    ends = {param: query.text(param) for param in ("from", "to")}
    pods = {param: _reach_end(param, value) for param, value in ends.items()}
    port = query.integer("port", high=65535)
    if port is None:
        raise ApiError(400, "port: required; give a number from 1 to 65535.", parameter="port")
    protocol = query.text("protocol", "TCP").upper()
    if protocol not in PROTOCOLS:
        raise ApiError(
            400,
            f"protocol: '{protocol[:20]}' is not one of {', '.join(PROTOCOLS)}.",
            parameter="protocol",
        )
    snapshot = _complete_snapshot(cluster, query)
    model = engine_model(snapshot)
    for param, value in ends.items():
        if pods[param] and value not in model.pods_by_key:
            raise ApiError(
                404, f"{param}: no pod {value[:300]} in snapshot #{snapshot.pk}.", parameter=param
            )
    try:
        verdict = model.reach(ends["from"], ends["to"], port, protocol)
    except InputError as exc:  # checked above; kept so a new engine rule still answers 400
        raise ApiError(400, str(exc)) from None
    return {"cluster": cluster.name, "snapshot": snapshot.pk, **verdict.to_dict()}


@api_view
def report_list(request, name):
    query = Query(request, PAGE_PARAMETERS | {"status", "team"})
    cluster = _cluster(name)
    statuses = query.items("status", allowed=Report.Status.values, max_items=4)
    team = _team_name(query)
    # The content can be megabytes a report: lists leave it in the database.
    reports = Report.objects.filter(cluster=cluster).defer("content").select_related("schedule")
    if statuses:
        reports = reports.filter(status__in=statuses)
    if team:
        reports = reports.filter(schedule__team=team)
    reports = reports.order_by("-created_at", "-id")
    return paginate(
        request, query, reports, lambda page: [serialize.report(r, cluster.name) for r in page]
    )


@api_view
def team_list(request, name):
    query = Query(request, {"snapshot", "team"})
    cluster = _cluster(name)
    snapshot = _complete_snapshot(cluster, query)
    team = _team(query, cluster, snapshot)
    rule = cluster.team_rule()
    analysis = analysis_of(snapshot)
    rows = teams_summary(snapshot, stored_report(analysis), namespace_teams(snapshot, rule))
    return {
        "cluster": cluster.name,
        "snapshot": snapshot.pk,
        "team_label": rule.label or None,
        "mapped": len(rule.mapping),
        "teams": [
            serialize.team(row, cluster.name, snapshot.pk) for row in rows if not team.team or row["team"] == team.team
        ],
    }


@api_view
def report_detail(request, name, pk):
    Query(request, set())
    cluster = _cluster(name)
    found = Report.objects.filter(cluster=cluster, pk=pk).select_related("schedule").first()
    if found is None:
        raise ApiError(404, f"{cluster.name} has no report #{pk}.")
    return serialize.report_detail(found, cluster.name)


@csrf_exempt  # no cookies are read: any method gets its 405 rather than a CSRF page
def schema(request):
    """The OpenAPI document; public, like any API's documentation."""
    if request.method != "GET":
        return ApiError(
            405, f"{request.method} is not allowed.", headers={"Allow": "GET"}
        ).response()
    return JsonResponse(openapi_document(), json_dumps_params={"indent": 1})


@csrf_exempt
def not_found(request):
    """Unknown paths under /api/ answer in JSON too (paths take no trailing slash)."""
    return json_response(
        {
            "status": 404,
            "detail": f"No API endpoint at {request.path[:200]}; see /api/v1/schema.json.",
        },
        status=404,
    )
