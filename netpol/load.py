"""Objects or manifest paths into a ``ClusterModel``: the one loading path of the core.

Collectors yield ``(kind, object)`` pairs; ``load_objects`` keeps the last of each
duplicate, as a snapshot does, gives the engine only the kinds the cluster's network
plugin enforces (``netpol/enforcement.py``; the others are kept on the model as
``unenforced``), and passes every warning to ``warn``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .collect.kinds import KIND_TABLE
from .collect.manifests import ManifestCollector
from .enforcement import AUTO, Enforcement, notes, split
from .engine import ClusterModel

Warn = Callable[[str], None]
Declared = Mapping[str, Iterable[str]] | Iterable[str]


def _ignore(message: str) -> None:
    pass


def load_objects(
    objects: Iterable[tuple[str, dict]],
    *,
    declared_cidrs: Declared = (),
    warn: Warn = _ignore,
    cni: str = AUTO,
    inform: Warn = _ignore,
) -> ClusterModel:
    """The cluster ``(kind, object)`` pairs describe.

    ``declared_cidrs``: ``{"pod": [...], "service": [...], "node": [...]}`` or a flat list
    of the cluster's pod and service CIDRs (see ``ClusterModel.from_objects``).

    ``cni``: the network plugin whose kinds are applied: ``auto`` (found among the pods),
    ``any`` (every kind) or a plugin of ``netpol.enforcement.PLUGIN_CHOICES``; each kind
    ignored, or applied on a condition, is said to ``inform``.

    Raises ``InputError`` for an object the engine cannot read. Invalid policy content
    is a warning, not an error: the engine gives it the narrowest meaning. A duplicate
    object replaces the earlier one.
    """
    table = KIND_TABLE
    found: dict[str, dict[tuple[str, str], dict]] = {kind: {} for kind in table}
    duplicates: dict[str, int] = {}
    for kind, obj in objects:
        metadata = obj["metadata"]
        # The API server puts a namespaced object without a namespace in "default".
        key = (metadata.get("namespace") or "default", metadata["name"])
        if key in found[kind]:
            duplicates[kind] = duplicates.get(kind, 0) + 1
        found[kind][key] = obj
    for kind, count in duplicates.items():
        warn(f"{count} duplicate {kind} object{'s' if count > 1 else ''}: the last of each is used")
    applied, unenforced, enforcement = split(
        {kind: list(objs.values()) for kind, objs in found.items()}, cni
    )
    model = build(applied, unenforced, enforcement, declared_cidrs)
    for line in notes(enforcement, unenforced, applied):
        inform(line)
    for error in model.errors + model.tier_warnings:
        warn(str(error))
    return model


def build(
    applied: Mapping[str, list],
    unenforced: list[dict],
    enforcement: Enforcement,
    declared_cidrs: Declared = (),
) -> ClusterModel:
    """The engine's model of the objects of each kind applied (by ``KIND_TABLE`` key),
    carrying the unenforced ones: the one place a model is made from a cluster's objects
    (manifests here, stored snapshots in ``auditor/storage.py``)."""
    arguments: dict[str, list] = {}
    for kind, objs in applied.items():  # kinds may share an argument
        arguments.setdefault(KIND_TABLE[kind].argument, []).extend(objs)
    model = ClusterModel.from_objects(**arguments, declared_cidrs=declared_cidrs)
    # Part of building it: nobody has the model yet (copy_with and pickling carry both).
    model.unenforced = unenforced
    model.enforcement = enforcement.to_dict(applied)
    return model


def load_paths(
    paths: Iterable[str | Path],
    *,
    declared_cidrs: Declared = (),
    warn: Warn = _ignore,
    cni: str = AUTO,
    inform: Warn = _ignore,
) -> ClusterModel:
    """The cluster the manifests under ``paths`` describe (as ``kubectl apply -f`` reads
    them), with every warning passed to ``warn``; ``cni`` and ``inform`` as for
    ``load_objects``.

    Raises ``CollectionError`` (a bad file: the message names the file, the document and
    the field) or ``InputError`` (an object the engine cannot read).
    """
    collector = ManifestCollector(paths)
    objects = list(collector.fetch())
    for message in collector.warnings:
        warn(message)
    return load_objects(objects, declared_cidrs=declared_cidrs, warn=warn, cni=cni, inform=inform)
