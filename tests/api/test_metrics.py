"""Prometheus /metrics: the values of the demo analysis, and who may scrape."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from auditor.models import Cluster, Finding, Snapshot, Waiver

from ..conftest import ROOT

pytestmark = pytest.mark.django_db


def scrape(client, **extra) -> dict[str, dict[tuple, float]]:
    """{family name: {sorted label items: value}} of one scrape."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(metrics, name: str, **labels) -> float:
    return metrics[name][tuple(sorted(labels.items()))]


def test_metrics_carry_the_demo_analysis(client, demo_snapshot):
    metrics = scrape(client)
    analysis = demo_snapshot.analysis
    coverage = analysis.report["coverage"]["cluster"]
    for direction in ("ingress", "egress"):
        assert value(
            metrics, "netpol_coverage_ratio", cluster="demo", direction=direction
        ) == pytest.approx(coverage[direction]["pod_ratio"])
        assert value(
            metrics, "netpol_workload_coverage_ratio", cluster="demo", direction=direction
        ) == pytest.approx(coverage[direction]["workload_ratio"])
    assert value(metrics, "netpol_score", cluster="demo") == analysis.score
    for severity in ("critical", "high", "medium", "low", "info"):
        assert value(
            metrics, "netpol_findings", cluster="demo", severity=severity, waived="false"
        ) == (analysis.finding_counts.get(severity, 0))
        assert (
            value(metrics, "netpol_findings", cluster="demo", severity=severity, waived="true") == 0
        )
    assert sum(metrics["netpol_findings"].values()) == 29
    by_rule = {}
    for f in Finding.objects.filter(snapshot=demo_snapshot):
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    for rule, count in by_rule.items():
        assert (
            value(metrics, "netpol_findings_by_rule", cluster="demo", rule=rule, waived="false")
            == count
        )
    # Every catalogue rule is there, with 0 when it found nothing: no vanishing series.
    assert (
        value(metrics, "netpol_findings_by_rule", cluster="demo", rule="NP021", waived="false") == 0
    )
    assert sum(metrics["netpol_findings_by_rule"].values()) == 29
    age = value(metrics, "netpol_snapshot_age_seconds", cluster="demo")
    assert 0 <= age < 60
    assert value(metrics, "netpol_snapshot_duration_seconds", cluster="demo") == pytest.approx(
        demo_snapshot.duration.total_seconds()
    )
    assert value(metrics, "netpol_snapshot_objects", cluster="demo", kind="pods") == 60
    assert value(metrics, "netpol_snapshot_objects", cluster="demo", kind="policies") == 22
    assert value(metrics, "netpol_last_snapshot_success", cluster="demo") == 1
    assert value(metrics, "netpol_snapshot_failures_total", cluster="demo") == 0


def test_failures_count_and_the_last_run_gauge(client, demo_snapshot):
    cluster = demo_snapshot.cluster
    later = demo_snapshot.finished_at + timedelta(minutes=5)
    for minutes in (5, 10):
        Snapshot.objects.create(
            cluster=cluster,
            status="failed",
            error="boom",
            started_at=later,
            finished_at=demo_snapshot.finished_at + timedelta(minutes=minutes),
        )
    metrics = scrape(client)
    assert value(metrics, "netpol_snapshot_failures_total", cluster="demo") == 2
    assert value(metrics, "netpol_last_snapshot_success", cluster="demo") == 0
    # The current snapshot is still the complete one: its numbers stay, and it ages.
    assert value(metrics, "netpol_score", cluster="demo") == demo_snapshot.analysis.score
    Snapshot.objects.filter(pk=demo_snapshot.pk).update(
        finished_at=timezone.now() - timedelta(hours=2)
    )
    metrics = scrape(client)
    assert value(metrics, "netpol_snapshot_age_seconds", cluster="demo") == pytest.approx(
        7200, abs=30
    )


def test_a_waived_finding_moves_to_the_waived_label(client, personas, demo_snapshot):
    finding = Finding.objects.filter(snapshot=demo_snapshot, rule="NP010").first()
    Waiver.objects.create(
        cluster=demo_snapshot.cluster,
        fingerprint=finding.fingerprint,
        rule="NP010",
        summary="x",
        reason="accepted",
        author=personas["auditor"],
        expires_at=timezone.now() + timedelta(days=1),
    )
    metrics = scrape(client)
    high = demo_snapshot.analysis.finding_counts["high"]
    assert (
        value(metrics, "netpol_findings", cluster="demo", severity="high", waived="false")
        == high - 1
    )
    assert value(metrics, "netpol_findings", cluster="demo", severity="high", waived="true") == 1
    assert (
        value(metrics, "netpol_findings_by_rule", cluster="demo", rule="NP010", waived="true") == 1
    )


def test_a_cluster_without_snapshots_has_only_its_failure_count(client, demo_snapshot):
    Cluster.objects.create(name="fresh", source=Cluster.Source.MANIFESTS, manifest_path="x")
    metrics = scrape(client)
    assert value(metrics, "netpol_snapshot_failures_total", cluster="fresh") == 0
    for name, samples in metrics.items():
        if name != "netpol_snapshot_failures_total":
            assert not any(("cluster", "fresh") in labels for labels in samples), name


def test_a_scrape_costs_the_same_queries_for_many_clusters(
    client, demo_snapshot, django_assert_max_num_queries
):
    for i in range(20):
        cluster = Cluster.objects.create(
            name=f"c{i}", source=Cluster.Source.MANIFESTS, manifest_path="x"
        )
        Snapshot.objects.create(cluster=cluster, status="failed", finished_at=timezone.now())
    # 4, and 2 for waivers made on the per-workload findings a finding now stands for.
    with django_assert_max_num_queries(6):
        metrics = scrape(client)
    assert value(metrics, "netpol_snapshot_failures_total", cluster="c7") == 1


# --- Access -------------------------------------------------------------------------------------


def test_loopback_scrapes_without_credentials(client, db):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200


def test_other_addresses_are_refused_without_a_token(client, db):
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403 and b"METRICS_ALLOWED_NETWORKS" in response.content
    assert client.get("/metrics", REMOTE_ADDR="not-an-address").status_code == 403


@override_settings(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "fd00::/8"])
def test_allowed_networks_come_from_the_setting(client, db):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="fd00::5").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@override_settings(METRICS_TOKEN="scrape-secret")
def test_the_metrics_token_admits_any_address(client, db):
    far = {"REMOTE_ADDR": "203.0.113.7"}
    response = client.get("/metrics", **far)
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer wrong"}, **far).status_code == 401
    )
    assert (
        client.get("/metrics", headers={"Authorization": "Token scrape-secret"}, **far).status_code
        == 401
    )
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}, **far).status_code
        == 200
    )
    # The loopback still needs nothing.
    assert client.get("/metrics").status_code == 200


def test_an_api_token_is_not_a_metrics_token(client, tokens):
    response = client.get(
        "/metrics",
        REMOTE_ADDR="203.0.113.7",
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert response.status_code == 403


def test_only_get(client, db):
    response = client.post("/metrics")
    assert response.status_code == 405 and response["Allow"] == "GET"


def _settings(env: dict, expr: str) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings as s; print({expr})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
    )


def test_metrics_settings_from_the_environment(tmp_path):
    secret = tmp_path / "metrics-token"
    secret.write_text("from-a-file\n")
    done = _settings(
        {"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8, ::1/128", "METRICS_TOKEN_FILE": str(secret)},
        "s.METRICS_ALLOWED_NETWORKS, s.METRICS_TOKEN",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['10.0.0.0/8', '::1/128'] from-a-file"
    bad = _settings({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,localhost"}, "1")
    assert bad.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS: 'localhost' is not a network" in bad.stderr


def test_a_finding_waived_through_all_its_aliases_counts_as_waived(client, demo_snapshot):
    from datetime import timedelta

    from auditor.models import Finding, Waiver

    dns = Finding.objects.get(snapshot=demo_snapshot, rule="NP032")
    assert dns.aliases
    for fingerprint in dns.aliases:
        Waiver.objects.create(
            cluster=demo_snapshot.cluster, fingerprint=fingerprint, rule="NP032", summary="before",
            reason="accepted", expires_at=timezone.now() + timedelta(days=3),
        )
    metrics = scrape(client)
    assert value(metrics, "netpol_findings_by_rule", cluster="demo", rule="NP032", waived="true") == 1
    assert value(metrics, "netpol_findings_by_rule", cluster="demo", rule="NP032", waived="false") == 0
