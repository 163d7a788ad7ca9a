"""Run web, worker and beat together in the foreground (the quick start's main job)."""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

from config.env import env_str


def stack_commands(bind: str) -> dict[str, list[str]]:
    """The same commands docker-compose.yml runs, one per service."""
    bin_dir = os.path.dirname(sys.executable)
    return {
        "web": [os.path.join(bin_dir, "gunicorn"), "config.wsgi", "--bind", bind, "--workers", "2", "--timeout", "120",
                "--access-logfile", "-"],
        "worker": [os.path.join(bin_dir, "celery"), "-A", "config", "worker", "--loglevel", "INFO",
                   "--concurrency", "2"],
        "beat": [os.path.join(bin_dir, "celery"), "-A", "config", "beat", "--loglevel", "INFO"],
    }


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=env_str("BIND", "127.0.0.1:8000"))

    def handle(self, *args, bind, **options):
        processes = {name: subprocess.Popen(cmd) for name, cmd in stack_commands(bind).items()}
        host, _, port = bind.rpartition(":")
        shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "") else host
        self.stdout.write(self.style.SUCCESS(f"Netpol Auditor is starting at http://{shown}:{port}/  (Ctrl-C stops it)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the others")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 15
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
