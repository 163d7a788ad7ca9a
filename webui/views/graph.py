"""The graph page and the Cytoscape elements it loads.

The page is plain HTML (filters, legend, an empty canvas); ``static/js/graph.js`` fetches
the elements URL named in a ``data-*`` attribute and draws what ``netpol.graph`` built.
The page never builds the engine model, so it renders at once even while the first
elements request of a big snapshot is still building it.
"""

import json
from urllib.parse import urlencode

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from auditor.access import require_role
from auditor.models import Analysis, Namespace, NetworkPolicy, Pod
from auditor.selectors import (
    NoCompleteSnapshot,
    SnapshotChoiceError,
    namespace_teams,
    pick_snapshot,
)
from auditor.storage import engine_model
from netpol import graph
from netpol import summaries as objects
from netpol.findings.stored import StoredReport

from .common import get_cluster, policy_page_url, snapshot_for, team_for


def _namespaces(snapshot) -> list[str]:
    """Every namespace the engine will know: listed ones and those only pods or policies name."""
    names = set(Namespace.objects.filter(snapshot=snapshot).values_list("name", flat=True))
    names.update(
        Pod.objects.filter(snapshot=snapshot).values_list("namespace", flat=True).distinct()
    )
    names.update(
        NetworkPolicy.objects.filter(snapshot=snapshot)
        .values_list("namespace", flat=True)
        .distinct()
    )
    return sorted(names)


@require_role("viewer")
def graph_page(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    namespaces = _namespaces(snapshot)
    rule = cluster.team_rule()
    team, problem = team_for(request, cluster, snapshot)
    if problem:
        return problem
    pinned = bool(request.GET.get("snapshot"))
    page_url = reverse("webui:graph", args=[cluster.name])
    context = {
        "cluster": cluster,
        "snapshot": snapshot,
        "namespaces": namespaces,
        "filters": graph.Filters(),
        "protocols": graph.PROTOCOLS,
        "pinned": pinned,
        "keep": f"snapshot={snapshot.pk}" if pinned else "",
        "clear_url": page_url,
        "team": team,
    }
    try:
        filters = graph.parse_filters(request.GET, set(namespaces), team.assigned, rule)
    except graph.FilterError as exc:
        return render(
            request, "webui/graph.html", {**context, "error": str(exc)}, status=exc.status
        )
    query = filters.query()
    if pinned:
        query["snapshot"] = str(snapshot.pk)
    overview = {"snapshot": str(snapshot.pk)} if pinned else {}
    # Clearing the other filters keeps the team: the team selector clears it.
    kept = {"team": filters.team} if filters.team else {}
    overview = {**overview, **kept}
    cleared = {**({"namespace": filters.namespace} if filters.namespace else {}), **overview}
    views = {}
    if not filters.namespace:
        for view in ("groups", "all", "matrix"):
            params = {**{k: v for k, v in query.items() if k not in ("view", "expand", "around")}, "view": view}
            views[view] = page_url + "?" + urlencode(params)
    grid = None
    if filters.view == "matrix":
        try:
            grid = _matrix(request, cluster, snapshot, filters, pinned, page_url, query)
        except KeyError as exc:
            return render(
                request, "webui/graph.html",
                {**context, "error": f"This snapshot has no group {exc.args[0][:100]}."}, status=404,
            )
    return render(
        request,
        "webui/graph.html",
        {
            **context,
            "filters": filters,
            "views": views,
            "view": filters.view or ("" if filters.namespace else "auto"),
            "group_above": graph.limits.GROUP_ABOVE,
            "matrix": grid,
            "elements_url": reverse("webui:graph_elements", args=[cluster.name])
            + ("?" + urlencode(query) if query else ""),
            "overview_url": page_url + ("?" + urlencode(overview) if overview else ""),
            "clear_url": page_url + ("?" + urlencode(cleared) if cleared else ""),
        },
    )


@require_role("viewer")
def graph_elements(request, name):
    cluster = get_cluster(name)
    snapshot, problem = _snapshot(request, cluster)
    if problem:
        return problem
    model = engine_model(snapshot)
    rule = cluster.team_rule()
    try:
        filters = graph.parse_filters(
            request.GET, model.namespaces, namespace_teams(snapshot, rule), rule
        )
    except graph.FilterError as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)
    analysed = Analysis.objects.filter(snapshot=snapshot, status=Analysis.Status.COMPLETE).exists()
    pinned = bool(request.GET.get("snapshot"))

    def build() -> bytes:
        report = StoredReport.from_dict(Analysis.objects.get(snapshot=snapshot).report) if analysed else None
        data = _with_links(graph.build_graph(model, report, filters), cluster, snapshot, pinned)
        _with_rules(data, model, cluster, snapshot, pinned)
        _with_decisions(data, model, cluster, snapshot, pinned)
        return json.dumps({**data, "snapshot": snapshot.pk, "analysed": analysed}).encode()

    # Kept as bytes: a few hundred kB each, where the dicts would take several MB. The
    # report (scores, policy counts) arrives after the snapshot, so it is part of the key.
    content = graph.cached((snapshot.pk, analysed, filters, pinned), build)
    return HttpResponse(content, content_type="application/json")


def _matrix(request, cluster, snapshot, filters, pinned, page_url, query) -> dict:
    """The matrix view: cells link to the pair of groups, or to a namespace pair's rules."""
    model = engine_model(snapshot)
    rows, cols = request.GET.get("rows", "").strip(), request.GET.get("cols", "").strip()
    grid = graph.matrix(model, filters.wanted(), rows, cols, filters)
    base = {k: v for k, v in query.items() if k not in ("around", "expand")}
    for row in grid["cells"]:
        for cell in row:
            if "rows" in cell:
                cell["url"] = page_url + "?" + urlencode({**base, "rows": cell["rows"], "cols": cell["cols"]})
            else:
                params = {**base, "rows": rows, "cols": cols, "from": cell["from"], "to": cell["to"]}
                cell["url"] = page_url + "?" + urlencode({k: v for k, v in params.items() if v}) + "#pair"
    if grid["level"] == "namespaces":
        for head in grid["rows"] + grid["cols"]:
            head["url"] = reverse("webui:namespace", args=[cluster.name, head["key"]]) + (
                f"?snapshot={snapshot.pk}" if pinned else ""
            )
    grid["body"] = [{"head": head, "cells": row} for head, row in zip(grid["rows"], grid["cells"], strict=True)]
    grid["up_url"] = page_url + "?" + urlencode(base) if rows or cols else ""
    source, target = request.GET.get("from", "").strip(), request.GET.get("to", "").strip()
    if source in model.namespaces and target in model.namespaces:
        allowed = "no port"
        for row in grid["cells"]:
            for cell in row:
                if cell.get("from") == source and cell.get("to") == target:
                    cell["chosen"] = True
                    allowed = cell["title"].split(": ", 1)[1]
        grid["pair"] = {
            "from": source,
            "to": target,
            "ports": allowed,
            **_rule_links(graph.flow_rules(model, source, target), cluster, snapshot, pinned),
        }
    return grid


def _rule_links(rules: dict, cluster, snapshot, pinned: bool) -> dict:
    """Each rule ref of ``graph.flow_rules`` with its policy page URL, at the rule."""
    keep = f"&snapshot={snapshot.pk}" if pinned else ""
    for side in ("ingress", "egress"):
        for ref in rules[side]:
            anchor = f"{ref['direction']}-{ref['rule']}"
            ref["url"] = (
                reverse("webui:policy", args=[cluster.name, ref["namespace"], ref["policy"]])
                + f"?rule={anchor}{keep}#{anchor}"
            )
            ref["text"] = f"{ref['namespace']}/{ref['policy']}, {ref['direction']} rule {ref['rule']}"
    return rules


def _snapshot(request, cluster):
    """``snapshot_for``'s choice, with its problems as JSON for the script to show."""
    try:
        return pick_snapshot(cluster, request.GET.get("snapshot")), None
    except NoCompleteSnapshot as problem:
        return None, JsonResponse(
            {
                "error": f"{cluster.name} has no complete snapshot yet: take one from the overview, then reload."
            },
            status=problem.status,
        )
    except SnapshotChoiceError as problem:
        # The script shows one line: missing or not complete is all it needs to say.
        message = (
            problem.message
            if problem.wanted is None
            else f"{cluster.name} has no complete snapshot #{problem.wanted}."
        )
        return None, JsonResponse({"error": message}, status=problem.status)


def _with_rules(data: dict, model, cluster, snapshot, pinned: bool) -> None:
    """A flow between two namespaces links to the rules that allow it, both ends."""
    for edge in data["elements"]["edges"]:
        d = edge["data"]
        if not (d["source"].startswith("ns:") and d["target"].startswith("ns:")):
            continue
        source, target = d["source"][3:], d["target"][3:]
        rules = _rule_links(graph.flow_rules(model, source, target), cluster, snapshot, pinned)
        links = d.setdefault("links", [])
        for side in ("ingress", "egress"):
            for ref in rules[side]:
                links.append({"text": f"Allowed by {ref['text']}", "url": ref["url"]})
        if rules["more"]:
            d["facts"].append(["More rules", f"{rules['more']} more rules allow it"])
        if rules["ingress_open"]:
            d["facts"].append(["Open pods", f"{rules['ingress_open']} pod(s) of {target} are not isolated for ingress: they need no rule"])
        if rules["egress_open"]:
            d["facts"].append(["Open senders", f"{rules['egress_open']} pod(s) of {source} are not isolated for egress: they need no rule"])


def _classes_of_node(model, node_id: str) -> int | None:
    """The pod classes a drawn namespace ("ns:x") or workload ("wl:ns/Kind/name", or
    "wl:ns/pod" for a pod without owner) stands for; None for anything else."""
    kind, _, key = node_id.partition(":")
    if kind == "ns":
        return objects.namespace_classes(model, key)
    if kind == "wl":
        parts = key.split("/")
        if len(parts) == 2:
            parts = [parts[0], "Pod", parts[1]]
        return objects.workload_classes(model, *parts) if len(parts) == 3 else None
    return None


def _with_decisions(data: dict, model, cluster, snapshot, pinned: bool) -> None:
    """Each flow between pods says which kind and policy decided an example connection
    of it (egress at the source, ingress at the destination), and links those policies."""
    keep = f"snapshot={snapshot.pk}" if pinned else ""
    reach_url = reverse("webui:reach", args=[cluster.name])
    for edge in data["elements"]["edges"]:
        d = edge["data"]
        src, dst = _classes_of_node(model, d["source"]), _classes_of_node(model, d["target"])
        if not src or not dst:
            continue
        found = objects.flow_decision(model, src, dst)
        if found is None:
            continue
        where = f"{found['src']} → {found['dst']} {found['protocol']}/{found['port']}"
        d.setdefault("facts", []).append(["Example", where])
        for side in found["sides"]:
            d["facts"].append([f"Decided by ({side['direction']})", side["text"]])
            for p in side["policies"]:
                d.setdefault("links", []).append(
                    {
                        "text": f"{side['direction'].capitalize()}: {p['text']}",
                        "url": _policy_url(cluster, p, keep),
                    }
                )
        params = {
            "from": found["src"],
            "to": found["dst"],
            "port": found["port"],
            "protocol": found["protocol"],
        }
        d.setdefault("links", []).append(
            {
                "text": f"Explain {where}",
                "url": reach_url + "?" + urlencode(params) + (f"&{keep}" if keep else ""),
            }
        )


def _policy_url(cluster, p: dict, keep: str) -> str:
    """The page of a policy of any kind (``netpol.summaries.policy_ref``)."""
    url = policy_page_url(cluster.name, p["api_kind"], p["key"])
    return url + (f"?{keep}" if keep else "")


def _with_links(data: dict, cluster, snapshot, pinned_snapshot: bool) -> dict:
    """Add the pages a node's detail panel links to; the graph module knows no URLs."""
    pinned = f"snapshot={snapshot.pk}" if pinned_snapshot else ""
    graph_url = reverse("webui:graph", args=[cluster.name])
    findings_url = reverse("webui:findings", args=[cluster.name])

    def with_query(url: str, params: dict) -> str:
        query = urlencode(params)
        return url + "?" + "&".join(q for q in (query, pinned) if q)

    expanded = list(data["filters"].get("expand", "").split(",")) if data["filters"].get("expand") else []
    for node in data["elements"]["nodes"]:
        d = node["data"]
        links = []
        if d["kind"] == "namespace":
            d["graph_url"] = with_query(graph_url, {"namespace": d["namespace"]})
            page = reverse("webui:namespace", args=[cluster.name, d["namespace"]])
            links.append({"text": f"Namespace page of {d['namespace']}", "url": page + (f"?{pinned}" if pinned else "")})
            links.append({"text": f"Workload graph of {d['namespace']}", "url": d["graph_url"]})
            links.append(
                {
                    "text": "Findings in this namespace",
                    "url": with_query(findings_url, {"namespace": d["namespace"]}),
                }
            )
            links.append(
                {
                    "text": "Neighbourhood on the namespace graph",
                    "url": with_query(graph_url, {"around": d["namespace"]}),
                }
            )
        elif d["kind"] == "workload":
            url = reverse(
                "webui:workload",
                args=[cluster.name, d["namespace"], d["workload_kind"], d["workload_name"]],
            )
            links.append(
                {
                    "text": "Workload page: policies, reach, exposure",
                    "url": url + (f"?{pinned}" if pinned else ""),
                }
            )
            links.append(
                {
                    "text": f"Findings in {d['namespace']}",
                    "url": with_query(findings_url, {"namespace": d["namespace"]}),
                }
            )
        elif d["kind"] in ("nsgroup", "nsgroup-open"):
            opened = [k for k in expanded if k != d["group"]]
            if d["kind"] == "nsgroup":
                opened.append(d["group"])
            params = {k: v for k, v in data["filters"].items() if k != "expand"}
            if opened:
                params["expand"] = ",".join(opened)
            d["graph_url"] = with_query(graph_url, params)
            verb = "Open" if d["kind"] == "nsgroup" else "Close"
            links.append({"text": f"{verb} {d['group']} on the graph", "url": d["graph_url"]})
            links.append(
                {
                    "text": "Its namespaces on the matrix",
                    "url": with_query(graph_url, {"view": "matrix", "rows": d["group"], "cols": d["group"]}),
                }
            )
        elif d["kind"] == "group":
            for member in d["members"][:10]:
                links.append(
                    {
                        "text": f"Workload graph of {member}",
                        "url": with_query(graph_url, {"namespace": member}),
                    }
                )
        d["links"] = links
    for row in data.get("risk", {}).get("rows", []):
        row["url"] = reverse("webui:namespace", args=[cluster.name, row["namespace"]]) + (
            f"?{pinned}" if pinned else ""
        )
    reach_url = reverse("webui:reach", args=[cluster.name])
    for edge in data["elements"]["edges"]:
        d = edge["data"]
        if d["source"].startswith("wl:") and d["target"].startswith("wl:"):
            protocol, _, port = d["ports"][0].partition("/")
            params = {"from": d["source"][3:], "to": d["target"][3:], "protocol": protocol}
            if port != "*":
                params["port"] = port.split("-")[0]
            d["links"] = [{"text": "Explain this connection", "url": with_query(reach_url, params)}]
    return data
