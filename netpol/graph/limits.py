"""What a graph may hold: a browser gets at most this much, whatever the cluster.

The graph modules read them at call time (``limits.MAX_NODES``), so a test can tighten them.
"""

from __future__ import annotations

MAX_NODES = 200
MAX_EDGES = 1500
COSE_LIMIT = 120  # force-directed layout up to this many nodes; concentric/grid above
PEER_WORKLOADS = 60  # a workload graph draws peer workloads one by one up to this many
MAX_CIDRS_SHOWN = 20  # per external node, in its detail
MAX_EXTERNAL = 30  # outside address sets drawn one by one; the rest share one node
OTHER = "other"  # the key of that shared node
GROUP_ABOVE = 40  # more namespaces than this: the namespace graph starts grouped
RISK_LISTED = 50  # exposed and uncovered namespaces listed beside a grouped graph
MATRIX_FLAT = 60  # a matrix of up to this many namespaces shows them; above, groups
MATRIX_SIDE = 120  # at most this many rows and columns in one matrix
DENSE_EDGES = 250  # above this many edges (and twice the nodes), edges show around a node only
