"""Snapshot services: whole or nothing, one at a time, the last good one stays current."""

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from auditor import services
from auditor.models import Cluster, ClusterPolicy, CniObject, NetworkPolicy, Pod, Snapshot
from auditor.selectors import latest_snapshot
from auditor.storage import build_model, snapshot_objects
from netpol.collect.base import CollectionError

from .fakekube import FakeKube
from .objects import calico_object, cilium_policy, cluster_policy, namespace, small_cluster

pytestmark = pytest.mark.django_db

SHOP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.0.5}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


@pytest.fixture
def manifests(tmp_path):
    (tmp_path / "shop.yaml").write_text(SHOP)
    return tmp_path


@pytest.fixture
def fast_live(settings):
    settings.LIVE_COLLECTOR_OPTIONS = {
        "page_size": 2,
        "connect_timeout": 2,
        "read_timeout": 2,
        "attempts": 2,
        "backoff": 0.01,
    }


def manifest_cluster(path, name="files") -> Cluster:
    return Cluster.objects.create(
        name=name, source=Cluster.Source.MANIFESTS, manifest_path=str(path)
    )


def kubeconfig_cluster(kube: FakeKube, tmp_path, name="live") -> Cluster:
    path = kube.write_kubeconfig(tmp_path / f"{name}.kubeconfig")
    return Cluster.objects.create(
        name=name, source=Cluster.Source.KUBECONFIG, kubeconfig_path=str(path)
    )


def collect(cluster: Cluster) -> Snapshot:
    snapshot = services.snapshot_request(
        cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
    )
    assert snapshot is not None
    services.snapshot_collect(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    return snapshot


def test_manifest_snapshot_is_stored_whole(manifests):
    snapshot = collect(manifest_cluster(manifests))
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert (snapshot.namespace_count, snapshot.pod_count, snapshot.policy_count) == (1, 1, 1)
    assert snapshot.started_at <= snapshot.finished_at
    pod = Pod.objects.get(snapshot=snapshot)
    assert (pod.namespace, pod.name, pod.ips, pod.phase) == (
        "shop",
        "web-1",
        ["10.244.0.5"],
        "Running",
    )
    assert pod.container_ports == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert NetworkPolicy.objects.get(snapshot=snapshot).spec == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }
    assert latest_snapshot(snapshot.cluster) == snapshot


def test_stored_objects_read_back_in_api_shape(manifests):
    snapshot = collect(manifest_cluster(manifests))
    objects = snapshot_objects(snapshot)
    [pod] = objects["Pod"]
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["status"]["podIP"] == "10.244.0.5"
    assert pod["spec"]["containers"][0]["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    ]
    [ns] = objects["Namespace"]
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "shop"


def test_bad_manifest_fails_with_file_and_document_and_keeps_the_last_good(manifests):
    cluster = manifest_cluster(manifests)
    good = collect(cluster)
    (manifests / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    with pytest.raises(CollectionError):
        services.snapshot_collect(
            snapshot_id=services.snapshot_request(cluster=cluster, enqueue=False).pk
        )
    failed = cluster.snapshots.first()
    assert failed.status == Snapshot.Status.FAILED
    assert "broken.yaml" in failed.error and "document 1" in failed.error
    assert failed.finished_at is not None
    assert not Pod.objects.filter(snapshot=failed).exists()
    assert latest_snapshot(cluster) == good


def test_live_failure_midway_leaves_nothing_behind(tmp_path, fast_live):
    with FakeKube(small_cluster()) as kube:
        cluster = kubeconfig_cluster(kube, tmp_path)
        good = collect(cluster)
        assert good.status == Snapshot.Status.COMPLETE and good.pod_count == 6
        assert good.server_version == "v1.30.2"
        # Namespaces, nodes and pods arrive; then listing policies is refused.
        kube.forbid("NetworkPolicy")
        with pytest.raises(CollectionError):
            collect(cluster)
    failed = cluster.snapshots.first()
    assert failed.status == Snapshot.Status.FAILED
    assert "list" in failed.error and "networkpolicies" in failed.error
    assert not Pod.objects.filter(snapshot=failed).exists()
    assert latest_snapshot(cluster) == good


def test_list_restarted_after_410_stores_each_object_once(tmp_path, fast_live):
    with FakeKube(small_cluster(pods=7)) as kube:
        kube.expire_continue_once("Pod")
        snapshot = collect(kubeconfig_cluster(kube, tmp_path))
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert snapshot.pod_count == 7 == Pod.objects.filter(snapshot=snapshot).count()


def test_token_source_never_leaks_the_token(tmp_path, fast_live):
    with FakeKube(small_cluster(), token="right-token") as kube:
        cluster = Cluster(name="tok", source=Cluster.Source.TOKEN, api_url=kube.url)
        cluster.set_token("wrong-token-value")
        cluster.save()
        with pytest.raises(CollectionError):
            collect(cluster)
        failed = cluster.snapshots.first()
        assert "401" in failed.error and "wrong-token-value" not in failed.error
        cluster.set_token("right-token")
        cluster.save()
        assert collect(cluster).status == Snapshot.Status.COMPLETE


def test_a_password_in_the_api_url_is_in_no_stored_error_or_page(fast_live, client_as, caplog):
    from .test_collect_live import closed_port

    cluster = Cluster(name="pw", source=Cluster.Source.TOKEN,
                      api_url=f"http://ops:url-pass-42@127.0.0.1:{closed_port()}")
    cluster.set_token("some-token")
    cluster.save()
    with pytest.raises(CollectionError):
        collect(cluster)
    failed = cluster.snapshots.first()
    viewer = client_as("viewer")
    shown = [
        viewer.get("/").content.decode(),
        viewer.get(f"/clusters/{cluster.name}/").content.decode(),
        viewer.get(f"/clusters/{cluster.name}/snapshots/").content.decode(),
    ]
    # The failure names the server, with the URL's credentials redacted, here and on the page.
    assert "cannot connect" in failed.error and "http://***@127.0.0.1:" in failed.error
    assert "http://***@127.0.0.1:" in shown[2]
    for text in [failed.error, caplog.text, *shown]:
        assert "url-pass-42" not in text


def test_a_name_the_api_server_would_refuse_fails_the_snapshot_naming_kind_and_field(tmp_path, fast_live):
    """Not an internal DataError from the database: the object and field at fault."""
    with FakeKube(small_cluster()) as kube:
        cluster = kubeconfig_cluster(kube, tmp_path)
        good = collect(cluster)
        objects = small_cluster()
        objects["Pod"][0]["metadata"]["name"] = "w" * 300
        kube.set_objects("Pod", objects["Pod"])
        with pytest.raises(CollectionError):
            collect(cluster)
    failed = cluster.snapshots.first()
    assert failed.error == f"Pod metadata.name: '{'w' * 60}... (300 characters)' is longer than 253 characters"
    assert latest_snapshot(cluster) == good


def test_a_second_trigger_while_one_is_active_is_skipped_and_logged(manifests, caplog):
    cluster = manifest_cluster(manifests)
    first = services.snapshot_request(cluster=cluster, enqueue=False)
    with caplog.at_level(logging.INFO, logger="auditor.services"):
        assert services.snapshot_request(cluster=cluster, enqueue=False) is None
    assert f"snapshot #{first.pk} is already pending" in caplog.text
    assert cluster.snapshots.count() == 1


def test_collecting_the_same_snapshot_twice_does_the_work_once(manifests):
    cluster = manifest_cluster(manifests)
    snapshot = collect(cluster)
    assert services.snapshot_collect(snapshot_id=snapshot.pk) is None
    assert Pod.objects.filter(snapshot=snapshot).count() == 1


def test_a_stale_running_snapshot_is_failed_and_the_next_one_runs(manifests, settings):
    cluster = manifest_cluster(manifests)
    old = timezone.now() - timedelta(seconds=settings.SNAPSHOT_STALE_AFTER + 5)
    dead = Snapshot.objects.create(
        cluster=cluster, status=Snapshot.Status.RUNNING, started_at=old, heartbeat_at=old
    )
    fresh = collect(cluster)
    dead.refresh_from_db()
    assert dead.status == Snapshot.Status.FAILED and "worker stopped" in dead.error
    assert fresh.status == Snapshot.Status.COMPLETE


def test_a_running_snapshot_with_a_live_heartbeat_blocks_the_next(manifests):
    cluster = manifest_cluster(manifests)
    now = timezone.now()
    Snapshot.objects.create(
        cluster=cluster, status=Snapshot.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    assert services.snapshot_request(cluster=cluster, enqueue=False) is None


def test_duplicate_objects_are_kept_once_with_a_warning(manifests):
    (manifests / "again.yaml").write_text(SHOP.split("---\n")[1])
    snapshot = collect(manifest_cluster(manifests))
    assert snapshot.pod_count == 1
    assert any("duplicate Pod" in w for w in snapshot.warnings)


def test_snapshot_command_runs_and_reports(manifests, capsys):
    manifest_cluster(manifests, name="files")
    call_command("snapshot", "files")
    assert "complete: 1 namespaces, 1 pods, 1 policies" in capsys.readouterr().out


def test_snapshot_command_names_known_clusters(manifests):
    manifest_cluster(manifests, name="files")
    with pytest.raises(CommandError, match=r"no cluster named 'nope' \(clusters: files\)"):
        call_command("snapshot", "nope")


def test_snapshot_command_reports_failure(tmp_path):
    manifest_cluster(tmp_path / "missing", name="gone")
    with pytest.raises(CommandError, match="failed: .*missing"):
        call_command("snapshot", "gone")


def test_live_objects_round_trip_to_the_same_api_meaning(tmp_path, fast_live):
    objects = small_cluster()
    objects["Namespace"].append(namespace("empty"))
    with FakeKube(objects) as kube:
        snapshot = collect(kubeconfig_cluster(kube, tmp_path))
    stored = snapshot_objects(snapshot)
    assert {n["metadata"]["name"] for n in stored["Namespace"]} == {"shop", "payments", "empty"}
    assert sorted(p["spec"]["podSelector"] == {} for p in stored["NetworkPolicy"]) == [False, True]
    assert stored["Node"][0]["spec"]["podCIDRs"] == ["10.244.0.0/24"]


def test_wrong_typed_fields_are_a_collection_error_naming_the_object():
    from netpol.collect.normalize import normalize

    bad = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"containers": {"name": "c"}}}
    with pytest.raises(CollectionError, match=r"Pod web: malformed object"):
        normalize("Pod", bad)


@pytest.mark.parametrize(
    "kind, obj, message",
    [
        ("Pod", {"metadata": {"name": "web", "namespace": "shop"}, "status": {"podIP": "10.0.0.300"}},
         "Pod shop/web: status.podIPs: '10.0.0.300' is not an IP address"),
        ("Node", {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.0.0/33"}},
         "Node n1: spec.podCIDRs: '10.244.0.0/33' is not a CIDR"),
        ("Service", {"metadata": {"name": "api", "namespace": "shop"}, "spec": {"clusterIP": "ten"}},
         "Service shop/api: spec.clusterIPs: 'ten' is not an IP address"),
    ],
)
def test_bad_addresses_are_named_with_their_field(kind, obj, message):
    from netpol.collect.normalize import normalize

    with pytest.raises(CollectionError) as caught:
        normalize(kind, obj)
    assert str(caught.value) == message


# -- the cluster-wide policies (issue 13) ----------------------------------------------------

TIERS = Path(__file__).parent / "fixtures" / "cli" / "tiers.yaml"


def test_cluster_policies_are_stored_and_decide_in_the_stored_model():
    snapshot = collect(manifest_cluster(TIERS))
    assert snapshot.status == Snapshot.Status.COMPLETE and snapshot.warnings == []
    assert snapshot.cluster_policy_count == 3
    assert snapshot.object_counts()["cluster_policies"] == 3
    rows = {(r.kind, r.name) for r in ClusterPolicy.objects.filter(snapshot=snapshot)}
    assert rows == {
        ("ClusterNetworkPolicy", "isolate-batch"),
        ("AdminNetworkPolicy", "allow-monitoring"),
        ("BaselineAdminNetworkPolicy", "default"),
    }
    objects = snapshot_objects(snapshot)
    [cnp] = objects["ClusterNetworkPolicy"]
    assert cnp["apiVersion"] == "policy.networking.k8s.io/v1alpha2"
    assert cnp["spec"]["tier"] == "Admin" and cnp["spec"]["priority"] == 50
    [banp] = objects["BaselineAdminNetworkPolicy"]
    assert banp["apiVersion"] == "policy.networking.k8s.io/v1alpha1"

    model = build_model(snapshot)
    # The AdminNetworkPolicy opens 9100 through shop's NetworkPolicy; the
    # ClusterNetworkPolicy keeps batch from sending anywhere.
    assert model.reach("monitoring/prom-0", "shop/web-0", 9100).allowed
    assert not model.reach("batch/job-0", "shop/db-0", 5432).allowed
    assert model.reach("shop/web-0", "shop/db-0", 5432).allowed


def test_live_cluster_policies_are_stored_when_the_server_offers_them(tmp_path, fast_live):
    objects = small_cluster()
    objects["BaselineAdminNetworkPolicy"] = [
        cluster_policy("BaselineAdminNetworkPolicy", "default")
    ]
    with FakeKube(objects) as kube:
        snapshot = collect(kubeconfig_cluster(kube, tmp_path))
    assert snapshot.status == Snapshot.Status.COMPLETE and snapshot.warnings == []
    assert snapshot.cluster_policy_count == 1
    [row] = ClusterPolicy.objects.filter(snapshot=snapshot)
    assert (row.kind, row.name) == ("BaselineAdminNetworkPolicy", "default")


def test_a_cluster_without_the_policy_api_snapshots_without_warning(tmp_path, fast_live):
    with FakeKube(small_cluster()) as kube:
        kube.hide_group("policy.networking.k8s.io")
        snapshot = collect(kubeconfig_cluster(kube, tmp_path))
    assert snapshot.status == Snapshot.Status.COMPLETE and snapshot.warnings == []
    assert snapshot.cluster_policy_count == 0


# -- Cilium and Calico (issue 13) ------------------------------------------------------------

CILIUM = Path(__file__).parent / "fixtures" / "cli" / "cilium.yaml"
CALICO = Path(__file__).parent / "fixtures" / "cli" / "calico.yaml"


@pytest.mark.parametrize("fixture", [CILIUM, CALICO], ids=["cilium", "calico"])
def test_stored_cilium_and_calico_give_the_answers_of_the_manifests(fixture):
    from netpol.load import load_paths

    snapshot = collect(manifest_cluster(fixture))
    assert snapshot.status == Snapshot.Status.COMPLETE and snapshot.warnings == []
    stored, direct = build_model(snapshot), load_paths([fixture])
    for port in (None, 80, 443, 5432, 8080, 9100):
        assert stored.matrix(port) == direct.matrix(port), port
    for src, dst, port in [
        ("shop/web-0", "shop/db-0", 5432),
        ("batch/job-0", "shop/db-0", 5432),
        ("monitoring/prom-0", "shop/web-0", 8080),
        ("batch/job-0", "8.8.8.8", 443),
    ]:
        assert stored.reach(src, dst, port).to_dict() == direct.reach(src, dst, port).to_dict()
    assert [e.to_dict() for e in stored.errors] == [e.to_dict() for e in direct.errors]


def test_calico_objects_are_stored_with_their_group_and_counted():
    snapshot = collect(manifest_cluster(CALICO))
    assert (
        snapshot.calico_policy_count,
        snapshot.staged_policy_count,
        snapshot.service_account_count,
        snapshot.cilium_policy_count,
    ) == (5, 1, 1, 0)
    assert snapshot.object_counts()["calico_policies"] == 5
    assert snapshot.other_policy_counts() == [("Calico", 5), ("Calico staged", 1)]
    rows = {
        (r.kind, r.api_version, r.namespace, r.name)
        for r in CniObject.objects.filter(snapshot=snapshot)
    }
    assert rows == {
        ("Tier", "crd.projectcalico.org/v1", "", "security"),
        ("GlobalNetworkPolicy", "crd.projectcalico.org/v1", "", "security.deny-batch-to-db"),
        ("NetworkPolicy", "projectcalico.org/v3", "shop", "allow-web-to-db"),
        ("NetworkPolicy", "crd.projectcalico.org/v1", "monitoring", "default.prom-egress"),
        ("GlobalNetworkSet", "crd.projectcalico.org/v1", "", "blocked"),
        ("StagedGlobalNetworkPolicy", "projectcalico.org/v3", "", "default.deny-everything"),
    }
    assert Pod.objects.get(snapshot=snapshot, name="web-0").service_account == "web"
    objects = snapshot_objects(snapshot)
    assert [o["metadata"]["name"] for o in objects["NetworkPolicy"]] == ["web-from-monitoring"]
    model = build_model(snapshot)
    assert [p["metadata"]["name"] for p in model.staged_policies] == ["default.deny-everything"]
    assert [s["metadata"]["labels"] for s in model.calico_network_sets] == [{"threat": "yes"}]
    assert [a["metadata"]["name"] for a in model.service_accounts] == ["web"]


def test_cilium_policies_are_stored_and_counted():
    snapshot = collect(manifest_cluster(CILIUM))
    assert snapshot.cilium_policy_count == 4
    assert snapshot.other_policy_counts() == [("Cilium", 4)]
    rows = {(r.kind, r.namespace, r.name) for r in CniObject.objects.filter(snapshot=snapshot)}
    assert ("CiliumClusterwideNetworkPolicy", "", "no-batch-to-db") in rows
    assert ("CiliumNetworkPolicy", "batch", "lockdown") in rows


def test_live_calico_and_cilium_are_stored_from_the_v3_api_when_offered(tmp_path, fast_live):
    objects = small_cluster()
    objects["CiliumNetworkPolicy"] = [cilium_policy("deny-in", "shop")]
    objects["projectcalico.org/GlobalNetworkPolicy"] = [
        calico_object("GlobalNetworkPolicy", "default.allow-all", spec={"selector": "all()"})
    ]
    objects["ServiceAccount"] = [{"metadata": {"name": "web", "namespace": "shop"}}]
    with FakeKube(objects, calico=("projectcalico.org/v3", "crd.projectcalico.org/v1")) as kube:
        snapshot = collect(kubeconfig_cluster(kube, tmp_path))
    assert snapshot.status == Snapshot.Status.COMPLETE and snapshot.warnings == []
    assert (snapshot.cilium_policy_count, snapshot.calico_policy_count) == (1, 1)
    assert snapshot.service_account_count == 1
    row = CniObject.objects.get(snapshot=snapshot, kind="GlobalNetworkPolicy")
    assert (row.api_version, row.name) == ("projectcalico.org/v3", "default.allow-all")


def test_a_forbidden_calico_kind_is_a_snapshot_warning(tmp_path, fast_live):
    objects = small_cluster()
    with FakeKube(objects) as kube:
        kube.forbid("projectcalico.org/Tier")
        snapshot = collect(kubeconfig_cluster(kube, tmp_path))
    assert snapshot.status == Snapshot.Status.COMPLETE
    [warning] = snapshot.warnings
    assert warning.startswith("skipped Tier (crd.projectcalico.org): forbidden")


def test_a_malformed_live_calico_object_fails_the_snapshot_and_keeps_the_last_good(
    tmp_path, fast_live
):
    with FakeKube(small_cluster()) as kube:
        cluster = kubeconfig_cluster(kube, tmp_path)
        good = collect(cluster)
        bad = calico_object("NetworkPolicy", "default.p", "shop")
        bad["spec"] = ["not", "a", "mapping"]
        kube.set_objects("projectcalico.org/NetworkPolicy", [bad])
        with pytest.raises(CollectionError):
            collect(cluster)
    failed = cluster.snapshots.first()
    assert failed.status == Snapshot.Status.FAILED
    assert failed.error == "NetworkPolicy shop/default.p: spec is not a mapping"  # named once
    assert latest_snapshot(cluster) == good


def test_a_calico_list_that_keeps_dropping_keeps_the_last_good_snapshot(tmp_path, fast_live):
    with FakeKube(small_cluster()) as kube:
        cluster = kubeconfig_cluster(kube, tmp_path)
        good = collect(cluster)
        kube.drop_connection("projectcalico.org/Tier", times=100)
        with pytest.raises(CollectionError):
            collect(cluster)
    failed = cluster.snapshots.first()
    assert failed.status == Snapshot.Status.FAILED and "listing tiers" in failed.error
    assert latest_snapshot(cluster) == good


def test_the_snapshots_page_counts_the_cilium_and_calico_objects(client_as):
    from django.urls import reverse

    calico = collect(manifest_cluster(CALICO, name="calico"))
    cilium = collect(manifest_cluster(CILIUM, name="cilium"))
    viewer = client_as("viewer")
    html = viewer.get(reverse("webui:cluster_snapshots", args=[calico.cluster.name])).content
    assert b">+5 Calico</small>" in html and b">+1 Calico staged</small>" in html
    html = viewer.get(reverse("webui:cluster_snapshots", args=[cilium.cluster.name])).content
    assert b">+4 Cilium</small>" in html and b"Calico" not in html


def test_the_stored_model_of_a_calico_snapshot_keeps_what_the_engine_does_not_enforce(
    settings, tmp_path
):
    from auditor.storage import load_model, save_model

    settings.VAR_DIR = tmp_path
    snapshot = collect(manifest_cluster(CALICO))
    built = build_model(snapshot)
    assert save_model(snapshot, built) is not None
    loaded = load_model(snapshot)
    assert loaded is not None and loaded is not built
    assert loaded.staged_policies == built.staged_policies != []
    assert loaded.service_accounts == built.service_accounts != []
    assert loaded.calico_network_sets == built.calico_network_sets != []
    assert loaded.matrix(5432) == built.matrix(5432)
