"""Issue 12: no page, API answer, log line or stored field shows a secret the product holds.

One test sets up a cluster of every source with distinctive secrets (bearer tokens, a
token file, kubeconfig tokens and client keys, passwords in API server URLs, a manifest
Secret), a report schedule with a webhook secret and a password in its URL, SMTP
credentials, METRICS_TOKEN, API tokens, a superuser's password and the OpenID Connect
client secret (users sign in through a real provider, tests/oidc_provider); takes snapshots that
succeed and that fail, builds a report whose deliveries fail; then fetches every URL
pattern of the site with real arguments as each role, every Django admin page of those
objects, re-renders the admin forms with a secret and an invalid field, and searches every
response, every log record and every text field of every database row for the secrets.
"""

from __future__ import annotations

import base64
import logging
import socket
from datetime import timedelta

import pytest
import yaml
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from auditor import services
from auditor.api.tokens import api_token_create
from auditor.masked import mask_api_url, mask_webhook_url
from auditor.models import (
    Cluster,
    ClusterPolicy,
    Delivery,
    FlowReplayRun,
    NetworkPolicy,
    Pod,
    Report,
    ReportSchedule,
    Snapshot,
    Waiver,
    WhatIfRun,
)
from auditor.reports import services as report_services

from .fakekube import FakeKube
from .objects import small_cluster
from .oidc_provider import CLIENT_SECRET, OIDCProvider, sign_in, sso_settings

# End to end: snapshots of every source, report deliveries, then every page, admin page
# and API endpoint as every role (about 1,200 requests), so it runs with the e2e layer.
pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

# Letters, digits and dashes only, so no escaping (HTML, JSON, URL) can hide one.
SECRETS = {
    "token source bearer": "sweep-bearer-7f3a9c1e5d",
    "wrong bearer": "sweep-wrong-bearer-0b9e4471",
    "token file": "sweep-tokenfile-66aa0e91",
    "kubeconfig token": "sweep-kcfg-token-51d0b2f3",
    "failing kubeconfig token": "sweep-kcfg-bad-token-9c2e71",
    "kubeconfig client key": "sweep-client-key-c0ffee42",
    "token URL password": "sweep-url-pass-9d8e31",
    "kubeconfig URL password": "sweep-kcfg-url-pass-3b7a",
    "manifest Secret": "sweep-manifest-secret-7741",
    "superuser password": "sweep-admin-pw-4412ab",
    "wrong login password": "sweep-wrong-login-pw-8817",
    "metrics token": "sweep-metrics-token-8e1f03",
    "SMTP password": "sweep-smtp-pass-2c7d55",
    "webhook secret": "sweep-webhook-hmac-5b5b19",
    "webhook URL password": "sweep-hook-url-pass-e3d2",
    "webhook path token": "sweep-hook-path-token-aa01",
    "admin form token": "sweep-admin-form-token-42d1",
    "admin form webhook secret": "sweep-admin-form-hook-7c3e",
    "OIDC client secret": CLIENT_SECRET,
}
# The kubeconfig holds the client key base64-encoded, as kubectl writes it.
KEY_PEM = f"-----BEGIN EC PRIVATE KEY-----\n{SECRETS['kubeconfig client key']}\n-----END EC PRIVATE KEY-----\n"
KEY_DATA = base64.b64encode(KEY_PEM.encode()).decode()
CERT_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nc3dlZXA=\n-----END CERTIFICATE-----\n").decode()

MANIFEST = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-1, namespace: shop, labels: {{app: web}}}}
spec: {{containers: [{{name: web, ports: [{{containerPort: 8080}}]}}]}}
status: {{phase: Running, podIP: 10.244.0.5}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny, namespace: shop}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: shop}}
stringData: {{password: {SECRETS['manifest Secret']}}}
"""

ROLES = ("viewer", "auditor", "admin")
EXPORT_FORMATS = ("json", "csv", "sarif", "pdf")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kubeconfig(path, server: str, token: str):
    """A kubeconfig whose user has a token and a client certificate with its key."""
    user = {"token": token, "client-certificate-data": CERT_DATA, "client-key-data": KEY_DATA}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return str(path)


def collect(cluster: Cluster) -> Snapshot:
    snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False)
    try:
        services.snapshot_collect(snapshot_id=snapshot.pk)
    except Exception:  # a failed snapshot raises after storing its error; that is the point here
        pass
    snapshot.refresh_from_db()
    if snapshot.status == Snapshot.Status.COMPLETE:
        services.snapshot_analyze(snapshot=snapshot)
    return snapshot


class Sweep:
    """Every response fetched, by a label naming the client and the URL."""

    def __init__(self):
        self.responses: list[tuple[str, int, str]] = []

    def fetch(self, client: Client, label: str, url: str, method: str = "get", data=None, **extra):
        response = getattr(client, method)(url, data or {}, **extra)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        text = headers + "\n" + body.decode("utf-8", "replace")
        self.responses.append((f"{label} {method.upper()} {url}", response.status_code, text))
        return response


# --- The objects every URL pattern is fetched with ------------------------------------


def pattern_names(resolver=None, namespace="") -> dict[str, URLPattern]:
    """{"namespace:name": pattern} of every named pattern outside the admin."""
    out = {}
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            ns = entry.namespace or ""
            out.update(pattern_names(entry, f"{namespace}{ns}:" if ns else namespace))
        elif entry.name:
            out[f"{namespace}{entry.name}"] = entry
    return out


def url_sets(clusters, schedule, report, waiver, tokens) -> dict[str, list[str]]:
    """For each pattern name, the URLs to fetch: one per cluster and object of it."""
    urls: dict[str, list[str]] = {}

    def add(pattern, **kwargs):
        urls.setdefault(pattern, []).append(reverse(pattern, kwargs=kwargs))

    for name in ("webui:home", "login", "logout", "sso_login", "sso_callback", "api:schema", "api:me", "api:clusters", "api:tokens", "api:metrics"):
        add(name)
    for cluster in clusters:
        n = {"name": cluster.name}
        for name in (
            "webui:cluster", "webui:snapshot_now", "webui:snapshot_progress", "webui:cluster_snapshots",
            "webui:findings", "webui:waivers", "webui:diff", "webui:reach", "webui:graph",
            "webui:graph_elements", "webui:whatif", "webui:reports", "webui:report_schedule_new",
            "api:cluster", "api:snapshots", "api:findings", "api:finding_groups", "api:reach", "api:reports", "api:teams",
            "webui:findings_waive", "webui:attack_paths", "webui:teams", "webui:flows", "webui:flows_suggest",
        ):
            add(name, **n)
        for snapshot in cluster.snapshots.all():
            add("api:snapshot", **n, pk=snapshot.pk)
        current = cluster.snapshots.filter(status=Snapshot.Status.COMPLETE).first()
        if current is None:
            continue
        for fmt in EXPORT_FORMATS:
            add("webui:snapshot_report", **n, pk=current.pk, fmt=fmt)
        for finding in current.findings.order_by("pk")[:3]:
            add("webui:finding", **n, pk=finding.pk)
            add("webui:finding_fp", **n, fingerprint=finding.fingerprint)
            add("webui:finding_waive", **n, pk=finding.pk)
            add("api:finding", **n, pk=finding.pk)
        for pod in Pod.objects.filter(snapshot=current)[:3]:
            add("webui:pod", **n, namespace=pod.namespace, pod=pod.name)
            if pod.workload_kind:
                add("webui:workload", **n, namespace=pod.namespace, kind=pod.workload_kind, workload=pod.workload_name)
        for run in WhatIfRun.objects.filter(snapshot__cluster=cluster)[:1]:
            add("webui:whatif_run", **n, pk=run.pk)
        for run in FlowReplayRun.objects.filter(snapshot__cluster=cluster)[:1]:
            add("webui:flows_run", **n, pk=run.pk)
        for policy in NetworkPolicy.objects.filter(snapshot=current)[:3]:
            add("webui:policy", **n, namespace=policy.namespace, policy=policy.name)
            add("webui:namespace", **n, namespace=policy.namespace)
            # Snapshots store no namespaced policy of another kind yet: its not-found page.
            add("webui:kind_policy", **n, kind="CiliumNetworkPolicy", namespace=policy.namespace, policy=policy.name)
        for policy in ClusterPolicy.objects.filter(snapshot=current)[:3]:
            add("webui:cluster_policy", **n, kind=policy.kind, policy=policy.name)
    n = {"name": schedule.cluster.name}
    add("webui:report", **n, pk=report.pk)
    add("api:report", **n, pk=report.pk)
    for fmt in EXPORT_FORMATS:
        add("webui:report_export", **n, pk=report.pk, fmt=fmt)
    for name in ("webui:report_schedule", "webui:report_schedule_delete", "webui:report_schedule_run"):
        add(name, **n, pk=schedule.pk)
    for delivery in Delivery.objects.filter(report=report):
        add("webui:report_delivery_retry", **n, pk=delivery.pk)
    add("webui:waiver_revoke", name=waiver.cluster.name, pk=waiver.pk)
    for token in tokens:
        add("api:token_revoke", pk=token.pk)
    urls["api:not_found"] = ["/api/v2/clusters"]
    return urls


def admin_urls(objects_by_model) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        urls.append(reverse("admin:{}_{}_add".format(*info)))
        for obj in objects_by_model(model):
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
            urls.append(reverse("admin:{}_{}_history".format(*info), args=[obj.pk]))
    return urls


# The configuration itself: the URL as the admin gave it, which the collector and the
# sender need; forms show it masked (auditor.masked) and nothing else shows it at all.
CONFIGURED = {("auditor.Cluster", "api_url"), ("auditor.ReportSchedule", "webhook_url")}


def stored_texts() -> list[tuple[str, str]]:
    """(label, text) of every text, char and JSON field of every row in the database,
    but the configured URLs."""
    out = []
    for model in apps.get_models():
        fields = [
            f for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
            and (model._meta.label, f.name) not in CONFIGURED
        ]
        if not fields:
            continue
        for row in model._default_manager.values("pk", *[f.attname for f in fields]).iterator():
            for field in fields:
                value = row[field.attname]
                if value not in (None, "", [], {}):
                    out.append((f"{model._meta.label}#{row['pk']}.{field.name}", str(value)))
    return out


@pytest.fixture
def oidc_provider(tmp_path):
    """A real OpenID Connect provider with the client's secret (tests/oidc_provider)."""
    provider = OIDCProvider(tmp_path, ["http://testserver"])
    yield provider
    provider.stop()


def test_no_secret_in_any_page_api_answer_log_line_or_stored_field(
    tmp_path, settings, caplog, personas, demo_snapshot, oidc_provider
):
    caplog.set_level(logging.DEBUG)  # the root logger, so every record propagated is kept
    settings.LIVE_COLLECTOR_OPTIONS = {
        "page_size": 2, "connect_timeout": 2, "read_timeout": 2, "attempts": 1, "backoff": 0.01,
    }
    settings.METRICS_TOKEN = SECRETS["metrics token"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.EMAIL_HOST_USER = "sweep-smtp-user"
    settings.EMAIL_HOST_PASSWORD = SECRETS["SMTP password"]
    settings.REPORT_DELIVERY_ATTEMPTS = 1
    sso_settings(settings, oidc_provider)
    secrets = dict(SECRETS, **{"kubeconfig client key data": KEY_DATA, "SECRET_KEY": settings.SECRET_KEY})

    # --- Clusters of every source, snapshots that succeed and that fail -----------------
    token_file = tmp_path / "token"
    token_file.write_text(SECRETS["token file"] + "\n")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "shop.yaml").write_text(MANIFEST)
    down = closed_port()
    with FakeKube(small_cluster(), token=SECRETS["token source bearer"]) as kube, FakeKube(
        small_cluster(), token=SECRETS["kubeconfig token"]
    ) as kube2:
        token_good = Cluster(name="token-good", source=Cluster.Source.TOKEN, api_url=kube.url)
        token_good.set_token(SECRETS["token source bearer"])
        token_wrong = Cluster(name="token-wrong", source=Cluster.Source.TOKEN, api_url=kube.url)
        token_wrong.set_token(SECRETS["wrong bearer"])
        token_from_file = Cluster(
            name="token-file", source=Cluster.Source.TOKEN, api_url=kube.url, token_file=str(token_file)
        )
        token_url = Cluster(
            name="token-url-password", source=Cluster.Source.TOKEN,
            api_url=f"http://ops:{SECRETS['token URL password']}@127.0.0.1:{down}",
        )
        token_url.set_token(SECRETS["token source bearer"])
        kcfg_good = Cluster(
            name="kubeconfig-good", source=Cluster.Source.KUBECONFIG,
            kubeconfig_path=kubeconfig(tmp_path / "good.kubeconfig", kube2.url, SECRETS["kubeconfig token"]),
        )
        kcfg_bad = Cluster(
            name="kubeconfig-bad", source=Cluster.Source.KUBECONFIG,
            kubeconfig_path=kubeconfig(
                tmp_path / "bad.kubeconfig",
                f"http://kube:{SECRETS['kubeconfig URL password']}@127.0.0.1:{down}",
                SECRETS["failing kubeconfig token"],
            ),
        )
        kcfg_wrong = Cluster(
            name="kubeconfig-wrong-token", source=Cluster.Source.KUBECONFIG,
            kubeconfig_path=kubeconfig(tmp_path / "wrong.kubeconfig", kube2.url, SECRETS["failing kubeconfig token"]),
        )
        files = Cluster(name="files", source=Cluster.Source.MANIFESTS, manifest_path=str(manifests))
        in_cluster = Cluster(name="in-cluster", source=Cluster.Source.IN_CLUSTER)
        mine = [token_good, token_wrong, token_from_file, token_url, kcfg_good, kcfg_bad, kcfg_wrong, files, in_cluster]
        for cluster in mine:
            cluster.save()
        snapshots = {cluster.name: collect(cluster) for cluster in mine}
        # A second, failed snapshot after a good one: pages show both.
        kube.forbid("NetworkPolicy")
        snapshots["token-good (forbidden)"] = collect(token_good)
    outcome = {name: s.status for name, s in snapshots.items()}
    complete = {n for n, s in outcome.items() if s == Snapshot.Status.COMPLETE}
    assert complete == {"token-good", "kubeconfig-good", "files"}, outcome
    failed = {n: s.error for n, s in snapshots.items() if n not in complete}
    assert all(failed.values()), failed

    # --- A report whose email and webhook deliveries fail ------------------------------
    demo = demo_snapshot.cluster
    schedule = ReportSchedule(
        cluster=demo, name="Sweep", recipients="ops@example.com",
        webhook_url=f"http://hook:{SECRETS['webhook URL password']}@127.0.0.1:{closed_port()}/h/{SECRETS['webhook path token']}",
    )
    schedule.set_webhook_secret(SECRETS["webhook secret"])
    schedule.save()
    report = report_services.report_build(
        report_id=report_services.report_request(schedule=schedule, enqueue=False).pk
    )
    for delivery in Delivery.objects.filter(report=report):
        report_services.delivery_send(delivery_id=delivery.pk)
    deliveries = list(Delivery.objects.filter(report=report))
    assert len(deliveries) == 2 and all(d.status == Delivery.Status.FAILED and d.last_error for d in deliveries)
    finding = demo_snapshot.findings.order_by("pk").first()
    # A what-if run that failed, its error shown to whoever polls it.
    WhatIfRun.objects.create(snapshot=demo_snapshot, status="failed", error="The worker stopped.")
    FlowReplayRun.objects.create(snapshot=demo_snapshot, status="failed", error="The worker stopped.")
    waiver = Waiver.objects.create(
        cluster=demo, fingerprint=finding.fingerprint, rule=finding.rule, summary=finding.title,
        reason="accepted for the sweep", author=personas["auditor"], expires_at=timezone.now() + timedelta(days=3),
    )

    # --- Who asks: the roles, a superuser logged in through the form, API tokens --------
    sweep = Sweep()
    User.objects.create_superuser("root", "root@example.com", SECRETS["superuser password"])
    root_client = Client()
    sweep.fetch(root_client, "anonymous", "/accounts/login/", "post",
                {"username": "root", "password": SECRETS["wrong login password"]})
    sweep.fetch(root_client, "anonymous", "/admin/login/", "post",
                {"username": "root", "password": SECRETS["wrong login password"]})
    login = sweep.fetch(root_client, "anonymous", "/accounts/login/", "post",
                        {"username": "root", "password": SECRETS["superuser password"]})
    assert login.status_code == 302
    clients = {"superuser": root_client}
    # Single sign-on through the provider: a user with a role, and one refused for want of one.
    sso_client = Client()
    signed_in = sign_in(sso_client, "bob")
    assert signed_in.status_code == 302
    sweep.responses.append(("sso bob GET callback", signed_in.status_code, str(signed_in.headers)))
    refused = sign_in(Client(), "dave")
    sweep.responses.append(("sso dave GET callback", refused.status_code, refused.content.decode()))
    clients["sso auditor"] = sso_client
    for role in ROLES:
        clients[role] = Client()
        clients[role].force_login(personas[role])
    tokens, keys = [], {}
    for role in ROLES:
        token, key = api_token_create(user=personas[role], name=f"sweep {role}")
        tokens.append(token)
        keys[role] = key
        secrets[f"API token of {role}"] = key

    # --- Every URL pattern, as every role; the API with each role's token ---------------
    clusters = [demo, *mine]
    urls = url_sets(clusters, schedule, report, waiver, tokens)
    unvisited = set(pattern_names()) - set(urls)
    assert not unvisited, f"URL patterns the sweep does not know how to fetch: {sorted(unvisited)}"
    for name, group in urls.items():
        for url in group:
            if name.startswith("api:") and name not in ("api:tokens", "api:token_revoke", "api:metrics"):
                for role, key in keys.items():
                    sweep.fetch(Client(), f"{role} token", url, HTTP_AUTHORIZATION=f"Bearer {key}")
                continue
            for who, client in clients.items():
                if name in ("logout", "api:token_revoke", "webui:waiver_revoke", "webui:report_schedule_delete"):
                    continue  # fetched at the end: they change who is logged in or what exists
                sweep.fetch(client, who, url)
    # Filters and the failed snapshot's id on the pages that take them.
    for cluster in clusters:
        for snapshot in cluster.snapshots.all():
            for url in (f"/clusters/{cluster.name}/?snapshot={snapshot.pk}",
                        f"/clusters/{cluster.name}/findings/?snapshot={snapshot.pk}",
                        f"/api/v1/clusters/{cluster.name}/snapshots?status=failed"):
                sweep.fetch(clients["viewer"], "viewer", url, HTTP_AUTHORIZATION=f"Bearer {keys['viewer']}")
    # Snapshots taken from the pages, as an auditor (the task is queued, not run).
    for cluster in clusters:
        sweep.fetch(clients["auditor"], "auditor", f"/clusters/{cluster.name}/snapshot/", "post")
    # /metrics: the right token, a wrong one, and a client in the allowed networks.
    far = {"REMOTE_ADDR": "203.0.113.9"}
    sweep.fetch(Client(), "metrics token", "/metrics", HTTP_AUTHORIZATION=f"Bearer {SECRETS['metrics token']}", **far)
    sweep.fetch(Client(), "wrong metrics token", "/metrics", HTTP_AUTHORIZATION="Bearer sweep-nope", **far)
    sweep.fetch(Client(), "local", "/metrics")
    # Wrong API tokens: the 401 must not echo what was sent.
    sweep.fetch(Client(), "wrong token", "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {SECRETS['wrong bearer']}")

    # --- The Django admin: every model's list and add pages, the change and history
    # pages of the sweep's objects; forms posted with a secret and an invalid field -------
    def objects_by_model(model):
        rows = model._default_manager.all()
        if model in (Cluster, ReportSchedule, Snapshot, Report, Delivery, User, type(tokens[0])):
            return rows.order_by("pk")
        return rows.order_by("pk")[:3]

    for url in admin_urls(objects_by_model):
        sweep.fetch(root_client, "superuser", url)
    for cluster in (token_good, kcfg_bad, token_url):
        sweep.fetch(clients["admin"], "admin", reverse("admin:auditor_cluster_change", args=[cluster.pk]))
        # What the browser sends back: the form's own (masked) value of the URL.
        form = {
            "name": cluster.name, "source": cluster.source, "api_url": mask_api_url(cluster.api_url),
            "kubeconfig_path": cluster.kubeconfig_path, "snapshot_interval": "5",  # too short
            "token": SECRETS["admin form token"], "verify_tls": "on", "unused_rule_window": "30",
        }
        response = sweep.fetch(root_client, "superuser",
                               reverse("admin:auditor_cluster_change", args=[cluster.pk]), "post", form)
        assert response.status_code == 200 and "At least 30 seconds" in response.content.decode()
    response = sweep.fetch(
        root_client, "superuser", reverse("admin:auditor_reportschedule_change", args=[schedule.pk]), "post",
        {"cluster": demo.pk, "name": "Sweep", "enabled": "on", "frequency": "cron", "cron": "not cron",
         "day_of_week": "mon", "time_of_day": "08:00", "send": "always", "webhook_url": mask_webhook_url(schedule.webhook_url),
         "webhook_format": "json", "webhook_secret": SECRETS["admin form webhook secret"], "attach_pdf": "on"},
    )
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    response = sweep.fetch(
        clients["admin"], "admin", reverse("webui:report_schedule", args=[demo.name, schedule.pk]), "post",
        {"name": "Sweep", "enabled": "on", "frequency": "cron", "cron": "not cron", "day_of_week": "mon",
         "time_of_day": "08:00", "send": "always", "webhook_url": mask_webhook_url(schedule.webhook_url),
         "webhook_format": "json", "webhook_secret": SECRETS["admin form webhook secret"]},
    )
    assert response.status_code == 400 and "Five fields" in response.content.decode()
    # Saved with the masked URL as shown, the schedule keeps its real one.
    response = sweep.fetch(
        clients["admin"], "admin", reverse("webui:report_schedule", args=[demo.name, schedule.pk]), "post",
        {"name": "Sweep", "enabled": "on", "frequency": "weekly", "day_of_week": "tue",
         "time_of_day": "09:00", "send": "always", "recipients": "ops@example.com",
         "webhook_url": mask_webhook_url(schedule.webhook_url), "webhook_format": "json"},
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    kept = ReportSchedule.objects.get(pk=schedule.pk)
    assert kept.webhook_url == schedule.webhook_url and kept.day_of_week == "tue"
    assert kept.get_webhook_secret() == SECRETS["webhook secret"]
    form["snapshot_interval"] = "600"
    form.pop("token")
    cluster = token_url
    form.update(name=cluster.name, source=cluster.source, api_url=mask_api_url(cluster.api_url), kubeconfig_path="")
    response = sweep.fetch(root_client, "superuser", reverse("admin:auditor_cluster_change", args=[cluster.pk]), "post", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    kept = Cluster.objects.get(pk=cluster.pk)
    assert kept.api_url == cluster.api_url and kept.snapshot_interval == 600
    assert kept.get_token() == SECRETS["token source bearer"]  # left empty: kept; the failed POST set none

    # The ones that change state, last.
    for url in urls["api:token_revoke"]:
        sweep.fetch(clients["viewer"], "viewer", url, "post")
    sweep.fetch(clients["auditor"], "auditor", urls["webui:waiver_revoke"][0], "post")
    sweep.fetch(clients["auditor"], "auditor", urls["webui:report_schedule_delete"][0])
    for who, client in clients.items():
        sweep.fetch(client, who, "/accounts/logout/", "post")

    # --- The sweep went where the secrets could show ------------------------------------
    pages = sweep.responses
    assert not [(label, status) for label, status, _ in pages if status >= 500]
    ok = [label for label, status, _ in pages if status == 200]
    assert len(pages) >= 900 and len(ok) >= 600, (len(pages), len(ok))
    api_ok = [label for label in ok if " /api/v1/" in label]
    admin_ok = [label for label in ok if " /admin/" in label]
    assert len(api_ok) >= 150 and len(admin_ok) >= 60, (len(api_ok), len(admin_ok))
    shows_failure = [label for label, _, text in pages if "401" in text and "token-wrong" in label]
    assert shows_failure, "no page shows the 401 of the wrong-token cluster"
    shows_redacted = [label for label, _, text in pages if "http://***@127.0.0.1" in text]
    assert len(shows_redacted) >= 6, shows_redacted
    assert any("cannot connect" in text for _, _, text in pages)

    # --- And no secret anywhere -------------------------------------------------------------
    records = caplog.records
    logged = [
        (f"log {r.name} {r.levelname}", f"{r.getMessage()}\n{r.exc_text or ''}\n{r.args!r}") for r in records
    ]
    logged.append(("log text", caplog.text))
    stored = stored_texts()
    assert len(records) >= 50 and len(stored) >= 1000, (len(records), len(stored))
    assert any("Delivery" in label and "last_error" in label for label, _ in stored)
    assert sum(".error" in label for label, _ in stored) >= 6
    leaks = []
    for label, _, text in pages:
        leaks += [(what, label) for what, secret in secrets.items() if secret in text]
    for label, text in logged + stored:
        leaks += [(what, label) for what, secret in secrets.items() if secret in text]
    assert not leaks, "\n".join(f"{what}: {where}" for what, where in leaks[:40])
    print(  # the sweep's reach, for the report: pytest -s shows it
        f"sweep: {len(pages)} responses ({len(ok)} OK: {len(api_ok)} API, {len(admin_ok)} admin), "
        f"{len(records)} log records, {len(stored)} stored fields, {len(secrets)} secrets"
    )
