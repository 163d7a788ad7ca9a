"""What the benchmarks that use Django share (the generic harness is ``bench/harness.py``).

The database plumbing: the child environment (``NETPOL_VAR_DIR=var/bench``, the shell's
``DATABASE_URL``/``CELERY_BROKER_URL``/``REDIS_URL`` ignored), creating PostgreSQL's
bench database, applying migrations, Django set-up, naming the database server; and
loading a synthetic cluster as a complete snapshot through the services' own write path
(``snapshot_request`` + ``snapshot_collect``) with an in-memory collection backend, so
a benchmark of what happens *after* ingest does not pay for serving the cluster over
HTTP every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import ROOT  # noqa: E402

VAR_DIR = ROOT / "var" / "bench"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/netpol_bench"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def create_postgres_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created PostgreSQL database {name}", file=sys.stderr)


def child_env(database: str, *, sqlite_path: Path, postgres_url: str) -> dict[str, str]:
    """The environment of a benchmark's child process on ``database``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        NETPOL_VAR_DIR=str(VAR_DIR),
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="ERROR",
        DATABASE_URL=f"sqlite:///{sqlite_path}" if database == "sqlite" else postgres_url,
    )
    return env


def prepare_database(database: str, env: dict[str, str], postgres_url: str) -> None:
    """Create PostgreSQL's bench database if missing, then migrate (not measured)."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if database == "postgres":
        create_postgres_database(postgres_url)
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"]
    if subprocess.run(migrate, cwd=ROOT, env=env).returncode:
        raise SystemExit(f"migrating the {database} database failed")


def db_version() -> str:
    """``SQLite 3.x`` or ``PostgreSQL 15.x`` of Django's default connection."""
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"


class GeneratedCollector:
    """A collection backend over objects already in memory: the synthetic cluster."""

    sensitive_parameters: tuple[str, ...] = ()

    def __init__(self, objects: dict[str, list[dict]]):
        self.objects = objects
        self.server_version = "synthetic"
        self.warnings: list[str] = []

    def fetch(self):
        from netpol.collect.kinds import KINDS

        for kind in KINDS:
            for obj in self.objects.get(kind, []):
                yield kind, obj


def bench_cluster(name: str, description: str):
    """The bench cluster row; disabled, so a beat on this database never snapshots it."""
    from auditor.models import Cluster

    cluster, _ = Cluster.objects.update_or_create(
        name=name,
        defaults={
            "source": Cluster.Source.MANIFESTS,
            "manifest_path": "bench/synthetic.py",  # never read: the benchmarks bring the objects
            "enabled": False,
            "description": description[:200],
        },
    )
    return cluster


def load_snapshot(cluster, objects: dict[str, list[dict]]):
    """Store ``objects`` as a new complete snapshot of ``cluster``, as a worker would.

    The analysis hand-off that ``snapshot_collect`` enqueues is discarded: the caller
    analyses (or times the analysis) itself.
    """
    from unittest import mock

    from auditor import services
    from auditor.models import Snapshot

    with mock.patch.object(services, "collector_for", lambda _cluster: GeneratedCollector(objects)):
        snapshot = services.snapshot_request(
            cluster=cluster, trigger=Snapshot.Trigger.COMMAND, enqueue=False
        )
        if snapshot is None:
            raise SystemExit(f"{cluster.name} already has a pending or running snapshot")
        snapshot = services.snapshot_collect(snapshot_id=snapshot.pk)
    if snapshot is None or snapshot.status != Snapshot.Status.COMPLETE:
        raise SystemExit(f"loading {cluster.name} failed: {snapshot and snapshot.error}")
    discard_queued_tasks()
    return snapshot


def discard_queued_tasks() -> None:
    """Drop the filesystem broker's queued messages (analysis hand-offs nobody consumes)."""
    from django.conf import settings

    folder = (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("data_folder_in")
    if folder and str(VAR_DIR) in folder:
        for message in Path(folder).glob("*"):
            message.unlink(missing_ok=True)
