import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from auditor.flows import flows_import
from auditor.management.commands.import_flows import describe
from auditor.models import Cluster
from config.env import env_str

DEMO_FLOWS = Path(__file__).resolve().parents[2] / "demo_cluster" / "flows" / "hubble.jsonl"


class Command(BaseCommand):
    help = "Create the admin user (password from ADMIN_PASSWORD or generated) and register the demo clusters."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=env_str("ADMIN_USERNAME", "admin"))
        parser.add_argument(
            "--interval", type=int, default=120, help="Demo snapshot interval in seconds."
        )

    def handle(self, *args, username, interval, **options):
        self._admin(username)
        cluster = self._register("demo", "Bundled demo cluster", "auditor/demo_cluster", interval)
        self._flows(cluster)
        # A second, smaller cluster run by Cilium: its CiliumNetworkPolicies are enforced
        # there, where the Calico-run demo would only show them.
        self._register(
            "demo-cilium",
            "Bundled demo cluster run by Cilium",
            "auditor/demo_cluster_cilium",
            interval,
        )

    def _register(self, name: str, description: str, path: str, interval: int) -> Cluster:
        """One bundled cluster read from its manifests; an existing one is left as it is."""
        cluster, created = Cluster.objects.get_or_create(
            name=name,
            defaults={
                "description": f"{description} (manifests)",
                "source": Cluster.Source.MANIFESTS,
                "manifest_path": path,
                "snapshot_interval": interval,
            },
        )
        verb = "registered" if created else "already registered"
        self.stdout.write(f"{name} cluster {verb}: snapshots every {cluster.snapshot_interval} s")
        return cluster

    def _flows(self, cluster) -> None:
        """The demo's observed flows, so the Flows and what-if pages replay something."""
        if cluster.flow_imports.exists():
            return
        flow_import = flows_import(cluster=cluster, path=DEMO_FLOWS)
        self.stdout.write(f"demo flows imported: {describe(flow_import)}")

    def _admin(self, username: str) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"admin user {username!r} exists; its password is unchanged")
            return
        password = env_str("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        password_file = settings.VAR_DIR / "admin-password.txt"
        if not env_str("ADMIN_PASSWORD"):
            password_file.touch(mode=0o600)
            password_file.write_text(password + "\n")
            self.stdout.write(
                self.style.SUCCESS(
                    f"admin user created: {username} / {password}   (also saved in {password_file})"
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"admin user created: {username} (password from ADMIN_PASSWORD)")
            )
