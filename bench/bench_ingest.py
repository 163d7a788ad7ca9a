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
import importlib.util
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

VAR_DIR = ROOT / "var" / "bench"
SQLITE_PATH = VAR_DIR / "bench-ingest.sqlite3"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/netpol_bench"
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


def _rss_mb() -> float:
    """Current resident set size (VmRSS) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


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
    _setup_django()
    from auditor.models import Snapshot

    cluster = _bench_cluster(args.kubeconfig)
    Snapshot.objects.filter(cluster=cluster).delete()
    queue = Path(os.environ["NETPOL_VAR_DIR"]) / "celery" / "broker" / "queue"
    for message in queue.glob("*"):  # analysis hand-offs nobody consumes
        message.unlink(missing_ok=True)


def measure(args: argparse.Namespace) -> None:
    """One timed ingest; prints one JSON line."""
    _setup_django()
    from django.db import connection

    # Imported before timing, as in a worker that has snapshotted before: the kubernetes
    # client's first import alone takes about 0.7 s on this machine.
    import netpol.collect.live  # noqa: F401
    from auditor import services, storage
    from auditor.models import Snapshot

    cluster = _bench_cluster(args.kubeconfig)
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        import sqlite3

        db_version = f"SQLite {sqlite3.sqlite_version}"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            db_version = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"

    # Phase times and the peak reached by the end of each phase, from thin wrappers.
    phases: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                return function(*a, **kw)
            finally:
                phases[f"{name}_seconds"] = time.perf_counter() - start
                phases[f"peak_after_{name}_mb"] = _peak_mb()

        return wrapper

    services._collect_records = timed("collect", services._collect_records)
    storage.write_records = timed("write", storage.write_records)

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)

    baseline = _rss_mb()
    if profiler:
        profiler.start()
    started = time.perf_counter()
    snapshot = services.snapshot_request(
        cluster=cluster, trigger=Snapshot.Trigger.COMMAND, enqueue=False
    )
    snapshot = services.snapshot_collect(snapshot_id=snapshot.pk)
    seconds = time.perf_counter() - started
    if profiler:
        profiler.stop()
    peak = _peak_mb()

    if snapshot is None or snapshot.status != Snapshot.Status.COMPLETE:
        raise SystemExit(f"the snapshot did not complete: {snapshot and snapshot.error}")
    stored = {
        kind: model.objects.filter(snapshot=snapshot).count()
        for kind, model in storage.MODEL_FOR_KIND.items()
    }
    result = {
        "database": connection.vendor,
        "db_version": db_version,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        **phases,
        "counts": stored,  # rows in the database, checked against what was served
    }
    if profiler:
        stem = Path(args.profile)
        stem.with_suffix(".txt").write_text(profiler.output_text(unicode=True, color=False))
        stem.with_suffix(".html").write_text(profiler.output_html())
        profiler.last_session.save(str(stem.with_suffix(".pyisession")))
        result["profile"] = str(stem.with_suffix(".txt"))
    print(json.dumps(result), flush=True)


# --- the orchestrating process --------------------------------------------------------------


def _database_env(database: str, args: argparse.Namespace) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        NETPOL_VAR_DIR=str(VAR_DIR),
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="ERROR",
        KUBE_PAGE_SIZE=str(args.page_size),
        DATABASE_URL=f"sqlite:///{SQLITE_PATH}" if database == "sqlite" else args.postgres_url,
    )
    return env


def _create_postgres_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created PostgreSQL database {name}", file=sys.stderr)


def _run_child(command: str, env: dict[str, str], args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, __file__, command, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{command} failed with exit status {done.returncode}")
    return done.stdout


def _summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def orchestrate(args: argparse.Namespace) -> int:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    size = f"{args.pods:,} pods, {args.namespaces:,} namespaces, {args.policies:,} policies"
    print(f"ingest benchmark: {size}; page size {args.page_size}; {args.runs} run(s) per database")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs")

    results: dict[str, list[dict]] = {}
    with Server(args) as server:
        counts = server.hello["counts"]
        print(
            f"served by FakeKube at {server.hello['url']} (generated in "
            f"{server.hello['generate_seconds']} s): {counts}"
        )
        kubeconfig = ["--kubeconfig", str(server.kubeconfig)]
        for database in databases:
            env = _database_env(database, args)
            if database == "postgres":
                _create_postgres_database(args.postgres_url)
            migrate = [
                sys.executable,
                "manage.py",
                "migrate",
                "--noinput",
                "--skip-checks",
                "-v",
                "0",
            ]
            if subprocess.run(migrate, cwd=ROOT, env=env).returncode:
                raise SystemExit(f"migrating the {database} database failed")
            runs = results[database] = []
            for number in range(1, args.runs + 1):
                _run_child("_prepare", env, kubeconfig)
                run = json.loads(_run_child("_measure", env, kubeconfig).splitlines()[-1])
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
                run = json.loads(
                    _run_child("_measure", env, [*kubeconfig, "--profile", str(stem)]).splitlines()[
                        -1
                    ]
                )
                print(
                    f"  {database} profiled run: {run['seconds']:.2f} s under pyinstrument; "
                    f"{stem}.txt and .html"
                )

    print()
    print(f"{size} ({args.runs} runs; median, min-max)")
    print(f"{'database':<24} {'seconds':<22} {'peak RSS MiB':<20} {'collect s':>9} {'write s':>8}")
    missed = False
    for runs in results.values():
        seconds = _summary([r["seconds"] for r in runs])
        rss = _summary([r["peak_rss_mb"] for r in runs])
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_argument_group("cluster size")
    size.add_argument("--pods", type=int, default=TARGET_SIZE[0])
    size.add_argument("--namespaces", type=int, default=TARGET_SIZE[1])
    size.add_argument("--policies", type=int, default=TARGET_SIZE[2])
    size.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per database (default 3)")
    parser.add_argument("--page-size", type=int, default=500, help="KUBE_PAGE_SIZE (default 500)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more run per database under pyinstrument (not in the table)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures here")

    if argv and argv[0] in ("_serve", "_prepare", "_measure"):
        internal = argparse.ArgumentParser()
        internal.add_argument("--kubeconfig", required=True)
        internal.add_argument("--profile")
        for name in ("pods", "namespaces", "policies", "seed"):
            internal.add_argument(f"--{name}", type=int)
        child_args = internal.parse_args(argv[1:])
        {"_serve": serve, "_prepare": prepare, "_measure": measure}[argv[0]](child_args)
        return 0
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.profile and importlib.util.find_spec("pyinstrument") is None:
        parser.error("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
