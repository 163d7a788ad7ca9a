"""Flow replays in a worker: no page over a large snapshot's flows holds a request.

The what-if pattern (``auditor.whatif``), for every question asked of a cluster's
imported flows (``FlowReplayRun.kind``): the Flows page's replay (``replay``), the
suggestion page's least-privilege policies (``suggest``, params ``namespace`` and
``workload``), the what-if page's would-deny flows (``whatif``, params ``yaml`` and
``remove``). One run row, one claim, one heartbeat, one stale rule for all three:

1. ``flows_replay_run_for`` finds the run of this snapshot, these imports, this
   unused-rule window, this kind and these params, or stores a *pending*
   ``FlowReplayRun`` and enqueues ``auditor.replay.tasks.run_flow_replay`` once the row
   is committed.
2. ``flows_replay_run_execute`` (from the task) moves it pending → running with a
   compare-and-set, loads the snapshot's engine model, replays the imports
   (``auditor.flows.flows_replay``) telling the row how many conversations are done
   while a thread keeps its heartbeat fresh, then does what the kind asks
   (``COMPUTE``), and stores the bounded result, or the error, failed.
3. ``flows_replay_run_fail_stale``: a running run whose heartbeat stopped lost its
   worker; it is failed with a message saying so, so the page stops waiting.

``replays_inline`` says which snapshots are replayed inside the request: those of at most
``settings.FLOWS_INLINE_MAX_PODS`` pods.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from pathlib import Path

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from auditor import storage
from auditor.flows import (
    FlowImportError,
    bounded_replay,
    flows_dir,
    flows_import,
    flows_replay,
    imports_key,
    suggestion_result,
    unused_window,
    whatif_replay,
)
from auditor.models import Analysis, FlowReplayRun, Snapshot
from auditor.runs import Heartbeat, run_claim, run_fail_if_stale
from auditor.selectors import latest_snapshot
from auditor.services import snapshot_analyze_again
from netpol.engine import InputError
from netpol.suggest import SuggestionError
from netpol.whatif import WhatIfInputError

logger = logging.getLogger(__name__)

Kind = FlowReplayRun.Kind


class ReplayRunError(Exception):
    """A replay that cannot be made as asked; the message says why and what to do."""


def replays_inline(snapshot: Snapshot) -> bool:
    """Small snapshots are replayed inside the request (well under a second)."""
    return snapshot.pod_count <= settings.FLOWS_INLINE_MAX_PODS


def replay_window(cluster) -> int:
    """The unused-rule window a replay applies: the cluster's, once the imports cover it."""
    window = unused_window(cluster)
    return window["days"] if window["applies"] else 0


def params_key(params: dict) -> str:
    """The run's question besides the flows, in 64 characters ("" for none)."""
    if not params:
        return ""
    return hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()


def flows_replay_run_for(
    *,
    snapshot: Snapshot,
    kind: str = Kind.REPLAY,
    params: dict | None = None,
    enqueue: bool = True,
) -> FlowReplayRun | None:
    """The run answering ``kind`` with ``params`` from the cluster's current imports on
    ``snapshot``: the latest one that did not fail, else the latest failed one (shown until
    it is asked for again), else a new pending one (its task sent once the row is
    committed); None when nothing was imported."""
    cluster = snapshot.cluster
    imports = list(cluster.flow_imports.order_by("pk"))
    if not imports:
        return None
    params = params or {}
    # A what-if's would-deny and a suggestion judge every flow: no unused-rule window.
    window = replay_window(cluster) if kind == Kind.REPLAY else 0
    runs = FlowReplayRun.objects.filter(
        snapshot=snapshot,
        kind=kind,
        params_key=params_key(params),
        imports_key=imports_key(imports),
        window_days=window,
    )
    run = runs.exclude(status=FlowReplayRun.Status.FAILED).first() or runs.first()
    if run is not None:
        return run
    return flows_replay_run_request(snapshot=snapshot, kind=kind, params=params, enqueue=enqueue)


def flows_replay_run_request(
    *,
    snapshot: Snapshot,
    kind: str = Kind.REPLAY,
    params: dict | None = None,
    enqueue: bool = True,
) -> FlowReplayRun:
    """A new pending run of ``kind`` on the cluster's current imports on ``snapshot``."""
    cluster = snapshot.cluster
    imports = list(cluster.flow_imports.order_by("pk"))
    params = params or {}
    run = FlowReplayRun.objects.create(
        snapshot=snapshot,
        kind=kind,
        params=params,
        params_key=params_key(params),
        imports_key=imports_key(imports),
        window_days=replay_window(cluster) if kind == Kind.REPLAY else 0,
        total=sum(i.conversations for i in imports),
    )
    if enqueue:
        from .tasks import run_flow_replay  # the task calls back into this module

        transaction.on_commit(lambda: run_flow_replay.delay(run.pk))
    return run


def _model(run, cluster, heartbeat):
    """The snapshot's engine model, once the run's imports are still the cluster's."""
    model = storage.engine_model(run.snapshot)
    if imports_key(list(cluster.flow_imports.order_by("pk"))) != run.imports_key:
        raise ReplayRunError(
            "the cluster's flow imports changed after this replay was asked for; "
            "reload the page to replay the current ones"
        )
    heartbeat.tell("reading and matching the flows")
    return model


def _replay(run, cluster, heartbeat) -> dict | None:
    model = _model(run, cluster, heartbeat)
    result = flows_replay(
        cluster=cluster, model=model, window_days=run.window_days, progress=heartbeat.count
    )
    return None if result is None else bounded_replay(result)


def _whatif(run, cluster, heartbeat) -> dict | None:
    model = _model(run, cluster, heartbeat)
    heartbeat.after_reading = "judging the allowed flows against the changed policies"
    return whatif_replay(
        cluster=cluster,
        model=model,
        text=run.params.get("yaml", ""),
        remove=run.params.get("remove", []),
        progress=heartbeat.count,
    )


def _suggest(run, cluster, heartbeat) -> dict | None:
    model = _model(run, cluster, heartbeat)
    replayed = flows_replay(cluster=cluster, model=model, progress=heartbeat.count)
    if replayed is None:
        return None
    heartbeat.tell("writing the policies and verifying them against every observed flow")
    return suggestion_result(
        model,
        replayed,
        namespace=run.params.get("namespace", ""),
        workload=run.params.get("workload", ""),
    )


def _import(run, cluster, heartbeat) -> dict:
    """An uploaded file imported (``auditor.flows.flows_import``), its bytes counted as
    they are read; the file, kept under ``VAR_DIR/flows`` for the worker, removed after."""
    path = flows_dir() / run.params["file"]
    heartbeat.tell("counting the flows")
    heartbeat.after_reading = "storing the conversations and matching them to the pods"
    applied_before = unused_window(cluster)["applies"]
    user = get_user_model().objects.filter(pk=run.params.get("user")).first()
    try:
        flow_import = flows_import(
            cluster=cluster,
            path=path,
            name=run.params["name"],
            user=user,
            progress=heartbeat.count,
        )
    finally:
        path.unlink(missing_ok=True)
    flows_changed(cluster=cluster, applied_before=applied_before)
    return import_summary(flow_import)


# What each kind computes: (run, cluster, heartbeat) → the result stored on the run.
COMPUTE = {
    Kind.REPLAY: _replay,
    Kind.WHATIF: _whatif,
    Kind.SUGGEST: _suggest,
    Kind.IMPORT: _import,
}


def import_summary(flow_import) -> dict:
    """What the Flows page says of a finished import."""
    text = (
        f"Imported {flow_import.flows:,} flows ({flow_import.conversations:,} distinct) "
        f"from {flow_import.name}."
    )
    if flow_import.malformed:
        text += f" {flow_import.malformed:,} malformed lines skipped."
    return {"import": flow_import.pk, "name": flow_import.name, "text": text}


def flows_import_run_request(
    *, snapshot: Snapshot, upload, user=None, enqueue: bool = True
) -> FlowReplayRun:
    """A pending import of ``upload`` (a Django upload, already on disk when large) for
    ``snapshot``'s cluster, by a worker that tells how many bytes it read; the file is
    moved under ``VAR_DIR/flows/incoming`` where the worker reads it."""
    name = os.path.basename(upload.name or "flows")
    incoming = flows_dir() / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    # The suffix keeps ".csv" and ".gz", which say how the file is read.
    stored = f"{uuid.uuid4().hex}{''.join(Path(name).suffixes[-2:])}"
    if hasattr(upload, "temporary_file_path"):
        shutil.move(upload.temporary_file_path(), incoming / stored)
    else:
        with open(incoming / stored, "wb") as f:
            for chunk in upload.chunks():
                f.write(chunk)
    params = {
        "file": f"incoming/{stored}",
        "name": name,
        "user": user.pk if user is not None and user.is_authenticated else None,
    }
    run = FlowReplayRun.objects.create(
        snapshot=snapshot,
        kind=Kind.IMPORT,
        params=params,
        params_key=params_key(params),
        imports_key="",
        total=(incoming / stored).stat().st_size,
    )
    if enqueue:
        from .tasks import run_flow_replay  # the task calls back into this module

        transaction.on_commit(lambda: run_flow_replay.delay(run.pk))
    return run


def flows_changed(*, cluster, applied_before: bool) -> Snapshot | None:
    """After an import or a removal: queue the analysis of the current snapshot again
    when its unused-rule findings (NP048) may change (the window applied before, or
    applies now), so they do not wait for the next snapshot. The snapshot, or None."""
    snapshot = latest_snapshot(cluster)
    if snapshot is None or not (applied_before or unused_window(cluster)["applies"]):
        return None
    if not Analysis.objects.filter(snapshot=snapshot, status=Analysis.Status.COMPLETE).exists():
        return None  # its first analysis is still to come, and reads the flows as they are
    snapshot_analyze_again(snapshot=snapshot)
    return snapshot


def reanalysing(snapshot: Snapshot, imports: list) -> bool:
    """Whether ``snapshot``'s analysis predates the newest import while the window applies:
    the analysis queued by ``flows_changed`` is still to finish."""
    if not imports or latest_snapshot(snapshot.cluster) != snapshot:
        return False
    if not unused_window(snapshot.cluster, imports)["applies"]:
        return False
    analysis = Analysis.objects.filter(snapshot=snapshot).first()
    newest = max(i.imported_at for i in imports)
    return analysis is not None and (
        analysis.status != Analysis.Status.COMPLETE or analysis.finished_at < newest
    )


def run_error(exc: Exception) -> str:
    """A failed run's error as its page shows it: what went wrong and what to do."""
    if isinstance(exc, (ReplayRunError, InputError, WhatIfInputError, FlowImportError)):
        return str(exc)
    if isinstance(exc, SuggestionError):  # never show an unverified suggestion
        return f"No suggestion shown: {exc}. This is a bug; please report it."
    return (
        f"{type(exc).__name__}: {exc}. Replay again; if it fails again, the worker's "
        "log has the details."
    )


def flows_replay_run_execute(*, run_id: int) -> FlowReplayRun | None:
    """Compute one pending run; None when another worker has it (the claim failed)."""
    if not run_claim(FlowReplayRun, run_id):
        return None
    run = FlowReplayRun.objects.select_related("snapshot__cluster").get(pk=run_id)
    cluster = run.snapshot.cluster
    try:
        with _Heartbeat(run.pk) as heartbeat:
            result = COMPUTE[run.kind](run, cluster, heartbeat)
            heartbeat.tell("storing the result")
        FlowReplayRun.objects.filter(pk=run.pk).update(
            status=FlowReplayRun.Status.COMPLETE,
            done=run.total,  # all, even when the model had this replay already
            result=result,
            progress="done",
            finished_at=timezone.now(),
        )
    except Exception as exc:
        FlowReplayRun.objects.filter(pk=run.pk).update(
            status=FlowReplayRun.Status.FAILED, error=run_error(exc), finished_at=timezone.now()
        )
        logger.exception("%s failed", run)
        raise
    logger.info("%s computed", run)
    run.refresh_from_db()
    return run


def flows_replay_run_fail_stale(*, run: FlowReplayRun) -> FlowReplayRun:
    """Fail ``run`` if it is running and its heartbeat stopped (the worker died)."""
    after = settings.FLOWS_REPLAY_STALE_AFTER
    if run.kind == Kind.IMPORT:
        # Its upload cannot be read again: the copy the worker was reading goes too.
        error = (
            f"The worker stopped during this import (no heartbeat for {after} s). "
            "Import the file again."
        )
    else:
        error = f"The worker stopped during this replay (no heartbeat for {after} s). Replay again."
    if run_fail_if_stale(run, stale_after=after, error=error):
        if run.kind == Kind.IMPORT:
            (flows_dir() / run.params["file"]).unlink(missing_ok=True)
    return run


class _Heartbeat(Heartbeat):
    """A run's heartbeat that also writes how many conversations are done (with the next
    beat, so counting costs the replay nothing)."""

    def __init__(self, run_id: int):
        super().__init__(
            FlowReplayRun, run_id, stale_after=settings.FLOWS_REPLAY_STALE_AFTER, name="replay"
        )
        self._done: int | None = None  # None: nothing counted yet
        # The step once every conversation is read and matched (the kind may say another).
        self.after_reading = "judging the flows and finding the unused rules"

    def count(self, done: int, total: int) -> None:
        """Conversations done so far (``flows_replay``'s ``progress``)."""
        self._done = done
        if total and done >= total:
            self._progress = self.after_reading

    def fields(self) -> dict:
        return {} if self._done is None else {"done": self._done}
