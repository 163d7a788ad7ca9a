from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auditor", "0008_finding_workloads_aliases"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshot",
            name="content_hash",
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
    ]
