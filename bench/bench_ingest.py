"""Snapshot ingest benchmark: wall time and peak memory of one snapshot of a large cluster.

A synthetic cluster (``bench.synthetic.generate_cluster``) is served as Kubernetes list
JSON by ``tests.fakekube.FakeKube`` in a separate process. Each run is a fresh Python
process that sets up Django, registers a kubeconfig cluster pointing at that server and
times ``services.snapshot_request(enqueue=False)`` + ``services.snapshot_collect`` (the
live collector pages through the API, normalises, then writes everything in one
transaction). Peak RSS is that process's ``ru_maxrss``: Django, the collector and the
records, never the server's copy of the cluster.

    .venv/bin/python bench/bench_ingest.py                      # 50k pods, both databases, 3 runs
    .venv/bin/python bench/bench_ingest.py --pods 5000 --namespaces 200 --policies 1000
    .venv/bin/python bench/bench_ingest.py --database sqlite --runs 1 --profile

SQLite lives in ``var/bench/`` (``NETPOL_VAR_DIR=var/bench``); PostgreSQL is the database
``netpol_bench`` on ``--postgres-url`` (created if missing). Migrations are applied before
the first run; before every run the bench cluster's earlier snapshots are deleted in a
separate process, so each run writes into the same, snapshot-free database.

Target (docs/benchmarks.md): at most 60 s and 1.5 GB peak RSS for 50,000 pods in 2,000
namespaces with 10,000 policies. The exit status is 1 when a run misses it at that size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    VAR_DIR,
    child_env,
    db_version,
    prepare_database,
    setup_django,
)

ROOT = harness.ROOT
SQLITE_PATH = VAR_DIR / "bench-ingest.sqlite3"
CLUSTER_NAME = "bench-ingest"
TOKEN = "bench-ingest-token"
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 1536.0  # 1.5 GB
TARGET_SIZE = (50_000, 2_000, 10_000)  # pods, namespaces, policies


# --- the server process ---------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Generate the cluster, serve it until stdin closes; first line out: a JSON hello."""
    from bench.synthetic import generate_cluster
    from tests.fakekube import ENDPOINTS, FakeKube

    started = time.perf_counter()
    cluster = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    generated = time.perf_counter() - started
    objects = {kind: cluster.get(kind, []) for kind in ENDPOINTS}
    with FakeKube(objects, token=TOKEN) as kube:
        kube.write_kubeconfig(args.kubeconfig, context="bench")
        hello = {
            "url": kube.url,
            "counts": {kind: len(items) for kind, items in objects.items()},
            "generate_seconds": round(generated, 2),
        }
        print(json.dumps(hello), flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us


class Server:
    """The FakeKube subprocess, as a context manager."""

    def __init__(self, args: argparse.Namespace):
        self.kubeconfig = VAR_DIR / f"kubeconfig-{os.getpid()}.yaml"
        command = [
            sys.executable,
            __file__,
            "_serve",
            "--kubeconfig",
            str(self.kubeconfig),
            "--pods",
            str(args.pods),
            "--namespaces",
            str(args.namespaces),
            "--policies",
            str(args.policies),
            "--seed",
            str(args.seed),
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise SystemExit(f"the FakeKube server process exited with {self.process.returncode}")
        self.hello = json.loads(line)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.kubeconfig.unlink(missing_ok=True)


# --- the measured process ---------------------------------------------------------------


def _bench_cluster(kubeconfig: str):
    from auditor.models import Cluster

    cluster, _ = Cluster.objects.update_or_create(
        name=CLUSTER_NAME,
        defaults={
            "source": Cluster.Source.KUBECONFIG,
            "kubeconfig_path": kubeconfig,
            "kubeconfig_context": "bench",
            "enabled": False,  # beat never snapshots it
            "description": "bench/bench_ingest.py",
        },
    )
    return cluster


def prepare(args: argparse.Namespace) -> None:
    """Register the bench cluster and delete its earlier snapshots (not measured)."""
    setup_django()
    from auditor.models import Snapshot

    cluster = _bench_cluster(args.kubeconfig)
    Snapshot.objects.filter(cluster=cluster).delete()
    queue = Path(os.environ["NETPOL_VAR_DIR"]) / "celery" / "broker" / "queue"
    for message in queue.glob("*"):  # analysis hand-offs nobody consumes
        message.unlink(missing_ok=True)


def measure(args: argparse.Namespace) -> None:
    """One timed ingest; prints one JSON line."""
    setup_django()
    from django.db import connection

    # Imported before timing, as in a worker that has snapshotted before: the kubernetes
    # client's first import alone takes about 0.7 s on this machine.
    import netpol.collect.live  # noqa: F401
    from auditor import services, storage
    from auditor.models import Snapshot

    cluster = _bench_cluster(args.kubeconfig)
    version = db_version()

    # Phase times and the peak reached by the end of each phase, from thin wrappers.
    phases: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                return function(*a, **kw)
            finally:
                phases[f"{name}_seconds"] = time.perf_counter() - start
                phases[f"peak_after_{name}_mb"] = harness.peak_mb()

        return wrapper

    services._collect_records = timed("collect", services._collect_records)
    storage.write_records = timed("write", storage.write_records)

    baseline = harness.rss_mb()
    with harness.profiled(args.profile) as profile:
        started = time.perf_counter()
        snapshot = services.snapshot_request(
            cluster=cluster, trigger=Snapshot.Trigger.COMMAND, enqueue=False
        )
        snapshot = services.snapshot_collect(snapshot_id=snapshot.pk)
        seconds = time.perf_counter() - started
    peak = harness.peak_mb()

    if snapshot is None or snapshot.status != Snapshot.Status.COMPLETE:
        raise SystemExit(f"the snapshot did not complete: {snapshot and snapshot.error}")
    stored = {
        kind: model.objects.filter(snapshot=snapshot).count()
        for kind, model in storage.MODEL_FOR_KIND.items()
    }
    result = {
        "database": connection.vendor,
        "db_version": version,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        **phases,
        "counts": stored,  # rows in the database, checked against what was served
        **profile,
    }
    harness.emit(result)


# --- the orchestrating process --------------------------------------------------------------


def _env(database: str, args: argparse.Namespace) -> dict[str, str]:
    env = child_env(database, sqlite_path=SQLITE_PATH, postgres_url=args.postgres_url)
    env["KUBE_PAGE_SIZE"] = str(args.page_size)
    return env


def _run_child(step: str, env: dict[str, str], args: list[str]) -> dict:
    return harness.run_step(__file__, step, args, env)


def orchestrate(args: argparse.Namespace) -> int:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    size = f"{args.pods:,} pods, {args.namespaces:,} namespaces, {args.policies:,} policies"
    print(f"ingest benchmark: {size}; page size {args.page_size}; {args.runs} run(s) per database")
    print(harness.machine())

    results: dict[str, list[dict]] = {}
    with Server(args) as server:
        counts = server.hello["counts"]
        print(
            f"served by FakeKube at {server.hello['url']} (generated in "
            f"{server.hello['generate_seconds']} s): {counts}"
        )
        kubeconfig = ["--kubeconfig", str(server.kubeconfig)]
        for database in databases:
            env = _env(database, args)
            prepare_database(database, env, args.postgres_url)
            runs = results[database] = []
            for number in range(1, args.runs + 1):
                _run_child("_prepare", env, kubeconfig)
                run = _run_child("_measure", env, kubeconfig)
                if run["counts"] != counts:
                    raise SystemExit(f"stored counts {run['counts']} differ from served {counts}")
                runs.append(run)
                print(
                    f"  {database} run {number}: {run['seconds']:.2f} s "
                    f"(collect {run['collect_seconds']:.2f} s, write {run['write_seconds']:.2f} s), "
                    f"peak RSS {run['peak_rss_mb']:.0f} MiB "
                    f"(baseline {run['baseline_rss_mb']:.0f}, after collect "
                    f"{run['peak_after_collect_mb']:.0f})",
                    flush=True,
                )
            if args.profile:
                stem = VAR_DIR / f"profile-ingest-{database}-{args.pods}"
                _run_child("_prepare", env, kubeconfig)
                run = _run_child("_measure", env, [*kubeconfig, "--profile", str(stem)])
                print(
                    f"  {database} profiled run: {run['seconds']:.2f} s under pyinstrument; "
                    f"{stem}.txt and .html"
                )

    print()
    print(f"{size} ({args.runs} runs; median, min-max)")
    print(f"{'database':<24} {'seconds':<22} {'peak RSS MiB':<20} {'collect s':>9} {'write s':>8}")
    missed = False
    for runs in results.values():
        seconds = harness.summary([r["seconds"] for r in runs])
        rss = harness.summary([r["peak_rss_mb"] for r in runs])
        collect = statistics.median(r["collect_seconds"] for r in runs)
        write = statistics.median(r["write_seconds"] for r in runs)
        print(
            f"{runs[0]['db_version']:<24} "
            f"{seconds[0]:6.2f} ({seconds[1]:.2f}-{seconds[2]:.2f}){'':<3} "
            f"{rss[0]:6.0f} ({rss[1]:.0f}-{rss[2]:.0f}){'':<4} {collect:9.2f} {write:8.2f}"
        )
        missed |= any(
            r["seconds"] > TARGET_SECONDS or r["peak_rss_mb"] > TARGET_RSS_MB for r in runs
        )
    at_target = (args.pods, args.namespaces, args.policies) == TARGET_SIZE
    verdict = "missed" if missed else "met"
    print(
        f"target {TARGET_SECONDS:.0f} s / {TARGET_RSS_MB:.0f} MiB per run: {verdict}"
        + ("" if at_target else " (informative: not the target size)")
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "size": {
                        "pods": args.pods,
                        "namespaces": args.namespaces,
                        "policies": args.policies,
                        "page_size": args.page_size,
                        "served": counts,
                    },
                    "results": results,
                },
                indent=2,
            )
        )
    return 1 if missed and at_target else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    internal = harness.step_parser()
    internal.add_argument("--kubeconfig", required=True)
    if harness.dispatch(argv, {"_serve": serve, "_prepare": prepare, "_measure": measure}, internal):
        return 0
    parser = harness.parser(__doc__, size_defaults=TARGET_SIZE)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--page-size", type=int, default=500, help="KUBE_PAGE_SIZE (default 500)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    return orchestrate(harness.check(parser, parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
