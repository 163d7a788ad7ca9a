"""The fault suite's rig: a Redis of its own that a test may restart, the broker of the
test process and of its Celery processes pointed at it, and recovery times reported.

``pytest -m faults`` runs the suite alone; ``docs/reliability.md`` lists its figures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from auditor import services
from auditor.models import Analysis, Pod, Snapshot

from ..conftest import CELERY, ROOT, wait_until
from ..fakekube import FakeKube
from ..test_worker import live_cluster, status_of

TIMINGS = ROOT / "var" / "test" / "fault-recovery.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free port, without persistence, as a broker restart loses
    whatever was queued: that is the fault under test."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = self.log_dir / f"redis-{self.starts}.log"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_until(self.answers, timeout=10, message=f"redis on port {self.port}")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM is a restart by a supervisor; SIGKILL a crash. Either loses the queue."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the fault suite starts its own broker")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture
def celery_env(celery_env, redis_server):
    """The test's worker and beat use the suite's Redis; so does this process, which
    enqueues the snapshots it requests."""
    from config.celery import app

    env = dict(celery_env, CELERY_BROKER_URL=redis_server.url)
    saved = app.conf.broker_url
    app.conf.broker_url = redis_server.url
    app._pool = None  # connection and producer pools are built on first use, from the URL
    app.amqp._producer_pool = None
    yield env
    app.conf.broker_url = saved
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def ping(celery_env):
    """``ping()``: True when every worker on the suite's broker answers ``inspect ping``."""

    def answer(timeout: float = 3) -> bool:
        result = subprocess.run(
            [CELERY, "-A", "config", "inspect", "ping", "--timeout", str(timeout)],
            cwd=ROOT, env=celery_env, capture_output=True, text=True, timeout=timeout + 30,
        )
        return result.returncode == 0 and "pong" in result.stdout

    return answer


class Recovery:
    """Times one recovery: ``begin()`` when the fault ends (or strikes), ``end()`` when
    the product is whole again. Printed, and kept for ``docs/reliability.md``."""

    def __init__(self, fault: str):
        self.fault = fault
        self.started: float | None = None
        self.seconds: float | None = None

    def begin(self) -> None:
        self.started = time.monotonic()

    def end(self) -> float:
        assert self.started is not None, "Recovery.begin() was not called"
        self.seconds = round(time.monotonic() - self.started, 2)
        print(f"recovery from {self.fault}: {self.seconds:.2f} s")
        TIMINGS.parent.mkdir(parents=True, exist_ok=True)
        with TIMINGS.open("a") as out:
            out.write(json.dumps({"fault": self.fault, "seconds": self.seconds,
                                  "at": time.time(), "pid": os.getpid()}) + "\n")
        return self.seconds


_measured: list[Recovery] = []


@pytest.fixture
def recovery(request):
    """``recovery.begin()`` … ``recovery.end()``; the fault is the test's name."""
    timer = Recovery(request.node.name)
    yield timer
    if timer.seconds is not None:
        _measured.append(timer)


def pytest_terminal_summary(terminalreporter):
    if _measured:
        terminalreporter.section("fault recovery times")
        for timer in _measured:
            terminalreporter.write_line(f"{timer.seconds:7.2f} s  {timer.fault}")


# --- Snapshots through the worker -----------------------------------------------------


def snapshot_and_analyse(cluster, timeout=40) -> Snapshot:
    snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
    assert snapshot is not None
    wait_until(lambda: Analysis.objects.filter(snapshot=snapshot, status="complete").exists(),
               timeout=timeout, message=f"snapshot #{snapshot.pk} analysed")
    return snapshot


def assert_whole(cluster, expected: int, pods: int = 6) -> None:
    """``expected`` snapshots, each complete and analysed once, none with doubled rows."""
    snapshots = list(cluster.snapshots.all())
    assert [s.status for s in snapshots] == ["complete"] * expected, [(s.pk, s.status, s.error) for s in snapshots]
    for snapshot in snapshots:
        assert Pod.objects.filter(snapshot=snapshot).count() == pods
        assert Analysis.objects.filter(snapshot=snapshot, status="complete").count() == 1


def request_collecting(cluster, kube: FakeKube) -> Snapshot:
    """Request a snapshot and return once the worker is listing its pods."""
    listed = sum(path == "/api/v1/pods" for _, path, _ in kube.requests)
    snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
    wait_until(lambda: status_of(snapshot) == "running"
               and sum(path == "/api/v1/pods" for _, path, _ in kube.requests) > listed,
               message=f"snapshot #{snapshot.pk} listing pods")
    return snapshot


def first_snapshot(kube: FakeKube, tmp_path) -> tuple:
    """A live cluster on ``kube`` (unscheduled) and its first snapshot, analysed: the one
    that must stay current through the fault."""
    cluster = live_cluster(kube, tmp_path, enabled=False)
    return cluster, snapshot_and_analyse(cluster)
