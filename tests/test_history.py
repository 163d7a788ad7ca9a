"""Snapshot history: content hashes mark repeats, the picker compares any two, and
retention deletes old repeats but keeps the first, the newest and every change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from auditor import history
from auditor.models import Snapshot

from .test_snapshots import SHOP, collect, manifest_cluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(tmp_path):
    (tmp_path / "shop.yaml").write_text(SHOP)
    return manifest_cluster(tmp_path), tmp_path / "shop.yaml"


def test_same_objects_same_hash_and_any_change_shows(shop):
    cluster, path = shop
    first, second = collect(cluster), collect(cluster)
    assert first.content_hash and first.content_hash == second.content_hash
    path.write_text(SHOP.replace("app: web", "app: web2"))
    relabelled = collect(cluster)
    assert relabelled.content_hash != second.content_hash
    cluster.pod_cidrs = "10.244.0.0/16"
    cluster.save()
    declared = collect(cluster)
    assert declared.content_hash != relabelled.content_hash  # the analysis would differ


def test_the_list_marks_repeats_and_offers_a_comparison(client_as, shop):
    cluster, path = shop
    first, second = collect(cluster), collect(cluster)
    path.write_text(SHOP.replace("app: web", "app: web2"))
    third = collect(cluster)
    page = client_as("viewer").get(reverse("webui:cluster_snapshots", args=[cluster.name]))
    assert page.status_code == 200
    assert page.context["unchanged"] == {second.pk}
    html = page.content.decode()
    assert html.count('before it">unchanged</em>') == 1
    assert f'name="new" value="{third.pk}" aria-label="compare to #{third.pk}" checked' in html
    assert f'name="old" value="{second.pk}" aria-label="compare from #{second.pk}" checked' in html
    diff = client_as("viewer").get(reverse("webui:diff", args=[cluster.name]), {"old": first.pk, "new": third.pk})
    assert diff.status_code == 200


def _age(snapshot: Snapshot, days: int) -> None:
    Snapshot.objects.filter(pk=snapshot.pk).update(finished_at=timezone.now() - timedelta(days=days))


def test_retention_deletes_old_repeats_only(shop, settings):
    settings.SNAPSHOT_KEEP_UNCHANGED_DAYS = 7
    cluster, path = shop
    a, b, c = collect(cluster), collect(cluster), collect(cluster)  # b and c repeat a
    path.write_text(SHOP.replace("app: web", "app: web2"))
    d = collect(cluster)  # a change
    e = collect(cluster)  # repeats d, recent
    for snapshot, days in ((a, 30), (b, 29), (c, 28), (d, 27), (e, 1)):
        _age(snapshot, days)
    assert history.prune(cluster) == 2
    assert set(Snapshot.objects.filter(cluster=cluster).values_list("pk", flat=True)) == {a.pk, d.pk, e.pk}


def test_retention_never_deletes_the_newest_and_can_be_off(shop, settings):
    settings.SNAPSHOT_KEEP_UNCHANGED_DAYS = 0  # collections below prune nothing
    cluster, _ = shop
    a, b = collect(cluster), collect(cluster)
    _age(a, 30)
    _age(b, 30)
    settings.SNAPSHOT_KEEP_UNCHANGED_DAYS = 7
    assert history.prune(cluster) == 0  # b repeats a, but it is the newest
    settings.SNAPSHOT_KEEP_UNCHANGED_DAYS = 0
    c = collect(cluster)
    _age(c, 30)
    assert history.prune(cluster) == 0
    settings.SNAPSHOT_KEEP_UNCHANGED_DAYS = 7
    assert history.prune(cluster) == 1  # b goes; a (first) and c (newest) stay


def test_each_snapshot_applies_retention(shop, settings):
    settings.SNAPSHOT_KEEP_UNCHANGED_DAYS = 7
    cluster, _ = shop
    a, b, c = collect(cluster), collect(cluster), collect(cluster)
    for snapshot in (a, b, c):
        _age(snapshot, 30)
    collect(cluster)  # the new snapshot's collection prunes b and c
    assert not Snapshot.objects.filter(pk__in=[b.pk, c.pk]).exists()
    assert Snapshot.objects.filter(pk=a.pk).exists()
