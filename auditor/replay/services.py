"""Flow replays in a worker: the Flows page of a large snapshot never holds a request.

The what-if pattern (``auditor.whatif``), for the replay of a cluster's imported flows:

1. ``flows_replay_run_for`` finds the run of this snapshot, these imports and this
   unused-rule window, or stores a *pending* ``FlowReplayRun`` and enqueues
   ``auditor.replay.tasks.run_flow_replay`` once the row is committed.
2. ``flows_replay_run_execute`` (from the task) moves it pending → running with a
   compare-and-set, loads the snapshot's engine model, replays the imports
   (``auditor.flows.flows_replay``) telling the row how many conversations are done
   while a thread keeps its heartbeat fresh, and stores the bounded result
   (``auditor.flows.bounded_replay``), or the error, failed.
3. ``flows_replay_run_fail_stale``: a running run whose heartbeat stopped lost its
   worker; it is failed with a message saying so, so the page stops waiting.

``replays_inline`` says which snapshots are replayed inside the request: those of at most
``settings.FLOWS_INLINE_MAX_PODS`` pods.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from auditor import storage
from auditor.flows import bounded_replay, flows_replay, imports_key, unused_window
from auditor.models import FlowReplayRun, Snapshot

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds


class ReplayRunError(Exception):
    """A replay that cannot be made as asked; the message says why and what to do."""


def replays_inline(snapshot: Snapshot) -> bool:
    """Small snapshots are replayed inside the request (well under a second)."""
    return snapshot.pod_count <= settings.FLOWS_INLINE_MAX_PODS


def replay_window(cluster) -> int:
    """The unused-rule window a replay applies: the cluster's, once the imports cover it."""
    window = unused_window(cluster)
    return window["days"] if window["applies"] else 0


def flows_replay_run_for(*, snapshot: Snapshot, enqueue: bool = True) -> FlowReplayRun | None:
    """The run replaying the cluster's current imports on ``snapshot``: the latest one
    that did not fail, else a new pending one (its task sent once the row is committed);
    None when nothing was imported."""
    cluster = snapshot.cluster
    imports = list(cluster.flow_imports.order_by("pk"))
    if not imports:
        return None
    key, window = imports_key(imports), replay_window(cluster)
    runs = FlowReplayRun.objects.filter(snapshot=snapshot, imports_key=key, window_days=window)
    run = runs.exclude(status=FlowReplayRun.Status.FAILED).first()
    if run is not None:
        return run
    latest = runs.first()  # a failed one: shown until it is asked for again
    if latest is not None:
        return latest
    return flows_replay_run_request(snapshot=snapshot, enqueue=enqueue)


def flows_replay_run_request(*, snapshot: Snapshot, enqueue: bool = True) -> FlowReplayRun:
    """A new pending run of the cluster's current imports on ``snapshot``."""
    cluster = snapshot.cluster
    imports = list(cluster.flow_imports.order_by("pk"))
    run = FlowReplayRun.objects.create(
        snapshot=snapshot,
        imports_key=imports_key(imports),
        window_days=replay_window(cluster),
        total=sum(i.conversations for i in imports),
    )
    if enqueue:
        from .tasks import run_flow_replay  # the task calls back into this module

        transaction.on_commit(lambda: run_flow_replay.delay(run.pk))
    return run


def flows_replay_run_execute(*, run_id: int) -> FlowReplayRun | None:
    """Compute one pending run; None when another worker has it (the claim failed)."""
    now = timezone.now()
    claimed = FlowReplayRun.objects.filter(pk=run_id, status=FlowReplayRun.Status.PENDING).update(
        status=FlowReplayRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        progress="loading the snapshot's model",
    )
    if not claimed:
        return None
    run = FlowReplayRun.objects.select_related("snapshot__cluster").get(pk=run_id)
    cluster = run.snapshot.cluster
    try:
        with _Heartbeat(run.pk) as heartbeat:
            model = storage.engine_model(run.snapshot)
            if imports_key(list(cluster.flow_imports.order_by("pk"))) != run.imports_key:
                raise ReplayRunError(
                    "the cluster's flow imports changed after this replay was asked for; "
                    "reload the Flows page to replay the current ones"
                )
            heartbeat.tell("reading and matching the flows")
            result = flows_replay(
                cluster=cluster,
                model=model,
                window_days=run.window_days,
                progress=heartbeat.count,
            )
            heartbeat.tell("storing the result")
        FlowReplayRun.objects.filter(pk=run.pk).update(
            status=FlowReplayRun.Status.COMPLETE,
            done=run.total,  # all, even when the model had this replay already
            result=None if result is None else bounded_replay(result),
            progress="done",
            finished_at=timezone.now(),
        )
    except Exception as exc:
        FlowReplayRun.objects.filter(pk=run.pk).update(
            status=FlowReplayRun.Status.FAILED,
            error=str(exc)
            if isinstance(exc, ReplayRunError)
            else f"{type(exc).__name__}: {exc}. Replay again; if it fails again, the worker's "
            "log has the details.",
            finished_at=timezone.now(),
        )
        logger.exception("flow replay #%s failed", run.pk)
        raise
    logger.info("flow replay #%s on snapshot #%s computed", run.pk, run.snapshot_id)
    run.refresh_from_db()
    return run


def flows_replay_run_fail_stale(*, run: FlowReplayRun) -> FlowReplayRun:
    """Fail ``run`` if it is running and its heartbeat stopped (the worker died)."""
    after = settings.FLOWS_REPLAY_STALE_AFTER
    cutoff = timezone.now() - timedelta(seconds=after)
    failed = FlowReplayRun.objects.filter(
        pk=run.pk, status=FlowReplayRun.Status.RUNNING, heartbeat_at__lt=cutoff
    ).update(
        status=FlowReplayRun.Status.FAILED,
        finished_at=timezone.now(),
        error=f"The worker stopped during this replay (no heartbeat for {after} s). Replay again.",
    )
    if failed:
        run.refresh_from_db()
    return run


class _Heartbeat:
    """Keeps a running run's heartbeat fresh from a thread, and writes its progress: the
    step, and how many conversations are done (written with the next beat, so counting
    costs the replay nothing)."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.interval = min(HEARTBEAT_EVERY, settings.FLOWS_REPLAY_STALE_AFTER / 4)
        self._progress = ""
        self._done: int | None = None  # None: nothing counted yet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"replay-{run_id}", daemon=True)

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

    def count(self, done: int, total: int) -> None:
        """Conversations done so far (``flows_replay``'s ``progress``)."""
        self._done = done
        if total and done >= total:
            self._progress = "judging the flows and finding the unused rules"

    def _write(self) -> None:
        fields = {"heartbeat_at": timezone.now(), "progress": self._progress[:200]}
        if self._done is not None:
            fields["done"] = self._done
        FlowReplayRun.objects.filter(pk=self.run_id, status=FlowReplayRun.Status.RUNNING).update(
            **fields
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self._write()
                except Exception as exc:  # a lost connection must not stop the beat
                    logger.warning("flow replay #%s: heartbeat not written (%s)", self.run_id, exc)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection
