"""The graph under construction, namespaces merged by flows, and the JSON response."""

from __future__ import annotations

from ..engine import (
    IPSet,
    PortSet,
)
from . import limits
from .flows import Flows
from .labels import address_label, ports_label
from .limits import OTHER

# --- The graph under construction ------------------------------------------------------


class Drawing:
    """Nodes and edges in Cytoscape's element format, with the external address nodes
    numbered as they appear."""

    def __init__(self, outside: IPSet):
        self.outside = outside
        self.nodes: list[dict] = []
        self.edges: list[dict] = []
        self.ext_ids: dict = {}
        self.other_sets = 0  # how many address sets the OTHER node stands for
        self.labels: dict = {}  # external labels, each worked out once

    def node(self, data: dict, classes: list[str]) -> None:
        self.nodes.append({"data": data, "classes": " ".join(c for c in classes if c)})

    def external_label(self, key) -> str:
        label = self.labels.get(key)
        if label is None:
            label = "other external addresses" if key == OTHER else address_label(key, self.outside)
            self.labels[key] = label
        return label

    def external(self, key) -> str:
        """The node of an outside address set (or of OTHER, the sets merged into one)."""
        node_id = self.ext_ids.get(key)
        if node_id is not None:
            return node_id
        node_id = self.ext_ids[key] = f"ext:{len(self.ext_ids)}"
        if key == OTHER:
            facts = [
                ["What", "Addresses outside the cluster, each set used by few namespaces"],
                [
                    "Address sets",
                    f"{self.other_sets:,}: open a namespace's workload graph to see its own",
                ],
            ]
            self.node(
                {
                    "id": node_id,
                    "kind": "external",
                    "label": self.external_label(key),
                    "facts": facts,
                },
                ["external", "other"],
            )
            return node_id
        cidrs = key.to_cidrs()
        shown = cidrs[: limits.MAX_CIDRS_SHOWN]
        more = f" and {len(cidrs) - len(shown)} more" if len(cidrs) > len(shown) else ""
        self.node(
            {
                "id": node_id,
                "kind": "external",
                "label": self.external_label(key),
                "cidrs": shown,
                "cidr_count": len(cidrs),
                "facts": [
                    ["What", "Addresses outside the cluster"],
                    ["Addresses", ", ".join(shown) + more],
                ],
            },
            ["external"],
        )
        return node_id

    def edge(
        self, source: str, target: str, ports: PortSet, names: tuple[str, str], external: bool
    ) -> None:
        self.edges.append(
            {
                "data": {
                    "id": f"{source}>{target}",
                    "source": source,
                    "target": target,
                    "label": ports_label(ports),
                    "ports": ports.describe(),
                    "kind": "external" if external else "flow",
                    "facts": [
                        ["From", names[0]],
                        ["To", names[1]],
                        ["Ports", ", ".join(ports.describe())],
                    ],
                },
                "classes": "external" if external else "",
            }
        )


def same_flow_units(candidates: list[int], flows: Flows, keep: set[int]) -> list[list[int]]:
    """Namespaces with exactly the same flows (same peers both ways, same outside
    addresses) as one unit; the namespaces in ``keep`` stay on their own."""
    by_signature: dict[tuple, list[int]] = {}
    units = []
    for i in candidates:
        if i in keep:
            units.append([i])
            continue
        signature = (
            flows.in_bits[i],
            flows.out_bits[i],
            frozenset(flows.ext_in[i]),
            frozenset(flows.ext_out[i]),
        )
        members = by_signature.get(signature)
        if members is None:
            members = by_signature[signature] = []
            units.append(members)
        members.append(i)
    return units


def response(level, namespace, filters, drawing, notes, truncated, empty, namespaces) -> dict:
    """The JSON the page draws. Layouts: "rings" (a workload graph: its namespace in the
    middle, peers around, addresses outside), "cose" (force-directed, for small graphs),
    "concentric" (by degree; cheap for big ones) and "grid" (no edges)."""
    node_count = len(drawing.nodes)
    if level == "workload":
        layout = "rings"
    elif node_count <= limits.COSE_LIMIT:
        layout = "cose"
    else:
        layout = "concentric" if drawing.edges else "grid"
    return {
        "level": level,
        "namespace": namespace or None,
        "filters": filters.query(),
        "elements": {"nodes": drawing.nodes, "edges": drawing.edges},
        "layout": layout,
        "counts": {"namespaces": namespaces, "nodes": node_count, "edges": len(drawing.edges)},
        "limits": {"nodes": limits.MAX_NODES, "edges": limits.MAX_EDGES},
        "truncated": truncated,
        "notes": notes,
        "empty": empty,
    }
