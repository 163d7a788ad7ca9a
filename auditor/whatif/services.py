"""What-if runs in a worker: a *Run* on a large snapshot never holds a request.

1. ``whatif_run_request`` stores what was tried as a *pending* ``WhatIfRun`` and
   enqueues ``auditor.whatif.tasks.run_whatif`` once the row is committed.
2. ``whatif_run_execute`` (from the task) moves it pending → running with a
   compare-and-set, loads the snapshot's engine model, runs ``netpol.whatif.compare``
   telling each step to the row (``progress``) while a thread keeps its heartbeat fresh,
   and stores the bounded result (``netpol.whatif.bounded``), or the error, failed.
3. ``whatif_run_fail_stale``: a running run whose heartbeat stopped lost its worker; it
   is failed with a message saying so, so the page stops waiting.

``runs_inline`` says which runs answer inside the request: snapshots of at most
``settings.WHATIF_INLINE_MAX_PODS`` pods.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from auditor import storage
from auditor.models import Snapshot, WhatIfRun
from netpol import whatif

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds


def runs_inline(snapshot: Snapshot) -> bool:
    """Small snapshots answer inside the request (well under a second)."""
    return snapshot.pod_count <= settings.WHATIF_INLINE_MAX_PODS


def whatif_run_request(
    *,
    snapshot: Snapshot,
    user,
    text: str,
    remove: list[str],
    notes: list[str],
    enqueue: bool = True,
) -> WhatIfRun:
    """A pending run of what was tried, its task sent once the row is committed."""
    run = WhatIfRun.objects.create(
        snapshot=snapshot, user=user, yaml=text, remove=sorted(remove), notes=notes
    )
    if enqueue:
        from .tasks import run_whatif  # the task calls back into this module

        transaction.on_commit(lambda: run_whatif.delay(run.pk))
    return run


def whatif_run_execute(*, run_id: int) -> WhatIfRun | None:
    """Compute one pending run; None when another worker has it (the claim failed)."""
    now = timezone.now()
    claimed = WhatIfRun.objects.filter(pk=run_id, status=WhatIfRun.Status.PENDING).update(
        status=WhatIfRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        progress="loading the snapshot's model",
    )
    if not claimed:
        return None
    run = WhatIfRun.objects.select_related("snapshot").get(pk=run_id)
    try:
        with _Heartbeat(run.pk) as heartbeat:
            model = storage.engine_model(run.snapshot)
            pasted, _ = whatif.read_policies(run.yaml)
            result = whatif.compare(
                model, add=pasted, remove=set(run.remove), progress=heartbeat.tell
            )
            heartbeat.tell("storing the result")
        WhatIfRun.objects.filter(pk=run.pk).update(
            status=WhatIfRun.Status.COMPLETE,
            result=whatif.bounded(result),
            progress="done",
            finished_at=timezone.now(),
        )
    except Exception as exc:
        problem = (
            str(exc) if isinstance(exc, whatif.WhatIfInputError) else f"{type(exc).__name__}: {exc}"
        )
        WhatIfRun.objects.filter(pk=run.pk).update(
            status=WhatIfRun.Status.FAILED, error=problem, finished_at=timezone.now()
        )
        logger.exception("what-if #%s failed", run.pk)
        raise
    logger.info("what-if #%s on snapshot #%s computed", run.pk, run.snapshot_id)
    run.refresh_from_db()
    return run


def whatif_run_fail_stale(*, run: WhatIfRun) -> WhatIfRun:
    """Fail ``run`` if it is running and its heartbeat stopped (the worker died)."""
    cutoff = timezone.now() - timedelta(seconds=settings.WHATIF_STALE_AFTER)
    failed = WhatIfRun.objects.filter(
        pk=run.pk, status=WhatIfRun.Status.RUNNING, heartbeat_at__lt=cutoff
    ).update(
        status=WhatIfRun.Status.FAILED,
        finished_at=timezone.now(),
        error=(
            f"The worker stopped during this what-if (no heartbeat for {settings.WHATIF_STALE_AFTER} s). "
            "Run it again."
        ),
    )
    if failed:
        run.refresh_from_db()
    return run


class _Heartbeat:
    """Keeps a running run's heartbeat fresh from a thread, and writes its progress."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.interval = min(HEARTBEAT_EVERY, settings.WHATIF_STALE_AFTER / 4)
        self._progress = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"whatif-{run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def tell(self, progress: str) -> None:
        """A step starts: shown at once (this thread's own connection)."""
        self._progress = progress
        self._write()

    def _write(self) -> None:
        WhatIfRun.objects.filter(pk=self.run_id, status=WhatIfRun.Status.RUNNING).update(
            heartbeat_at=timezone.now(), progress=self._progress[:200]
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self._write()
                except Exception as exc:  # a lost connection must not stop the beat
                    logger.warning("what-if #%s: heartbeat not written (%s)", self.run_id, exc)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection
