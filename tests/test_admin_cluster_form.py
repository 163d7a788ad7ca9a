"""The admin's cluster form shows only the chosen source's fields, and keeps no token for
a source that does not use one."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from auditor.admin import SOURCE_FIELDS, ClusterAdmin
from auditor.models import Cluster

from .browser import log_in, screenshot
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_every_source_field_belongs_to_a_source():
    [source_fields] = [opts["fields"] for title, opts in ClusterAdmin.fieldsets if title == "Source"]
    assert set(source_fields) - {"source"} == {f for fields in SOURCE_FIELDS.values() for f in fields}
    assert set(SOURCE_FIELDS) == set(Cluster.Source.values)


def test_the_form_carries_the_map_of_fields_per_source(admin_client):
    page = admin_client.get(reverse("admin:auditor_cluster_add")).content.decode()
    assert "js/cluster_admin.js" in page
    start = page.index("data-source-fields=") + len("data-source-fields=") + 1
    raw = page[start : page.index('"', start)].replace("&quot;", '"')
    assert json.loads(raw) == SOURCE_FIELDS


def test_leaving_the_token_source_forgets_the_stored_token(admin_client, tmp_path):
    cluster = Cluster(name="prod", source=Cluster.Source.TOKEN, api_url="https://k8s.example:6443")
    cluster.set_token("super-secret-token")
    cluster.save()
    url = reverse("admin:auditor_cluster_change", args=[cluster.pk])
    form = {"name": "prod", "source": "manifests", "manifest_path": str(tmp_path), "snapshot_interval": 600,
            "enabled": "on", "token": "ignored-for-manifests", "unused_rule_window": 30}
    assert admin_client.post(url, form).status_code == 302
    assert Cluster.objects.get(pk=cluster.pk).token_encrypted == ""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_choosing_a_source_shows_only_its_fields(live_server, page, personas):
    log_in(page, live_server, "admin", PASSWORD)
    page.goto(f"{live_server.url}/admin/auditor/cluster/add/")
    every = {f for fields in SOURCE_FIELDS.values() for f in fields}
    for source, fields in SOURCE_FIELDS.items():
        page.select_option("select#id_source", source)
        visible = {name for name in every if page.is_visible(f".form-row.field-{name}")}
        assert visible == set(fields), source
        assert page.is_visible(".form-row.field-pod_cidrs")  # declared ranges: every source
        if source == "token":
            screenshot(page, "admin-cluster-form-token")


def test_crown_jewels_are_set_in_the_admin_under_attack_paths(admin_client, tmp_path):
    # The cluster's crown jewels (netpol.paths) were only settable in code; they sit in their
    # own section beside the teams and the observed flows.
    assert ("Attack paths", {"fields": ["crown_jewels"]}) in ClusterAdmin.fieldsets
    cluster = Cluster.objects.create(name="prod", source=Cluster.Source.MANIFESTS, manifest_path=str(tmp_path))
    url = reverse("admin:auditor_cluster_change", args=[cluster.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="crown_jewels"' in page
    form = {"name": "prod", "source": "manifests", "manifest_path": str(tmp_path), "snapshot_interval": 600,
            "enabled": "on", "unused_rule_window": 30, "crown_jewels": "tier=payments,pci=true"}
    assert admin_client.post(url, form).status_code == 302
    assert Cluster.objects.get(pk=cluster.pk).crown_jewels == "tier=payments,pci=true"
    form["crown_jewels"] = "not a selector"
    page = admin_client.post(url, form).content.decode()
    assert Cluster.objects.get(pk=cluster.pk).crown_jewels == "tier=payments,pci=true"
    assert "errorlist" in page
