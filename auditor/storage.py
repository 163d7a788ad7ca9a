"""Records ↔ rows ↔ cluster model: how a snapshot's objects are stored and read back.

Collectors produce records (``netpol.collect.normalize``); ``write_records`` stores
them as rows of the snapshot; ``snapshot_objects`` turns the rows back into API-shaped
dicts; ``build_model`` gives the engine's model of a stored snapshot, and
``engine_model`` keeps the few most recently used ones.

The analysis stores the model it built (``save_model``: the engine's compact stored
form, ``netpol.engine.model_to_bytes``, with its evaluation, allowed set and exposure,
signed with the secret key) in ``VAR_DIR/models``, so the first engine-backed page after
a restart loads it (18 MB and about 0.3 s at 50,000 pods) instead of reading every row
and building it again (3-4 s). A file that is missing, from other engine code or another
stored form, for other declared CIDRs, or whose signature does not verify is ignored and
the model is built.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import fields
from functools import cache
from pathlib import Path

from django.conf import settings

from netpol.cache import LRU
from netpol.collect.kinds import KIND_TABLE
from netpol.collect.normalize import (
    CalicoRecord,
    CiliumPolicyRecord,
    ClusterPolicyRecord,
    NamespaceRecord,
    NetworkPolicyRecord,
    NodeRecord,
    PodRecord,
    ServiceAccountRecord,
    ServiceRecord,
)
from netpol.enforcement import AUTO, notes, split
from netpol.engine import ClusterModel, model_from_bytes, model_to_bytes
from netpol.load import build

from .models import (
    ClusterPolicy,
    CniObject,
    Namespace,
    NetworkPolicy,
    Node,
    Pod,
    Service,
    ServiceAccount,
    Snapshot,
)

# The row model of each kind a snapshot stores (by ``KIND_TABLE`` key); a model with a
# ``kind`` column holds several kinds, and one with an ``api_version`` column too tells
# kinds of one name apart by group.
_ROW_MODELS = {
    NamespaceRecord: Namespace,
    NodeRecord: Node,
    PodRecord: Pod,
    NetworkPolicyRecord: NetworkPolicy,
    ServiceRecord: Service,
    ClusterPolicyRecord: ClusterPolicy,
    CiliumPolicyRecord: CniObject,
    CalicoRecord: CniObject,
    ServiceAccountRecord: ServiceAccount,
}
MODEL_FOR_KIND = {key: _ROW_MODELS[info.record] for key, info in KIND_TABLE.items()}
WRITE_BATCH = 2000
MODELS_KEPT_PER_CLUSTER = 2
_MAGIC = b"netpol-model 2\n"  # the stored form's version: 2 is ``model_to_bytes``

logger = logging.getLogger(__name__)


def write_records(snapshot: Snapshot, records_by_kind: dict[str, dict]) -> dict[str, int]:
    """Store each kind's records as rows of ``snapshot``; returns the snapshot's count fields."""
    for kind, bucket in records_by_kind.items():
        model = MODEL_FOR_KIND[kind]
        names = [f.name for f in fields(next(iter(bucket.values())))] if bucket else []
        rows = [
            model(snapshot_id=snapshot.pk, **{n: getattr(r, n) for n in names})
            for r in bucket.values()
        ]
        model.objects.bulk_create(rows, batch_size=WRITE_BATCH)
    counts: dict[str, int] = {}
    for kind, bucket in records_by_kind.items():  # kinds may share a count
        field = KIND_TABLE[kind].count_field
        counts[field] = counts.get(field, 0) + len(bucket)
    return counts


def snapshot_objects(snapshot: Snapshot) -> dict[str, list[dict]]:
    """Every object of a snapshot as API-shaped dicts, keyed by kind."""
    result = {}
    for kind, info in KIND_TABLE.items():
        names = [f.name for f in fields(info.record)]
        rows = MODEL_FOR_KIND[kind].objects.filter(snapshot=snapshot)
        if "kind" in names:
            rows = rows.filter(kind=info.kind)
        if "api_version" in names:
            rows = rows.filter(api_version__in=info.api_versions)
        rows = rows.order_by("pk").values_list(*names)
        result[kind] = [info.record(*row).to_api() for row in rows.iterator(chunk_size=5000)]
    return result


def build_model(snapshot: Snapshot) -> ClusterModel:
    """The engine's model of a stored snapshot: the kinds the network plugin found among
    its pods enforces are applied, the others kept on the model as ``unenforced``
    (``netpol/enforcement.py``)."""
    applied, unenforced, enforcement = split(snapshot_objects(snapshot), AUTO)
    for line in notes(enforcement, unenforced, applied):
        logger.info("snapshot #%s: %s", snapshot.pk, line)
    return build(applied, unenforced, enforcement, snapshot.cluster.declared_cidrs)


# Pages of one review keep asking about the same snapshot or two.
_models = LRU(3)


def engine_model(snapshot: Snapshot) -> ClusterModel:
    """The engine's model of a complete snapshot, built once per process and kept.

    Complete snapshots never change, so the snapshot is a safe key; the finish time is
    part of it because a database rebuilt from scratch reuses ids. The model the analysis
    stored is loaded when it can be, else the model is built from the rows.
    """
    return _models.get(
        (snapshot.pk, snapshot.finished_at), lambda: load_model(snapshot) or build_model(snapshot)
    )


@cache
def _engine_code() -> str:
    """A digest of the engine's source and of the table of kinds each plugin enforces: a
    model pickled by other code, or filtered by another table, is not loaded."""
    import netpol.enforcement
    import netpol.engine

    digest = hashlib.sha256()
    for path in sorted(Path(netpol.engine.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    digest.update(Path(netpol.enforcement.__file__).read_bytes())
    return digest.hexdigest()[:16]


def _model_path(snapshot: Snapshot) -> Path:
    declared = json.dumps(snapshot.cluster.declared_cidrs, sort_keys=True).encode()
    key = hashlib.sha256(declared + _engine_code().encode()).hexdigest()[:16]
    stamp = int(snapshot.finished_at.timestamp() * 1_000_000) if snapshot.finished_at else 0
    return (
        Path(settings.VAR_DIR)
        / "models"
        / f"{snapshot.cluster_id}-{snapshot.pk}-{stamp}-{key}.model"
    )


def _signature(body: bytes) -> bytes:
    """Keyed BLAKE2b: a MAC, three times faster than HMAC-SHA256 (0.05 s on 18 MB here)."""
    key = hashlib.sha256(b"stored-model:" + settings.SECRET_KEY.encode()).digest()
    return hashlib.blake2b(body, key=key, digest_size=32).digest()


def save_model(snapshot: Snapshot, model: ClusterModel) -> Path | None:
    """Store ``model`` for ``snapshot`` (written whole, then renamed) and drop the cluster's
    older stored models; None when it cannot be written (the pages then build it)."""
    path = _model_path(snapshot)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # What the engine pages ask for is computed now, once, not in a page's request
        # (the findings need only part of the exposure).
        model.allowed_connections()
        model.external_exposure()
        body = model_to_bytes(model)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(_MAGIC + _signature(body) + body)
        os.replace(temporary, path)
        stored = sorted(
            path.parent.glob(f"{snapshot.cluster_id}-*.model"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in stored[MODELS_KEPT_PER_CLUSTER:]:
            old.unlink(missing_ok=True)
    except Exception as exc:  # storing is an optimisation: it never fails the analysis
        logger.warning(
            "snapshot #%s: could not store its model (%s); pages will build it", snapshot.pk, exc
        )
        return None
    return path


def load_model(snapshot: Snapshot) -> ClusterModel | None:
    """The model the analysis stored for ``snapshot``, or None (see the module doc)."""
    path = _model_path(snapshot)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, mac, body = (
        data[: len(_MAGIC)],
        data[len(_MAGIC) : len(_MAGIC) + 32],
        data[len(_MAGIC) + 32 :],
    )
    if head != _MAGIC or not hmac.compare_digest(mac, _signature(body)):
        logger.warning(
            "%s: not a model signed by this installation; building the model instead", path
        )
        return None
    try:
        return model_from_bytes(body)
    except Exception as exc:  # a stored model is an optimisation: any failure means build
        logger.warning("%s: cannot be loaded (%s); building the model instead", path, exc)
        return None


def forget_models() -> None:
    """Drop the kept models (tests that rebuild a snapshot under the same id, benchmarks)."""
    _models.clear()
