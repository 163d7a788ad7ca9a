"""Attack-path benchmark (issue 14): from the internet to 20 crown jewels, 4 hops.

Each run is a fresh Python process: it generates the synthetic cluster
(``bench.synthetic.generate_cluster``, not timed), builds the model and its allowed set
and external exposure (timed as ``engine``: what a snapshot's analysis has already done,
and what ``netaudit paths`` does before it looks for paths), then times

1. ``crown_jewels``: 20 database StatefulSets (``role: db``) of namespaces spread over the
   cluster, chosen by name, and
2. ``attack_paths(model, jewels, start=INTERNET, max_hops=4)`` (3 paths per jewel, the
   CLI's default), and the JSON of the answer,
3. the same from one frontend workload (``--from``), and the blast radius of it.

    .venv/bin/python bench/bench_paths.py                 # 50k/2k/10k and 5k/200/1k, 5 runs
    .venv/bin/python bench/bench_paths.py --pods 5000 --namespaces 200 --policies 1000 --runs 3

Target (issue 14): paths from the internet to 20 crown jewels at 50,000 pods, 4 hops, in
at most 5 s. The exit status is 1 when the 50k median (paths, engine excluded) misses it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

DECLARED = ["10.0.0.0/8", "10.96.0.0/12"]
SIZES = {"large": (50_000, 2_000, 10_000), "small": (5_000, 200, 1_000)}
TARGET = {(50_000, 2_000, 10_000): 5.0}
JEWELS = 20
PHASES = ("engine", "jewels", "internet", "from_workload", "blast_radius")


def measure(args) -> None:
    """One run: generate (not timed), then time each phase; prints one JSON line."""
    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel
    from netpol.paths import INTERNET, attack_paths, blast_radius, crown_jewels

    cluster = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    times = {}
    with harness.profiled(args.profile) as profile:
        t = time.perf_counter()
        model = ClusterModel.from_objects(
            cluster["Namespace"],
            cluster["Pod"],
            cluster["Node"],
            cluster["NetworkPolicy"],
            cluster["Service"],
            declared_cidrs=DECLARED,
        )
        model.allowed_connections()
        model.external_exposure()
        times["engine"], t = time.perf_counter() - t, time.perf_counter()
        active = model.evaluation.class_of
        databases = sorted(
            {p.workload_key for p in model.pods if p.labels.get("role") == "db" and p.key in active}
        )
        step = max(1, len(databases) // JEWELS)
        jewels = crown_jewels(model, workloads=databases[::step][:JEWELS])
        times["jewels"], t = time.perf_counter() - t, time.perf_counter()
        found = attack_paths(model, jewels, start=INTERNET, max_hops=4)
        output = json.dumps({"paths": [p.to_dict() for p in found]})
        times["internet"], t = time.perf_counter() - t, time.perf_counter()
        frontend = next(p.workload_key for p in model.pods if p.labels.get("role") == "frontend")
        from_one = attack_paths(model, jewels, start=frontend, max_hops=4)
        times["from_workload"], t = time.perf_counter() - t, time.perf_counter()
        radius = blast_radius(model, frontend, max_hops=4, jewels=jewels)
        times["blast_radius"] = time.perf_counter() - t
    harness.emit(
        {
            "times": times,
            "classes": len(model.evaluation.classes),
            "groups": len(model.allowed_connections().groups),
            "exposed_classes": len(model.external_exposure().exposed_classes()),
            "jewels": len(jewels),
            "paths": len(found),
            "jewels_reached": len({p.target for p in found}),
            "hops": sorted({len(p.hops) for p in found}),
            "json_kb": round(len(output) / 1024, 1),
            "from_workload_paths": len(from_one),
            "blast_radius": {k: radius[k] for k in ("workloads", "crown_jewels", "by_hops")},
            "rss_peak_mb": harness.peak_mb(),
            **profile,
        }
    )


def runs(args, size: tuple[int, int, int]) -> dict:
    args.pods, args.namespaces, args.policies = size
    results = [
        harness.run_step(__file__, "_measure", harness.size_args(args)) for _ in range(args.runs)
    ]
    summary = dict(results[0])
    summary.update(
        times={p: harness.summary([r["times"][p] for r in results]) for p in PHASES},
        size=size,
        runs=args.runs,
        rss_peak_mb=max(r["rss_peak_mb"] for r in results),
    )
    return summary


def report(s: dict) -> str:
    pods, namespaces, policies = s["size"]

    def fig(phase: str) -> str:
        median, lo, hi = s["times"][phase]
        return f"{median:.3f} s [{lo:.3f}-{hi:.3f}]"

    return (
        f"{pods:,} pods / {namespaces:,} namespaces / {policies:,} policies "
        f"({s['classes']:,} classes, {s['groups']:,} destination groups, "
        f"{s['exposed_classes']:,} classes exposed), median of {s['runs']} runs:\n"
        f"  engine (model, allowed set, exposure): {fig('engine')}\n"
        f"  crown jewels: {fig('jewels')}\n"
        f"  paths from the internet to {s['jewels']} jewels, 4 hops: {fig('internet')} "
        f"({s['paths']} paths to {s['jewels_reached']} jewels, hops {s['hops']}, "
        f"JSON {s['json_kb']} KiB)\n"
        f"  paths from one frontend: {fig('from_workload')} ({s['from_workload_paths']} paths)\n"
        f"  blast radius of that frontend, 4 hops: {fig('blast_radius')} {s['blast_radius']}\n"
        f"  peak RSS {s['rss_peak_mb']:.0f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if harness.dispatch(argv, {"_measure": measure}, harness.step_parser()):
        return 0
    parser = harness.parser(__doc__, runs=5)
    args = harness.check(parser, parser.parse_args(argv))
    sizes = [harness.custom_size(args)] if harness.custom_size(args) else list(SIZES.values())
    print(harness.machine())
    failed = False
    everything = []
    for size in sizes:
        summary = runs(args, size)
        everything.append(summary)
        print(report(summary), flush=True)
        seconds = TARGET.get(size)
        if seconds is not None and summary["times"]["internet"][0] > seconds:
            print(f"  MISSED the {seconds} s target")
            failed = True
        if args.profile:
            harness.profiled_run(__file__, "paths", args, harness.size_args(args))
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
