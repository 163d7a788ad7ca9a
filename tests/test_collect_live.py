"""LiveCollector against FakeKube: the real ``kubernetes`` client over HTTP on 127.0.0.1."""

from __future__ import annotations

import email.utils
import logging
import socket
import time
import traceback
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client as kube_client
from kubernetes.config import incluster_config

from netpol.collect.base import CollectionError, redact_urls
from netpol.collect.kinds import KIND_TABLE, KINDS
from netpol.collect.live import LiveCollector
from tests.fakekube import FakeKube, Generated
from tests.objects import calico_object, cilium_policy, cluster_policy

SECRET = "s3cret-t0ken-do-not-print"

# Fast retries: four attempts over about 30 ms.
FAST = {"attempts": 4, "backoff": 0.005}


def _ns(name):
    return {"metadata": {"name": name, "labels": {"team": name}}}


def _pod(i, namespace="default"):
    return {
        "metadata": {"name": f"pod-{i}", "namespace": namespace, "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "c", "ports": [{"containerPort": 80}]}],
        },
        "status": {"phase": "Running", "podIP": f"10.0.0.{i}", "podIPs": [{"ip": f"10.0.0.{i}"}]},
    }


def _objects():
    return {
        "Namespace": [_ns("default"), _ns("shop"), _ns("kube-system")],
        "Node": [{"metadata": {"name": f"node-{i}"}} for i in range(2)],
        "Pod": [_pod(i) for i in range(7)],
        "NetworkPolicy": [
            {"metadata": {"name": f"np-{i}", "namespace": "shop"}, "spec": {"podSelector": {}}}
            for i in range(3)
        ],
        "Service": [
            {
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"selector": {"app": "web"}},
            },
            {"metadata": {"name": "db", "namespace": "shop"}, "spec": {"selector": {"app": "db"}}},
        ],
        "ClusterNetworkPolicy": [cluster_policy("ClusterNetworkPolicy", "deny-batch")],
        "AdminNetworkPolicy": [cluster_policy("AdminNetworkPolicy", "admin")],
        "BaselineAdminNetworkPolicy": [cluster_policy("BaselineAdminNetworkPolicy", "default")],
        "CiliumNetworkPolicy": [cilium_policy("deny-in", "shop")],
        "CiliumClusterwideNetworkPolicy": [cilium_policy("deny-all")],
        **_calico_objects(),
        "ServiceAccount": [{"metadata": {"name": "web", "namespace": "shop"}}],
    }


def _calico_objects():
    """One object of each Calico kind, keyed as KIND_TABLE keys them."""
    return {
        "projectcalico.org/Tier": [calico_object("Tier", "security", spec={"order": 100})],
        "projectcalico.org/NetworkPolicy": [
            calico_object("NetworkPolicy", "default.allow-dns", "shop", {"selector": "all()"})
        ],
        "projectcalico.org/GlobalNetworkPolicy": [
            calico_object("GlobalNetworkPolicy", "security.block", spec={"tier": "security"})
        ],
        "projectcalico.org/NetworkSet": [
            calico_object("NetworkSet", "partners", "shop", {"nets": ["192.0.2.0/24"]}, role="x")
        ],
        "projectcalico.org/GlobalNetworkSet": [
            calico_object("GlobalNetworkSet", "blocked", spec={"nets": ["198.51.100.0/24"]})
        ],
        "projectcalico.org/StagedNetworkPolicy": [
            calico_object("StagedNetworkPolicy", "default.try", "shop", {"selector": "all()"})
        ],
        "projectcalico.org/StagedGlobalNetworkPolicy": [
            calico_object("StagedGlobalNetworkPolicy", "default.try-all")
        ],
        "projectcalico.org/StagedKubernetesNetworkPolicy": [
            calico_object("StagedKubernetesNetworkPolicy", "try-k8s", "shop", {"podSelector": {}})
        ],
    }


@pytest.fixture
def kube():
    with FakeKube(_objects(), token=SECRET) as server:
        yield server


@pytest.fixture
def kubeconfig(kube, tmp_path):
    return kube.write_kubeconfig(tmp_path / "kubeconfig")


def collect(collector):
    """What a consumer keeps: objects per kind, forgetting a kind on its restart marker."""
    kept = {kind: [] for kind in KINDS}
    for kind, obj in collector.fetch():
        if obj is None:
            kept[kind].clear()
        else:
            kept[kind].append(obj["metadata"]["name"])
    return kept


def requests_to(kube, path):
    return [query for method, p, query in kube.requests if p == path]


def fail_with(collector) -> CollectionError:
    with pytest.raises(CollectionError) as info:
        collect(collector)
    return info.value


def assert_no_secret(error, collector, caplog):
    text = "".join(traceback.format_exception(error))
    assert SECRET not in text
    assert SECRET not in repr(collector)
    assert SECRET not in caplog.text


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the happy path -------------------------------------------------------------------


def test_pages_through_every_kind_from_a_kubeconfig(kube, kubeconfig):
    collector = LiveCollector.from_kubeconfig(kubeconfig, page_size=2)

    kept = collect(collector)

    assert kept["Pod"] == [f"pod-{i}" for i in range(7)]  # each exactly once, in order
    assert kept["Namespace"] == ["default", "shop", "kube-system"]
    assert len(kept["NetworkPolicy"]) == 3 and len(kept["Service"]) == 2 and len(kept["Node"]) == 2
    assert collector.server_version == "v1.30.2"
    assert collector.warnings == []

    pod_queries = requests_to(kube, "/api/v1/pods")
    assert [q["limit"] for q in pod_queries] == ["2"] * 4
    assert "continue" not in pod_queries[0]
    tokens = [q["continue"] for q in pod_queries[1:]]
    assert len(set(tokens)) == 3  # a new token for each following page
    assert len(requests_to(kube, "/apis/networking.k8s.io/v1/networkpolicies")) == 2


def test_yields_raw_api_objects_in_kind_order(kube, kubeconfig):
    pairs = list(LiveCollector.from_kubeconfig(kubeconfig).fetch())

    kinds_in_order = list(dict.fromkeys(kind for kind, _ in pairs))
    assert kinds_in_order == list(KINDS)
    pod = next(obj for kind, obj in pairs if kind == "Pod")
    assert pod == _pod(0)  # camelCase JSON, untouched
    policy = next(obj for kind, obj in pairs if kind == "ClusterNetworkPolicy")
    assert policy == cluster_policy("ClusterNetworkPolicy", "deny-batch")


# -- the cluster-wide policies: listed when discovery offers their group ------------------


def test_cluster_policies_listed_as_discovery_offers_them(kube, kubeconfig):
    collector = LiveCollector.from_kubeconfig(kubeconfig, page_size=2)

    kept = collect(collector)

    assert kept["ClusterNetworkPolicy"] == ["deny-batch"]
    assert kept["AdminNetworkPolicy"] == ["admin"]
    assert kept["BaselineAdminNetworkPolicy"] == ["default"]
    assert collector.warnings == []
    assert len(requests_to(kube, "/apis/")) == 1  # the Python client asks for "/apis/"
    cnp = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies"
    assert [q["limit"] for q in requests_to(kube, cnp)] == ["2"]


def test_cluster_without_the_policy_group_is_normal(kube, kubeconfig):
    kube.hide_group("policy.networking.k8s.io")
    collector = LiveCollector.from_kubeconfig(kubeconfig)

    kept = collect(collector)

    assert kept["ClusterNetworkPolicy"] == kept["AdminNetworkPolicy"] == []
    assert kept["Pod"] == [f"pod-{i}" for i in range(7)]
    assert collector.warnings == []  # no such API: nothing to say
    assert not any("policy.networking.k8s.io" in path for _, path, _ in kube.requests)


def test_forbidden_cluster_policy_kind_is_a_warning_naming_kind_and_group(kube, kubeconfig):
    kube.forbid("AdminNetworkPolicy")
    collector = LiveCollector.from_kubeconfig(kubeconfig)

    kept = collect(collector)

    assert kept["AdminNetworkPolicy"] == []
    assert kept["ClusterNetworkPolicy"] == ["deny-batch"]  # the others still listed
    assert kept["BaselineAdminNetworkPolicy"] == ["default"]
    [warning] = collector.warnings
    assert warning.startswith("skipped AdminNetworkPolicy (policy.networking.k8s.io): forbidden")
    assert 'grant "list" on "adminnetworkpolicies"' in warning


# -- Cilium and Calico: listed when discovery offers their groups ------------------------

CALICO_CRD_NP = "/apis/crd.projectcalico.org/v1/networkpolicies"
CALICO_V3_NP = "/apis/projectcalico.org/v3/networkpolicies"


def test_cilium_calico_and_service_accounts_listed_from_the_crds_page_by_page(tmp_path):
    objects = _objects()
    objects["projectcalico.org/NetworkPolicy"] = [
        calico_object("NetworkPolicy", f"default.p{i}", "shop", {"selector": "all()"})
        for i in range(5)
    ]
    with FakeKube(objects, token=None) as kube:
        collector = LiveCollector.from_kubeconfig(
            kube.write_kubeconfig(tmp_path / "k"), page_size=2
        )
        pairs = list(collector.fetch())

    kept = {}
    for kind, obj in pairs:
        kept.setdefault(kind, []).append(obj)
    assert [o["metadata"]["name"] for o in kept["projectcalico.org/NetworkPolicy"]] == [
        f"default.p{i}" for i in range(5)
    ]
    assert {o["apiVersion"] for o in kept["projectcalico.org/NetworkPolicy"]} == {
        "crd.projectcalico.org/v1"
    }
    for key, expected in _calico_objects().items():
        if key != "projectcalico.org/NetworkPolicy":
            assert [o["metadata"]["name"] for o in kept[key]] == [
                o["metadata"]["name"] for o in expected
            ]
    assert [o["metadata"]["name"] for o in kept["CiliumNetworkPolicy"]] == ["deny-in"]
    assert [o["metadata"]["name"] for o in kept["CiliumClusterwideNetworkPolicy"]] == ["deny-all"]
    assert [o["metadata"]["name"] for o in kept["ServiceAccount"]] == ["web"]
    assert collector.warnings == []
    assert [q["limit"] for q in requests_to(kube, CALICO_CRD_NP)] == ["2", "2", "2"]
    assert not requests_to(kube, CALICO_V3_NP)


def test_calico_v3_is_preferred_when_its_api_server_is_offered_and_never_both(tmp_path):
    with FakeKube(
        _objects(), token=None, calico=("projectcalico.org/v3", "crd.projectcalico.org/v1")
    ) as kube:
        pairs = list(LiveCollector.from_kubeconfig(kube.write_kubeconfig(tmp_path / "k")).fetch())

    calico = [obj for kind, obj in pairs if kind.startswith("projectcalico.org/")]
    assert len(calico) == sum(len(v) for v in _calico_objects().values())
    assert {obj["apiVersion"] for obj in calico} == {"projectcalico.org/v3"}
    assert requests_to(kube, CALICO_V3_NP)
    assert not any("crd.projectcalico.org" in path for _, path, _ in kube.requests)


def test_cluster_without_cilium_or_calico_is_normal_and_lists_no_service_accounts(tmp_path):
    with FakeKube(_objects(), token=None, calico=()) as kube:
        kube.hide_group("cilium.io")
        collector = LiveCollector.from_kubeconfig(kube.write_kubeconfig(tmp_path / "k"))
        kept = collect(collector)

    assert kept["CiliumNetworkPolicy"] == kept["projectcalico.org/NetworkPolicy"] == []
    assert kept["ServiceAccount"] == []  # only Calico's serviceAccountSelector needs them
    assert kept["Pod"] == [f"pod-{i}" for i in range(7)]
    assert collector.warnings == []
    paths = [path for _, path, _ in kube.requests]
    assert not any("cilium" in p or "calico" in p or "serviceaccounts" in p for p in paths)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("projectcalico.org/NetworkPolicy", "skipped NetworkPolicy (crd.projectcalico.org): "),
        ("CiliumNetworkPolicy", "skipped CiliumNetworkPolicy (cilium.io): "),
        ("ServiceAccount", "skipped ServiceAccount (core): "),
    ],
)
def test_forbidden_cilium_or_calico_kind_is_a_warning_naming_kind_and_group(
    kube, kubeconfig, key, expected
):
    kube.forbid(key)
    collector = LiveCollector.from_kubeconfig(kubeconfig)

    kept = collect(collector)

    assert kept[key] == []
    assert kept["projectcalico.org/GlobalNetworkPolicy"] == ["security.block"]  # others listed
    assert kept["CiliumClusterwideNetworkPolicy"] == ["deny-all"]
    [warning] = collector.warnings
    assert warning.startswith(expected + "forbidden")
    assert f'grant "list" on "{KIND_TABLE[key].plural}"' in warning


def test_a_calico_list_whose_connection_keeps_dropping_fails_the_collection(kube, kubeconfig):
    kube.drop_connection("projectcalico.org/GlobalNetworkPolicy", times=100)

    error = fail_with(LiveCollector.from_kubeconfig(kubeconfig, **FAST))

    assert "listing globalnetworkpolicies" in str(error)
    assert "the connection broke" in str(error)


def test_token_mode(kube):
    collector = LiveCollector.from_token(kube.url, SECRET, page_size=3)

    assert collect(collector)["Pod"] == [f"pod-{i}" for i in range(7)]
    assert [q.get("limit") for q in requests_to(kube, "/api/v1/pods")] == ["3", "3", "3"]


def test_fetches_one_page_at_a_time(kube, kubeconfig):
    pairs = LiveCollector.from_kubeconfig(kubeconfig, page_size=2).fetch()

    assert next(kind for kind, _ in pairs if kind == "Pod") == "Pod"

    assert len(requests_to(kube, "/api/v1/pods")) == 1  # the next page waits for the consumer
    pairs.close()


def test_serves_generated_objects_without_a_list(tmp_path):
    with FakeKube({"Pod": Generated(1234, _pod)}, token=None) as kube:
        collector = LiveCollector.from_token(kube.url, None, page_size=500)

        kept = collect(collector)

    assert len(kept["Pod"]) == len(set(kept["Pod"])) == 1234
    assert [q.get("limit") for q in requests_to(kube, "/api/v1/pods")] == ["500"] * 3


# -- expired continue tokens ----------------------------------------------------------


def test_expired_continue_token_restarts_the_list(kube, kubeconfig):
    kube.expire_continue_once("Pod")
    pairs = list(LiveCollector.from_kubeconfig(kubeconfig, page_size=3).fetch())

    pods = [obj for kind, obj in pairs if kind == "Pod"]
    assert pods.count(None) == 1
    after_restart = pods[pods.index(None) + 1 :]
    assert [p["metadata"]["name"] for p in after_restart] == [f"pod-{i}" for i in range(7)]
    queries = requests_to(kube, "/api/v1/pods")
    assert "continue" in queries[1] and "continue" not in queries[2]  # 410, then from the start


def test_restart_sees_the_objects_as_they_are_now(kube, kubeconfig):
    """A list that changed under our feet (etcd compacted) ends with the new set only."""
    pairs = LiveCollector.from_kubeconfig(kubeconfig, page_size=3).fetch()
    kept = {kind: [] for kind in KINDS}
    for kind, obj in pairs:
        if obj is None:
            kept[kind].clear()
            continue
        kept[kind].append(obj["metadata"]["name"])
        if obj["metadata"]["name"] == "pod-0":
            kube.set_objects("Pod", [_pod(i) for i in range(10, 14)])

    assert kept["Pod"] == ["pod-10", "pod-11", "pod-12", "pod-13"]


def test_a_list_that_always_expires_is_read_unpaged_after_the_restarts(kube, kubeconfig):
    """etcd compacting faster than the pages arrive: as client-go's pager does, one full
    list without ``limit`` after ``max_restarts`` restarts, and a warning saying so."""
    kube.expire_continue_always("Pod")
    collector = LiveCollector.from_kubeconfig(kubeconfig, page_size=2, max_restarts=2)

    pods = [obj for kind, obj in collector.fetch() if kind == "Pod"]

    after_last_restart = pods[len(pods) - pods[::-1].index(None) :]
    assert [p["metadata"]["name"] for p in after_last_restart] == [f"pod-{i}" for i in range(7)]
    assert pods.count(None) == 3
    queries = requests_to(kube, "/api/v1/pods")
    assert "limit" not in queries[-1] and "continue" not in queries[-1]
    assert [q.get("limit") for q in queries[:-1]] == ["2"] * (len(queries) - 1)
    assert collector.warnings == [
        "the list of pods expired (410 Gone) 3 times while paging; it was read in one request without paging"
    ]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited_for(kube, kubeconfig, status):
    kube.fail("Pod", status=status, times=1, retry_after="1")
    collector = LiveCollector.from_kubeconfig(kubeconfig, attempts=3, backoff=0.001)

    started = time.monotonic()
    pods = [obj for kind, obj in collector.fetch() if kind == "Pod"]
    waited = time.monotonic() - started

    assert len(pods) == 7
    assert 1.0 <= waited < 5  # the server's second, not the 1 ms backoff


def test_retry_after_as_an_http_date_and_beyond_the_read_timeout_is_capped(kube, kubeconfig):
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    kube.fail("Pod", status=429, times=1, retry_after=later)
    collector = LiveCollector.from_kubeconfig(kubeconfig, attempts=2, backoff=0.001, read_timeout=1)

    started = time.monotonic()
    pods = [obj for kind, obj in collector.fetch() if kind == "Pod"]

    assert len(pods) == 7
    assert 1.0 <= time.monotonic() - started < 5


# -- refusals -------------------------------------------------------------------------


def test_wrong_token_is_a_clear_401(kube, tmp_path, caplog):
    path = kube.write_kubeconfig(tmp_path / "kubeconfig", token="not-the-token")
    collector = LiveCollector.from_kubeconfig(path, **FAST)

    error = fail_with(collector)

    assert "rejected the credentials (401 Unauthorized)" in str(error)
    assert "check the token or kubeconfig user" in str(error)
    assert len(kube.requests) == 1  # a 401 is not retried
    assert "not-the-token" not in str(error)


def test_401_while_listing_names_the_resource(kube):
    collector = LiveCollector.from_token(kube.url, SECRET, page_size=2)

    with pytest.raises(CollectionError) as info:
        for kind, _ in collector.fetch():
            if kind == "Pod":
                kube.token = "rotated"  # the token is revoked halfway through the pods

    assert "(401 Unauthorized) while listing pods" in str(info.value)


def test_forbidden_pods_name_the_verb_resource_and_rbac(kube, kubeconfig):
    kube.forbid("Pod")

    error = fail_with(LiveCollector.from_kubeconfig(kubeconfig, **FAST))

    message = str(error)
    assert 'cannot list pods (group "", cluster scope)' in message
    assert 'grant "list" on "pods"' in message and "deploy/rbac.yaml" in message
    assert (
        'User "system:serviceaccount:x:y" cannot list resource "pods"' in message
    )  # the server's words
    assert len(requests_to(kube, "/api/v1/pods")) == 1


def test_forbidden_networkpolicies_name_their_group(kube, kubeconfig):
    kube.forbid("NetworkPolicy")

    error = fail_with(LiveCollector.from_kubeconfig(kubeconfig))

    assert 'cannot list networkpolicies (group "networking.k8s.io", cluster scope)' in str(error)


@pytest.mark.parametrize("kind, plural", [("Service", "services"), ("Node", "nodes")])
def test_forbidden_optional_kind_is_a_warning(kube, kubeconfig, kind, plural):
    kube.forbid(kind)
    collector = LiveCollector.from_kubeconfig(kubeconfig)

    kept = collect(collector)

    assert kept[kind] == []
    assert len(kept["Pod"]) == 7 and len(kept["NetworkPolicy"]) == 3
    assert len(collector.warnings) == 1
    assert f"skipped {plural}" in collector.warnings[0]
    assert f'grant "list" on "{plural}"' in collector.warnings[0]


def test_optional_kind_forbidden_halfway_retracts_what_it_yielded(kube, kubeconfig):
    pairs = LiveCollector.from_kubeconfig(kubeconfig, page_size=1).fetch()
    received = []
    for kind, obj in pairs:
        if kind == "Service":
            received.append(obj)
            kube.forbid("Service")

    assert received[0]["metadata"]["name"] == "web" and received[1:] == [None]


# -- transient failures ----------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(kube, kubeconfig, status, caplog):
    kube.fail("Pod", status=status, times=2)
    collector = LiveCollector.from_kubeconfig(kubeconfig, **FAST)

    with caplog.at_level(logging.WARNING):
        kept = collect(collector)

    assert len(kept["Pod"]) == 7
    assert len(requests_to(kube, "/api/v1/pods")) == 3
    assert "retrying" in caplog.text and "/api/v1/pods" in caplog.text


def test_server_errors_that_persist_give_a_clear_error(kube, kubeconfig):
    kube.fail("Pod", status=503, times=100)

    error = fail_with(LiveCollector.from_kubeconfig(kubeconfig, **FAST))

    message = str(error)
    assert "listing pods" in message and "GET /api/v1/pods" in message
    assert "failed 4 times" in message
    assert "503 Service Unavailable: fake failure" in message
    assert len(requests_to(kube, "/api/v1/pods")) == 4


def test_a_slow_answer_times_out_and_is_retried(kube, kubeconfig):
    kube.delay("Pod", 5, times=1)
    collector = LiveCollector.from_kubeconfig(kubeconfig, read_timeout=0.3, **FAST)

    assert len(collect(collector)["Pod"]) == 7
    assert len(requests_to(kube, "/api/v1/pods")) == 2


def test_an_answer_that_never_comes_is_an_error(kube, kubeconfig):
    kube.delay("Pod", 5)
    collector = LiveCollector.from_kubeconfig(kubeconfig, read_timeout=0.2, attempts=2, backoff=0)

    error = fail_with(collector)

    assert "GET /api/v1/pods" in str(error) and "failed 2 times" in str(error)
    assert "read timeout of 0.2 s" in str(error)


@pytest.mark.parametrize("mid_body", [False, True], ids=["before-answer", "mid-body"])
def test_dropped_connections_are_retried(kube, kubeconfig, mid_body):
    kube.drop_connection("Pod", times=2, mid_body=mid_body)

    kept = collect(LiveCollector.from_kubeconfig(kubeconfig, page_size=4, **FAST))

    assert kept["Pod"] == [f"pod-{i}" for i in range(7)]
    assert len(requests_to(kube, "/api/v1/pods")) == 4


def test_connections_dropped_every_time_give_a_clear_error(kube, kubeconfig):
    kube.drop_connection("NetworkPolicy", times=100)

    error = fail_with(LiveCollector.from_kubeconfig(kubeconfig, **FAST))

    assert "listing networkpolicies" in str(error)
    assert "the connection broke" in str(error)


# -- unreachable servers ----------------------------------------------------------------


def test_refused_connection_names_the_host():
    port = closed_port()

    error = fail_with(LiveCollector.from_token(f"http://127.0.0.1:{port}", SECRET, **FAST))

    assert f"http://127.0.0.1:{port}" in str(error)
    assert "cannot connect" in str(error) and "reading the server version" in str(error)


def test_unknown_host_names_the_host(monkeypatch):
    def no_dns(host, *args, **kwargs):
        # Answer as a resolver would, without depending on this machine's DNS.
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)

    error = fail_with(LiveCollector.from_token("http://no-such-apiserver.invalid:6443", SECRET))

    assert "cannot resolve the API server host 'no-such-apiserver.invalid'" in str(error)


def test_tls_failure_names_the_host(kube):
    https_url = kube.url.replace("http://", "https://")

    error = fail_with(LiveCollector.from_token(https_url, SECRET, **FAST))

    assert f"TLS with the API server {https_url} failed" in str(error)


def test_bad_url_and_missing_ca_file(tmp_path):
    assert "not an http(s)://host:port URL" in str(
        fail_with(LiveCollector.from_token("10.0.0.1:6443", "t"))
    )
    missing = tmp_path / "ca.crt"
    error = fail_with(LiveCollector.from_token("https://10.0.0.1:6443", "t", ca_file=missing))
    assert str(missing) in str(error)


# -- configuration ----------------------------------------------------------------------


def test_unknown_context_lists_the_available_ones(kubeconfig):
    error = fail_with(LiveCollector.from_kubeconfig(kubeconfig, context="prod"))

    assert str(kubeconfig) in str(error)
    assert "no context 'prod'; available contexts: 'fake'" in str(error)


def test_missing_kubeconfig_names_the_file(tmp_path):
    path = tmp_path / "nope.yaml"

    error = fail_with(LiveCollector.from_kubeconfig(path))

    assert f"kubeconfig {str(path)!r} does not exist" in str(error)


def test_broken_kubeconfig_does_not_quote_its_lines(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(f"users:\n- name: x\n  user: {{token: {SECRET}\n")

    error = fail_with(LiveCollector.from_kubeconfig(path))

    assert "is not valid YAML" in str(error) and SECRET not in str(error)


def test_kubeconfig_leaves_the_global_configuration_and_file_alone(kube, kubeconfig):
    default_host = kube_client.Configuration.get_default_copy().host
    before = kubeconfig.read_text()

    collect(LiveCollector.from_kubeconfig(kubeconfig))

    assert kube_client.Configuration.get_default_copy().host == default_host
    assert kubeconfig.read_text() == before


def test_in_cluster_reads_the_service_account(kube, tmp_path, monkeypatch):
    token_file, ca_file = tmp_path / "token", tmp_path / "ca.crt"
    token_file.write_text(SECRET)
    ca_file.write_text("not a real CA, the handshake fails before it matters")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token_file))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca_file))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(kube.port))
    default_host = kube_client.Configuration.get_default_copy().host

    # In-cluster always speaks TLS, and FakeKube does not: it gets as far as the handshake.
    error = fail_with(LiveCollector.from_in_cluster(**FAST))

    assert f"https://127.0.0.1:{kube.port}" in str(error)
    assert kube_client.Configuration.get_default_copy().host == default_host
    assert SECRET not in str(error)


def test_in_cluster_outside_a_pod(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    error = fail_with(LiveCollector.from_in_cluster())

    assert "in-cluster configuration is unavailable" in str(error)


def test_constructor_wants_exactly_one_source():
    with pytest.raises(ValueError):
        LiveCollector(kubeconfig="k", url="https://x")
    with pytest.raises(ValueError):
        LiveCollector()
    with pytest.raises(ValueError):
        LiveCollector(url="https://x", context="c")


# -- the token stays secret ----------------------------------------------------------------


def test_repr_hides_the_token():
    collector = LiveCollector.from_token("https://10.0.0.1:6443", SECRET)

    assert "***" in repr(collector) and SECRET not in repr(collector)
    assert LiveCollector.sensitive_parameters == ("token",)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda kube: kube.fail("Pod", status=500, times=100),
        lambda kube: kube.forbid("Pod"),
        lambda kube: kube.drop_connection("Pod", times=100),
        lambda kube: kube.delay("Pod", 5),
        lambda kube: setattr(kube, "token", "rotated"),
    ],
    ids=["5xx", "403", "dropped", "timeout", "401"],
)
@pytest.mark.parametrize("mode", ["token", "kubeconfig"])
def test_the_token_never_reaches_errors_or_logs(kube, kubeconfig, caplog, break_it, mode):
    break_it(kube)
    options = {"read_timeout": 0.2, "attempts": 2, "backoff": 0}
    if mode == "token":
        collector = LiveCollector.from_token(kube.url, SECRET, **options)
    else:
        collector = LiveCollector.from_kubeconfig(kubeconfig, **options)

    with caplog.at_level(logging.DEBUG):
        error = fail_with(collector)

    assert_no_secret(error, collector, caplog)


def test_the_token_is_scrubbed_even_if_a_server_echoes_it(kube, monkeypatch):
    kube.fail("Pod", status=500, times=100)
    monkeypatch.setattr("tests.fakekube.status_body", _echoing_status_body)
    collector = LiveCollector.from_token(kube.url, SECRET, attempts=1)

    error = fail_with(collector)

    assert "***" in str(error) and SECRET not in str(error)


def _echoing_status_body(code, reason, message):
    return {
        "kind": "Status",
        "status": "Failure",
        "message": f"bad header Bearer {SECRET}",
        "code": code,
    }


# -- credentials in the URL ---------------------------------------------------------------

URL_PASSWORD = "hunter2-in-the-url"


def test_a_password_in_the_api_url_never_reaches_errors_or_repr():
    port = closed_port()
    url = f"http://admin:{URL_PASSWORD}@127.0.0.1:{port}"
    collector = LiveCollector.from_token(url, SECRET, **FAST)

    error = fail_with(collector)

    assert URL_PASSWORD not in str(error) and URL_PASSWORD not in repr(collector)
    assert f"http://***@127.0.0.1:{port}" in str(error)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("GET https://u:p@h:6443/api failed", "GET https://***@h:6443/api failed"),
        ("http://token@h and HTTP://a:b@[::1]:8080/x", "http://***@h and HTTP://***@[::1]:8080/x"),
        ("no URL here: user:pass@host", "no URL here: user:pass@host"),
        ("https://h/api?x=a@b", "https://h/api?x=a@b"),
    ],
)
def test_redact_urls(text, expected):
    assert redact_urls(text) == expected
