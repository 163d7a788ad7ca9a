"""The landing page and the admin answer a logged-in user and never show a token."""

import pytest
from django.urls import reverse

from auditor.models import Cluster, Snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", password="pw-viewer-1")


@pytest.fixture
def token_cluster():
    cluster = Cluster(name="prod", source=Cluster.Source.TOKEN, api_url="https://k8s.example:6443")
    cluster.set_token("super-secret-token")
    cluster.save()
    return cluster


def test_pages_need_login(client):
    response = client.get(reverse("webui:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and b"csrfmiddlewaretoken" in response.content


def test_empty_state_says_what_to_do(client, viewer):
    client.force_login(viewer)
    page = client.get(reverse("webui:home")).content.decode()
    assert "No cluster registered yet" in page and "setup_demo" in page


def test_home_shows_current_snapshot_and_recent_failures(client, viewer, token_cluster):
    Snapshot.objects.create(cluster=token_cluster, status="complete", pod_count=42, policy_count=7, namespace_count=3)
    Snapshot.objects.create(cluster=token_cluster, status="failed", error="forbidden: cannot list pods")
    client.force_login(viewer)
    page = client.get(reverse("webui:home")).content.decode()
    assert "<strong>42</strong> pods" in page
    assert "forbidden: cannot list pods" in page
    assert "super-secret-token" not in page


def test_first_snapshot_pending_is_explained(client, viewer, token_cluster):
    Snapshot.objects.create(cluster=token_cluster, status="running", progress="collecting: 1,200 objects received")
    client.force_login(viewer)
    page = client.get(reverse("webui:home")).content.decode()
    assert "The first snapshot is running (collecting: 1,200 objects received)" in page


def test_snapshot_history_paginates_and_404s(client, viewer, token_cluster):
    Snapshot.objects.bulk_create([Snapshot(cluster=token_cluster, status="complete") for _ in range(60)])
    client.force_login(viewer)
    url = reverse("webui:cluster_snapshots", args=["prod"])
    assert "Page 1 of 2" in client.get(url).content.decode()
    assert "Page 2 of 2" in client.get(url + "?page=2").content.decode()
    assert "Page 1 of 2" in client.get(url + "?page=junk").content.decode()
    assert client.get(reverse("webui:cluster_snapshots", args=["nope"])).status_code == 404


def test_admin_answers_and_never_renders_the_token(admin_client, token_cluster):
    assert admin_client.get(reverse("admin:index")).status_code == 200
    page = admin_client.get(reverse("admin:auditor_cluster_change", args=[token_cluster.pk])).content.decode()
    assert "super-secret-token" not in page and token_cluster.token_encrypted not in page
    assert admin_client.get(reverse("admin:auditor_snapshot_changelist")).status_code == 200


def test_admin_sets_a_token_and_keeps_it_when_left_empty(admin_client, token_cluster):
    url = reverse("admin:auditor_cluster_change", args=[token_cluster.pk])
    form = {"name": "prod", "source": "token", "api_url": "https://k8s.example:6443", "snapshot_interval": 600,
            "enabled": "on", "verify_tls": "on", "token": ""}
    assert admin_client.post(url, form).status_code == 302
    assert Cluster.objects.get(pk=token_cluster.pk).get_token() == "super-secret-token"
    assert admin_client.post(url, {**form, "token": "new-token"}).status_code == 302
    cluster = Cluster.objects.get(pk=token_cluster.pk)
    assert cluster.get_token() == "new-token" and cluster.periodic_task.interval.every == 600
