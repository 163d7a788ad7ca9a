from django.core.management.base import BaseCommand, CommandError

from auditor import services
from auditor.models import Cluster, Snapshot


class Command(BaseCommand):
    help = "Snapshot one cluster now. Runs here and waits, or with --queue hands it to a worker."

    def add_arguments(self, parser):
        parser.add_argument("cluster", help="The cluster's name.")
        parser.add_argument("--queue", action="store_true", help="Queue it for a Celery worker instead.")

    def handle(self, *args, cluster, queue, **options):
        try:
            target = Cluster.objects.get(name=cluster)
        except Cluster.DoesNotExist:
            names = ", ".join(Cluster.objects.values_list("name", flat=True)) or "none registered"
            raise CommandError(f"no cluster named {cluster!r} (clusters: {names})") from None
        snapshot = services.snapshot_request(cluster=target, trigger=Snapshot.Trigger.COMMAND, enqueue=queue)
        if snapshot is None:
            raise CommandError(f"{cluster}: a snapshot is already pending or running; skipped")
        if queue:
            self.stdout.write(f"snapshot #{snapshot.pk} of {cluster} queued")
            return
        try:
            services.snapshot_collect(snapshot_id=snapshot.pk)
        except Exception as exc:
            raise CommandError(f"snapshot #{snapshot.pk} of {cluster} failed: {exc}") from None
        snapshot.refresh_from_db()
        self.stdout.write(
            f"snapshot #{snapshot.pk} of {cluster} complete: {snapshot.namespace_count} namespaces, "
            f"{snapshot.pod_count} pods, {snapshot.policy_count} policies, {snapshot.node_count} nodes"
        )
        for warning in snapshot.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
