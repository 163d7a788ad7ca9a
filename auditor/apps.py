from django.apps import AppConfig


class AuditorConfig(AppConfig):
    name = "auditor"
    verbose_name = "Netpol Auditor"

    def ready(self):
        # Beat entries follow clusters and report schedules, whoever saves them.
        from . import signals  # noqa: F401
        from .reports import signals as report_signals  # noqa: F401

