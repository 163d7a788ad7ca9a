"""The Cytoscape graphs of a snapshot: Python decides what is drawn, the browser only draws.

Two levels. The namespace graph (the default) has a node per namespace, a node per
external address set and an edge per allowed flow, labelled with its ports. The workload
graph of one namespace has its workloads, the peers they talk to (workloads when few,
namespaces otherwise) and the outside addresses.

Both come from the engine's compact allowed set (``AllowedConnections.groups``: groups
of destination pod classes, each with per-port entries "from these source classes") and
its external exposure, never from pod pairs. ``edges("namespace")`` aggregates the same
set, but it lists every namespace pair: a cluster of 2,000 namespaces of which 1,400
have no policy has 1.4 million pairs (5 s to list, and the workload level ran out of
memory). Here flows are kept as bitsets over namespaces and only the pairs that will be
drawn are listed; the tests check that the result equals ``edges()`` on small clusters.

What a browser gets is bounded: at most ``limits.MAX_NODES`` nodes and ``MAX_EDGES`` edges,
whatever the cluster. Above that, namespaces with exactly the same flows are drawn as one
group node, then the most connected are kept, and the response says what was left out.

Above ``limits.GROUP_ABOVE`` namespaces the default namespace graph is grouped (``groups``:
by team label or name prefix, risky namespaces counted on each group, groups opened on
request), and a graph with far more edges than nodes draws its edges around one node at a
time. The ``matrix`` shows every namespace pair (groups of them above ``MATRIX_FLAT``), and
``rules`` names the policy rules behind a namespace-level flow.

Modules, by job: ``filters`` (query parameters), ``flows`` (the per-model index and the
namespace flows), ``labels``, ``drawing`` (the graph under construction and the JSON),
``namespaces``, ``groups`` and ``workloads`` (the levels), ``matrix``, ``rules``, ``limits``.
"""

from __future__ import annotations

from ..cache import LRU
from ..engine import PROTOCOLS
from ..findings.stored import StoredReport
from . import flows, limits
from .filters import FilterError, Filters, parse_filters
from .groups import grouped_graph, groups_of
from .matrix import matrix
from .namespaces import namespace_graph
from .rules import flow_rules, namespace_peers
from .workloads import workload_graph

__all__ = [
    "PROTOCOLS",
    "FilterError",
    "Filters",
    "build_graph",
    "cached",
    "flow_rules",
    "flows",
    "forget_graphs",
    "groups_of",
    "matrix",
    "namespace_peers",
    "limits",
    "parse_filters",
]


# --- Entry point and cache -------------------------------------------------------------


def build_graph(model, report: StoredReport | None, filters: Filters) -> dict:
    """The elements and what the page says about them, for the filters."""
    if filters.namespace:
        return workload_graph(model, report, filters)
    # A team's namespaces and their peers are few enough to draw one by one by default.
    if filters.view == "groups" or (
        not filters.view
        and not filters.around
        and not filters.team
        and len(model.namespaces) > limits.GROUP_ABOVE
    ):
        return quiet_if_dense(grouped_graph(model, report, filters))
    return quiet_if_dense(namespace_graph(model, report, filters))


def quiet_if_dense(data: dict) -> dict:
    """A graph with many more edges than nodes is a hairball whatever the layout: its
    flows are drawn only around the node hovered or selected, the nodes are placed
    without them (in rows, in the order sent: risk first), and a note says so."""
    nodes, edges = data["elements"]["nodes"], data["elements"]["edges"]
    if len(edges) <= limits.DENSE_EDGES or len(edges) <= 2 * len(nodes):
        return data
    data["quiet_edges"] = True
    data["layout"] = "flow"  # rows in the order sent, risk first; an open group is one block
    data["notes"].append(
        f"{len(edges):,} flows between {len(nodes):,} nodes are too many to draw at once: hover or "
        "click a node to see its flows, or use the matrix to see every pair."
    )
    return data


# A review reopens the same graphs, and complete snapshots never change.
_graphs = LRU(64)


def cached(key, build):
    """``build()`` once per key (snapshot and filters), the most recent few kept."""
    return _graphs.get(key, build)


def forget_graphs() -> None:
    _graphs.clear()
