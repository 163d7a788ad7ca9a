"""Analysis of a complete snapshot: the one place later work adds coverage and findings.

``services.snapshot_collect`` enqueues ``tasks.analyze_snapshot`` when a snapshot
completes; that task calls ``analyze`` here.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def analyze(snapshot) -> None:
    logger.info("snapshot #%s of %s ready for analysis", snapshot.pk, snapshot.cluster.name)
