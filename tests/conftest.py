"""Shared fixtures: a real Celery worker process on the test database and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")


def test_database_url() -> str:
    """The URL of the database the tests use now, for processes started by a test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{quote(db['USER'] or '')}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_until(predicate, timeout=40, message="condition"):
    """Poll ``predicate`` until it returns something true; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


class CeleryProcess:
    """A celery worker or beat in its own process group, with its log in a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [CELERY, "-A", "config", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(
                    f"celery exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            time.sleep(0.2)
        raise AssertionError(
            f"{text!r} not in the celery log after {timeout} s:\n{self.log()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: what an OOM kill or a node loss does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def celery_env(transactional_db) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def start_celery(celery_env, tmp_path):
    """Start worker or beat processes; all are stopped when the test ends."""
    started: list[CeleryProcess] = []

    def start(kind: str = "worker", *extra: str) -> CeleryProcess:
        name = f"{kind}-{len(started)}"
        if kind == "worker":
            args = [
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{name}@%h",
                *extra,
            ]
        else:
            args = [
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(tmp_path / "beat-schedule"),
                *extra,
            ]
        process = CeleryProcess(args, tmp_path / f"{name}.log", celery_env)
        started.append(process)
        process.wait_for_log("ready." if kind == "worker" else "beat: Starting...")
        return process

    yield start
    for process in started:
        process.stop()


# --- Personas and the analysed demo cluster, for page tests ---------------------------

PASSWORD = "pw-for-tests-123"


@pytest.fixture
def personas(django_user_model):
    """A viewer, an auditor, an admin (by group) and a stranger with no role."""
    from django.contrib.auth.models import Group

    users = {}
    for role in ("viewer", "auditor", "admin", "stranger"):
        user = django_user_model.objects.create_user(role, password=PASSWORD, is_staff=(role == "admin"))
        if role != "stranger":
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        users[role] = user
    return users


@pytest.fixture
def client_as(client, personas):
    """``client_as("auditor")``: the test client logged in as that persona."""

    def login(role: str):
        client.force_login(personas[role])
        return client

    return login


# --- The analysed demo cluster, built once per test process ----------------------------
#
# Building it takes a few tenths of a second; ~120 tests read it and none changes it for
# good. So it is committed once, outside the tests' transactions, and each test reads it
# inside its own transaction as usual (whatever a test changes is rolled back). Tests
# that do not ask for it must not see it: before such a test touches the database, the
# committed copy is deleted; before the next test that asks for it, it is built again.
# A transactional test (``transaction=True``, ``live_server``) empties every table when
# it ends, so the copy is checked for before each test that asks for it.
# ``pytest_collection_modifyitems`` runs the tests that ask for it first among their
# kind, so that happens about once per process.

DEMO = "auditor/demo_cluster"


class SharedDemo:
    """The demo cluster's analysed snapshot, committed in the test database."""

    def __init__(self, blocker):
        self.blocker = blocker
        self.pk = None  # of the snapshot, while it is committed
        self.finished_at = None
        self.cluster_pk = None
        self.intervals: set[int] = set()  # beat interval rows its cluster added

    def present(self) -> bool:
        from auditor.models import Snapshot

        return self.pk is not None and Snapshot.objects.filter(
            pk=self.pk, finished_at=self.finished_at, analysis__status="complete"
        ).exists()

    def ensure(self) -> None:
        if not self.present():
            self.build()

    def build(self) -> None:
        """Snapshot and analyse the demo cluster, as the worker would, and commit it."""
        from unittest import mock

        from django_celery_beat.models import IntervalSchedule

        from auditor import services
        from auditor.models import Cluster, Snapshot

        self.remove()
        before = set(IntervalSchedule.objects.values_list("pk", flat=True))
        # The hand-off to a worker is not sent (no worker reads this queue's leftovers):
        # the snapshot is analysed right here instead.
        with mock.patch("django.db.transaction.on_commit"):
            cluster = Cluster.objects.create(
                name="demo", source=Cluster.Source.MANIFESTS, manifest_path=DEMO
            )
            snapshot = services.snapshot_request(
                cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
            )
            services.snapshot_collect(snapshot_id=snapshot.pk)
            snapshot.refresh_from_db()
            services.snapshot_analyze(snapshot=snapshot)
        self.intervals = set(IntervalSchedule.objects.values_list("pk", flat=True)) - before
        self.pk, self.finished_at, self.cluster_pk = snapshot.pk, snapshot.finished_at, cluster.pk

    def remove(self) -> None:
        """Delete the committed copy, and the beat interval its cluster added."""
        from django_celery_beat.models import IntervalSchedule

        from auditor.models import Cluster

        if self.cluster_pk is not None:
            Cluster.objects.filter(pk=self.cluster_pk).delete()
            IntervalSchedule.objects.filter(pk__in=self.intervals).delete()
        self.pk = self.finished_at = self.cluster_pk = None
        self.intervals = set()


_shared_demo: SharedDemo | None = None


@pytest.fixture(scope="session")
def shared_demo(django_db_setup, django_db_blocker):
    global _shared_demo
    _shared_demo = SharedDemo(django_db_blocker)
    with django_db_blocker.unblock():
        _shared_demo.build()
    yield _shared_demo
    with django_db_blocker.unblock():
        _shared_demo.remove()
    _shared_demo = None


@pytest.fixture
def demo_snapshot(shared_demo, db):
    """The bundled demo cluster, snapshotted and analysed, as the current snapshot."""
    from auditor.models import Snapshot

    return Snapshot.objects.select_related("cluster").get(pk=shared_demo.pk)


def _db_order(item) -> int:
    """pytest-django's order: 0 in a rolled-back transaction, 1 transactional, 2 no database."""
    marker = item.get_closest_marker("django_db")
    kwargs = marker.kwargs if marker else {}
    if kwargs.get("transaction") or kwargs.get("reset_sequences"):
        return 1
    if {"transactional_db", "live_server"} & set(item.fixturenames):
        return 1
    return 0 if marker or "db" in item.fixturenames else 2


def _uses_db(item) -> bool:
    return _db_order(item) < 2


def _uses_demo(item) -> bool:
    return "demo_snapshot" in item.fixturenames


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before the test's fixtures (and its transaction): the committed demo is there for
    a test that asks for it, and gone for any other test that uses the database."""
    if _shared_demo is None or not _uses_db(item):
        return
    with _shared_demo.blocker.unblock():
        if _uses_demo(item):
            _shared_demo.ensure()
        elif _shared_demo.pk is not None:
            _shared_demo.remove()


# A test that drives Chromium or starts Celery processes is end-to-end: ``-m "not e2e"``
# leaves these out and runs the fast layer.
E2E_FIXTURES = {"browser", "page", "start_celery", "celery_env"}


def pytest_collection_modifyitems(items):
    """Mark the end-to-end tests; within each of pytest-django's groups (sorted before
    this runs), run the tests of the demo first, keeping the order otherwise."""
    for item in items:
        if E2E_FIXTURES & set(item.fixturenames) or item.get_closest_marker("worker"):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: (_db_order(item), not _uses_demo(item)))


@pytest.fixture(autouse=True)
def fresh_caches():
    """Per-process caches of engine models and graphs are keyed by snapshot id and finish
    time; a test must never be handed one built from another test's rows."""
    import sys

    def forget():
        if "auditor.storage" in sys.modules:
            sys.modules["auditor.storage"].forget_models()
        if "netpol.graph" in sys.modules:
            sys.modules["netpol.graph"].forget_graphs()
        if "auditor.selectors" in sys.modules:
            sys.modules["auditor.selectors"].forget_reports()

    forget()
    yield
    forget()


# Password hashing is the slowest step of creating a user (PBKDF2's 1,000,000 rounds,
# about 0.6 s a user here); the tests create over a thousand users and test no hasher.
@pytest.fixture(autouse=True, scope="session")
def fast_password_hasher():
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


# The browser fixtures, registered once for every end-to-end module.
from .browser import browser, page  # noqa: E402, F401


@pytest.fixture(autouse=True)
def heartbeat_outside_test_transactions(request, monkeypatch):
    """A test that is not transactional runs inside one open transaction, which holds
    SQLite's write lock and the rows it changed on PostgreSQL. A snapshot collected in
    such a test would have its heartbeat thread (its own connection) wait on that lock
    while the test waits for the thread: up to the 30 s busy timeout on SQLite, forever
    on PostgreSQL. Those tests collect in-process and quickly, so their heartbeat stays
    quiet; heartbeats are tested where they run for real, in worker processes."""
    if "transactional_db" in request.fixturenames or "live_server" in request.fixturenames:
        return
    if request.node.get_closest_marker("django_db") and request.node.get_closest_marker("django_db").kwargs.get("transaction"):
        return
    import auditor.services

    monkeypatch.setattr(auditor.services, "HEARTBEAT_EVERY", 24 * 3600.0)
