"""What changed, for one team: the history page and a team's report count only the team's
findings and policies (the demo gains a namespace with no team and loses a policy of the
shop team between two snapshots)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from auditor.models import Finding, Report
from auditor.reports.content import build_content

from .conftest import take_snapshot

pytestmark = pytest.mark.django_db

SHOP = {"shop-frontend", "shop-backend", "shop-db"}


@pytest.fixture
def two_snapshots(demo_cluster, changing_demo):
    old = take_snapshot(demo_cluster)
    _, change = changing_demo
    change()
    return old, take_snapshot(demo_cluster)


def test_the_history_of_one_team(client_as, two_snapshots):
    old, new = two_snapshots
    base = reverse("webui:diff", args=["demo"]) + f"?old={old.pk}&new={new.pk}"
    client = client_as("viewer")
    whole = client.get(base).context["diff"]
    shop = client.get(base + "&team=shop")
    diff = shop.context["diff"]
    assert diff["policies_removed"]["items"] == ["shop-frontend/admin-ui-allow-all"]
    assert {f.namespace for f in diff["new_findings"]["items"]} <= SHOP
    assert diff["new_findings"]["count"] < whole["new_findings"]["count"]
    legacy = Finding.objects.filter(snapshot=new, namespace="legacy").count()
    assert legacy > 0
    nobody = client.get(base + "&team=-").context["diff"]
    assert {f.namespace for f in nobody["new_findings"]["items"]} <= {"legacy", "kube-system"}
    assert nobody["new_findings"]["count"] >= legacy and nobody["policies_removed"]["count"] == 0
    body = shop.content.decode()
    assert "in team shop" in body and "Cluster score (all teams)" in body


def test_a_teams_report_counts_only_its_changes(two_snapshots):
    old, new = two_snapshots
    content = build_content(
        report=Report(cluster=new.cluster),
        snapshot=new,
        previous=None,
        baseline_snapshot=old,
        team="shop",
        namespaces=frozenset(SHOP),
    )
    changes = content["changes"]
    assert {f["namespace"] for f in changes["new"] + changes["resolved"]} <= SHOP
    assert changes["policies"]["removed"] == ["shop-frontend/admin-ui-allow-all"]
    whole = build_content(
        report=Report(cluster=new.cluster), snapshot=new, previous=None, baseline_snapshot=old
    )
    assert whole["changes"]["new_count"] > changes["new_count"]
    assert whole["team"] is None and content["team"]["label"] == "team shop"
