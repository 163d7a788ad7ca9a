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
    data = graph.build_graph(model, None, graph.Filters(view="all"))
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
    data = graph.build_graph(model, None, graph.Filters(view="all"))
    assert_bounded(data)
    # More flows than a picture can hold: nodes in rows, flows drawn around one node.
    assert data["truncated"] and data["layout"] == "flow" and data["quiet_edges"]
    assert any("hover or click a node to see its flows" in note for note in data["notes"])
    assert any(
        note.startswith("Showing ") and "filter to see more" in note for note in data["notes"]
    )
    externals = [n for n in data["elements"]["nodes"] if n["data"]["kind"] == "external"]
    assert len(externals) <= graph.limits.MAX_EXTERNAL
    # Tighter limits hold just the same.
    monkeypatch.setattr(graph.limits, "MAX_NODES", 25)
    monkeypatch.setattr(graph.limits, "MAX_EDGES", 40)
    for filters in (
        graph.Filters(view="all"),
        graph.Filters(),
        graph.Filters(expand=("team=team-01", "team=team-02")),
        graph.Filters(namespace="kube-system"),
        graph.Filters(port=5432),
    ):
        assert_bounded(graph.build_graph(model, None, filters))


def test_cached_builds_once_per_key():
    calls = []
    first = graph.cached(("test", 1), lambda: calls.append(1) or {"n": 1})
    second = graph.cached(("test", 1), lambda: calls.append(1) or {"n": 2})
    assert first is second and calls == [1]


# --- Rules behind an edge, groups, matrix ----------------------------------------------


def rule_keys(rules: dict, side: str) -> set[tuple[str, int]]:
    return {(f"{r['namespace']}/{r['policy']}", r["rule"]) for r in rules[side]}


@pytest.mark.parametrize(
    "source,target,port",
    [
        ("shop-backend/orders-0", "shop-db/postgres-0", 5432),
        ("ingress-nginx/ingress-nginx-controller-0", "shop-frontend/storefront-0", 8080),
    ],
)
def test_an_edges_rules_include_the_rules_reach_names(demo, source, target, port):
    """Every rule the engine's explanation of one allowed pod pair names is among the rules
    listed for the namespace pair, each side."""
    model, _ = demo
    verdict = model.reach(source, target, port).to_dict()
    assert verdict["allowed"]
    rules = graph.flow_rules(model, source.split("/")[0], target.split("/")[0])
    for side in ("ingress", "egress"):
        named = {(m["policy"], m["rule"]) for m in verdict[side]["allowed_by"]}
        assert named and named <= rule_keys(rules, side)
    assert rules["ingress_open"] == rules["egress_open"] == 0


def test_an_edge_from_an_unisolated_namespace_says_it_needs_no_rule(demo):
    model, _ = demo
    rules = graph.flow_rules(model, "batch", "shop-db")
    assert not rules["egress"] and rules["egress_open"] == 8
    assert rule_keys(rules, "ingress") == {("shop-db/postgres", 0)}


def test_a_port_filter_says_how_many_namespaces_it_leaves_out(demo):
    data = build(demo, port=5432)
    drawn = [n for n in data["elements"]["nodes"] if n["data"]["kind"] == "namespace"]
    assert 0 < len(drawn) < 8
    assert (
        f"{8 - len(drawn)} namespaces with no allowed flow matching these filters (port TCP/5432) "
        "are left out; the matrix lists every namespace." in data["notes"]
    )


def test_groups_come_from_team_labels_then_name_prefixes():
    assert graph.groups.group_key("app-0001", {"team": "payments"}) == "team=payments"
    assert graph.groups.group_key("kube-system", {}) == "kube-*"
    assert graph.groups.group_key("monitoring", {"env": "prod"}) == "monitoring"


def test_the_grouped_graph_hides_nothing_silently():
    """200 namespaces: grouped by default; every namespace is in a drawn node or a note,
    the risky ones are listed, and opening a group draws its namespaces inside it."""
    model = synthetic(5_000, 200, 1_000)
    data = graph.build_graph(model, None, graph.Filters())
    assert data["level"] == "groups"
    assert_bounded(data)
    nodes = [n["data"] for n in data["elements"]["nodes"]]
    drawn = sum(n.get("member_count", 1) for n in nodes if n["kind"] in ("namespace", "nsgroup"))
    assert drawn == 200 and not data["truncated"]
    assert data["notes"][0].startswith("200 namespaces in 53 groups")
    assert set(data["groups"]["where"]) | {n["namespace"] for n in nodes if n["kind"] == "namespace"} == set(model.namespaces)
    flows = graph.flows.flows_of(model)
    index = graph.flows.index_of(model)
    exposed = {index.names[i] for i, w in enumerate(flows.exposed) if w}
    assert data["risk"]["count"] >= len(exposed) > 0
    assert {r["namespace"] for r in data["risk"]["rows"]} <= exposed | {
        r["namespace"] for r in data["risk"]["rows"] if r["uncovered"]
    }
    # Risky groups come first (a dense graph is laid out in the order sent).
    risky = ["exposed" in n["classes"] or "uncovered" in n["classes"] for n in data["elements"]["nodes"] if n["data"]["kind"] != "external"]
    assert risky == sorted(risky, reverse=True)

    opened = graph.build_graph(model, None, graph.Filters(expand=("team=team-07", "no-such-group")))
    nodes = {n["data"]["id"]: n["data"] for n in opened["elements"]["nodes"]}
    box = nodes["grp:team=team-07"]
    children = [d for d in nodes.values() if d.get("parent") == box["id"]]
    assert box["kind"] == "nsgroup-open" and len(children) == box["member_count"] == 4
    assert "No group named no-such-group in this snapshot." in opened["notes"]
    assert "app-0007" not in opened["groups"]["where"]


def test_the_grouped_graph_says_what_it_leaves_out(monkeypatch):
    model = synthetic(5_000, 200, 1_000)
    monkeypatch.setattr(graph.limits, "MAX_NODES", 30)
    data = graph.build_graph(model, None, graph.Filters())
    assert_bounded(data)
    assert data["truncated"]
    note = next(n for n in data["notes"] if "are not drawn, to stay within 30 nodes" in n)
    hidden = [name for name, group in data["groups"]["where"].items() if not group]
    assert f"({len(hidden):,} namespaces)" in note


def matrix_pairs(grid) -> dict[tuple[str, str], str]:
    return {(c["from"], c["to"]): c["title"].split(": ", 1)[1] for row in grid["cells"] for c in row if c["level"] != "none"}


def test_the_matrix_is_the_engines_namespace_edges(demo):
    model, _ = demo
    grid = graph.matrix(model)
    assert grid["level"] == "namespaces" and len(grid["rows"]) == len(model.namespaces)
    expected = {
        (e["from"], e["to"]): e["ports"]
        for e in model.allowed_connections().edges("namespace")
        if not e["from"].startswith("ipBlock:")
    }
    assert set(matrix_pairs(grid)) == set(expected)
    assert matrix_pairs(grid)["shop-backend", "shop-db"] == "5432, 6379"


def test_the_matrix_groups_big_clusters_and_drills_into_a_pair_of_groups():
    model = synthetic(5_000, 200, 1_000)
    grid = graph.matrix(model)
    assert grid["level"] == "groups" and len(grid["rows"]) == 53
    flows = graph.flows.flows_of(model)
    index = graph.flows.index_of(model)
    groups = graph.groups_of(model)
    for row in grid["cells"][:5]:
        for cell in row:
            sources = groups.members[cell["rows"]]
            allowed = sum(
                (flows.in_bits[d] >> s) & 1 for d in groups.members[cell["cols"]] for s in sources
            )
            assert f": {allowed:,} of " in cell["title"]
    drill = graph.matrix(model, None, "team=team-07", "team=team-08")
    assert [h["label"] for h in drill["rows"]] == [index.names[i] for i in groups.members["team=team-07"]]
    with pytest.raises(KeyError):
        graph.matrix(model, None, "team=nobody", "")


def test_the_matrix_stays_bounded_at_2000_namespaces():
    model = synthetic(8_000, 2_000, 2_000)
    grid = graph.matrix(model)
    assert grid["level"] == "groups" and len(grid["rows"]) <= graph.limits.MATRIX_SIDE
    groups = graph.groups_of(model)
    biggest = max(groups.members, key=lambda k: len(groups.members[k]))
    drill = graph.matrix(model, None, biggest, biggest)
    assert len(drill["rows"]) <= graph.limits.MATRIX_SIDE
    assert all(len(row) == len(drill["cols"]) for row in drill["cells"])


def test_view_and_expand_filters_are_checked():
    filters = graph.parse_filters({"view": "matrix", "expand": "team=a, team=b,team=a"}, set())
    assert filters.view == "matrix" and filters.expand == ("team=a", "team=b")
    assert graph.parse_filters(filters.query(), set()) == filters
    with pytest.raises(graph.FilterError, match="view must be one of"):
        graph.parse_filters({"view": "pie"}, set())
    with pytest.raises(graph.FilterError, match="at most 20 groups"):
        graph.parse_filters({"expand": ",".join(f"g{i}" for i in range(21))}, set())


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


def test_namespace_edges_link_to_the_rules_allowing_them(client_as, demo_snapshot):
    client = client_as("viewer")
    data = client.get(elements_url()).json()
    edge = edges_of(data)["ns:shop-backend", "ns:shop-db"]
    urls = [link["url"] for link in edge["links"]]
    postgres = reverse("webui:policy", args=["demo", "shop-db", "postgres"]) + "?rule=ingress-0#ingress-0"
    assert postgres in urls
    assert "Allowed by shop-backend/backend-api, egress rule 1" in [link["text"] for link in edge["links"]]
    for url in urls:
        assert client.get(url).status_code == 200
    batch = edges_of(data)["ns:batch", "ns:shop-db"]
    assert ["Open senders", "8 pod(s) of batch are not isolated for egress: they need no rule"] in batch["facts"]
    node = nodes_of(data)["ns:batch"]["data"]
    page = reverse("webui:namespace", args=["demo", "batch"])
    assert {"text": "Namespace page of batch", "url": page} in node["links"]


def test_the_matrix_page_links_cells_to_their_rules(client_as, demo_snapshot):
    client = client_as("viewer")
    response = client.get(page_url(view="matrix"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'title="shop-backend → shop-db: 5432, 6379"' in body
    assert "graph.js" not in body  # a table, nothing to draw
    pair = client.get(page_url(view="matrix") + "&from=shop-backend&to=shop-db")
    text = pair.content.decode()
    assert 'id="pair"' in text
    assert reverse("webui:policy", args=["demo", "shop-db", "postgres"]) + "?rule=ingress-0#ingress-0" in text
    missing = client.get(page_url(view="matrix", rows="team%3Dnobody", cols="team%3Dnobody"))
    assert missing.status_code == 404 and "no group team=nobody" in missing.content.decode()


def test_the_views_are_linked_from_the_page(client_as, demo_snapshot):
    body = client_as("viewer").get(page_url()).content.decode()
    for view in ("groups", "all", "matrix"):
        assert f'href="{page_url(view=view)}"' in body
    assert 'id="graph-search"' in body and 'id="graph-fit"' in body and "Workload of another namespace" not in body
    assert "Workload of another namespace" in client_as("viewer").get(page_url(namespace="shop-db")).content.decode()


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
