"""Policy engine benchmark: isolation + compact allowed set + external exposure.

Each run is a fresh Python process: it generates the synthetic cluster
(``bench.synthetic.generate_cluster``, not timed), then times

1. ``ClusterModel.from_objects`` (parsing raw API dicts),
2. the class/bitset evaluation (``model.evaluation``),
3. ``model.isolation()`` for every pod,
4. ``model.allowed_connections()`` (the compact allowed set),
5. ``model.external_exposure().to_dict()`` (external CIDRs per pod group and port).

Peak RSS is the child's ``ru_maxrss``, which includes the generated input objects. The
figures reported are medians over the runs.

    .venv/bin/python bench/bench_engine.py                  # 50k/2k/10k and 5k/200/1k, 5 runs each
    .venv/bin/python bench/bench_engine.py --pods 5000 --namespaces 200 --policies 1000 --runs 3
    .venv/bin/python bench/bench_engine.py --runs 1 --profile  # and a profiled run of each size

Targets (issue 3): 50,000 pods / 2,000 namespaces / 10,000 policies in at most 10 s and
2 GB; 5,000 pods in at most 1 s. The exit status is 1 when a median misses its target.
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
TARGETS = {(50_000, 2_000, 10_000): (10.0, 2048.0), (5_000, 200, 1_000): (1.0, None)}
PHASES = ("parse", "evaluate", "isolation", "allowed", "exposure")


def measure(args) -> None:
    """One run: generate (not timed), then time each phase; prints one JSON line."""
    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel

    cluster = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    rss_input = harness.peak_mb()
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
        times["parse"], t = time.perf_counter() - t, time.perf_counter()
        ev = model.evaluation
        times["evaluate"], t = time.perf_counter() - t, time.perf_counter()
        isolation = model.isolation()
        times["isolation"], t = time.perf_counter() - t, time.perf_counter()
        allowed = model.allowed_connections()
        times["allowed"], t = time.perf_counter() - t, time.perf_counter()
        exposure = model.external_exposure().to_dict()
        times["exposure"] = time.perf_counter() - t
    harness.emit(
        {
            "times": times,
            "total": sum(times.values()),
            "rss_input_mb": rss_input,
            "rss_peak_mb": harness.peak_mb(),
            "classes": len(ev.classes),
            "rules": len(ev.rules),
            "groups": len(allowed.groups),
            "entries": sum(len(g.entries) for g in allowed.groups),
            "exposure_groups": len(exposure["groups"]),
            "pods": len(isolation),
            "errors": len(model.errors),
            **profile,
        }
    )


def runs(args, size: tuple[int, int, int]) -> dict:
    args.pods, args.namespaces, args.policies = size
    results = [harness.run_step(__file__, "_measure", harness.size_args(args)) for _ in range(args.runs)]
    summary = dict(results[0])
    summary.update(
        times={p: harness.summary([r["times"][p] for r in results])[0] for p in PHASES},
        total=harness.summary([r["total"] for r in results])[0],
        totals=[round(r["total"], 3) for r in results],
        rss_peak_mb=max(r["rss_peak_mb"] for r in results),
        rss_input_mb=max(r["rss_input_mb"] for r in results),
        size=size,
        runs=args.runs,
        results=results,
    )
    return summary


def report(s: dict) -> str:
    pods, namespaces, policies = s["size"]
    t = s["times"]
    return (
        f"{pods:,} pods / {namespaces:,} namespaces / {policies:,} policies "
        f"({s['classes']:,} classes, {s['rules']:,} rules, {s['groups']:,} destination groups): "
        f"median {s['total']:.2f} s over {s['runs']} runs {s['totals']} "
        f"[parse {t['parse']:.2f}, evaluate {t['evaluate']:.2f}, isolation {t['isolation']:.2f}, "
        f"allowed {t['allowed']:.2f}, exposure {t['exposure']:.2f}]; "
        f"peak RSS {s['rss_peak_mb']:.0f} MB (input alone {s['rss_input_mb']:.0f} MB)"
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
        seconds, megabytes = TARGETS.get(size, (None, None))
        if seconds is not None and summary["total"] > seconds:
            print(f"  MISSED the {seconds} s target")
            failed = True
        if megabytes is not None and summary["rss_peak_mb"] > megabytes:
            print(f"  MISSED the {megabytes:.0f} MB target")
            failed = True
        if args.profile:
            harness.profiled_run(__file__, "engine", args, harness.size_args(args))
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
