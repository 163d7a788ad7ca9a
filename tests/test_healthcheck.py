"""``manage.py healthcheck``, what the container health checks run."""

from __future__ import annotations

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from auditor.scheduler import heartbeat_path

ROOT = Path(__file__).resolve().parent.parent


def test_compose_checks_the_health_of_web_worker_and_beat():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "python", "manage.py", "healthcheck", name]
        assert services[name]["restart"] == "unless-stopped"


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_web_is_healthy_when_its_page_answers(capsys):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/accounts/login/"
        call_command("healthcheck", "web", url=url)
        assert capsys.readouterr().out.strip() == f"web: {url} answered 200"
    finally:
        server.shutdown()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(CommandError, match=rf"web: http://127.0.0.1:{closed}/ did not answer"):
        call_command("healthcheck", "web", url=f"http://127.0.0.1:{closed}/", timeout=2)


def test_beat_is_healthy_while_its_heartbeat_is_fresh(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match="no heartbeat at"):
        call_command("healthcheck", "beat")
    heartbeat_path().touch()
    call_command("healthcheck", "beat")
    assert capsys.readouterr().out.startswith("beat: ticked 0 s ago")
    old = time.time() - 600
    os.utime(heartbeat_path(), (old, old))
    with pytest.raises(CommandError, match=r"the last heartbeat is 600 s old"):
        call_command("healthcheck", "beat")


@pytest.mark.worker
def test_a_running_worker_and_beat_are_healthy(start_celery, capsys):
    start_celery("worker")
    call_command("healthcheck", "worker", name=f"worker-0@{socket.gethostname()}", timeout=10)
    assert "answered a ping" in capsys.readouterr().out
    with pytest.raises(CommandError, match="did not answer a ping"):
        call_command("healthcheck", "worker", name="nobody@nowhere", timeout=1)
    heartbeat_path().unlink(missing_ok=True)
    start_celery("beat")
    deadline = time.monotonic() + 30
    while not heartbeat_path().exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    call_command("healthcheck", "beat")
    assert "ticked" in capsys.readouterr().out
