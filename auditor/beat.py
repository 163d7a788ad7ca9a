"""Beat entries that follow the rows they schedule (clusters, report schedules).

One sync for every owner: the owner row keeps a ``periodic_task`` link, the entry is
created on first save, updated on every later one, and deleted with the owner.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.utils import timezone


def beat_entry_sync(owner, *, name: str, task: str, args: list, kwargs: dict | None = None,
                    interval=None, crontab=None, enabled: bool, description: str,
                    start_now: bool = False) -> None:
    """Create or update ``owner.periodic_task`` so it runs ``task(*args)`` on the schedule.

    ``start_now`` makes beat run a new entry at once, then on schedule (a start time in
    the past does that); otherwise it first runs at its next scheduled time.
    """
    from django_celery_beat.models import PeriodicTask

    entry = owner.periodic_task
    if entry is None:
        entry = PeriodicTask(name=name, task=task, start_time=timezone.now() if start_now else None)
    entry.task = task
    entry.interval = interval
    entry.crontab = crontab
    entry.args = "[" + ", ".join(str(a) for a in args) + "]"
    entry.kwargs = _json(kwargs or {})
    entry.enabled = enabled
    entry.description = description
    entry.save()
    if owner.periodic_task_id != entry.pk:
        type(owner).objects.filter(pk=owner.pk).update(periodic_task=entry)
        owner.periodic_task = entry


def beat_entry_drop(owner) -> None:
    if owner.periodic_task_id:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=owner.periodic_task_id).delete()


def follow(model, sync) -> None:
    """Keep the beat entry of every ``model`` row in step, whoever saves or deletes it:
    ``sync(row)`` after a save (not while fixtures load), the entry dropped with the row
    (also when a cascade takes it)."""

    def saved(sender, instance, raw=False, **kwargs):
        if not raw:
            sync(instance)

    def deleted(sender, instance, **kwargs):
        beat_entry_drop(instance)

    label = model._meta.label
    post_save.connect(saved, sender=model, weak=False, dispatch_uid=f"beat-sync-{label}")
    post_delete.connect(deleted, sender=model, weak=False, dispatch_uid=f"beat-drop-{label}")


def _json(value: dict) -> str:
    import json

    return json.dumps(value)
