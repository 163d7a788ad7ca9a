"""Run web, worker and beat together in the foreground (the quick start's main job).

A process that dies is started again, and the log says so; one that keeps dying (more
than ``MAX_RESTARTS`` times within ``RESTART_WINDOW`` seconds) stops everything with a
non-zero exit, never leaving a half-running stack behind.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from config.env import env_str

MAX_RESTARTS = 5
RESTART_WINDOW = 300.0  # seconds
READY_TIMEOUT = 30.0  # seconds for the web server to accept connections


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


def _address(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not port.isdigit():
        raise CommandError(f"--bind {bind!r}: give host:port, for example 127.0.0.1:8000")
    return host.strip("[]") or "0.0.0.0", int(port)


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1" if host in ("0.0.0.0", "::") else host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=env_str("BIND", "127.0.0.1:8000"))

    def handle(self, *args, bind, **options):
        host, port = _address(bind)
        if not _port_free(host, port):
            raise CommandError(
                f"{host}:{port} is already in use (another Netpol Auditor?): stop what holds it, "
                "or choose another address with --bind or BIND"
            )
        # The web server and the worker derive SITE_URL (report links) from BIND, so
        # they learn an address given by --bind too.
        os.environ["BIND"] = bind
        commands = stack_commands(bind)
        processes = {name: self._start(name, cmd) for name, cmd in commands.items()}
        restarts: dict[str, list[float]] = {name: [] for name in commands}
        stopping = False
        failure = None

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::", "::1") else host
        announced = False
        started = time.monotonic()
        try:
            while not stopping:
                if not announced and _accepting(host, port):
                    announced = True
                    self.stdout.write(self.style.SUCCESS(
                        f"Netpol Auditor is running at http://{shown}:{port}/  (Ctrl-C stops it)"))
                elif not announced and time.monotonic() - started > READY_TIMEOUT:
                    failure = f"the web server did not accept connections on {host}:{port} within {READY_TIMEOUT:g} s"
                    break
                for name, process in processes.items():
                    if process.poll() is None:
                        continue
                    now = time.monotonic()
                    recent = [t for t in restarts[name] if now - t < RESTART_WINDOW] + [now]
                    restarts[name] = recent
                    if len(recent) > MAX_RESTARTS:
                        failure = (f"{name} exited {len(recent)} times within {RESTART_WINDOW:g} s "
                                   f"(last exit code {process.returncode}); see its log above")
                        break
                    self.stderr.write(self.style.WARNING(
                        f"{name} exited with code {process.returncode}; starting it again "
                        f"(restart {len(recent)} of at most {MAX_RESTARTS} in {RESTART_WINDOW:g} s)"))
                    processes[name] = self._start(name, commands[name])
                if failure:
                    break
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
        if failure:
            raise CommandError(f"stopped web, worker and beat: {failure}")

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(command)
        self.stdout.write(f"{name} started (pid {process.pid})")
        return process
