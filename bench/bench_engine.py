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
    .venv/bin/python bench/bench_engine.py --profile        # one 50k run under pyinstrument

Targets (issue 3): 50,000 pods / 2,000 namespaces / 10,000 policies in at most 10 s and
2 GB; 5,000 pods in at most 1 s. The exit status is 1 when a median misses its target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DECLARED = ["10.0.0.0/8", "10.96.0.0/12"]
SIZES = {"large": (50_000, 2_000, 10_000), "small": (5_000, 200, 1_000)}
TARGETS = {(50_000, 2_000, 10_000): (10.0, 2048.0), (5_000, 200, 1_000): (1.0, None)}
PHASES = ("parse", "evaluate", "isolation", "allowed", "exposure")


def run_once(pods: int, namespaces: int, policies: int, seed: int) -> dict:
    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel

    cluster = generate_cluster(pods=pods, namespaces=namespaces, policies=policies, seed=seed)
    rss_input = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = {}
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
    return {
        "times": times,
        "total": sum(times.values()),
        "rss_input_mb": rss_input,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "classes": len(ev.classes),
        "rules": len(ev.rules),
        "groups": len(allowed.groups),
        "entries": sum(len(g.entries) for g in allowed.groups),
        "exposure_groups": len(exposure["groups"]),
        "pods": len(isolation),
        "errors": len(model.errors),
    }


def child(args) -> None:
    print(json.dumps(run_once(args.pods, args.namespaces, args.policies, args.seed)))


def measure(pods: int, namespaces: int, policies: int, runs: int, seed: int) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--pods",
                str(pods),
                "--namespaces",
                str(namespaces),
                "--policies",
                str(policies),
                "--seed",
                str(seed),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    median = {p: statistics.median(r["times"][p] for r in results) for p in PHASES}
    summary = dict(results[0])
    summary.update(
        times=median,
        total=statistics.median(r["total"] for r in results),
        totals=[round(r["total"], 3) for r in results],
        rss_peak_mb=max(r["rss_peak_mb"] for r in results),
        rss_input_mb=max(r["rss_input_mb"] for r in results),
        size=(pods, namespaces, policies),
        runs=runs,
    )
    return summary


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


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


def profile(args) -> None:
    from pyinstrument import Profiler  # pip install pyinstrument (a dev tool, not a dependency)

    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel

    cluster = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    profiler = Profiler()
    profiler.start()
    model = ClusterModel.from_objects(
        cluster["Namespace"],
        cluster["Pod"],
        cluster["Node"],
        cluster["NetworkPolicy"],
        cluster["Service"],
        declared_cidrs=DECLARED,
    )
    model.isolation()
    model.allowed_connections()
    model.external_exposure().to_dict()
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int)
    parser.add_argument("--namespaces", type=int)
    parser.add_argument("--policies", type=int)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    given = (args.pods, args.namespaces, args.policies)
    if args.profile:
        args.pods, args.namespaces, args.policies = given if all(given) else SIZES["large"]
        profile(args)
        return 0
    sizes = [given] if all(given) else list(SIZES.values())
    print(machine())
    failed = False
    for size in sizes:
        summary = measure(*size, runs=args.runs, seed=args.seed)
        print(report(summary), flush=True)
        seconds, megabytes = TARGETS.get(size, (None, None))
        if seconds is not None and summary["total"] > seconds:
            print(f"  MISSED the {seconds} s target")
            failed = True
        if megabytes is not None and summary["rss_peak_mb"] > megabytes:
            print(f"  MISSED the {megabytes:.0f} MB target")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
