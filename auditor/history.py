"""Snapshot history: what makes two snapshots the same, and which ones retention keeps.

A snapshot's content hash covers every stored record (the fields the engine reads) and the
cluster's declared CIDRs, so two snapshots with the same hash give the same analysis. A
cluster snapshotted every few minutes mostly repeats itself: retention deletes the
repeats once they are older than ``SNAPSHOT_KEEP_UNCHANGED_DAYS``, and keeps the first
snapshot, the last, and every one that changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import Cluster, Snapshot

logger = logging.getLogger(__name__)


def content_hash(records_by_kind: dict[str, dict], declared_cidrs: dict[str, list[str]]) -> str:
    """sha256 of the records (by kind, then identity) and the declared CIDRs."""
    digest = hashlib.sha256()
    digest.update(json.dumps(declared_cidrs, sort_keys=True).encode())
    for kind in sorted(records_by_kind):
        bucket = records_by_kind[kind]
        digest.update(f"\0{kind}\0{len(bucket)}".encode())
        for key in sorted(bucket):
            record = bucket[key]
            row = [getattr(record, f.name) for f in dataclasses.fields(record)]
            digest.update(json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode())
    return digest.hexdigest()


def unchanged_ids(snapshots: list[Snapshot], before: Snapshot | None = None) -> set[int]:
    """Ids of the complete snapshots (newest first, as listed) whose content equals the
    previous complete one's; ``before`` is the complete snapshot just older than the list."""
    out = set()
    complete = [s for s in snapshots if s.status == Snapshot.Status.COMPLETE]
    if not complete:
        return out
    older = [*complete[1:], before]
    for snapshot, previous in zip(complete, older, strict=True):
        if previous is not None and snapshot.content_hash and snapshot.content_hash == previous.content_hash:
            out.add(snapshot.pk)
    return out


def prune(cluster: Cluster, *, now=None) -> int:
    """Delete this cluster's complete snapshots that repeat the one before them and are
    older than the retention window; never the first or the newest. Returns how many."""
    days = settings.SNAPSHOT_KEEP_UNCHANGED_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    rows = list(
        Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.COMPLETE)
        .order_by("finished_at", "pk")
        .values_list("pk", "finished_at", "content_hash")
    )
    doomed = []
    for i in range(1, len(rows) - 1):  # the first and the newest always stay
        pk, finished, digest = rows[i]
        if digest and digest == rows[i - 1][2] and finished < cutoff:
            doomed.append(pk)
    if doomed:
        Snapshot.objects.filter(pk__in=doomed).delete()
        logger.info("retention: deleted %d unchanged snapshot(s) of %s older than %d days",
                    len(doomed), cluster.name, days)
    return len(doomed)
