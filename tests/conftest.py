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


@pytest.fixture
def demo_snapshot(db):
    """The bundled demo cluster, snapshotted and analysed, as the current snapshot."""
    from auditor import services
    from auditor.models import Cluster, Snapshot
    from auditor.services import snapshot_analyze

    cluster = Cluster.objects.create(name="demo", source=Cluster.Source.MANIFESTS, manifest_path="auditor/demo_cluster")
    snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False)
    services.snapshot_collect(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    snapshot_analyze(snapshot=snapshot)
    return snapshot


# The browser fixtures, registered once for every end-to-end module.
from .browser import browser, page  # noqa: E402, F401
