"""Clusters: validation, encrypted tokens, and the beat entry that follows them."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django_celery_beat.models import PeriodicTask

from auditor.models import Cluster, Snapshot

pytestmark = pytest.mark.django_db


def make_cluster(**fields) -> Cluster:
    defaults = {
        "name": "prod",
        "source": Cluster.Source.MANIFESTS,
        "manifest_path": "auditor/demo_cluster",
    }
    return Cluster.objects.create(**{**defaults, **fields})


def test_declared_cidrs_are_validated():
    cluster = Cluster(
        name="c",
        source=Cluster.Source.MANIFESTS,
        manifest_path="x",
        pod_cidrs="10.244.0.0/16, 10.300.0.0/16",
    )
    with pytest.raises(ValidationError) as caught:
        cluster.full_clean()
    assert "'10.300.0.0/16' is not a CIDR" in str(caught.value)


def test_declared_cidrs_parse_ipv4_and_ipv6():
    cluster = Cluster(pod_cidrs="10.244.0.0/16,\nfd00:10:244::/56", service_cidrs="10.96.0.0/12")
    assert cluster.declared_cidrs == {
        "pod": ["10.244.0.0/16", "fd00:10:244::/56"],
        "service": ["10.96.0.0/12"],
        "node": [],
    }


@pytest.mark.parametrize(
    "source, missing",
    [("kubeconfig", "kubeconfig_path"), ("token", "api_url"), ("manifests", "manifest_path")],
)
def test_each_source_requires_its_fields(source, missing):
    with pytest.raises(ValidationError) as caught:
        Cluster(name="c", source=source).full_clean()
    assert missing in caught.value.message_dict


def test_token_source_needs_a_token_or_file():
    cluster = Cluster(name="c", source=Cluster.Source.TOKEN, api_url="https://k8s.example:6443")
    with pytest.raises(ValidationError) as caught:
        cluster.full_clean()
    assert "token_file" in caught.value.message_dict
    cluster.set_token("abc")
    cluster.full_clean()


def test_token_is_stored_encrypted_and_read_back():
    cluster = Cluster(name="c", source=Cluster.Source.TOKEN, api_url="https://k8s.example:6443")
    cluster.set_token("eyJhbGciOi-secret-token")
    cluster.save()
    stored = Cluster.objects.values_list("token_encrypted", flat=True).get(pk=cluster.pk)
    assert "secret-token" not in stored
    assert Cluster.objects.get(pk=cluster.pk).get_token() == "eyJhbGciOi-secret-token"


def test_token_from_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert Cluster(token_file=str(token_file)).get_token() == "from-file"


def test_token_under_another_key_says_what_to_do(settings):
    cluster = Cluster(name="c")
    cluster.set_token("abc")
    settings.SECRET_KEY = "rotated"
    with pytest.raises(ValueError, match="enter the token again"):
        cluster.get_token()


def test_saving_a_cluster_keeps_its_beat_entry_in_step():
    cluster = make_cluster(snapshot_interval=600)
    task = PeriodicTask.objects.get(pk=cluster.periodic_task_id)
    assert task.task == "auditor.tasks.snapshot_cluster"
    assert task.args == f"[{cluster.pk}]"
    assert task.interval.every == 600 and task.enabled

    cluster.snapshot_interval = 120
    cluster.enabled = False
    cluster.save()
    task.refresh_from_db()
    assert task.interval.every == 120 and not task.enabled
    assert PeriodicTask.objects.filter(task="auditor.tasks.snapshot_cluster").count() == 1

    cluster.delete()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_the_database_allows_one_active_snapshot_per_cluster():
    cluster = make_cluster()
    Snapshot.objects.create(cluster=cluster, status=Snapshot.Status.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Snapshot.objects.create(cluster=cluster, status=Snapshot.Status.PENDING)
    # Finished snapshots do not count.
    Snapshot.objects.create(cluster=cluster, status=Snapshot.Status.COMPLETE)
    Snapshot.objects.create(cluster=cluster, status=Snapshot.Status.FAILED)
    other = make_cluster(name="staging")
    Snapshot.objects.create(cluster=other, status=Snapshot.Status.PENDING)
