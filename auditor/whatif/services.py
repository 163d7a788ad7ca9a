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

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from auditor import storage
from auditor.models import Snapshot, WhatIfRun
from auditor.runs import Heartbeat, run_claim, run_fail_if_stale
from netpol import whatif

logger = logging.getLogger(__name__)


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
    if not run_claim(WhatIfRun, run_id):
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
    after = settings.WHATIF_STALE_AFTER
    run_fail_if_stale(
        run,
        stale_after=after,
        error=f"The worker stopped during this what-if (no heartbeat for {after} s). Run it again.",
    )
    return run


class _Heartbeat(Heartbeat):
    def __init__(self, run_id: int):
        super().__init__(WhatIfRun, run_id, stale_after=settings.WHATIF_STALE_AFTER, name="what-if")
