"""Namespaces in groups: the default namespace graph above ``limits.GROUP_ABOVE`` namespaces.

A namespace's group is its team (``netpol.teams``: the cluster's mapping, else its team
label), else its ``owner`` or ``app.kubernetes.io/part-of`` label, else its name prefix ("kube-*" for kube-system and kube-public). A group is one node that
says how many of its namespaces are exposed (accept traffic from outside) or uncovered (no
pod isolated), so risk shows before anything is opened; ``expand`` draws a group as a
compound node holding its namespaces. Namespaces alone in their group are drawn as
themselves. Nothing is left out without a note saying what and how to see it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ..bits import bit_positions
from ..engine import IPSet, PortSet
from ..findings.stored import StoredReport
from ..teams import DEFAULT_RULE, TeamRule
from . import limits
from .drawing import Drawing, response
from .filters import Filters
from .flows import flows_of, index_of
from .labels import coverage_class, fraction, plural, ports_label
from .limits import OTHER
from .namespaces import (
    _external_order,
    filter_empty,
    mark_team,
    merged_flows,
    namespace_node,
    ports_from,
    team_and_peers,
    team_bits,
    team_note,
)

# Labels that group namespaces without a team.
GROUP_LABELS = ("owner", "app.kubernetes.io/part-of")


def group_key(name: str, labels: dict[str, str], rule: TeamRule = DEFAULT_RULE) -> str:
    """ "team=payments" from the namespace's team, else "owner=..." from a label, else
    "kube-*" from the name's first dash, else the name."""
    team = rule.team_of(name, labels)
    if team:
        return f"team={team}"
    for label in GROUP_LABELS:
        if labels.get(label):
            return f"{label}={labels[label]}"
    head, dash, _ = name.partition("-")
    return f"{head}-*" if dash else name


class Groups:
    """Per model: each group's namespace numbers (sorted by name) and each namespace's group."""

    def __init__(self, model, rule: TeamRule = DEFAULT_RULE):
        index = index_of(model)
        members: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(index.names):
            ns = model.namespaces.get(name)
            members[group_key(name, ns.labels if ns else {}, rule)].append(i)
        self.members = dict(sorted(members.items()))
        self.of = [""] * len(index.names)
        for key, numbers in self.members.items():
            for i in numbers:
                self.of[i] = key


def groups_of(model, rule: TeamRule = DEFAULT_RULE) -> Groups:
    return model.derived(("graph.groups", rule), lambda: Groups(model, rule))


def risk_of(index, flows, i: int) -> tuple[bool, bool]:
    """(exposed, uncovered) for namespace number ``i``."""
    uncovered = (
        coverage_class(index.pods[i], index.ingress_isolated[i], index.egress_isolated[i])
        == "uncovered"
    )
    return bool(flows.exposed[i]), uncovered


def grouped_graph(model, report: StoredReport | None, filters: Filters) -> dict:
    """1. Units: a collapsed group, or one namespace (alone in its group or in an expanded
    one). 2. Within ``limits.MAX_NODES``, risky units first. 3. Edges between units with
    merged ports, those reaching risky units first, within ``limits.MAX_EDGES``."""
    index = index_of(model)
    flows = flows_of(model, filters.wanted())
    groups = groups_of(model, filters.rule)
    n = len(index.names)
    # A team: only its namespaces and their peers, and only flows that touch the team.
    team = team_bits(index, filters)
    shown = team_and_peers(flows, team) if filters.team else (1 << n) - 1
    coverage = report.coverage.namespaces if report else {}
    scores = report.score.namespaces if report else {}
    exposure = model.external_exposure()
    risk = [risk_of(index, flows, i) for i in range(n)]
    expand = [key for key in filters.expand if key in groups.members]
    unknown = [key for key in filters.expand if key not in groups.members]

    # 1. Units: (node id, member numbers, parent id or "").
    units: list[tuple[str, list[int], str]] = []
    parents: list[str] = []
    for key, members in groups.members.items():
        members = [i for i in members if shown >> i & 1]
        if not members:
            continue
        if len(members) == 1:
            units.append((f"ns:{index.names[members[0]]}", members, ""))
        elif key in expand:
            parents.append(key)
            for i in members:
                units.append((f"ns:{index.names[i]}", [i], f"grp:{key}"))
        else:
            units.append((f"grp:{key}", members, ""))

    def unit_risk(u: int) -> int:
        return sum(risk[i][0] + risk[i][1] for i in units[u][1])

    # 2. The node budget, risky units first; every expanded group's box counts as a node.
    # Outside address sets get at most a quarter of the nodes (one shared node at least).
    external_nodes = max(1, min(limits.MAX_EXTERNAL, limits.MAX_NODES // 4))
    budget = max(1, limits.MAX_NODES - len(parents) - external_nodes)
    order = sorted(range(len(units)), key=lambda u: (-bool(unit_risk(u)), units[u][0]))
    chosen = order[:budget]  # risk first: a dense graph is laid out in this order
    hidden = order[budget:]
    masks = [sum(1 << i for i in units[u][1]) for u in range(len(units))]

    usage = Counter(
        ips for u in chosen for i in units[u][1] for ips in {*flows.ext_in[i], *flows.ext_out[i]}
    )
    external_nodes = max(1, min(external_nodes, limits.MAX_NODES - len(parents) - len(chosen)))
    own_node = {ips for ips, _ in usage.most_common(external_nodes - 1)}
    if len(usage) <= external_nodes:
        own_node = set(usage)

    def ext_key(ips: IPSet):
        return ips if ips in own_node else OTHER

    drawing = Drawing(exposure.outside)
    drawing.other_sets = len(usage) - len(own_node)
    for key in parents:
        members = groups.members[key]
        exposed = sum(risk[i][0] for i in members)
        uncovered = sum(risk[i][1] for i in members)
        drawing.node(
            {
                "id": f"grp:{key}",
                "kind": "nsgroup-open",
                "group": key,
                "label": f"{key} · {plural(len(members), 'namespace')}",
                "member_count": len(members),
                "facts": [
                    ["Group", key],
                    ["Namespaces", f"{len(members):,}"],
                    ["Exposed", str(exposed)],
                    ["Uncovered", str(uncovered)],
                ],
            },
            ["nsgroup-open"],
        )
    label: dict[int, str] = {}
    for u in chosen:
        node_id, members, parent = units[u]
        if node_id.startswith("ns:"):
            i = members[0]
            namespace_node(drawing, index, flows, i, coverage, scores, focus=False)
            if filters.team:
                mark_team(drawing, filters, team >> i & 1)
            data = drawing.nodes[-1]["data"]
            data["group"] = groups.of[i]
            if parent:
                data["parent"] = parent
            label[u] = index.names[i]
        else:
            group_node(drawing, index, flows, risk, node_id, node_id[4:], members)
            label[u] = node_id[4:]

    # 3. Edges between chosen units, and to outside address sets.
    risky_ids = {units[u][0] for u in chosen if unit_risk(u)}
    pending: list[tuple] = []
    internal: dict[int, PortSet] = {}
    for v in chosen:
        merged, ext_in, ext_out = merged_flows(flows, units[v][1], ext_key)
        for u in chosen:
            ports = ports_from(merged, masks[u])
            if not ports:
                continue
            if u == v:
                internal[v] = ports
            elif filters.team and not (masks[u] | masks[v]) & team:
                continue  # between two other teams' namespaces
            elif not filters.external:
                pending.append((units[u][0], units[v][0], ports, (label[u], label[v]), None))
        if filters.team and not masks[v] & team:
            continue
        for key, ports in sorted(ext_in.items(), key=_external_order):
            pending.append(("", units[v][0], ports, ("", label[v]), ("in", key)))
        for key, ports in sorted(ext_out.items(), key=_external_order):
            pending.append((units[v][0], "", ports, (label[v], ""), ("out", key)))
    # Flows that reach risky units are drawn first when the edges do not all fit.
    pending.sort(key=lambda e: (e[1] not in risky_ids, e[0], e[1]))
    dropped_edges = max(0, len(pending) - limits.MAX_EDGES)
    for source, target, ports, names, outside in pending[: limits.MAX_EDGES]:
        if outside is None:
            drawing.edge(source, target, ports, names, external=False)
            continue
        direction, key = outside
        node = drawing.external(key)
        name = drawing.external_label(key)
        if direction == "in":
            drawing.edge(node, target, ports, (name, names[1]), external=True)
        else:
            drawing.edge(source, node, ports, (names[0], name), external=True)
    positions = {units[u][0]: k + len(parents) for k, u in enumerate(chosen)}
    for v, ports in internal.items():
        data = drawing.nodes[positions[units[v][0]]]["data"]
        data["internal_ports"] = ports.describe()
        data["facts"].append(["Flows inside", ports_label(ports)])

    collapsed = [u for u in chosen if units[u][0].startswith("grp:")]
    notes = team_note(filters, index, team, bit_positions(shown)) + [
        f"{n:,} namespaces in {len(groups.members):,} groups (by team label, else by name "
        f"prefix); {len(collapsed):,} groups are drawn closed, each one node. Double-click a "
        "group to open it, search for a namespace by name, or see every pair on the matrix."
    ]
    if hidden:
        names_hidden = sum(len(units[u][1]) for u in hidden)
        notes.append(
            f"{len(hidden):,} more node{'s' if len(hidden) != 1 else ''} ({names_hidden:,} "
            f"namespaces) are not drawn, to stay within {limits.MAX_NODES} nodes: close an "
            "open group, search for a namespace, or use the matrix."
        )
    if dropped_edges:
        notes.append(
            f"{dropped_edges:,} flows are not drawn, to stay within {limits.MAX_EDGES:,} edges "
            "(flows into exposed or uncovered namespaces come first); the matrix lists every pair."
        )
    if unknown:
        notes.append(f"No group named {', '.join(unknown[:5])} in this snapshot.")
    empty = None
    if not drawing.edges:
        empty = (
            filter_empty(filters)
            if filters.describe()
            else (
                "No flow is allowed anywhere: every pod is isolated and no policy lets traffic in or out."
            )
        )
    where = {
        index.names[i]: f"grp:{units[u][0][4:]}"
        for u in chosen
        if units[u][0].startswith("grp:")
        for i in units[u][1]
    }
    for u in hidden:
        for i in units[u][1]:
            where[index.names[i]] = ""
    data = response("groups", "", filters, drawing, notes, bool(hidden or dropped_edges), empty, n)
    data["layout"] = "cose" if len(drawing.nodes) <= limits.COSE_LIMIT or parents else "concentric"
    data["groups"] = {"count": len(groups.members), "open": parents, "where": where}
    data["risk"] = risk_list(index, groups, risk, team or shown)
    return data


def risk_list(index, groups: Groups, risk, only: int) -> dict:
    """Exposed and uncovered namespaces among ``only`` (a bitset), for the side panel, most
    at risk first."""
    rows = [
        {"namespace": index.names[i], "group": groups.of[i], "exposed": e, "uncovered": u}
        for i, (e, u) in enumerate(risk)
        if (e or u) and only >> i & 1
    ]
    rows.sort(key=lambda r: (-(r["exposed"] + r["uncovered"]), r["namespace"]))
    return {"rows": rows[: limits.RISK_LISTED], "count": len(rows)}


def group_node(drawing: Drawing, index, flows, risk, node_id: str, key: str, members) -> None:
    names = [index.names[i] for i in members]
    pods = sum(index.pods[i] for i in members)
    ingress = sum(index.ingress_isolated[i] for i in members)
    egress = sum(index.egress_isolated[i] for i in members)
    exposed = [index.names[i] for i in members if risk[i][0]]
    uncovered = [index.names[i] for i in members if risk[i][1]]
    at_risk = []
    if exposed:
        at_risk.append(f"{len(exposed)} exposed")
    if uncovered:
        at_risk.append(f"{len(uncovered)} uncovered")
    shown = names[:50]
    drawing.node(
        {
            "id": node_id,
            "kind": "nsgroup",
            "group": key,
            "label": f"{key} · {len(names)} ns" + (f"\n{', '.join(at_risk)}" if at_risk else ""),
            "members": shown,
            "member_count": len(names),
            "pods": pods,
            "facts": [
                ["Group", key],
                ["Namespaces", f"{len(names):,}"],
                [
                    "Members",
                    ", ".join(shown)
                    + (f" and {len(names) - 50:,} more" if len(names) > 50 else ""),
                ],
                ["Exposed", ", ".join(exposed[:20]) or "none"],
                ["Uncovered", ", ".join(uncovered[:20]) or "none"],
                ["Running pods", str(pods)],
                ["Isolated for ingress", fraction(ingress, pods)],
                ["Isolated for egress", fraction(egress, pods)],
            ],
        },
        [
            "nsgroup",
            "uncovered" if uncovered else coverage_class(pods, ingress, egress),
            "exposed" if exposed else "",
        ],
    )
