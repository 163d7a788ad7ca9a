"""NP048 in a snapshot's findings (issue 14: "a finding per such rule when the window is
long enough (configurable)"; docs/findings.md): the cluster's unused-rule window, set in
the admin, and whether the imported flows cover it decide whether the analysis lists
the rules no flow used in it; the Flows page says how much of the window is covered."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse

from auditor import services
from auditor.flows import flows_import
from auditor.models import Cluster, Finding, Snapshot

from .findings.test_unused_rules import FLOWS, OLD_ONLY

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    flows = tmp_path / "seen.csv"
    flows.write_text(FLOWS)  # 40 days: one flow on the first, one on the last
    with mock.patch("django.db.transaction.on_commit"):
        cluster = Cluster.objects.create(
            name="shop", source=Cluster.Source.MANIFESTS, manifest_path="auditor/demo_cluster"
        )
    flows_import(cluster=cluster, path=flows)
    return cluster


def analysed(cluster: Cluster) -> Snapshot:
    """A new snapshot of ``cluster``, collected and analysed here."""
    with mock.patch("django.db.transaction.on_commit"):
        snapshot = services.snapshot_request(
            cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
        )
        services.snapshot_collect(snapshot_id=snapshot.pk)
        services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=snapshot.pk))
    return snapshot


def unused_findings(snapshot: Snapshot) -> set[tuple[str, str]]:
    return {
        (f.evidence["policy"], f.evidence["field"])
        for f in Finding.objects.filter(snapshot=snapshot, rule="NP048")
    }


def test_the_finding_appears_when_the_flows_cover_the_window_and_goes_with_it(cluster):
    assert cluster.unused_rule_window == 30  # the default
    covered = unused_findings(analysed(cluster))
    assert OLD_ONLY <= covered  # used 40 days before the last flow, not in the last 30
    assert ("shop-db/postgres", "spec.ingress[0]") not in covered  # used on the last day
    finding = Finding.objects.filter(rule="NP048").order_by("pk").first()
    assert finding.severity == "low" and "in the last 30 days" in finding.message

    cluster.unused_rule_window = 60  # longer than the 40 days the flows cover
    cluster.save()
    assert unused_findings(analysed(cluster)) == set()
    cluster.unused_rule_window = 0  # off
    cluster.save()
    assert unused_findings(analysed(cluster)) == set()
    cluster.unused_rule_window = 40
    cluster.save()
    # The last 40 days hold both flows (one at the window's very start): only the rules
    # no flow used at all are left.
    assert unused_findings(analysed(cluster)) == covered - OLD_ONLY


def test_the_flows_page_says_how_much_of_the_window_the_flows_cover(cluster, client_as):
    analysed(cluster)
    url = reverse("webui:flows", args=["shop"])
    body = client_as("viewer").get(url).content.decode()
    assert "Flows cover 40 days: each rule no flow used in the last 30 days" in body
    assert "(since 2025-01-11T00:00:00Z) is a finding (NP048)" in body
    cluster.unused_rule_window = 60
    cluster.save()
    body = client_as("viewer").get(url).content.decode()
    assert (
        "Flows cover 40 days of the 60-day window: unused-rule findings start when they cover it."
        in body
    )
    cluster.unused_rule_window = 0
    cluster.save()
    body = client_as("viewer").get(url).content.decode()
    assert "Unused-rule findings are off for shop (its unused-rule window is 0 days)" in body


def test_the_window_is_edited_with_the_clusters_settings(admin_client, cluster):
    url = reverse("admin:auditor_cluster_change", args=[cluster.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="unused_rule_window"' in page and "Unused-rule window (days)" in page
    form = {
        "name": "shop",
        "source": "manifests",
        "manifest_path": "auditor/demo_cluster",
        "snapshot_interval": 900,
        "enabled": "on",
        "team_label": "team",
        "unused_rule_window": 7,
    }
    with mock.patch("django.db.transaction.on_commit"):
        assert admin_client.post(url, form).status_code == 302
    assert Cluster.objects.get(pk=cluster.pk).unused_rule_window == 7


def test_a_stored_flow_file_gone_costs_the_finding_not_the_analysis(cluster, caplog):
    from auditor.flows import flows_dir

    for flow_import in cluster.flow_imports.all():
        (flows_dir() / flow_import.stored).unlink()
    snapshot = analysed(cluster)
    assert snapshot.analysis.status == "complete"
    assert unused_findings(snapshot) == set()
    assert "shop: unused rules not computed" in caplog.text
