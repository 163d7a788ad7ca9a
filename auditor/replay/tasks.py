"""The flow replay task: loads a run by id and calls the service."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def run_flow_replay(run_id: int) -> None:
    """Replay one run's flows. Safe to deliver twice: the claim is a compare-and-set."""
    try:
        services.flows_replay_run_execute(run_id=run_id)
    except Exception:
        # Already recorded on the run as its failure; the task itself is done.
        logger.info("flow replay #%s ended failed; see its error text", run_id)
