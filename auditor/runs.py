"""What the worker runs of the pages share (``WhatIfRun``, ``FlowReplayRun``): the claim
by compare-and-set, the heartbeat a running run keeps fresh from a thread, and the rule
that fails a running run whose heartbeat stopped (its worker died)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds


def run_claim(model, run_id: int) -> bool:
    """Move a pending run to running; False when another worker has it."""
    now = timezone.now()
    return bool(
        model.objects.filter(pk=run_id, status=model.Status.PENDING).update(
            status=model.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            progress="loading the snapshot's model",
        )
    )


def run_fail_if_stale(run, *, stale_after: float, error: str) -> bool:
    """Fail ``run`` with ``error`` if it is running and its heartbeat is older than
    ``stale_after`` seconds; True when it did (``run`` is then read again)."""
    model = type(run)
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    failed = model.objects.filter(
        pk=run.pk, status=model.Status.RUNNING, heartbeat_at__lt=cutoff
    ).update(status=model.Status.FAILED, finished_at=timezone.now(), error=error)
    if failed:
        run.refresh_from_db()
    return bool(failed)


class Heartbeat:
    """Keeps a running run's heartbeat fresh from a thread, and writes its progress (the
    step, and what ``fields`` adds) with each beat, on the thread's own connection."""

    def __init__(self, model, run_id: int, *, stale_after: float, name: str):
        self.model, self.run_id, self.name = model, run_id, name
        self.interval = min(HEARTBEAT_EVERY, stale_after / 4)
        self._progress = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-{run_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def tell(self, progress: str) -> None:
        """A step starts: shown at once."""
        self._progress = progress
        self._write()

    def fields(self) -> dict:
        """What a beat writes besides the time and the step."""
        return {}

    def _write(self) -> None:
        fields = {"heartbeat_at": timezone.now(), "progress": self._progress[:200], **self.fields()}
        self.model.objects.filter(pk=self.run_id, status=self.model.Status.RUNNING).update(**fields)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self._write()
                except Exception as exc:  # a lost connection must not stop the beat
                    logger.warning(
                        "%s #%s: heartbeat not written (%s)", self.name, self.run_id, exc
                    )
                    connection.close()
        finally:
            connection.close()  # this thread's own connection
