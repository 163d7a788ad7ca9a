"""Findings benchmark: ``audit()`` on the synthetic cluster, no database.

Each run is a fresh process: generate the cluster (not timed), build the ClusterModel
from raw dicts (*model*), then ``audit(model)`` (*audit*, which includes the engine's
evaluation, allowed set and exposure it needs), then ``to_dict()`` (*to_dict*). Prints
each run and the medians.

    .venv/bin/python bench/bench_audit.py                   # 50k/2k/10k, 3 runs
    .venv/bin/python bench/bench_audit.py --pods 5000 --namespaces 200 --policies 1000
    .venv/bin/python bench/bench_audit.py --shape kubectl     # no Nodes, no Services

``--shape kubectl`` audits ``bench.synthetic.kubectl_list``: what ``kubectl get
ns,pods,networkpolicies -A -o yaml`` gives (pod IPs, no Nodes, no Services, ipBlocks that
hold pod addresses), so the cluster's pod ranges are inferred.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

PHASES = ("model", "audit", "to_dict", "total")


def measure(args) -> None:
    from bench.synthetic import generate_cluster, kubectl_list
    from netpol.engine import ClusterModel
    from netpol.findings import audit

    if args.shape == "kubectl":
        items = kubectl_list(args.pods, args.namespaces, args.policies, args.seed)["items"]
        c = {kind: [o for o in items if o["kind"] == kind] for kind in ("Namespace", "Pod")}
        c.update(NetworkPolicy=[o for o in items if o["kind"] == "NetworkPolicy"], Node=[])
        c["Service"] = []
    else:
        c = generate_cluster(
            pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
        )
    with harness.profiled(args.profile) as profile:
        t0 = time.perf_counter()
        model = ClusterModel.from_objects(
            c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"]
        )
        t1 = time.perf_counter()
        report = audit(model)
        t2 = time.perf_counter()
        size = len(json.dumps(report.to_dict()))
        t3 = time.perf_counter()
    harness.emit(
        {
            "model": t1 - t0,
            "audit": t2 - t1,
            "to_dict": t3 - t2,
            "total": t3 - t0,
            "findings": len(report.findings),
            "json_mb": size / 1e6,
            "rss_mb": harness.peak_mb(),
            **profile,
        }
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    step = harness.step_parser()
    step.add_argument("--shape", choices=("synthetic", "kubectl"), default="synthetic")
    if harness.dispatch(argv, {"_measure": measure}, step):
        return 0
    parser = harness.parser(__doc__, size_defaults=(50_000, 2_000, 10_000))
    parser.add_argument(
        "--shape",
        choices=("synthetic", "kubectl"),
        default="synthetic",
        help="synthetic: with Nodes and Services; kubectl: a kubectl get -o yaml export",
    )
    args = harness.check(parser, parser.parse_args(argv))
    print(harness.machine())
    runs = []
    for _ in range(args.runs):
        runs.append(
            harness.run_step(
                __file__, "_measure", [*harness.size_args(args), "--shape", args.shape]
            )
        )
        print({k: round(v, 3) for k, v in runs[-1].items()}, flush=True)
    print("median:", {k: round(harness.summary([r[k] for r in runs])[0], 2) for k in PHASES})
    if args.profile:
        harness.profiled_run(
            __file__, "audit", args, [*harness.size_args(args), "--shape", args.shape]
        )
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
