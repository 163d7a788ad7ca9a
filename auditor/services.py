"""Writes: registering schedules, requesting snapshots and collecting them.

1. ``snapshot_request`` creates a *pending* snapshot, unless one is already pending or
   running for the cluster (a partial unique index decides, so two triggers racing
   cannot both win), and enqueues its collection once the row is committed.
2. ``snapshot_collect`` moves it pending → running with a compare-and-set, so a
   redelivered task (``acks_late``) never runs the same snapshot twice at once.
3. Objects are collected into compact records first, then written with the switch to
   *complete* in one transaction: a crash anywhere leaves no partial snapshot.
4. The completed snapshot is analysed by ``snapshot_analyze`` (from a task): engine
   model → findings report (the pure ``netpol.findings``) → stored rows. A second call
   does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone

from netpol.collect.base import CollectionError, redact_urls
from netpol.collect.kinds import KIND_TABLE, KINDS
from netpol.collect.normalize import normalize
from netpol.collect.validate import as_name
from netpol.findings import audit

from . import history, storage
from .beat import beat_entry_sync
from .flows import unused_rules_in_window
from .models import Analysis, Cluster, Finding, Snapshot, Waiver
from .selectors import latest_snapshot

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds
WRITE_BATCH = 2000


# --- Schedules ----------------------------------------------------------------------


def cluster_sync_schedule(*, cluster: Cluster) -> None:
    """Create or update the cluster's beat entry so it matches the cluster's settings."""
    from django_celery_beat.models import IntervalSchedule

    interval, _ = IntervalSchedule.objects.get_or_create(
        every=cluster.snapshot_interval, period=IntervalSchedule.SECONDS
    )
    beat_entry_sync(
        cluster, name=f"snapshot cluster {cluster.name} (#{cluster.pk})", task="auditor.tasks.snapshot_cluster",
        args=[cluster.pk], kwargs={"trigger": "schedule"}, interval=interval, enabled=cluster.enabled,
        description=f"Scheduled snapshot of {cluster.name}; edit the interval on the cluster.", start_now=True,
    )


# --- Collectors ---------------------------------------------------------------------


def _manifests(cluster: Cluster):
    from netpol.collect.manifests import ManifestCollector

    path = Path(cluster.manifest_path)
    if not path.is_absolute():
        path = settings.BASE_DIR / path
    return ManifestCollector([path])


# The live ones import an HTTP client: loaded only for a cluster that needs one.
def _kubeconfig(cluster: Cluster):
    from netpol.collect.live import LiveCollector

    return LiveCollector.from_kubeconfig(
        cluster.kubeconfig_path, context=cluster.kubeconfig_context or None, **settings.LIVE_COLLECTOR_OPTIONS
    )


def _in_cluster(cluster: Cluster):
    from netpol.collect.live import LiveCollector

    return LiveCollector.from_in_cluster(**settings.LIVE_COLLECTOR_OPTIONS)


def _token(cluster: Cluster):
    from netpol.collect.live import LiveCollector

    try:
        token = cluster.get_token()
    except (OSError, ValueError) as exc:
        raise CollectionError(f"cluster {cluster.name}: cannot read its token: {exc}") from None
    return LiveCollector.from_token(
        cluster.api_url, token, ca_file=cluster.ca_file or None, verify_tls=cluster.verify_tls,
        **settings.LIVE_COLLECTOR_OPTIONS,
    )


# One factory per ``Cluster.Source``: a new source is a new entry here.
COLLECTORS = {
    Cluster.Source.MANIFESTS: _manifests,
    Cluster.Source.KUBECONFIG: _kubeconfig,
    Cluster.Source.IN_CLUSTER: _in_cluster,
    Cluster.Source.TOKEN: _token,
}


def collector_for(cluster: Cluster):
    """The collection backend a cluster's source names."""
    factory = COLLECTORS.get(cluster.source)
    if factory is None:
        raise CollectionError(f"cluster {cluster.name}: unknown source {cluster.source!r}")
    return factory(cluster)


# --- Snapshots ----------------------------------------------------------------------


def snapshot_fail_stale(*, cluster: Cluster) -> int:
    """Mark running snapshots whose worker stopped beating as failed; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.SNAPSHOT_STALE_AFTER)
    stale = Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.RUNNING, heartbeat_at__lt=cutoff)
    count = stale.update(
        status=Snapshot.Status.FAILED,
        finished_at=timezone.now(),
        error=(
            f"The worker stopped during collection (no heartbeat for {settings.SNAPSHOT_STALE_AFTER} s); "
            "nothing of this snapshot was kept. The next snapshot starts afresh."
        ),
    )
    # A pending snapshot whose task was lost (broker wiped) would block the cluster forever.
    count += Snapshot.objects.filter(
        cluster=cluster, status=Snapshot.Status.PENDING, created_at__lt=cutoff - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    ).update(status=Snapshot.Status.FAILED, finished_at=timezone.now(), error="The queued snapshot task never started; it was dropped.")
    if count:
        logger.warning("cluster %s: %d stale snapshot(s) marked failed", cluster.name, count)
    return count


def snapshot_request(*, cluster: Cluster, trigger: str = Snapshot.Trigger.SCHEDULE, enqueue: bool = True) -> Snapshot | None:
    """A new pending snapshot, or None when one is already pending or running."""
    snapshot_fail_stale(cluster=cluster)
    if enqueue:
        _analyse_if_missed(cluster)
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(cluster=cluster, trigger=trigger)
    except IntegrityError:
        active = Snapshot.objects.filter(cluster=cluster, status__in=Snapshot.ACTIVE).first()
        logger.info(
            "cluster %s: %s snapshot skipped, snapshot #%s is already %s",
            cluster.name, trigger, active.pk if active else "?", active.status if active else "active",
        )
        if enqueue and active is not None:
            _requeue_if_lost(active)
        return None
    if enqueue:
        from .tasks import run_snapshot

        transaction.on_commit(lambda: run_snapshot.delay(snapshot.pk))
    return snapshot


def _requeue_if_lost(snapshot: Snapshot) -> None:
    """Send the task of a snapshot pending for too long again: its message may have been
    lost (a broker restarted without persistence). The claim makes a duplicate harmless."""
    waited = (timezone.now() - snapshot.created_at).total_seconds()
    if snapshot.status != Snapshot.Status.PENDING or waited < settings.SNAPSHOT_REQUEUE_AFTER:
        return
    from .tasks import run_snapshot

    logger.warning(
        "cluster %s: snapshot #%s has waited %.0f s without starting; its task is sent again",
        snapshot.cluster.name, snapshot.pk, waited,
    )
    transaction.on_commit(lambda: run_snapshot.delay(snapshot.pk), robust=True)


def _analyse_if_missed(cluster: Cluster) -> None:
    """Send the analysis of the newest complete snapshot again when it never started: its
    message was lost (the broker was down as the snapshot completed), and without it the
    current snapshot would show no findings until the next one."""
    cutoff = timezone.now() - timedelta(seconds=settings.SNAPSHOT_REQUEUE_AFTER)
    latest = latest_snapshot(cluster)
    # An Analysis row exists from the moment one starts; a queued message may lag a little.
    if latest is None or latest.finished_at > cutoff or Analysis.objects.filter(snapshot=latest).exists():
        return
    from .tasks import analyze_snapshot

    logger.warning("cluster %s: snapshot #%s was never analysed; its analysis is sent again", cluster.name, latest.pk)
    transaction.on_commit(lambda: analyze_snapshot.delay(latest.pk), robust=True)


def _claim(snapshot_id: int) -> bool:
    """Pending → running, or take over a running snapshot whose worker died."""
    now = timezone.now()
    claim = {"status": Snapshot.Status.RUNNING, "started_at": now, "heartbeat_at": now,
             "worker": f"{socket.gethostname()}:{os.getpid()}", "progress": "starting"}
    if Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.PENDING).update(**claim):
        return True
    cutoff = now - timedelta(seconds=settings.SNAPSHOT_STALE_AFTER)
    return bool(
        Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.RUNNING, heartbeat_at__lt=cutoff).update(**claim)
    )


class _Records:
    """Collected records per kind, keyed by identity so a duplicate replaces, not doubles."""

    def __init__(self):
        self.by_kind: dict[str, dict[tuple, object]] = {kind: {} for kind in KINDS}
        self.duplicates: dict[str, int] = {}

    def add(self, kind: str, record) -> None:
        key = (getattr(record, "namespace", ""), record.name)
        bucket = self.by_kind[kind]
        if key in bucket:
            self.duplicates[kind] = self.duplicates.get(kind, 0) + 1
        bucket[key] = record

    def restart(self, kind: str) -> None:
        self.by_kind[kind].clear()

    def counts(self) -> dict[str, int]:
        return {kind: len(bucket) for kind, bucket in self.by_kind.items()}


class _Heartbeat:
    """Refreshes a running snapshot's heartbeat from a thread while the worker lives.

    A blocked API call does not stop it; a killed worker does, which is how
    ``snapshot_fail_stale`` tells a slow snapshot from a dead one.
    """

    def __init__(self, snapshot_id: int):
        self.snapshot_id = snapshot_id
        self.progress = "starting"
        self.interval = min(HEARTBEAT_EVERY, settings.SNAPSHOT_STALE_AFTER / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{snapshot_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    Snapshot.objects.filter(pk=self.snapshot_id, status=Snapshot.Status.RUNNING).update(
                        heartbeat_at=timezone.now(), progress=self.progress[:200]
                    )
                except DB_CONNECTION_ERRORS as exc:
                    # A lost connection must not stop the beat: the snapshot would be taken
                    # for dead while it is still collecting. The next beat connects again.
                    logger.warning("snapshot #%s: heartbeat not written (%s); trying again", self.snapshot_id, exc)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection


# What a lost database connection raises (a restart, a failover, pg_terminate_backend).
DB_CONNECTION_ERRORS = (OperationalError, InterfaceError)


def _on_fresh_connection(write):
    """Run ``write``; if the connection turns out dead, once more on a new one, so that a
    failure is recorded at once instead of the snapshot staying running until it is stale."""
    try:
        return write()
    except DB_CONNECTION_ERRORS:
        connection.close()  # Django connects again on the next query
        return write()


def _collect_records(collector, heartbeat: _Heartbeat) -> _Records:
    records = _Records()
    received = 0
    for kind, obj in collector.fetch():
        if obj is None:
            records.restart(kind)
            continue
        try:
            records.add(kind, normalize(kind, obj))
        except CollectionError as exc:
            # normalize names the object itself, by its kind without the group
            if str(exc).startswith(KIND_TABLE[kind].kind):
                raise
            name = (obj.get("metadata") or {}).get("name", "?") if isinstance(obj, dict) else "?"
            raise CollectionError(f"{kind} {as_name(str(name))}: {exc}") from None
        received += 1
        heartbeat.progress = f"collecting: {received:,} objects received, now {kind}"
    heartbeat.progress = "writing"
    return records


def _write(snapshot: Snapshot, records: _Records, collector, warnings: list[str]) -> None:
    """Rows and the switch to complete in one transaction: all of it or none."""
    with transaction.atomic():
        counts = storage.write_records(snapshot, records.by_kind)
        digest = history.content_hash(records.by_kind, snapshot.cluster.declared_cidrs)
        updated = Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.RUNNING).update(
            status=Snapshot.Status.COMPLETE, finished_at=timezone.now(), progress="",
            server_version=collector.server_version or "", warnings=warnings, content_hash=digest, **counts,
        )
        if not updated:
            # Marked failed as stale meanwhile: this run's data must not appear.
            raise CollectionError("the snapshot was marked failed while it was being written")


def snapshot_collect(*, snapshot_id: int) -> Snapshot | None:
    """Collect and store one snapshot; None when another worker has it or it is done."""
    if not _claim(snapshot_id):
        logger.info("snapshot #%s is not pending (already taken or finished); nothing to do", snapshot_id)
        return None
    snapshot = Snapshot.objects.select_related("cluster").get(pk=snapshot_id)
    try:
        collector = collector_for(snapshot.cluster)
        with _Heartbeat(snapshot.pk) as heartbeat:
            records = _collect_records(collector, heartbeat)
        warnings = list(collector.warnings)
        warnings += [f"{n} duplicate {kind} object(s) in the input; the last of each was kept"
                     for kind, n in records.duplicates.items()]
        try:
            _write(snapshot, records, collector, warnings)
        except DB_CONNECTION_ERRORS as exc:
            # The write's transaction went with the connection (collection may have taken
            # minutes, or the database restarted); the records are still here: write them
            # once more on a new connection, unless the commit made it just before the loss.
            logger.warning("snapshot #%s: database connection lost during the write (%s); writing again",
                           snapshot.pk, exc)
            connection.close()
            if not Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.COMPLETE).exists():
                _write(snapshot, records, collector, warnings)
    except Exception as exc:
        # Redacted again: an internal error may quote a URL with its password.
        if isinstance(exc, CollectionError):
            message = str(exc)
        elif isinstance(exc, DB_CONNECTION_ERRORS):
            message = (f"The database connection was lost while the snapshot was written ({exc}); "
                       "nothing of this snapshot was kept. The next snapshot starts afresh.")
        else:
            message = f"internal error: {type(exc).__name__}: {exc}"
        message = redact_urls(message)
        _on_fresh_connection(lambda: Snapshot.objects.filter(pk=snapshot.pk).update(
            status=Snapshot.Status.FAILED, finished_at=timezone.now(), progress="", error=message
        ))
        logger.error("snapshot #%s of %s failed: %s", snapshot.pk, snapshot.cluster.name, message)
        raise
    from .tasks import analyze_snapshot

    try:
        history.prune(snapshot.cluster)
    except DatabaseError:  # retention can wait for the next snapshot; this one is stored
        logger.exception("snapshot #%s: retention of older snapshots failed", snapshot.pk)
    # robust: a broker hiccup here must not turn a complete snapshot into a failed one.
    transaction.on_commit(lambda: analyze_snapshot.delay(snapshot.pk), robust=True)
    snapshot.refresh_from_db()
    logger.info(
        "snapshot #%s of %s complete: %d namespaces, %d pods, %d policies",
        snapshot.pk, snapshot.cluster.name, snapshot.namespace_count, snapshot.pod_count, snapshot.policy_count,
    )
    return snapshot


def snapshot_analyze(*, snapshot: Snapshot, again: bool = False) -> Analysis:
    """Compute and store the snapshot's findings; a second call does nothing unless
    ``again`` (what it reads besides the snapshot changed: the imported flows, NP048)."""

    analysis, _ = Analysis.objects.get_or_create(snapshot=snapshot)
    if analysis.status == Analysis.Status.COMPLETE and not again:
        return analysis
    try:
        model = storage.build_model(snapshot)
        cluster = snapshot.cluster
        report = audit(
            model,
            crown_jewels=cluster.crown_jewels,
            # NP048 once the imported flows cover the cluster's unused-rule window.
            unused_rules=unused_rules_in_window(cluster=cluster, model=model),
            unused_window_days=cluster.unused_rule_window,
        )
        storage.save_model(snapshot, model)  # the first page after a restart loads it
        data = report.to_dict()
        findings = data.pop("findings")
        counts: dict[str, int] = {}
        for finding in findings:
            counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
        with transaction.atomic():
            # A retried analysis replaces what an interrupted one may have left.
            Finding.objects.filter(snapshot=snapshot).delete()
            Finding.objects.bulk_create(
                [
                    Finding(
                        snapshot=snapshot,
                        rule=f["rule"],
                        severity=f["severity"],
                        title=f["title"],
                        message=f["message"],
                        namespace=f.get("namespace") or "",
                        object_refs=f["objects"],
                        evidence=f.get("evidence") or {},
                        snippet=f.get("snippet") or "",
                        warnings=f.get("warnings") or [],
                        fingerprint=f["fingerprint"],
                        workloads=f.get("workloads") or [],
                        aliases=f.get("aliases") or [],
                    )
                    for f in findings
                ],
                batch_size=2000,
            )
            Analysis.objects.filter(pk=analysis.pk).update(
                status=Analysis.Status.COMPLETE, finished_at=timezone.now(), error="",
                score=_score_value(data.get("score")), report=data, finding_counts=counts,
            )
    except Exception as exc:
        Analysis.objects.filter(pk=analysis.pk).update(
            status=Analysis.Status.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"
        )
        logger.exception("analysis of snapshot #%s failed", snapshot.pk)
        raise
    analysis.refresh_from_db()
    logger.info(
        "snapshot #%s of %s analysed: %d findings, score %s",
        snapshot.pk, snapshot.cluster.name, sum(counts.values()), analysis.score,
    )
    return analysis


def snapshot_analyze_again(*, snapshot: Snapshot) -> None:
    """Queue the analysis of an analysed snapshot once more (its cluster's imported flows
    changed, and with them NP048); its findings stay shown until the new ones replace them."""
    from .tasks import analyze_snapshot

    transaction.on_commit(lambda: analyze_snapshot.delay(snapshot.pk, again=True), robust=True)


def _score_value(score: dict) -> float | None:
    value = (score or {}).get("cluster")
    return float(value) if value is not None else None


# --- Waivers ------------------------------------------------------------------------

MAX_WAIVER_DAYS = 365


def _waiver_reason(reason: str, expires_at) -> str:
    """The reason, stripped; ``ValidationError`` naming the field when a waiver may not be made."""
    from django.core.exceptions import ValidationError

    reason = (reason or "").strip()
    now = timezone.now()
    errors = {}
    if len(reason) < 5:
        errors["reason"] = "Say why this finding is accepted (at least a few words)."
    if expires_at is None or expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > now + timedelta(days=MAX_WAIVER_DAYS):
        errors["expires_at"] = f"A waiver lasts at most {MAX_WAIVER_DAYS} days; renew it when it lapses."
    if errors:
        raise ValidationError(errors)
    return reason


def _waiver_of(finding, *, cluster, author, reason: str, expires_at) -> Waiver:
    objects = ", ".join(finding.object_refs[:3]) + (" …" if len(finding.object_refs) > 3 else "")
    return Waiver(
        cluster=cluster, fingerprint=finding.fingerprint, rule=finding.rule,
        summary=f"{finding.title}: {objects}"[:300], reason=reason, author=author, expires_at=expires_at,
    )


def waiver_create(*, finding, author, reason: str, expires_at) -> Waiver:
    """Accept a finding until ``expires_at``; the waiver follows its fingerprint."""
    reason = _waiver_reason(reason, expires_at)
    waiver = _waiver_of(finding, cluster=finding.snapshot.cluster, author=author, reason=reason, expires_at=expires_at)
    waiver.save()
    return waiver


def waiver_create_many(*, cluster: Cluster, findings, author, reason: str, expires_at) -> list[Waiver]:
    """Accept several findings at once (a group of the findings list): one waiver per
    fingerprint, each with the same reason, expiry and author, so each follows its own
    finding into later snapshots and can be revoked alone."""
    reason = _waiver_reason(reason, expires_at)
    waivers = {
        f.fingerprint: _waiver_of(f, cluster=cluster, author=author, reason=reason, expires_at=expires_at)
        for f in findings
    }
    return Waiver.objects.bulk_create(list(waivers.values()), batch_size=1000)


def waiver_revoke(*, waiver: Waiver) -> None:
    Waiver.objects.filter(pk=waiver.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
