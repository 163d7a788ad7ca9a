"""Objects or manifest paths into a ``ClusterModel``: the one loading path of the core.

Collectors yield ``(kind, object)`` pairs; ``load_objects`` keeps the last of each
duplicate, as a snapshot does, and passes every warning to ``warn``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .collect.kinds import KIND_TABLE
from .collect.manifests import ManifestCollector
from .engine import ClusterModel

Warn = Callable[[str], None]
Declared = Mapping[str, Iterable[str]] | Iterable[str]


def _ignore(message: str) -> None:
    pass


def load_objects(
    objects: Iterable[tuple[str, dict]], *, declared_cidrs: Declared = (), warn: Warn = _ignore
) -> ClusterModel:
    """The cluster ``(kind, object)`` pairs describe.

    ``declared_cidrs``: ``{"pod": [...], "service": [...], "node": [...]}`` or a flat list
    of the cluster's pod and service CIDRs (see ``ClusterModel.from_objects``).

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
    arguments: dict[str, list[dict]] = {}
    for kind, objs in found.items():  # kinds may share an argument
        arguments.setdefault(table[kind].argument, []).extend(objs.values())
    model = ClusterModel.from_objects(**arguments, declared_cidrs=declared_cidrs)
    for error in model.errors + model.tier_warnings:
        warn(str(error))
    return model


def load_paths(
    paths: Iterable[str | Path], *, declared_cidrs: Declared = (), warn: Warn = _ignore
) -> ClusterModel:
    """The cluster the manifests under ``paths`` describe (as ``kubectl apply -f`` reads
    them), with every warning passed to ``warn``.

    Raises ``CollectionError`` (a bad file: the message names the file, the document and
    the field) or ``InputError`` (an object the engine cannot read).
    """
    collector = ManifestCollector(paths)
    objects = list(collector.fetch())
    for message in collector.warnings:
        warn(message)
    return load_objects(objects, declared_cidrs=declared_cidrs, warn=warn)
