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

Modules, by job: ``filters`` (query parameters), ``flows`` (the per-model index and the
namespace flows), ``labels``, ``drawing`` (the graph under construction and the JSON),
``namespaces`` and ``workloads`` (the two levels), ``limits``.
"""

from __future__ import annotations

from ..cache import LRU
from ..engine import PROTOCOLS
from ..findings.stored import StoredReport
from . import limits
from .filters import FilterError, Filters, parse_filters
from .namespaces import namespace_graph
from .workloads import workload_graph

__all__ = [
    "PROTOCOLS",
    "FilterError",
    "Filters",
    "build_graph",
    "cached",
    "forget_graphs",
    "limits",
    "parse_filters",
]


# --- Entry point and cache -------------------------------------------------------------


def build_graph(model, report: StoredReport | None, filters: Filters) -> dict:
    """The elements and what the page says about them, for the filters."""
    if filters.namespace:
        return workload_graph(model, report, filters)
    return namespace_graph(model, report, filters)


# A review reopens the same graphs, and complete snapshots never change.
_graphs = LRU(64)


def cached(key, build):
    """``build()`` once per key (snapshot and filters), the most recent few kept."""
    return _graphs.get(key, build)


def forget_graphs() -> None:
    _graphs.clear()
