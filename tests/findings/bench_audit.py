"""Benchmark of ``audit()`` on the synthetic cluster (a script, not a test).

    .venv/bin/python -m tests.findings.bench_audit --pods 50000 --namespaces 2000 \
        --policies 10000 --runs 3

Each run is a fresh process: build the ClusterModel from raw dicts, then ``audit(model)``
(which includes the engine's evaluation, allowed set and exposure it needs), then
``to_dict()``. Generating the cluster is not timed. Prints each run and the medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def one(pods: int, namespaces: int, policies: int) -> dict:
    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel
    from netpol.findings import audit

    c = generate_cluster(pods=pods, namespaces=namespaces, policies=policies, seed=0)
    t0 = time.perf_counter()
    model = ClusterModel.from_objects(
        c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"]
    )
    t1 = time.perf_counter()
    report = audit(model)
    t2 = time.perf_counter()
    report.to_dict()
    t3 = time.perf_counter()
    return {
        "model": t1 - t0,
        "audit": t2 - t1,
        "to_dict": t3 - t2,
        "total": t3 - t0,
        "findings": len(report.findings),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=50_000)
    parser.add_argument("--namespaces", type=int, default=2_000)
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.pods, args.namespaces, args.policies)))
        return
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.findings.bench_audit",
                "--one",
                "--pods",
                str(args.pods),
                "--namespaces",
                str(args.namespaces),
                "--policies",
                str(args.policies),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out))
        print(runs[-1], flush=True)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print("median:", {k: round(v, 2) for k, v in med.items()})


if __name__ == "__main__":
    main()
