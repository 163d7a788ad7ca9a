"""Beat's scheduler: django-celery-beat's, plus a heartbeat file a health check can read.

Beat has no port to probe and no reply to a ping; the file's age says whether its loop
still turns (it touches the file on every tick, at least every ``max_interval``).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler


def heartbeat_path() -> Path:
    return Path(settings.VAR_DIR) / "beat-heartbeat"


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        try:
            heartbeat_path().touch()
        except OSError:
            pass  # a read-only var/ must not stop scheduling; the health check will tell
        return super().tick(*args, **kwargs)
