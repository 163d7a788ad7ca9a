"""Errors stored before URL credentials were redacted may quote ``user:password@``."""

from django.db import migrations

from netpol.collect.base import redact_urls


def forwards(apps, schema_editor):
    Snapshot = apps.get_model("auditor", "Snapshot")
    for snapshot in Snapshot.objects.filter(error__contains="@").only("pk", "error").iterator():
        redacted = redact_urls(snapshot.error)
        if redacted != snapshot.error:
            Snapshot.objects.filter(pk=snapshot.pk).update(error=redacted)


class Migration(migrations.Migration):
    dependencies = [("auditor", "0005_report_tasks_moved")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
