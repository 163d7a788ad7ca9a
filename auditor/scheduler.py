"""Beat's scheduler: django-celery-beat's, plus a heartbeat file a health check can read,
and a publish that waits out a broker restart instead of dropping the tick.

Beat has no port to probe and no reply to a ping; the file's age says whether its loop
still turns (it touches the file on every tick, at least every ``max_interval``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

# Celery's default publish retry gives up after about 0.6 s, and beat has already moved
# the entry to its next run, so a tick that falls in a broker outage is lost until the
# next interval (15 minutes by default). Beat has nothing else to do meanwhile: it keeps
# trying for about two minutes (1, 2, 3, 4, 4 … s apart), then logs the tick as lost.
PUBLISH_RETRY_POLICY = {"max_retries": 30, "interval_start": 1, "interval_step": 1, "interval_max": 4}


def heartbeat_path() -> Path:
    return Path(settings.VAR_DIR) / "beat-heartbeat"


def _touch_heartbeat() -> None:
    try:
        heartbeat_path().touch()
    except OSError:
        pass  # a read-only var/ must not stop scheduling; the health check will tell


def _waiting_for_broker(exc, interval) -> None:
    # Still alive while it waits: the health check must not restart beat for this.
    _touch_heartbeat()
    logger.warning("beat: broker unreachable (%s); sending the due task again in %.0f s", exc, interval)


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        _touch_heartbeat()
        return super().tick(*args, **kwargs)

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        entry.options = {
            **entry.options, "retry": True,
            "retry_policy": {**PUBLISH_RETRY_POLICY, "errback": _waiting_for_broker},
        }
        return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
