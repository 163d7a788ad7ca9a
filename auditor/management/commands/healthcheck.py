"""``manage.py healthcheck web|worker|beat``: exit 0 when that process is alive and working.

For container health checks (docker-compose.yml, the in-cluster manifests): the web
server answers its login page, the worker on this host answers a Celery ping, and beat's
scheduler touched its heartbeat file recently.
"""

import socket
import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand, CommandError

BEAT_STALE_AFTER = 60.0  # seconds; beat ticks at least every 5


class Command(BaseCommand):
    help = "Exit 0 when the web server, this host's worker, or beat is alive."

    def add_arguments(self, parser):
        parser.add_argument("process", choices=["web", "worker", "beat"])
        parser.add_argument("--url", default="http://127.0.0.1:8000/accounts/login/", help="web: the page to fetch")
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument("--name", default=None, help="worker: its node name (default celery@<this host>)")

    def handle(self, *args, process, url, timeout, name, **options):
        check = {"web": self._web, "worker": self._worker, "beat": self._beat}[process]
        self.stdout.write(f"{process}: {check(url=url, timeout=timeout, name=name)}")

    def _web(self, *, url, timeout, name):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return f"{url} answered {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"web: {url} did not answer: {exc}") from None

    def _worker(self, *, url, timeout, name):
        from config.celery import app

        name = name or f"celery@{socket.gethostname()}"
        replies = app.control.inspect(destination=[name], timeout=timeout).ping() or {}
        if name not in replies:
            raise CommandError(f"worker: {name} did not answer a ping within {timeout:g} s")
        return f"{name} answered a ping"

    def _beat(self, *, url, timeout, name):
        from auditor.scheduler import heartbeat_path

        path = heartbeat_path()
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            raise CommandError(f"beat: no heartbeat at {path} yet (is beat running with this NETPOL_VAR_DIR?)") from None
        if age > BEAT_STALE_AFTER:
            raise CommandError(f"beat: the last heartbeat is {age:.0f} s old (over {BEAT_STALE_AFTER:g} s)")
        return f"ticked {age:.0f} s ago"
