"""The namespace graph: a node per namespace (or group), outside address sets, flows."""

from __future__ import annotations

from collections import Counter, defaultdict

from ..bits import bit_positions
from ..engine import (
    NO_PORTS,
    IPSet,
    PortSet,
)
from ..findings.stored import StoredReport
from ..teams import describe
from . import limits
from .drawing import Drawing, response, same_flow_units
from .filters import Filters
from .flows import Flows, Index, flows_of, index_of
from .labels import coverage_class, fraction, ports_label
from .limits import OTHER


def namespace_graph(model, report: StoredReport | None, filters: Filters) -> dict:
    """1. Pick the candidate namespaces for the filters. 2. Above limits.MAX_NODES, merge
    namespaces with the same flows into groups. 3. Rank by number of peers and add units
    while the node and edge budgets allow: every flow between drawn units is drawn.
    4. List the drawn pairs' ports from the per-namespace bitsets."""
    index = index_of(model)
    flows = flows_of(model, filters.wanted())
    n = len(index.names)
    # Before the analysis is in there is no report: no policy counts or scores yet.
    coverage = report.coverage.namespaces if report else {}
    scores = report.score.namespaces if report else {}
    exposure = model.external_exposure()
    centre = index.number[filters.around] if filters.around else None
    # A team: its namespaces and the peers they exchange traffic with (around a namespace,
    # the neighbourhood decides instead).
    team = team_bits(index, filters) if centre is None else 0

    def has_flow(i: int) -> bool:
        return bool(flows.in_bits[i] or flows.out_bits[i] or flows.ext_in[i] or flows.ext_out[i])

    # 1. Candidates, and which kinds of edge are drawn.
    pairs_drawn = not filters.external
    if centre is not None and filters.external:
        candidates = [centre]
    elif centre is not None:
        candidates = bit_positions(flows.in_bits[centre] | flows.out_bits[centre] | (1 << centre))
    elif filters.team and filters.external:
        candidates = [i for i in bit_positions(team) if flows.ext_in[i] or flows.ext_out[i]]
    elif filters.team:
        candidates = bit_positions(team_and_peers(flows, team))
    elif filters.external:
        candidates = [i for i in range(n) if flows.ext_in[i] or flows.ext_out[i]]
    elif filters.wanted() is not None or n > limits.MAX_NODES:
        candidates = [i for i in range(n) if has_flow(i)]
    else:
        candidates = list(range(n))
    # Around a namespace the others are not candidates by design; otherwise say who is out.
    left_without_flow = n - len(candidates) if centre is None and not filters.team else 0

    # 2. Groups, only when there are too many namespaces to draw one by one.
    keep = {centre} if centre is not None else set(bit_positions(team))
    if len(candidates) > limits.MAX_NODES:
        units = same_flow_units(candidates, flows, keep)
    else:
        units = [[i] for i in candidates]
    masks = [sum(1 << i for i in members) for members in units]

    # Outside address sets: the most used get a node each, the rest share one (OTHER).
    usage = Counter(ips for i in candidates for ips in {*flows.ext_in[i], *flows.ext_out[i]})
    own_node = (
        {ips for ips, _ in usage.most_common(limits.MAX_EXTERNAL - 1)}
        if len(usage) > limits.MAX_EXTERNAL
        else set(usage)
    )

    def ext_key(ips: IPSet):
        return ips if ips in own_node else OTHER

    def degree(u: int) -> int:
        rep = units[u][0]
        bits = (flows.in_bits[rep] | flows.out_bits[rep]) & ~masks[u]
        return bits.bit_count() * len(units[u]) + len(flows.ext_in[rep]) + len(flows.ext_out[rep])

    def draws_pair(u: int, v: int) -> bool:
        if not pairs_drawn:
            return False
        if filters.team and not (masks[u] | masks[v]) & team:
            return False  # between two other teams' namespaces
        return centre is None or centre in units[u] or centre in units[v]

    def draws_ext(u: int) -> bool:
        if filters.team and not masks[u] & team:
            return False
        return centre is None or centre in units[u]

    # 3. Rank and fill the budgets: the centre, or the team's namespaces, first.
    order = sorted(
        range(len(units)),
        key=lambda u: (
            centre not in units[u],
            not masks[u] & team,
            -degree(u),
            index.names[units[u][0]],
        ),
    )
    chosen: list[int] = []
    chosen_ext: set = set()
    node_count = edge_count = 0
    truncated = False
    for u in order:
        rep = units[u][0]
        new_edges = 0
        for v in chosen:
            if draws_pair(u, v):
                new_edges += bool(flows.in_bits[rep] & masks[v]) + bool(
                    flows.out_bits[rep] & masks[v]
                )
        new_ext = set()
        if draws_ext(u):
            keys_in = {ext_key(ips) for ips in flows.ext_in[rep]}
            keys_out = {ext_key(ips) for ips in flows.ext_out[rep]}
            new_edges += len(keys_in) + len(keys_out)
            new_ext = (keys_in | keys_out) - chosen_ext
        if (
            node_count + 1 + len(new_ext) > limits.MAX_NODES
            or edge_count + new_edges > limits.MAX_EDGES
        ):
            truncated = True
            break
        chosen.append(u)
        chosen_ext |= new_ext
        node_count += 1 + len(new_ext)
        edge_count += new_edges

    # 4. Nodes, then edges with their ports.
    drawing = Drawing(exposure.outside)
    drawing.other_sets = len(usage) - len(own_node)
    unit_id = {}
    for u in chosen:
        members = units[u]
        if len(members) == 1:
            i = members[0]
            unit_id[u] = f"ns:{index.names[i]}"
            namespace_node(drawing, index, flows, i, coverage, scores, focus=(i == centre))
            if filters.team:
                mark_team(drawing, filters, team >> i & 1)
        else:
            unit_id[u] = f"group:{len(unit_id)}"
            group_node(drawing, index, flows, unit_id[u], members)
    label = {u: drawing.nodes[k]["data"]["label"] for k, u in enumerate(chosen)}
    internal: dict[int, PortSet] = {}
    for v in chosen:
        merged, ext_in, ext_out = merged_flows(flows, units[v], ext_key)
        for u in chosen:
            ports = ports_from(merged, masks[u])
            if not ports:
                continue
            if u == v:
                internal[v] = ports
            elif draws_pair(u, v):
                drawing.edge(unit_id[u], unit_id[v], ports, (label[u], label[v]), external=False)
        if draws_ext(v):
            for key, ports in sorted(ext_in.items(), key=_external_order):
                node = drawing.external(key)
                drawing.edge(
                    node, unit_id[v], ports, (drawing.external_label(key), label[v]), external=True
                )
            for key, ports in sorted(ext_out.items(), key=_external_order):
                node = drawing.external(key)
                drawing.edge(
                    unit_id[v], node, ports, (label[v], drawing.external_label(key)), external=True
                )
    for k, u in enumerate(chosen):
        if u in internal:
            data = drawing.nodes[k]["data"]
            data["internal_ports"] = internal[u].describe()
            data["facts"].append(["Flows inside", ports_label(internal[u])])

    shown = sum(len(units[u]) for u in chosen)
    groups = [u for u in chosen if len(units[u]) > 1]
    notes = team_note(filters, index, team, candidates)
    if truncated:
        notes.append(
            f"Showing {shown:,} of {len(candidates):,} namespaces (the most connected) to stay within "
            f"{limits.MAX_NODES} nodes and {limits.MAX_EDGES:,} edges; filter to see more."
        )
    if groups:
        notes.append(
            f"{len(groups)} group node{'s' if len(groups) > 1 else ''} stand{'' if len(groups) > 1 else 's'} for "
            f"{sum(len(units[u]) for u in groups):,} namespaces that have exactly the same flows."
        )
    if left_without_flow:
        matching = f" matching these filters ({filters.describe()})" if filters.describe() else ""
        notes.append(
            f"{left_without_flow:,} namespaces with no allowed flow{matching} are left out; "
            "the matrix lists every namespace."
        )
    empty = None
    if not drawing.nodes:
        empty = (
            filter_empty(filters)
            if filters.describe()
            else (
                "This snapshot has no namespace with running pods. Take a new snapshot once workloads are deployed."
            )
        )
    elif not drawing.edges and not filters.describe():
        empty = (
            "No flow is allowed anywhere: every pod is isolated and no policy lets traffic in or out. "
            "If that is unexpected, check the policies on the Namespaces page or take a new snapshot."
        )
    elif not drawing.edges:
        empty = filter_empty(filters)
    return response("namespace", "", filters, drawing, notes, truncated, empty, n)


def team_bits(index: Index, filters: Filters) -> int:
    """The team's namespaces as a bitset over the index (0 without a team filter)."""
    return sum(1 << index.number[name] for name in filters.team_namespaces if name in index.number)


def team_and_peers(flows: Flows, team: int) -> int:
    """The team's namespaces and every namespace that sends to or receives from one of them."""
    bits = team
    for i in bit_positions(team):
        bits |= flows.in_bits[i] | flows.out_bits[i]
    return bits


def mark_team(drawing: Drawing, filters: Filters, member: int) -> None:
    """Say on the node just drawn whether it is the team's or a peer of another team's."""
    node = drawing.nodes[-1]
    node["data"]["facts"].insert(0, ["Team", filters.team if member else "another team (a peer)"])
    if not member:
        node["classes"] = (node.get("classes", "") + " other-team").strip()


def team_note(
    filters: Filters,
    index: Index,
    team: int,
    candidates,
    how: str = "(drawn faded); flows between other teams are left out",
) -> list[str]:
    if not filters.team:
        return []
    own = team.bit_count()
    peers = sum(1 for i in candidates if not team >> i & 1)
    return [
        f"{describe(filters.team).capitalize()}: its {own:,} namespace{'s' if own != 1 else ''} and "
        f"{peers:,} namespace{'s' if peers != 1 else ''} of other teams that exchange traffic with them "
        f"{how}. Clear the team to see the whole cluster."
    ]


def _external_order(item) -> tuple:
    key = item[0]
    return (True, ()) if key == OTHER else (False, key.ranges)


def filter_empty(filters: Filters) -> str:
    return f"No flow matches these filters ({filters.describe()}). Widen them or clear them to see the whole cluster."


def namespace_node(
    drawing: Drawing, index: Index, flows: Flows, i: int, coverage, scores, focus: bool
) -> None:
    name = index.names[i]
    pods, ingress, egress = index.pods[i], index.ingress_isolated[i], index.egress_isolated[i]
    stored = coverage.get(name)
    facts = [
        ["Running pods", str(pods)],
        ["Workloads", str(len(index.workloads[i]))],
        ["Isolated for ingress", fraction(ingress, pods)],
        ["Isolated for egress", fraction(egress, pods)],
        ["Accept from outside", f"{len(flows.exposed[i])} workload(s)"],
    ]
    if stored:
        deny = (("ingress", stored.default_deny_ingress), ("egress", stored.default_deny_egress))
        facts += [
            ["Policies", str(stored.policies)],
            ["Default deny", ", ".join(d for d, policies in deny if policies) or "none"],
        ]
    if scores.get(name) is not None:
        facts.append(["Score", f"{scores[name]}/100"])
    drawing.node(
        {
            "id": f"ns:{name}",
            "kind": "namespace",
            "label": name,
            "namespace": name,
            "pods": pods,
            "ingress_isolated": ingress,
            "egress_isolated": egress,
            "exposed_workloads": len(flows.exposed[i]),
            "score": scores.get(name),
            "facts": facts,
        },
        [
            "namespace",
            coverage_class(pods, ingress, egress),
            "exposed" if flows.exposed[i] else "",
            "focus" if focus else "",
        ],
    )


def group_node(
    drawing: Drawing, index: Index, flows: Flows, node_id: str, members: list[int]
) -> None:
    names = [index.names[i] for i in members]
    pods = sum(index.pods[i] for i in members)
    ingress = sum(index.ingress_isolated[i] for i in members)
    egress = sum(index.egress_isolated[i] for i in members)
    shown = names[:50]
    drawing.node(
        {
            "id": node_id,
            "kind": "group",
            "label": f"{len(names):,} namespaces like {names[0]}",
            "members": shown,
            "member_count": len(names),
            "pods": pods,
            "facts": [
                ["What", "Namespaces with exactly the same flows, drawn as one node"],
                ["Namespaces", f"{len(names):,}"],
                [
                    "Members",
                    ", ".join(shown)
                    + (f" and {len(names) - len(shown):,} more" if len(names) > len(shown) else ""),
                ],
                ["Running pods", str(pods)],
                ["Isolated for ingress", fraction(ingress, pods)],
                ["Isolated for egress", fraction(egress, pods)],
            ],
        },
        [
            "group",
            coverage_class(pods, ingress, egress),
            "exposed" if any(flows.exposed[i] for i in members) else "",
        ],
    )


def merged_flows(flows: Flows, destinations, ext_key) -> tuple[dict, dict, dict]:
    """The flows into a unit (its destination classes merged): ports by source class bits,
    and ports from and to each external node (``ext_key`` of an address set)."""
    merged: dict[int, PortSet] = defaultdict(PortSet)
    ext_in: dict = defaultdict(PortSet)
    ext_out: dict = defaultdict(PortSet)
    for d in destinations:
        for bits, ports in flows.into[d].items():
            merged[bits] = merged[bits] | ports
        for ips, ports in flows.ext_in[d].items():
            ext_in[ext_key(ips)] = ext_in[ext_key(ips)] | ports
        for ips, ports in flows.ext_out[d].items():
            ext_out[ext_key(ips)] = ext_out[ext_key(ips)] | ports
    return merged, ext_in, ext_out


def ports_from(merged: dict[int, PortSet], mask: int) -> PortSet:
    """The ports the sources in ``mask`` may use, of ``merged_flows``'s first answer."""
    ports = NO_PORTS
    for bits, p in merged.items():
        if bits & mask:
            ports = ports | p
    return ports
