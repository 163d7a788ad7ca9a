"""Analysis of a complete snapshot: engine model → findings report → stored rows.

``services.snapshot_collect`` enqueues ``tasks.analyze_snapshot`` when a snapshot
completes; that task calls ``analyze`` here. The findings code itself is the pure
``auditor.findings`` package, the same one ``netaudit audit`` runs on files.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from .models import Analysis, Finding, Snapshot
from .selectors import snapshot_objects

logger = logging.getLogger(__name__)


def build_model(snapshot: Snapshot):
    """The engine's model of a stored snapshot."""
    from .engine import ClusterModel

    objects = snapshot_objects(snapshot)
    declared = snapshot.cluster.declared_cidrs
    return ClusterModel.from_objects(
        namespaces=objects["Namespace"],
        pods=objects["Pod"],
        nodes=objects["Node"],
        policies=objects["NetworkPolicy"],
        services=objects["Service"],
        declared_cidrs=declared["pod"] + declared["service"] + declared["node"],
    )


def analyze(snapshot: Snapshot) -> Analysis:
    """Compute and store the snapshot's findings; a second call does nothing."""
    from .findings import audit

    analysis, _ = Analysis.objects.get_or_create(snapshot=snapshot)
    if analysis.status == Analysis.Status.COMPLETE:
        return analysis
    try:
        report = audit(build_model(snapshot))
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


def _score_value(score: dict) -> float | None:
    value = (score or {}).get("cluster")
    return float(value) if value is not None else None
