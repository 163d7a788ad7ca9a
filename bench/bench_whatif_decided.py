"""What naming the deciding kind costs a what-if: ``whatif._decide`` on the rows a page
shows (SHOWN_CONNECTIONS of them), on the synthetic 5,000-pod cluster. docs/benchmarks.md.

    PYTHONPATH=. .venv/bin/python bench/bench_whatif_decided.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.synthetic import generate_cluster
from netpol import whatif
from netpol.diff import Connections
from netpol.engine import ClusterModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    c = generate_cluster(pods=5000, namespaces=200, policies=1000, seed=0)
    model = ClusterModel.from_objects(
        c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"]
    )
    # Every allowed workload connection as a "gained" row: the page's first 200.
    edges = model.allowed_connections().edges("workload")
    rows = whatif._connections(Connections.of_edges([]), Connections.of_edges(edges))["gained"]
    rows = rows[: whatif.SHOWN_CONNECTIONS]
    whatif._decide(model, rows[:1])  # the per-workload pod index, once per model
    times = []
    for _ in range(args.runs):
        fresh = [dict(r) for r in rows]
        start = time.perf_counter()
        whatif._decide(model, fresh)
        times.append(time.perf_counter() - start)
    print(
        f"{len(rows)} rows decided: median {statistics.median(times):.3f} s "
        f"({', '.join(f'{t:.3f}' for t in times)})"
    )


if __name__ == "__main__":
    main()
