"""Analysis benchmark: ``auditor.services.snapshot_analyze`` of a stored snapshot, findings stored.

The synthetic cluster (``bench.synthetic.generate_cluster``) is loaded once per database
as a complete snapshot of the cluster ``bench-analysis-PODS``, through
``services.snapshot_request`` + ``services.snapshot_collect`` with an in-memory
collection backend (``bench.common.GeneratedCollector``); a later invocation reuses it.
Each run is then a fresh Python process that times ``analyze(snapshot)``, what the
worker's ``analyze_snapshot`` task does:

1. *read*: the snapshot's rows back from the database as API-shaped dicts
   (``storage.snapshot_objects``);
2. *model*: ``ClusterModel.from_objects``;
3. *audit*: ``netpol.findings.audit`` (coverage, every rule, CNI, score, compliance,
   with the engine's evaluation, allowed set and exposure they need);
4. *store*: the model stored for the pages (``storage.save_model``, *save_model*),
   ``report.to_dict()`` (*to_dict*), the findings' ``bulk_create`` (*insert*) and the
   Analysis row, in one transaction.

Before every run a separate process deletes the snapshot's Analysis and findings, so
each run analyses from scratch. Peak RSS is the measured process's ``ru_maxrss``:
Django, the rows read, the model and the report.

    .venv/bin/python bench/bench_analysis.py                         # 50k and 5k, both databases, 3 runs
    .venv/bin/python bench/bench_analysis.py --size 50k --database postgres --runs 5
    .venv/bin/python bench/bench_analysis.py --size 50k --database postgres --runs 1 --profile

SQLite is ``var/bench/bench-analysis.sqlite3`` (every process gets
``NETPOL_VAR_DIR=var/bench``); PostgreSQL is ``netpol_bench`` on ``--postgres-url``
(created if missing), shared with the other benchmarks under its own cluster names.

Target (issue 4, docs/benchmarks.md): the 50,000-pod cluster analysed, findings stored in
PostgreSQL, in at most 20 s. The exit status is 1 when a PostgreSQL run at that size
misses it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    VAR_DIR,
    bench_cluster,
    child_env,
    db_version,
    load_snapshot,
    prepare_database,
    setup_django,
)

SQLITE_PATH = VAR_DIR / "bench-analysis.sqlite3"
SIZES = {"50k": (50_000, 2_000, 10_000), "5k": (5_000, 200, 1_000)}
TARGET_SECONDS = 20.0
TARGET_SIZE = SIZES["50k"]
PHASES = ("read", "model", "audit", "store", "save_model", "to_dict", "insert")


def _cluster_name(pods: int) -> str:
    return f"bench-analysis-{pods}"


def _description(args) -> str:
    return (
        f"bench/bench_analysis.py: {args.pods}/{args.namespaces}/{args.policies} seed {args.seed}"
    )


def _current_snapshot(args):
    """The loaded snapshot of this size and seed, or None."""
    from auditor.models import Cluster
    from auditor.selectors import latest_snapshot

    cluster = Cluster.objects.filter(name=_cluster_name(args.pods)).first()
    if cluster is None or cluster.description != _description(args):
        return None
    return latest_snapshot(cluster)


# --- child processes -----------------------------------------------------------------


def load(args) -> None:
    """Load the synthetic cluster as a complete snapshot unless it already is (not measured)."""
    setup_django()
    from auditor.models import Snapshot

    if _current_snapshot(args) is not None and not args.reload:
        harness.emit({"loaded": False})
        return
    from bench.synthetic import generate_cluster

    cluster = bench_cluster(_cluster_name(args.pods), _description(args))
    Snapshot.objects.filter(cluster=cluster).delete()
    objects = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    started = time.perf_counter()
    snapshot = load_snapshot(cluster, objects)
    harness.emit(
        {"loaded": True, "snapshot": snapshot.pk, "seconds": time.perf_counter() - started}
    )


def prepare(args) -> None:
    """Forget the snapshot's analysis, so the next run starts from scratch (not measured)."""
    setup_django()
    from auditor.models import Analysis, Finding

    snapshot = _current_snapshot(args)
    Finding.objects.filter(snapshot=snapshot).delete()
    Analysis.objects.filter(snapshot=snapshot).delete()


def measure(args) -> None:
    """One timed ``analyze``; prints one JSON line."""
    setup_django()
    # Imported before timing, as in a worker that has analysed before.
    from auditor import services, storage
    from auditor.models import Analysis, Finding
    from netpol.findings.report import AuditReport

    version = db_version()
    snapshot = _current_snapshot(args)
    if snapshot is None:
        raise SystemExit("no loaded snapshot: run the benchmark, not this step")

    phases: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                return function(*a, **kw)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
                phases[f"peak_after_{name}_mb"] = harness.peak_mb()

        return wrapper

    storage.snapshot_objects = timed("read", storage.snapshot_objects)
    storage.build_model = timed("read+model", storage.build_model)
    services.audit = timed("audit", services.audit)
    storage.save_model = timed("save_model", storage.save_model)
    AuditReport.to_dict = timed("to_dict", AuditReport.to_dict)
    Finding.objects.bulk_create = timed("insert", Finding.objects.bulk_create)

    baseline = harness.rss_mb()
    with harness.profiled(args.profile) as profile:
        started = time.perf_counter()
        analysis = services.snapshot_analyze(snapshot=snapshot)
        seconds = time.perf_counter() - started
    peak = harness.peak_mb()

    if analysis.status != Analysis.Status.COMPLETE:
        raise SystemExit(f"the analysis did not complete: {analysis.error}")
    phases["model"] = phases.pop("read+model") - phases["read"]
    phases["store"] = seconds - phases["read"] - phases["model"] - phases["audit"]
    result = {
        "database": version.split()[0].lower(),
        "db_version": version,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        **phases,
        "findings": Finding.objects.filter(snapshot=snapshot).count(),
        "finding_counts": analysis.finding_counts,
        "score": analysis.score,
        **profile,
    }
    harness.emit(result)


# --- the orchestrating process ---------------------------------------------------------


def _run_child(step: str, env: dict[str, str], args, *extra: str) -> dict:
    return harness.run_step(__file__, step, [*harness.size_args(args), *extra], env)


def _line(run: dict) -> str:
    return (
        f"{run['seconds']:.2f} s (read {run['read']:.2f}, model {run['model']:.2f}, "
        f"audit {run['audit']:.2f}, store {run['store']:.2f} = model saved "
        f"{run.get('save_model', 0):.2f} + to_dict {run['to_dict']:.2f} "
        f"+ insert {run['insert']:.2f} + rest), peak RSS {run['peak_rss_mb']:.0f} MiB "
        f"(baseline {run['baseline_rss_mb']:.0f}, after read {run['peak_after_read_mb']:.0f}, "
        f"after model {run['peak_after_read+model_mb']:.0f}, after audit "
        f"{run['peak_after_audit_mb']:.0f}), {run['findings']:,} findings"
    )


def orchestrate(args) -> int:
    databases = ["postgres", "sqlite"] if args.database == "both" else [args.database]
    custom = harness.custom_size(args)
    if custom:
        SIZES[f"{custom[0]:,}"] = custom
    sizes = [f"{custom[0]:,}"] if custom else list(SIZES) if args.size == "both" else [args.size]
    print(f"analysis benchmark: {', '.join(sizes)}; {args.runs} run(s) per database and size")
    print(harness.machine())
    results: list[dict] = []
    for database in databases:
        env = child_env(database, sqlite_path=SQLITE_PATH, postgres_url=args.postgres_url)
        prepare_database(database, env, args.postgres_url)
        for size in sizes:
            args.pods, args.namespaces, args.policies = SIZES[size]
            loaded = _run_child("_load", env, args, *(["--reload"] if args.reload else []))
            if loaded.get("loaded"):
                print(
                    f"  {database} {size}: loaded snapshot #{loaded['snapshot']} in {loaded['seconds']:.1f} s"
                )
            runs = []
            for number in range(1, args.runs + 1):
                _run_child("_prepare", env, args)
                run = _run_child("_measure", env, args)
                runs.append(run)
                print(f"  {database} {size} run {number}: {_line(run)}", flush=True)
            if args.profile:
                stem = VAR_DIR / f"profile-analysis-{database}-{args.pods}"
                _run_child("_prepare", env, args)
                run = _run_child("_measure", env, args, f"--profile={stem}")
                print(
                    f"  {database} {size} profiled run: {run['seconds']:.2f} s under pyinstrument; {stem}.txt"
                )
            results.append({"size": size, "database": database, "runs": runs})

    print()
    print(f"median (min-max) of {args.runs} run(s); phases are medians")
    header = f"{'size':<5} {'database':<18} {'seconds':<20} {'peak RSS MiB':<16}"
    print(header + "".join(f"{p:>11}" for p in PHASES) + f"{'findings':>10}")
    missed = False
    for entry in results:
        runs = entry["runs"]
        seconds = harness.summary([r["seconds"] for r in runs])
        rss = harness.summary([r["peak_rss_mb"] for r in runs])
        print(
            f"{entry['size']:<5} {runs[0]['db_version']:<18} "
            f"{seconds[0]:6.2f} ({seconds[1]:.2f}-{seconds[2]:.2f}){'':<3}"
            f"{rss[0]:5.0f} ({rss[1]:.0f}-{rss[2]:.0f}){'':<3}"
            + "".join(f"{statistics.median(r[p] for r in runs):11.2f}" for p in PHASES)
            + f"{runs[0]['findings']:>10,}"
        )
        if entry["database"] == "postgres" and SIZES[entry["size"]] == TARGET_SIZE:
            missed |= any(r["seconds"] > TARGET_SECONDS for r in runs)
    if any(e["database"] == "postgres" and e["size"] == "50k" for e in results):
        print(
            f"target {TARGET_SECONDS:.0f} s per run at 50k on PostgreSQL: {'missed' if missed else 'met'}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"python": platform.python_version(), "results": results}, indent=2)
        )
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    internal = harness.step_parser()
    internal.add_argument("--reload", action="store_true")
    if harness.dispatch(argv, {"_load": load, "_prepare": prepare, "_measure": measure}, internal):
        return 0
    parser = harness.parser(__doc__)
    parser.add_argument("--size", choices=[*SIZES, "both"], default="both")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--reload", action="store_true", help="load the snapshot afresh")
    args = harness.check(parser, parser.parse_args(argv))
    os.chdir(harness.ROOT)
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
