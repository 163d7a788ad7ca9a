"""The Celery app: configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("auditor")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app's ``tasks`` module, and those of the reports, what-if runs and flow replays.
app.autodiscover_tasks(["auditor", "auditor.reports", "auditor.whatif", "auditor.replay"])
