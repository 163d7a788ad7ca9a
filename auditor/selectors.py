"""Reads: what is current, and a snapshot's objects in the API shape the engine reads."""

from __future__ import annotations

from dataclasses import fields

from .collection.normalize import RECORD_FOR_KIND
from .models import Cluster, Snapshot


def latest_snapshot(cluster: Cluster) -> Snapshot | None:
    """The current snapshot: the newest complete one. Failed or running never count."""
    return (
        Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.COMPLETE)
        .order_by("-finished_at", "-id")
        .first()
    )


def active_snapshot(cluster: Cluster) -> Snapshot | None:
    return Snapshot.objects.filter(cluster=cluster, status__in=Snapshot.ACTIVE).first()


def snapshot_objects(snapshot: Snapshot) -> dict[str, list[dict]]:
    """Every object of a snapshot as API-shaped dicts, keyed by kind."""
    from .services import MODEL_FOR_KIND

    result = {}
    for kind, record_type in RECORD_FOR_KIND.items():
        names = [f.name for f in fields(record_type)]
        rows = MODEL_FOR_KIND[kind].objects.filter(snapshot=snapshot).order_by("pk").values_list(*names)
        result[kind] = [record_type(*row).to_api() for row in rows.iterator(chunk_size=5000)]
    return result
