from django.core.management.base import BaseCommand, CommandError

from auditor.flows import FlowImportError, flows_import
from auditor.models import Cluster


def describe(flow_import) -> str:
    """One line about an import, as the command and setup_demo print it."""
    text = (
        f"{flow_import.name}: {flow_import.format}, {flow_import.lines:,} lines, "
        f"{flow_import.flows:,} flows in {flow_import.conversations:,} conversations"
    )
    if flow_import.matched is not None:
        text += f", {flow_import.matched:,} matched, {flow_import.unmatched:,} unmatched"
    if flow_import.malformed:
        text += f", {flow_import.malformed:,} malformed (first: {flow_import.examples[0]})"
    return text


def _progress(path: str, err):
    """Bytes read so far, on one line rewritten in place, when someone watches."""
    if not err.isatty():
        return None

    def show(done: int, total: int) -> None:
        share = f"{100 * done / total:.0f}%" if total else ""
        err.write(f"\r{path}: {share} ({done / 2**20:,.0f} MiB)", ending="")
        err.flush()

    return show


class Command(BaseCommand):
    help = (
        "Import observed flows for a cluster: Hubble ('hubble observe -o json'), Calico "
        "(Goldmane) or CSV files, one import each; the Flows page replays them."
    )

    def add_arguments(self, parser):
        parser.add_argument("cluster", help="The cluster's name.")
        parser.add_argument("files", nargs="+", metavar="FILE", help="Flow files (.gz too).")

    def handle(self, *args, cluster, files, **options):
        try:
            target = Cluster.objects.get(name=cluster)
        except Cluster.DoesNotExist:
            names = ", ".join(Cluster.objects.values_list("name", flat=True)) or "none registered"
            raise CommandError(f"no cluster named {cluster!r} (clusters: {names})") from None
        for path in files:
            try:
                flow_import = flows_import(
                    cluster=target, path=path, progress=_progress(path, self.stderr)
                )
            except FlowImportError as exc:
                raise CommandError(str(exc)) from None
            finally:
                if self.stderr.isatty():
                    self.stderr.write("")  # ends the progress line
            self.stdout.write(f"imported {describe(flow_import)}")
