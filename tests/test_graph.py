"""The graph: elements built from the engine (checked against edges() and reach), its
limits on big clusters, and the page and JSON views for each role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from bench.synthetic import generate_cluster
from netpol import graph, load_paths
from netpol.engine import ClusterModel
from netpol.findings import audit
from netpol.findings.stored import StoredReport
from tests.objects import namespace, pod, policy

DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster"


@pytest.fixture(scope="module")
def demo():
    model = load_paths([DEMO], warn=lambda message: None)
    return model, StoredReport.from_dict(audit(model).to_dict())


def build(demo, **filters):
    model, report = demo
    return graph.build_graph(model, report, graph.Filters(**filters))


def nodes_of(data) -> dict[str, dict]:
    return {n["data"]["id"]: n for n in data["elements"]["nodes"]}


def edges_of(data) -> dict[tuple[str, str], dict]:
    return {
        (e["data"]["source"], e["data"]["target"]): e["data"] for e in data["elements"]["edges"]
    }


def external_node(data, label: str) -> str:
    return next(n["data"]["id"] for n in data["elements"]["nodes"] if n["data"]["label"] == label)


# --- Namespace level -------------------------------------------------------------------


def test_namespace_edges_are_the_engines_aggregated_edges(demo):
    model, _ = demo
    expected = {
        (f"ns:{e['from']}", f"ns:{e['to']}"): e["ports"]
        for e in model.allowed_connections().edges("namespace")
        if not e["from"].startswith("ipBlock:") and e["from"] != e["to"]
    }
    data = build(demo)
    drawn = {pair: e["ports"] for pair, e in edges_of(data).items() if e["kind"] == "flow"}
    assert drawn == expected
    assert data["layout"] == "cose" and not data["truncated"] and data["empty"] is None
    assert len(nodes_of(data)) == 8 + len(
        [n for n in data["elements"]["nodes"] if n["data"]["kind"] == "external"]
    )


def test_namespace_and_workload_edges_match_the_engine_on_a_synthetic_cluster():
    """Pods with addresses, ipBlocks that hold pod IPs, named ports: still the same edges."""
    model = synthetic(400, 13, 80)
    allowed = model.allowed_connections()
    expected = {
        (f"ns:{e['from']}", f"ns:{e['to']}"): e["ports"]
        for e in allowed.edges("namespace")
        if not e["from"].startswith("ipBlock:") and e["from"] != e["to"]
    }
    data = graph.build_graph(model, None, graph.Filters())
    assert not data["truncated"]
    assert {
        pair: e["ports"] for pair, e in edges_of(data).items() if e["kind"] == "flow"
    } == expected
    for name in ("app-0002", "app-0005"):  # peers few enough to be drawn as workloads
        expected = {
            (f"wl:{e['from']}", f"wl:{e['to']}"): e["ports"]
            for e in allowed.edges("workload")
            if not e["from"].startswith("ipBlock:")
            and e["from"] != e["to"]
            and name in (e["from"].split("/")[0], e["to"].split("/")[0])
        }
        data = graph.build_graph(model, None, graph.Filters(namespace=name))
        assert not data["notes"]
        assert {
            pair: e["ports"] for pair, e in edges_of(data).items() if e["kind"] == "flow"
        } == expected


def test_edge_labels_match_reach(demo):
    model, _ = demo
    edges = edges_of(build(demo))
    db = edges["ns:shop-backend", "ns:shop-db"]
    assert db["ports"] == ["TCP/5432", "TCP/6379"] and db["label"] == "5432, 6379"
    assert model.reach("shop-backend/orders-0", "shop-db/postgres-0", 5432).allowed
    assert model.reach("shop-backend/cart-0", "shop-db/redis-0", 6379).allowed
    assert not model.reach("shop-backend/cart-0", "shop-db/postgres-0", 5433).allowed
    web = edges["ns:ingress-nginx", "ns:shop-frontend"]
    assert web["label"] == "8080"
    assert model.reach(
        "ingress-nginx/ingress-nginx-controller-0", "shop-frontend/storefront-0", 8080
    ).allowed
    assert not model.reach(
        "ingress-nginx/ingress-nginx-controller-0", "shop-frontend/storefront-0", 9090
    ).allowed
    dns = edges["ns:shop-frontend", "ns:kube-system"]
    assert dns["ports"] == ["TCP/53", "UDP/53"] and dns["label"] == "53, 53/udp"
    assert model.reach("shop-frontend/storefront-0", "kube-system/coredns-0", 53, "UDP").allowed
    # batch has no policy: everything, every port, both ways.
    assert edges["ns:batch", "ns:payments"]["label"] == "all ports"
    # Flows inside a namespace are a fact on its node, not a loop.
    assert ("ns:shop-db", "ns:shop-db") not in edges
    shop_db = nodes_of(build(demo))["ns:shop-db"]["data"]
    assert shop_db["internal_ports"] == ["TCP/5432"]
    assert model.reach("shop-db/postgres-1", "shop-db/postgres-0", 5432).allowed


def test_the_storefronts_public_ip_block_is_an_external_node(demo):
    model, _ = demo
    data = build(demo)
    cdn = external_node(data, "203.0.113.0/24")
    edges = edges_of(data)
    assert edges[cdn, "ns:shop-frontend"]["ports"] == ["TCP/8080"]
    assert edges[cdn, "ns:shop-frontend"]["kind"] == "external"
    assert nodes_of(data)[cdn]["classes"] == "external"
    assert model.reach("203.0.113.7", "shop-frontend/storefront-0", 8080).allowed
    # The intended public entry and the egress mistakes are there too.
    internet = external_node(data, "any external IPv4")
    assert edges[internet, "ns:ingress-nginx"]["ports"] == ["TCP/80", "TCP/443"]
    assert (("ns:shop-backend", internet)) in edges  # catalog-egress-internet
    metadata_kept_out = external_node(data, "external IPv4 except 169.254.169.254/32")
    assert edges["ns:payments", metadata_kept_out]["ports"] == ["TCP/443"]


def test_uncovered_and_exposed_namespaces_are_highlighted(demo):
    nodes = nodes_of(build(demo))
    assert set(nodes["ns:batch"]["classes"].split()) == {"namespace", "uncovered", "exposed"}
    assert "partial" in nodes["ns:kube-system"]["classes"]
    assert "partial" in nodes["ns:payments"]["classes"]
    assert nodes["ns:shop-db"]["classes"] == "namespace"
    assert "exposed" in nodes["ns:shop-frontend"]["classes"]  # the CDN range
    facts = dict(nodes["ns:batch"]["data"]["facts"])
    assert (
        facts["Isolated for ingress"] == "0 of 8"
        and facts["Policies"] == "0"
        and facts["Score"] == "0/100"
    )


def test_filters_on_the_namespace_graph(demo):
    around = build(demo, around="shop-db")
    assert all("ns:shop-db" in pair for pair in edges_of(around))
    assert set(nodes_of(around)) == {
        "ns:shop-db",
        "ns:shop-backend",
        "ns:batch",
        "ns:monitoring",
        "ns:kube-system",
    }
    assert "focus" in nodes_of(around)["ns:shop-db"]["classes"]

    external = build(demo, external=True)
    assert external["elements"]["edges"] and all(
        e["kind"] == "external" for e in edges_of(external).values()
    )
    assert "ns:shop-db" not in nodes_of(external)  # nothing from or to outside

    port = build(demo, port=5432)
    assert all(e["ports"] == ["TCP/5432"] for e in edges_of(port).values())
    assert ("ns:shop-backend", "ns:shop-db") in edges_of(port)
    assert ("ns:shop-frontend", "ns:kube-system") not in edges_of(port)

    udp = build(demo, protocol="UDP")
    assert all(p.startswith("UDP/") for e in edges_of(udp).values() for p in e["ports"])

    nothing = build(demo, around="shop-db", port=9999)
    assert not nothing["elements"]["edges"]
    assert "No flow matches these filters (around shop-db, port TCP/9999)" in nothing["empty"]


def test_a_cluster_without_any_flow_says_so():
    model = ClusterModel.from_objects(
        [namespace("a"), namespace("b")],
        [pod("a", "web", {"app": "web"}), pod("b", "db", {"app": "db"}, ip="10.244.0.11")],
        [],
        [
            policy(ns, "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
            for ns in ("a", "b")
        ],
    )
    data = graph.build_graph(model, None, graph.Filters())
    assert set(nodes_of(data)) == {"ns:a", "ns:b"} and not data["elements"]["edges"]
    assert data["empty"].startswith("No flow is allowed anywhere")
    workload = graph.build_graph(model, None, graph.Filters(namespace="a"))
    assert set(nodes_of(workload)) == {"wl:a/Pod/web"}
    assert workload["empty"].startswith("No flow is allowed to or from a")


# --- Workload level --------------------------------------------------------------------


def test_workload_graph_matches_the_engines_workload_edges(demo):
    model, _ = demo
    expected = {
        (f"wl:{e['from']}", f"wl:{e['to']}"): e["ports"]
        for e in model.allowed_connections().edges("workload")
        if not e["from"].startswith("ipBlock:")
        and e["from"] != e["to"]
        and (e["from"].startswith("shop-backend/") or e["to"].startswith("shop-backend/"))
    }
    data = build(demo, namespace="shop-backend")
    drawn = {pair: e["ports"] for pair, e in edges_of(data).items() if e["kind"] == "flow"}
    assert drawn == expected
    assert data["level"] == "workload" and data["layout"] == "rings"
    nodes = nodes_of(data)
    orders = nodes["wl:shop-backend/Deployment/orders"]["data"]
    assert (orders["workload_kind"], orders["workload_name"], orders["namespace"]) == (
        "Deployment",
        "orders",
        "shop-backend",
    )
    assert orders["ring"] == 3 and nodes["wl:shop-db/StatefulSet/postgres"]["data"]["ring"] == 2
    assert "peer" in nodes["wl:shop-db/StatefulSet/postgres"]["classes"]
    assert (
        edges_of(data)["wl:shop-backend/Deployment/cart", "wl:shop-db/Deployment/redis"]["label"]
        == "6379"
    )
    assert ("wl:shop-backend/Deployment/orders", "wl:shop-db/Deployment/redis") not in edges_of(
        data
    )
    assert not model.reach("shop-backend/orders-0", "shop-db/redis-0", 6379).allowed


def test_workload_graph_shows_exposure_and_host_network(demo):
    frontend = build(demo, namespace="shop-frontend")
    cdn = external_node(frontend, "203.0.113.0/24")
    edges = edges_of(frontend)
    assert edges[cdn, "wl:shop-frontend/Deployment/storefront"]["ports"] == ["TCP/8080"]
    assert (cdn, "wl:shop-frontend/Deployment/admin-ui") not in edges
    assert "exposed" in nodes_of(frontend)["wl:shop-frontend/Deployment/storefront"]["classes"]

    system = nodes_of(build(demo, namespace="kube-system"))
    assert "hostnet" in system["wl:kube-system/DaemonSet/calico-node"]["classes"]
    assert "uncovered" in system["wl:kube-system/Deployment/metrics-server"]["classes"]
    batch = nodes_of(build(demo, namespace="batch"))
    assert {"uncovered", "exposed"} <= set(
        batch["wl:batch/Deployment/queue-worker"]["classes"].split()
    )


# --- Parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, status, words",
    [
        ({"namespace": "shop-db", "around": "batch"}, 400, "not both"),
        ({"namespace": "nope"}, 404, "no namespace 'nope'"),
        ({"around": "nope"}, 404, "no namespace 'nope'"),
        ({"port": "http"}, 400, "port must be a number from 1 to 65535, not 'http'"),
        ({"port": "0"}, 400, "not '0'"),
        ({"port": "70000"}, 400, "not '70000'"),
        ({"port": "²"}, 400, "not '²'"),
        ({"protocol": "icmp"}, 400, "protocol must be one of TCP, UDP, SCTP"),
        ({"external": "maybe"}, 400, "external must be 1 or 0"),
    ],
)
def test_bad_parameters_are_refused_with_a_message(params, status, words):
    with pytest.raises(graph.FilterError) as caught:
        graph.parse_filters(params, {"shop-db", "batch"})
    assert caught.value.status == status and words in str(caught.value)


def test_parameters_round_trip():
    filters = graph.parse_filters(
        {"around": "batch", "external": "1", "port": "53", "protocol": "udp"}, {"batch"}
    )
    assert filters == graph.Filters(around="batch", external=True, port=53, protocol="UDP")
    assert graph.parse_filters(filters.query(), {"batch"}) == filters
    assert graph.parse_filters({"port": "", "external": "", "around": ""}, set()) == graph.Filters()


# --- Limits on big clusters ------------------------------------------------------------


def synthetic(pods: int, namespaces: int, policies: int) -> ClusterModel:
    c = generate_cluster(pods=pods, namespaces=namespaces, policies=policies, seed=0)
    return ClusterModel.from_objects(
        c["Namespace"],
        c["Pod"],
        c["Node"],
        c["NetworkPolicy"],
        c["Service"],
        declared_cidrs=["10.0.0.0/8", "10.96.0.0/12"],
    )


def assert_bounded(data):
    assert len(data["elements"]["nodes"]) <= graph.limits.MAX_NODES
    assert len(data["elements"]["edges"]) <= graph.limits.MAX_EDGES
    ids = {n["data"]["id"] for n in data["elements"]["nodes"]}
    assert all(
        e["data"]["source"] in ids and e["data"]["target"] in ids for e in data["elements"]["edges"]
    )
    assert len(ids) == len(data["elements"]["nodes"])


def test_an_open_cluster_is_grouped_and_capped():
    """Most namespaces without policy: every one talks to every other. The 50k/2,000
    shape scaled down to 4,000 pods and 400 namespaces."""
    model = synthetic(4_000, 400, 150)
    data = graph.build_graph(model, None, graph.Filters())
    assert_bounded(data)
    groups = [n["data"] for n in data["elements"]["nodes"] if n["data"]["kind"] == "group"]
    assert groups and max(g["member_count"] for g in groups) > 100
    assert any("namespaces that have exactly the same flows" in note for note in data["notes"])
    assert data["counts"]["namespaces"] == 400
    for name in ("kube-system", "app-0001"):
        assert_bounded(graph.build_graph(model, None, graph.Filters(namespace=name)))
    # Everyone asks CoreDNS: the peers that only do that are one node on its graph.
    dns = graph.build_graph(model, None, graph.Filters(namespace="kube-system"))
    peers = [n["data"] for n in dns["elements"]["nodes"] if n["data"]["kind"] == "group"]
    assert len(dns["elements"]["nodes"]) < 10 and peers and peers[0]["member_count"] > 200
    assert "in 1 group with the same flows here" in dns["notes"][0]


def test_a_big_isolated_cluster_keeps_the_most_connected_and_says_so(monkeypatch):
    model = synthetic(3_000, 300, 1_500)
    data = graph.build_graph(model, None, graph.Filters())
    assert_bounded(data)
    assert data["truncated"] and data["layout"] == "concentric"
    assert any(
        note.startswith("Showing ") and "filter to see more" in note for note in data["notes"]
    )
    externals = [n for n in data["elements"]["nodes"] if n["data"]["kind"] == "external"]
    assert len(externals) <= graph.limits.MAX_EXTERNAL
    # Tighter limits hold just the same.
    monkeypatch.setattr(graph.limits, "MAX_NODES", 25)
    monkeypatch.setattr(graph.limits, "MAX_EDGES", 40)
    for filters in (
        graph.Filters(),
        graph.Filters(namespace="kube-system"),
        graph.Filters(port=5432),
    ):
        assert_bounded(graph.build_graph(model, None, filters))


def test_cached_builds_once_per_key():
    calls = []
    first = graph.cached(("test", 1), lambda: calls.append(1) or {"n": 1})
    second = graph.cached(("test", 1), lambda: calls.append(1) or {"n": 2})
    assert first is second and calls == [1]


# --- Views -----------------------------------------------------------------------------

ROLES = ("viewer", "auditor", "admin")


def page_url(**query) -> str:
    url = reverse("webui:graph", args=["demo"])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def elements_url(**query) -> str:
    url = reverse("webui:graph_elements", args=["demo"])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("role", ROLES)
def test_the_page_for_each_role(client_as, demo_snapshot, role):
    response = client_as(role).get(page_url())
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-elements-url="{elements_url()}"' in body
    assert "vendor/cytoscape/cytoscape-3.34.4.min.js" in body and "integrity=" not in body
    assert 'src="/static/js/graph.js"' in body and "<script>" not in body
    assert "Uncovered: no pod isolated" in body  # the legend


@pytest.mark.parametrize("role", ROLES)
def test_the_elements_for_each_role(client_as, demo_snapshot, role):
    response = client_as(role).get(elements_url())
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert (
        data["level"] == "namespace" and data["snapshot"] == demo_snapshot.pk and data["analysed"]
    )
    assert {n["data"]["id"] for n in data["elements"]["nodes"]} >= {"ns:batch", "ns:shop-db"}


def test_strangers_and_anonymous_users_are_kept_out(client, client_as, demo_snapshot):
    for url in (page_url(), elements_url()):
        assert client.get(url).status_code == 302
    stranger = client_as("stranger")  # the same client, now logged in
    for url in (page_url(), elements_url()):
        assert stranger.get(url).status_code == 403


def test_node_links_lead_to_real_pages(client_as, demo_snapshot):
    client = client_as("viewer")
    data = client.get(elements_url(namespace="shop-backend")).json()
    nodes = {n["data"]["id"]: n["data"] for n in data["elements"]["nodes"]}
    orders = nodes["wl:shop-backend/Deployment/orders"]
    workload_url = reverse("webui:workload", args=["demo", "shop-backend", "Deployment", "orders"])
    assert orders["links"][0]["url"] == workload_url
    assert (
        orders["links"][1]["url"]
        == reverse("webui:findings", args=["demo"]) + "?namespace=shop-backend"
    )
    assert client.get(workload_url).status_code == 200
    postgres = nodes["wl:shop-db/StatefulSet/postgres"]
    edge = next(
        e["data"] for e in data["elements"]["edges"] if e["data"]["target"] == postgres["id"]
    )
    assert edge["links"][0]["url"].startswith(
        reverse("webui:reach", args=["demo"]) + "?from=shop-backend%2F"
    )
    assert client.get(edge["links"][0]["url"]).status_code == 200

    overview = client.get(elements_url()).json()
    batch = next(n["data"] for n in overview["elements"]["nodes"] if n["data"]["id"] == "ns:batch")
    assert batch["graph_url"] == page_url(namespace="batch")
    assert {link["url"] for link in batch["links"]} >= {
        page_url(namespace="batch"),
        reverse("webui:findings", args=["demo"]) + "?namespace=batch",
    }
    assert client.get(batch["graph_url"]).status_code == 200


def test_bad_parameters_are_400_or_404_json(client_as, demo_snapshot):
    client = client_as("viewer")
    response = client.get(elements_url(port="http"))
    assert response.status_code == 400
    assert "port must be a number" in response.json()["error"]
    response = client.get(elements_url(namespace="nope"))
    assert response.status_code == 404 and response.json() == {
        "error": "This snapshot has no namespace 'nope'."
    }
    response = client.get(elements_url(snapshot="x"))
    assert response.status_code == 400 and "not a snapshot number" in response.json()["error"]
    response = client.get(elements_url(snapshot="9999"))
    assert response.status_code == 404 and "no complete snapshot #9999" in response.json()["error"]
    # The page says the same in HTML, keeping the filters to fix it.
    page = client.get(page_url(port="http"))
    assert page.status_code == 400 and "port must be a number" in page.content.decode()
    assert "graph.js" not in page.content.decode()
    assert client.get(page_url(namespace="nope")).status_code == 404


def test_filters_reach_the_elements_url(client_as, demo_snapshot):
    client = client_as("viewer")
    body = client.get(
        page_url(around="shop-db", port="5432", snapshot=demo_snapshot.pk)
    ).content.decode()
    assert f"around=shop-db&amp;port=5432&amp;snapshot={demo_snapshot.pk}" in body
    data = client.get(elements_url(around="shop-db", port="5432", snapshot=demo_snapshot.pk)).json()
    assert data["filters"] == {"around": "shop-db", "port": "5432"}
    assert all(
        "ns:shop-db" in (e["data"]["source"], e["data"]["target"])
        for e in data["elements"]["edges"]
    )
    assert all(
        link["url"].endswith(f"snapshot={demo_snapshot.pk}")
        for n in data["elements"]["nodes"]
        for link in n["data"]["links"]
    )


def test_no_snapshot_yet(client_as, db):
    from auditor.models import Cluster

    Cluster.objects.create(
        name="demo", source=Cluster.Source.MANIFESTS, manifest_path="auditor/demo_cluster"
    )
    client = client_as("viewer")
    page = client.get(page_url())
    assert page.status_code == 200 and "No snapshot yet" in page.content.decode()
    response = client.get(elements_url())
    assert response.status_code == 404 and "no complete snapshot yet" in response.json()["error"]


def test_unknown_cluster_is_404(client_as, db):
    assert client_as("viewer").get(reverse("webui:graph", args=["nope"])).status_code == 404


@override_settings(CYTOSCAPE_SOURCE="cdn")
def test_the_cdn_copy_is_pinned_with_sri(client_as, demo_snapshot, settings):
    response = client_as("viewer").get(page_url())
    body = response.content.decode()
    assert (
        f'<script src="{settings.CYTOSCAPE_CDN_URL}" integrity="{settings.CYTOSCAPE_CDN_SRI}" '
        'crossorigin="anonymous" defer></script>'
    ) in body
    assert "vendor/cytoscape" not in body
    assert settings.CYTOSCAPE_CDN_URL in response["Content-Security-Policy"]


def test_elements_json_is_plain_json(client_as, demo_snapshot):
    """No PortSet or IPSet leaks into the response: it parses back to the same thing."""
    response = client_as("viewer").get(elements_url(namespace="batch"))
    assert json.loads(response.content) == response.json()
