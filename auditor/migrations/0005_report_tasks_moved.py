"""Report tasks moved from ``auditor.tasks`` to ``auditor.reports.tasks``: point beat there."""

from django.db import migrations

OLD, NEW = "auditor.tasks.run_report_schedule", "auditor.reports.tasks.run_report_schedule"


def forwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=OLD).update(task=NEW)


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=NEW).update(task=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("auditor", "0004_reports"),
        ("django_celery_beat", "0001_initial"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
