"""Pod, workload and policy pages and "explain this connection", on the demo cluster."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from django.urls import reverse

from auditor import storage
from auditor.models import Cluster, Snapshot
from netpol import summaries as objects
from netpol.engine import ClusterModel

from . import objects as k8s

STOREFRONT = "shop-frontend/storefront-0"
ALLOWED = {
    "from": "shop-frontend/Deployment/storefront",
    "to": "shop-backend/Deployment/catalog",
    "port": "http",
}
DENIED = {
    "from": "payments/Deployment/payments-api",
    "to": "kube-system/Deployment/coredns",
    "port": "53",
    "protocol": "UDP",
}


def pod_url(namespace, pod, cluster="demo"):
    return reverse("webui:pod", args=[cluster, namespace, pod])


def workload_url(namespace, kind, name, cluster="demo"):
    return reverse("webui:workload", args=[cluster, namespace, kind, name])


def policy_url(namespace, name, cluster="demo"):
    return reverse("webui:policy", args=[cluster, namespace, name])


def reach_url(cluster="demo"):
    return reverse("webui:reach", args=[cluster])


PAGES = [
    (pod_url("shop-frontend", "storefront-0"), {}),
    (workload_url("payments", "Deployment", "payments-api"), {}),
    (policy_url("shop-frontend", "frontend"), {}),
    (reach_url(), {}),
    (reach_url(), ALLOWED),
]


# --- Access --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "auditor", "admin"])
@pytest.mark.parametrize("url,query", PAGES)
def test_every_role_reads_the_pages(client_as, demo_snapshot, role, url, query):
    assert client_as(role).get(url, query).status_code == 200


@pytest.mark.parametrize("url,query", PAGES)
def test_a_user_without_role_is_refused(client_as, demo_snapshot, url, query):
    response = client_as("stranger").get(url, query)
    assert response.status_code == 403


@pytest.mark.parametrize("url,query", PAGES)
def test_anonymous_users_are_sent_to_log_in(client, demo_snapshot, url, query):
    response = client.get(url, query)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- Not found and bad parameters ------------------------------------------------------------


@pytest.mark.parametrize(
    "url,message",
    [
        (pod_url("shop-frontend", "storefront-99"), "has no pod shop-frontend/storefront-99"),
        (pod_url("nowhere", "x"), "has no pod nowhere/x"),
        (
            workload_url("shop-frontend", "Deployment", "nope"),
            "has no pod of a Deployment named shop-frontend/nope",
        ),
        (
            workload_url("batch", "Deployment", "legacy-exporter"),
            "legacy-exporter",
        ),  # 0 replicas: no pod
        (policy_url("shop-frontend", "nope"), "has no NetworkPolicy shop-frontend/nope"),
    ],
)
def test_unknown_objects_are_404_with_a_message(client_as, demo_snapshot, url, message):
    response = client_as("viewer").get(url)
    assert response.status_code == 404
    assert message in response.content.decode()


def test_unknown_cluster_is_404(client_as, demo_snapshot):
    assert (
        client_as("viewer")
        .get(pod_url("shop-frontend", "storefront-0", cluster="prod"))
        .status_code
        == 404
    )
    assert client_as("viewer").get(reach_url(cluster="prod")).status_code == 404


@pytest.mark.parametrize(
    "snapshot,status,message",
    [
        ("9999", 404, "has no snapshot #9999"),
        ("junk", 400, "is not a snapshot number"),
    ],
)
def test_bad_snapshot_parameter(client_as, demo_snapshot, snapshot, status, message):
    response = client_as("viewer").get(
        pod_url("shop-frontend", "storefront-0"), {"snapshot": snapshot}
    )
    assert response.status_code == status and message in response.content.decode()


def test_a_cluster_without_snapshot_shows_its_empty_state(client_as, db):
    Cluster.objects.create(name="fresh", source=Cluster.Source.MANIFESTS, manifest_path="x")
    for url in (pod_url("a", "b", cluster="fresh"), reach_url(cluster="fresh")):
        response = client_as("viewer").get(url)
        assert response.status_code == 200 and b"No snapshot yet" in response.content


# --- Pod ---------------------------------------------------------------------------------------


def test_pod_page_shows_policies_reach_exposure_and_findings(client_as, demo_snapshot):
    page = client_as("viewer").get(pod_url("shop-frontend", "storefront-0")).content.decode()
    assert "Pod shop-frontend/storefront-0" in page and ">isolated<" in page
    # The policies that select it, linked.
    for name in ("default-deny-all", "allow-dns-egress", "frontend", "storefront-allow-cdn"):
        assert policy_url("shop-frontend", name) in page
    # Who can reach it: the ingress controller on the named port http, resolved.
    assert workload_url("ingress-nginx", "Deployment", "ingress-nginx-controller") in page
    assert "TCP/8080" in page
    # Whom it can reach: the backend tier and DNS.
    assert workload_url("shop-backend", "Deployment", "catalog") in page
    assert workload_url("kube-system", "Deployment", "coredns") in page
    # Its external exposure: the CDN range, public.
    assert "203.0.113.0/24" in page and "of the public IPv4 space" in page
    # An explain link prefilled from a row, and the form prefilled with this pod.
    assert (
        "from=ingress-nginx/Deployment/ingress-nginx-controller&amp;to=shop-frontend/storefront-0&amp;port=8080"
        in page
    )
    assert 'name="from" value="shop-frontend/storefront-0"' in page
    # Its findings, linked.
    assert "NP020" in page and "/findings/" in page


def test_host_network_pod_is_policy_behaviour_undefined(client_as, demo_snapshot):
    page = client_as("viewer").get(pod_url("kube-system", "calico-node-0")).content.decode()
    assert "policy behaviour undefined" in page
    assert 'id="inbound"' not in page and "is not decided by NetworkPolicy" in page
    assert "NP037" in page


def test_pod_with_no_address_is_explained(client_as, db, tmp_path):
    manifest = tmp_path / "cluster.json"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    k8s.namespace("shop"),
                    k8s.pod("shop", "web-0", {"app": "web"}, ip="10.244.0.10"),
                    k8s.pod("shop", "web-1", {"app": "web"}, ip=None, phase="Pending"),
                ],
            }
        )
    )
    _snapshot(tmp_path, "tiny")
    page = client_as("viewer").get(pod_url("shop", "web-1", cluster="tiny")).content.decode()
    assert "no traffic" in page and "has no IP" in page
    page = client_as("viewer").get(pod_url("shop", "web-0", cluster="tiny")).content.decode()
    assert "not isolated" in page and "No policy selects it" in page


# --- Workload ---------------------------------------------------------------------------------


def test_workload_page(client_as, demo_snapshot):
    page = (
        client_as("viewer")
        .get(workload_url("payments", "Deployment", "payments-api"))
        .content.decode()
    )
    assert "Deployment payments/payments-api" in page
    assert "4 of 4 pods" in page and policy_url("payments", "payments-api") in page
    # Orders cannot reach it (the demo's broken namespaceSelector), and it reaches no pod.
    assert "No pod can open a connection to it." in page
    assert "It can open a connection to no pod." in page
    # 0.0.0.0/0 except the metadata address on 443: nearly all of the internet.
    assert "0.0.0.0/0" in page and "169.254.169.254/32" in page
    assert "over 99.99% of the public IPv4 space" in page
    for rule in ("NP032", "NP013", "NP024"):
        assert rule in page
    for i in range(4):
        assert pod_url("payments", f"payments-api-{i}") in page


def test_workload_exposure_flags_the_metadata_endpoint(client_as, demo_snapshot):
    page = (
        client_as("viewer")
        .get(workload_url("shop-backend", "Deployment", "catalog"))
        .content.decode()
    )
    assert "Includes the cloud metadata endpoint 169.254.169.254" in page
    assert "NP022" in page


def test_host_network_workload(client_as, demo_snapshot):
    page = (
        client_as("viewer")
        .get(workload_url("monitoring", "DaemonSet", "node-exporter"))
        .content.decode()
    )
    assert "Policy behaviour undefined" in page and "3 of its pods use hostNetwork" in page


def test_a_pod_without_owner_redirects_to_its_pod_page(client_as, demo_snapshot):
    response = client_as("viewer").get(
        workload_url("shop-frontend", "Pod", "storefront-0"), {"snapshot": demo_snapshot.pk}
    )
    assert response.status_code == 302
    assert (
        response["Location"]
        == pod_url("shop-frontend", "storefront-0") + f"?snapshot={demo_snapshot.pk}"
    )


# --- Policy -------------------------------------------------------------------------------------


def test_policy_page_shows_yaml_selection_rules_and_findings(client_as, demo_snapshot):
    page = client_as("viewer").get(policy_url("shop-frontend", "frontend")).content.decode()
    assert "apiVersion: networking.k8s.io/v1" in page and "kind: NetworkPolicy" in page
    assert "name: frontend" in page and "namespace: shop-frontend" in page
    assert (
        'data-copy-target="policy-yaml"' in page
        and 'id="policy-yaml"' in page
        and "js/copy.js" in page
    )
    # What it selects: both frontends.
    assert workload_url("shop-frontend", "Deployment", "storefront") in page
    assert workload_url("shop-frontend", "Deployment", "admin-ui") in page
    # What it allows: the peers resolved, the named ports resolved per destination.
    assert 'id="ingress-0"' in page and 'id="egress-0"' in page
    assert workload_url("ingress-nginx", "Deployment", "ingress-nginx-controller") in page
    assert (
        "TCP/http" in page and "TCP/8080" in page and "TCP/metrics" in page and "TCP/9090" in page
    )


def test_policy_page_lists_its_findings(client_as, demo_snapshot):
    page = (
        client_as("viewer").get(policy_url("shop-backend", "orders-to-payments")).content.decode()
    )
    assert "NP030" in page and "Matches no running pod." in page


def test_policy_page_highlights_the_rule_an_explanation_points_at(client_as, demo_snapshot):
    client = client_as("viewer")
    page = client.get(
        policy_url("shop-frontend", "frontend"), {"rule": "egress-0", "peer": "0", "port": "0"}
    ).content.decode()
    assert 'class="rule highlight" id="egress-0"' in page
    assert "the rule the explanation points at" in page
    page = client.get(
        policy_url("shop-frontend", "frontend"), {"rule": "<script>", "peer": "x"}
    ).content.decode()
    assert 'class="rule highlight"' not in page and "the rule the explanation points at" not in page
    assert "<script>" not in page.split("<main>")[1]


def test_allow_all_policy_shows_every_peer(client_as, demo_snapshot):
    page = (
        client_as("viewer").get(policy_url("shop-frontend", "admin-ui-allow-all")).content.decode()
    )
    assert "Every pod and every address" in page and "All ports" in page and "NP010" in page


# --- Explain this connection ----------------------------------------------------------------------


def test_reach_form_alone(client_as, demo_snapshot):
    response = client_as("viewer").get(reach_url())
    page = response.content.decode()
    assert response.status_code == 200 and 'name="from"' in page and "verdict" not in page


def test_reach_allowed_names_the_policies_and_rules(client_as, demo_snapshot):
    response = client_as("viewer").get(reach_url(), ALLOWED)
    page = response.content.decode()
    assert response.status_code == 200
    assert "ALLOWED" in page and "TCP/8080" in page and "port “http”" in page
    assert policy_url("shop-frontend", "frontend") + "?rule=egress-0&amp;peer=0&amp;port=0" in page
    assert (
        policy_url("shop-backend", "backend-api") + "?rule=ingress-0&amp;peer=0&amp;port=0" in page
    )
    assert "spec.egress[0]" in page and "spec.ingress[0]" in page


def test_reach_denied_names_the_isolating_policies(client_as, demo_snapshot):
    page = client_as("viewer").get(reach_url(), DENIED).content.decode()
    assert "DENIED" in page and "UDP/53" in page
    assert "Egress denied at payments/payments-api-0" in page
    assert "Isolated by" in page and policy_url("payments", "payments-api") in page
    assert "none of their egress rules allows this connection" in page
    # The other side would let it in: CoreDNS admits every namespace.
    assert policy_url("kube-system", "coredns") + "?rule=ingress-0" in page


def test_reach_by_pod_and_address(client_as, demo_snapshot):
    client = client_as("viewer")
    page = client.get(
        reach_url(), {"from": "shop-backend/catalog-0", "to": "169.254.169.254", "port": "80"}
    ).content.decode()
    assert "ALLOWED" in page and policy_url("shop-backend", "catalog-egress-internet") in page
    page = client.get(
        reach_url(), {"from": "8.8.8.8", "to": STOREFRONT, "port": "8080"}
    ).content.decode()
    assert "DENIED" in page and "Ingress denied at shop-frontend/storefront-0" in page


def test_reach_with_a_host_network_pod_is_undefined(client_as, demo_snapshot):
    page = (
        client_as("viewer")
        .get(reach_url(), {"from": "kube-system/calico-node-0", "to": STOREFRONT, "port": "8080"})
        .content.decode()
    )
    assert "UNDEFINED" in page and "policy behaviour undefined" in page


@pytest.mark.parametrize(
    "query,message",
    [
        (
            {"from": "shop-frontend/nope-0", "to": STOREFRONT, "port": "80"},
            "No pod shop-frontend/nope-0 in this snapshot (source).",
        ),
        (
            {"from": STOREFRONT, "to": "shop-backend/Deployment/nope", "port": "80"},
            "No workload Deployment shop-backend/nope",
        ),
        (
            {"from": "10.0.0.999", "to": STOREFRONT, "port": "80"},
            "The source &#x27;10.0.0.999&#x27; is neither",
        ),
        ({"from": STOREFRONT, "to": "", "port": "80"}, "Give the destination"),
        (
            {"from": STOREFRONT, "to": "shop-backend/catalog-0", "port": "0"},
            "Port 0 is outside 1-65535.",
        ),
        (
            {"from": STOREFRONT, "to": "shop-backend/catalog-0", "port": "70000"},
            "Port 70000 is outside 1-65535.",
        ),
        ({"from": STOREFRONT, "to": "shop-backend/catalog-0", "port": ""}, "Give the port"),
        (
            {"from": STOREFRONT, "to": "shop-backend/catalog-0", "port": "-5"},
            "has no TCP port named &#x27;-5&#x27;",
        ),
        (
            {"from": STOREFRONT, "to": "shop-backend/catalog-0", "port": "80", "protocol": "ICMP"},
            "Protocol &#x27;ICMP&#x27; is not one of TCP, UDP, SCTP.",
        ),
        (
            {"from": STOREFRONT, "to": "shop-backend/catalog-0", "port": "postgres"},
            "shop-backend/catalog-0 has no TCP port named &#x27;postgres&#x27;",
        ),
        (
            {"from": STOREFRONT, "to": "1.2.3.4", "port": "http"},
            "can only be resolved against a destination pod",
        ),
        ({"from": "x" * 700, "to": STOREFRONT, "port": "80"}, "The source is too long."),
    ],
)
def test_reach_bad_input_redisplays_the_form_with_a_message(
    client_as, demo_snapshot, query, message
):
    response = client_as("viewer").get(reach_url(), query)
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert 'class="reach-form' in page and 'id="verdict"' not in page
    if query.get("from") and len(query["from"]) < 100:
        assert f'value="{query["from"]}"' in page


# --- Older snapshots ----------------------------------------------------------------------------------


def test_pages_show_an_older_snapshot_and_keep_it_in_links(client_as, demo_snapshot):
    from auditor import services

    newer = services.snapshot_request(
        cluster=demo_snapshot.cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
    )
    services.snapshot_collect(snapshot_id=newer.pk)
    client = client_as("viewer")
    keep = f"snapshot={demo_snapshot.pk}"
    page = client.get(
        pod_url("shop-frontend", "storefront-0"), {"snapshot": demo_snapshot.pk}
    ).content.decode()
    assert f"Snapshot #{demo_snapshot.pk} of" in page and "show the current snapshot" in page
    assert policy_url("shop-frontend", "frontend") + "?" + keep in page
    assert f'<input type="hidden" name="snapshot" value="{demo_snapshot.pk}">' in page
    page = client.get(pod_url("shop-frontend", "storefront-0")).content.decode()
    assert f"Snapshot #{newer.pk} of" in page and keep not in page
    page = client.get(reach_url(), {**ALLOWED, "snapshot": demo_snapshot.pk}).content.decode()
    assert "ALLOWED" in page and f"&amp;{keep}#egress-0" in page


@pytest.mark.parametrize(
    "ref,url",
    [
        (
            "Pod/shop-frontend/storefront-0",
            pod_url("shop-frontend", "storefront-0") + "?snapshot=7",
        ),
        (
            "Deployment/shop-backend/catalog",
            workload_url("shop-backend", "Deployment", "catalog") + "?snapshot=7",
        ),
        (
            "NetworkPolicy/payments/payments-api",
            policy_url("payments", "payments-api") + "?snapshot=7",
        ),
        ("Namespace/batch", reverse("webui:namespace", args=["demo", "batch"]) + "?snapshot=7"),
    ],
)
def test_a_finding_object_ref_links_to_its_page(db, ref, url):
    """The partial the finding page uses for its objects (with ``objects.ref_parts``)."""
    from django.template.loader import render_to_string

    cluster = Cluster(name="demo")
    html = render_to_string(
        "webui/_objects_ref.html", {"r": objects.ref_parts(ref), "cluster": cluster, "snap": 7}
    )
    assert f'href="{url}"' in html and f"<code>{ref}</code>" in html
    assert (
        render_to_string(
            "webui/_objects_ref.html", {"r": objects.ref_parts("Odd"), "cluster": cluster}
        ).strip()
        == "<code>Odd</code>"
    )


# --- The summaries, without Django ------------------------------------------------------------------


def _open_cluster(namespaces: int) -> ClusterModel:
    """Many namespaces of 15 unisolated workloads each, and a database only its port reaches."""
    found = {"Namespace": [k8s.namespace("data")], "Pod": [], "NetworkPolicy": []}
    for i in range(namespaces):
        ns = f"team-{i:03d}"
        found["Namespace"].append(k8s.namespace(ns))
        for j in range(15):
            found["Pod"].append(k8s.pod(ns, f"app-{j}-0", {"app": f"app-{j}"}, ip=f"10.{i}.{j}.1"))
    found["Pod"].append(
        k8s.pod("data", "db-0", {"app": "db"}, ip="10.250.0.1", ports=[("pg", 5432, "TCP")])
    )
    found["NetworkPolicy"].append(
        k8s.policy(
            "data",
            "db",
            {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [{"ports": [{"port": "pg"}]}],
            },
        )
    )
    return ClusterModel.from_objects(found["Namespace"], found["Pod"], (), found["NetworkPolicy"])


def test_peer_summaries_are_capped_with_counts():
    model = _open_cluster(40)
    summary = objects.pod_summary(model, "data/db-0")
    inbound = summary["traffic"]["inbound"]
    assert (
        inbound["everyone"]
        and inbound["namespace_count"] == 41
        and inbound["pod_count"] == 40 * 15 + 1
    )
    assert (
        len(inbound["namespaces"]) == objects.NAMESPACE_CAP
        and inbound["more"] == 41 - objects.NAMESPACE_CAP
    )
    assert inbound["namespaces"][0]["name"] == "data"  # its own namespace first
    team = inbound["namespaces"][1]
    assert team["whole"] and team["workload_count"] == 15
    assert (
        len(team["workloads"]) == objects.WORKLOAD_CAP and team["more"] == 15 - objects.WORKLOAD_CAP
    )
    assert team["workloads"][0]["ports"] == ["TCP/5432"] and team["workloads"][0]["probe"] == (
        "TCP",
        5432,
    )
    assert summary["traffic"]["addresses_in"]["rules"][0]["cidr"] == "every address"
    # An unisolated pod reaches the database on its named port only, the others on every port.
    outbound = objects.pod_summary(model, "team-001/app-0-0")["traffic"]["outbound"]
    assert [ns["name"] for ns in outbound["namespaces"][:3]] == ["team-001", "data", "team-000"]
    rows = {w["name"]: w for ns in outbound["namespaces"] for w in ns["workloads"]}
    assert rows["db-0"]["ports"] == ["TCP/5432"] and rows["app-0-0"]["ports"] == ["all ports"]


def test_explain_resolves_a_named_port_against_the_destination():
    model = _open_cluster(2)
    question = objects.parse_question(model, "team-001/app-1-0", "data/db-0", "pg", "tcp")
    assert question["port"] == 5432 and question["protocol"] == "TCP"
    result = objects.explain(model, question)
    assert result["allowed"] and result["directions"][-1]["allowed_by"][0]["port_text"] == "TCP/pg"


# --- Scale ---------------------------------------------------------------------------------------------


def _snapshot(directory, name: str) -> Snapshot:
    from auditor import services
    from auditor.services import snapshot_analyze

    cluster = Cluster.objects.create(
        name=name, source=Cluster.Source.MANIFESTS, manifest_path=str(directory)
    )
    snapshot = services.snapshot_request(
        cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
    )
    services.snapshot_collect(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    snapshot_analyze(snapshot=snapshot)
    return snapshot


def test_pages_at_5000_pods(client_as, db, tmp_path, capsys):
    """Server time of each page at 5,000 synthetic pods, once the model is cached.

    Reported, not asserted (the figures go to docs/benchmarks.md): a timed assertion
    would fail on a busy CI machine for reasons that have nothing to do with the code."""
    from bench.synthetic import generate_cluster

    cluster = generate_cluster(pods=5000, namespaces=200, policies=1000, seed=0)
    items = [
        obj
        for kind in ("Namespace", "Node", "Pod", "NetworkPolicy", "Service")
        for obj in cluster[kind]
    ]
    (tmp_path / "cluster.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    snapshot = _snapshot(tmp_path, "big")
    model = storage.engine_model(snapshot)
    busiest = max(
        (p for p in model.pods if p.state == "active"),
        key=lambda p: len(model.allowed_connections().sources_of([model.evaluation.class_of[p.key]])),
    )
    ns, name = busiest.key.split("/")
    kind, _, workload = busiest.workload_id.partition("/")
    policy = max(model.policies, key=lambda p: len(p.ingress) + len(p.egress))
    target = next(p for p in model.pods if p.state == "active" and p.namespace != ns)
    urls = {
        "pod": pod_url(ns, name, cluster="big"),
        "workload": workload_url(ns, kind, workload, cluster="big"),
        "policy": policy_url(policy.namespace, policy.name, cluster="big"),
        "reach": reach_url(cluster="big") + f"?from={busiest.key}&to={target.key}&port=8080",
    }
    client = client_as("viewer")
    timings = {}
    for page, url in urls.items():
        assert client.get(url).status_code == 200  # the first request may build caches
        start = time.perf_counter()
        response = client.get(url)
        timings[page] = round((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    with capsys.disabled():
        print(f"\nobject pages at {len(model.pods)} pods, server time in ms: {timings}")


# --- Cluster-wide policies (issue 13) -----------------------------------------------------------


def test_explain_names_the_cluster_policy_kind_and_tier_that_decided(client_as, db, tmp_path):
    shutil.copy(Path(__file__).parent / "fixtures" / "cli" / "tiers.yaml", tmp_path)
    _snapshot(tmp_path, "tiers")
    query = {"from": "batch/job-0", "to": "shop/db-0", "port": "5432"}
    page = client_as("viewer").get(reach_url(cluster="tiers"), query).content.decode()
    # Egress at the batch pod: the ClusterNetworkPolicy's Admin-tier Deny decided.
    assert "Decided by the Admin tier:" in page
    assert "Admin tier: cnp/isolate-batch rule `deny-all` Deny at priority 50" in page
    assert "NetworkPolicy tier not reached" in page
    # Ingress at shop's database: the Admin tier said nothing, the NetworkPolicy decided.
    assert "Decided by the NetworkPolicy tier:" in page
    query = {"from": "monitoring/prom-0", "to": "shop/web-0", "port": "9100"}
    page = client_as("viewer").get(reach_url(cluster="tiers"), query).content.decode()
    assert "anp/allow-monitoring rule `scrape` Accept at priority 10" in page


def test_demo_explain_names_the_cluster_network_policy_guard_rail(client_as, demo_snapshot):
    query = {"from": "batch/Deployment/queue-worker", "to": "shop-db/postgres-0", "port": "5432"}
    page = client_as("viewer").get(reach_url(), query).content.decode()
    assert "Decided by the Admin tier:" in page
    assert "cnp/batch-workers-not-to-shop-db rule `no-shop-db` Deny at priority 20" in page
    assert demo_snapshot.cluster_policy_count == 1
