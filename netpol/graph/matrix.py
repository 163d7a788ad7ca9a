"""The namespace × namespace matrix: rows are sources, columns destinations.

Up to ``limits.MATRIX_FLAT`` namespaces it shows them all; above, it shows groups (as the
grouped graph makes them), each cell the share of namespace pairs with an allowed flow,
and a group cell opens that pair of groups namespace by namespace. It reads the same
bitsets as the graph, so 2,000 namespaces are 2,000 × groups popcounts.
"""

from __future__ import annotations

from ..bits import bit_positions
from ..engine import ALL_PORTS, NO_PORTS, PortSet
from . import limits
from .filters import Filters
from .flows import flows_of, index_of
from .groups import groups_of, risk_of
from .labels import ports_label
from .namespaces import team_and_peers, team_bits, team_note


def matrix(
    model,
    wanted: PortSet | None = None,
    rows: str = "",
    cols: str = "",
    filters: Filters | None = None,
) -> dict:
    """The matrix for a port filter. ``rows``/``cols``: group keys to open namespace by
    namespace (both or neither); unknown keys raise KeyError naming the key. ``filters``
    gives the team rule that makes the groups, and a team: its namespaces and their peers,
    the team's first."""
    filters = filters or Filters()
    index = index_of(model)
    flows = flows_of(model, wanted)
    groups = groups_of(model, filters.rule)
    n = len(index.names)
    notes: list[str] = []
    for key in (rows, cols):
        if key and key not in groups.members:
            raise KeyError(key)
    if rows or cols:
        sources = groups.members[rows or cols]
        targets = groups.members[cols or rows]
        return _namespaces(index, flows, sources, targets, notes, groups)
    if filters.team:
        team = team_bits(index, filters)
        shown = bit_positions(team_and_peers(flows, team))
        order = sorted(shown, key=lambda i: (not team >> i & 1, index.names[i]))
        notes.extend(
            team_note(
                filters,
                index,
                team,
                shown,
                "(listed after it); pairs of two other teams are hatched",
            )
        )
        grid = _namespaces(index, flows, order, order, notes, groups)
        for row in grid["cells"]:
            for cell in row:
                if not ({cell["from"], cell["to"]} & filters.team_namespaces):
                    cell["level"] = "other"
                    cell["title"] = (
                        f"{cell['from']} → {cell['to']}: between two other teams, not shown; "
                        "clear the team to see it"
                    )
        grid["legend"].append(("other", "between two other teams: not shown"))
        return grid
    if n <= limits.MATRIX_FLAT:
        return _namespaces(index, flows, list(range(n)), list(range(n)), notes, groups)
    return _groups(index, flows, groups, notes)


def _risk_label(index, flows, members) -> str:
    exposed = uncovered = 0
    for i in members:
        e, u = risk_of(index, flows, i)
        exposed += e
        uncovered += u
    parts = [f"{exposed} exposed"] if exposed else []
    if uncovered:
        parts.append(f"{uncovered} uncovered")
    return ", ".join(parts)


def _cut(members: list[int], side: str, notes: list[str]) -> list[int]:
    if len(members) > limits.MATRIX_SIDE:
        notes.append(
            f"The first {limits.MATRIX_SIDE} of {len(members):,} {side} are shown (by name); "
            "open the namespace graph around one of the others to see its flows."
        )
        return members[: limits.MATRIX_SIDE]
    return members


def _namespaces(index, flows, sources, targets, notes, groups) -> dict:
    sources = _cut(sources, "source namespaces", notes)
    targets = _cut(targets, "destination namespaces", notes)
    cells = []
    for s in sources:
        row = []
        for d in targets:
            ports = NO_PORTS
            for bits, p in flows.into[d].items():
                if bits >> s & 1:
                    ports = ports | p
            level = "none" if not ports else "all" if ports == ALL_PORTS else "some"
            text = ports_label(ports) if ports else "nothing allowed"
            row.append(
                {
                    "level": level,
                    "title": f"{index.names[s]} → {index.names[d]}: {text}",
                    "from": index.names[s],
                    "to": index.names[d],
                }
            )
        cells.append(row)
    return {
        "level": "namespaces",
        "rows": [_heading(index, flows, index.names[i], [i]) for i in sources],
        "cols": [_heading(index, flows, index.names[i], [i]) for i in targets],
        "cells": cells,
        "notes": notes,
        "legend": [
            ("none", "nothing allowed"),
            ("some", "some ports allowed"),
            ("all", "every port allowed"),
        ],
    }


def _heading(index, flows, label: str, members, key: str = "") -> dict:
    return {"label": label, "key": key or label, "risk": _risk_label(index, flows, members)}


def _groups(index, flows, groups, notes) -> dict:
    keys = list(groups.members)
    if len(keys) > limits.MATRIX_SIDE:
        # The biggest groups; the rest are one row and column of their own.
        keys = sorted(keys, key=lambda k: -len(groups.members[k]))[: limits.MATRIX_SIDE]
        keys.sort()
        notes.append(
            f"The {limits.MATRIX_SIDE} largest of {len(groups.members):,} groups are shown; "
            "search the graph for a namespace of the others."
        )
    masks = [sum(1 << i for i in groups.members[k]) for k in keys]
    sizes = [len(groups.members[k]) for k in keys]
    counts = [[0] * len(keys) for _ in keys]
    for t, key in enumerate(keys):
        for d in groups.members[key]:
            heard = flows.in_bits[d]
            if heard:
                for s, mask in enumerate(masks):
                    counts[s][t] += (heard & mask).bit_count()
    cells = []
    for s, source in enumerate(keys):
        row = []
        for t, target in enumerate(keys):
            pairs, allowed = sizes[s] * sizes[t], counts[s][t]
            level = (
                "none"
                if not allowed
                else "every"
                if allowed == pairs
                else "many"
                if allowed * 3 >= pairs
                else "few"
            )
            row.append(
                {
                    "level": level,
                    "title": f"{source} → {target}: {allowed:,} of {pairs:,} namespace pairs allowed",
                    "rows": source,
                    "cols": target,
                }
            )
        cells.append(row)
    # A group of one is labelled by its namespace: "ingress-nginx", not "ingress-* (1)".
    heads = [
        _heading(
            index,
            flows,
            index.names[groups.members[k][0]]
            if len(groups.members[k]) == 1
            else f"{k} ({len(groups.members[k])})",
            groups.members[k],
            k,
        )
        for k in keys
    ]
    notes.insert(
        0,
        f"{len(index.names):,} namespaces in {len(groups.members):,} groups; each cell is the "
        "share of namespace pairs with an allowed flow. Click a cell to see its namespaces.",
    )
    return {
        "level": "groups",
        "rows": heads,
        "cols": heads,
        "cells": cells,
        "notes": notes,
        "legend": [
            ("none", "no pair allowed"),
            ("few", "under a third of pairs"),
            ("many", "a third or more"),
            ("every", "every pair"),
        ],
    }
