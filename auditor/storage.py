"""Records ↔ rows ↔ cluster model: how a snapshot's objects are stored and read back.

Collectors produce records (``netpol.collect.normalize``); ``write_records`` stores
them as rows of the snapshot; ``snapshot_objects`` turns the rows back into API-shaped
dicts; ``build_model`` gives the engine's model of a stored snapshot, and
``engine_model`` keeps the few most recently used ones.
"""

from __future__ import annotations

from dataclasses import fields

from netpol.cache import LRU
from netpol.collect.kinds import KIND_TABLE
from netpol.engine import ClusterModel

from .models import Namespace, NetworkPolicy, Node, Pod, Service, Snapshot

# The row model of each kind a snapshot stores.
MODEL_FOR_KIND = {
    "Namespace": Namespace,
    "Node": Node,
    "Pod": Pod,
    "NetworkPolicy": NetworkPolicy,
    "Service": Service,
}
assert set(MODEL_FOR_KIND) == set(KIND_TABLE), "every collected kind needs a row model"
WRITE_BATCH = 2000


def write_records(snapshot: Snapshot, records_by_kind: dict[str, dict]) -> dict[str, int]:
    """Store each kind's records as rows of ``snapshot``; returns the snapshot's count fields."""
    for kind, bucket in records_by_kind.items():
        model = MODEL_FOR_KIND[kind]
        names = [f.name for f in fields(next(iter(bucket.values())))] if bucket else []
        rows = [model(snapshot_id=snapshot.pk, **{n: getattr(r, n) for n in names}) for r in bucket.values()]
        model.objects.bulk_create(rows, batch_size=WRITE_BATCH)
    return {KIND_TABLE[kind].count_field: len(bucket) for kind, bucket in records_by_kind.items()}


def snapshot_objects(snapshot: Snapshot) -> dict[str, list[dict]]:
    """Every object of a snapshot as API-shaped dicts, keyed by kind."""
    result = {}
    for kind, info in KIND_TABLE.items():
        names = [f.name for f in fields(info.record)]
        rows = MODEL_FOR_KIND[kind].objects.filter(snapshot=snapshot).order_by("pk").values_list(*names)
        result[kind] = [info.record(*row).to_api() for row in rows.iterator(chunk_size=5000)]
    return result


def build_model(snapshot: Snapshot) -> ClusterModel:
    """The engine's model of a stored snapshot."""
    objects = snapshot_objects(snapshot)
    declared = snapshot.cluster.declared_cidrs
    return ClusterModel.from_objects(
        **{info.argument: objects[kind] for kind, info in KIND_TABLE.items()},
        declared_cidrs=declared,
    )


# Pages of one review keep asking about the same snapshot or two.
_models = LRU(3)


def engine_model(snapshot: Snapshot) -> ClusterModel:
    """The engine's model of a complete snapshot, built once per process and kept.

    Complete snapshots never change, so the snapshot is a safe key; the finish time is
    part of it because a database rebuilt from scratch reuses ids.
    """
    return _models.get((snapshot.pk, snapshot.finished_at), lambda: build_model(snapshot))


def forget_models() -> None:
    """Drop the kept models (tests that rebuild a snapshot under the same id, benchmarks)."""
    _models.clear()
