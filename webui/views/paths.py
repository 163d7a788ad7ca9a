"""Attack paths: from the internet, a workload or every workload to the cluster's crown
jewels, each hop with its port and the rules that open it, drawn hop by hop."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse

from auditor.access import require_role
from auditor.storage import engine_model
from netpol.engine import InputError
from netpol.paths import (
    DEFAULT_MAX_HOPS,
    EVERY_WORKLOAD,
    INTERNET,
    attack_paths,
    blast_radius,
    crown_jewels,
    parse_selector,
)

from .common import get_cluster, snapshot_for

MAX_HOPS = 6  # beyond this nearly everything reaches everything; the answer says nothing
STARTS = {INTERNET: "the internet", EVERY_WORKLOAD: "every workload"}


@require_role("viewer")
def attack_paths_page(request, name):
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    pinned = bool(request.GET.get("snapshot"))
    keep = f"snapshot={snapshot.pk}" if pinned else ""
    start = request.GET.get("from", "").strip() or INTERNET
    selector = request.GET.get("jewels", cluster.crown_jewels).strip()
    context = {
        "cluster": cluster,
        "snapshot": snapshot,
        "pinned": pinned,
        "keep": keep,
        "start": start,
        "start_text": STARTS.get(start, start),
        "selector": selector,
        "configured": cluster.crown_jewels,
        "max_hops_limit": MAX_HOPS,
    }
    error = None
    try:
        hops = int(request.GET.get("hops") or DEFAULT_MAX_HOPS)
        if not 1 <= hops <= MAX_HOPS:
            raise ValueError
    except ValueError:
        hops = DEFAULT_MAX_HOPS
        error = f"Hops must be a whole number from 1 to {MAX_HOPS}; {DEFAULT_MAX_HOPS} were used."
    context["hops"] = hops
    model = engine_model(snapshot)
    try:
        jewels = crown_jewels(model, selector=parse_selector(selector)) if selector else []
        found = model.derived(
            ("webui.attack_paths", start, hops, tuple(jewels)),
            lambda: attack_paths(model, jewels, start=start, max_hops=hops),
        )
    except InputError as exc:
        return render(
            request, "webui/paths.html", {**context, "error": str(exc)}, status=400
        )
    paths = [_shown(path.to_dict(), cluster, keep) for path in found]
    reached = {p["target"] for p in paths}
    context.update(
        error=error,
        jewels=[
            {"key": j, "url": _workload_url(cluster, j, keep), "reached": j in reached}
            for j in jewels
        ],
        paths=paths,
        drawing=_drawing(paths),
    )
    return render(request, "webui/paths.html", context)


def _workload_url(cluster, key: str, keep: str) -> str | None:
    if key == INTERNET:
        return None
    namespace, kind, name = key.split("/", 2)
    return reverse("webui:workload", args=[cluster.name, namespace, kind, name]) + (
        f"?{keep}" if keep else ""
    )


def _shown(path: dict, cluster, keep: str) -> dict:
    """A path with links: each end to its workload page, each rule to its policy page."""
    hops = []
    for hop in path["hops"]:
        rules = []
        for r in hop["rules"]:
            text, url = r["rule"], None
            if r["policy"]:
                namespace, policy = r["policy"].split("/", 1)
                index = r["rule"].rsplit("[", 1)[1].rstrip("]")
                anchor = f"{r['direction']}-{index}"
                url = (
                    reverse("webui:policy", args=[cluster.name, namespace, policy])
                    + "?"
                    + urlencode({"rule": anchor, **({"snapshot": keep.split("=")[1]} if keep else {})})
                    + f"#{anchor}"
                )
                text = f"{r['policy']}, {r['rule']}"
            rules.append({"direction": r["direction"], "text": text, "url": url})
        hops.append(
            {
                **hop,
                "on": _on(hop),
                "from_url": _workload_url(cluster, hop["from"], keep),
                "to_url": _workload_url(cluster, hop["to"], keep),
                "shown_rules": rules,
            }
        )
    return {"hops": hops, "target": hops[-1]["to"], "length": len(hops)}


def _on(hop: dict) -> str:
    """The port a hop is shown on; "any port" when it allows every port of its protocol
    (the engine then names the lowest, 1, only because a connection needs a number)."""
    if f"{hop['protocol']}/*" in hop["ports"]:
        return "any port"
    return f"{hop['protocol']}/{hop['port']}"


def _drawing(paths: list[dict]) -> dict:
    """Nodes and edges for the picture, placed by the server: column = hops from the start,
    so the same answer is drawn the same way on every load."""
    column: dict[str, int] = {}
    for path in paths:
        for i, hop in enumerate(path["hops"]):
            column[hop["from"]] = min(column.get(hop["from"], i), i)
        column.setdefault(path["target"], len(path["hops"]))
    targets = {p["target"] for p in paths}
    for target in targets:  # crown jewels on the right, whatever their distance
        column[target] = max(column.values(), default=0)
    rows: dict[int, int] = {}
    nodes = []
    for key in sorted(column, key=lambda k: (column[k], k)):
        row = rows.get(column[key], 0)
        rows[column[key]] = row + 1
        nodes.append(
            {
                "id": key,
                "label": key if key == INTERNET else key.split("/", 1)[1] + "\n" + key.split("/", 1)[0],
                "kind": "internet" if key == INTERNET else "jewel" if key in targets else "workload",
                "x": column[key] * 260,
                "y": row * 90,
            }
        )
    edges = {}
    for path in paths:
        for hop in path["hops"]:
            edge = edges.setdefault(
                (hop["from"], hop["to"]),
                {"source": hop["from"], "target": hop["to"], "label": hop["on"]},
            )
            edge["id"] = f"{hop['from']}>{hop['to']}"
    return {"nodes": nodes, "edges": list(edges.values())}


BLAST_HOPS = 3


def blast_of(cluster, model, workload: str, keep: str) -> dict | None:
    """What an attacker holding ``workload`` reaches within ``BLAST_HOPS`` connections,
    for its page; None when its pods take no part in traffic."""

    def build():
        selector = cluster.crown_jewels.strip()
        jewels = crown_jewels(model, selector=parse_selector(selector)) if selector else []
        return blast_radius(model, workload, max_hops=BLAST_HOPS, jewels=jewels)

    try:
        blast = model.derived(("webui.blast", workload, cluster.crown_jewels), build)
    except InputError:
        return None
    query = urlencode({"from": workload, "hops": BLAST_HOPS, **({"snapshot": keep.split("=")[1]} if keep else {})})
    return {
        **blast,
        "jewel_links": [{"key": j, "url": _workload_url(cluster, j, keep)} for j in blast["reached_jewels"]],
        "paths_url": reverse("webui:attack_paths", args=[cluster.name]) + "?" + query,
    }
