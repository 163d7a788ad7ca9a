from django.apps import AppConfig


class AuditorConfig(AppConfig):
    name = "auditor"
    verbose_name = "Netpol Auditor"

    def ready(self):
        from . import signals  # noqa: F401  (keeps each cluster's beat schedule in step)
