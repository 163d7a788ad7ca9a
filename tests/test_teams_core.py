"""Teams in the core: who belongs to which team (mapping over label), and the graph and
matrix of one team (its namespaces and their peers, nothing between other teams)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol import graph, load_paths
from netpol.teams import DEFAULT_RULE, NO_TEAM, TeamRule, describe, members, team_names

DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster"


@pytest.fixture(scope="module")
def demo():
    return load_paths([DEMO], warn=lambda message: None)


def labels_of(model) -> dict[str, dict]:
    return {name: ns.labels for name, ns in model.namespaces.items()}


def test_the_mapping_wins_over_the_label_and_the_rest_have_no_team():
    rule = TeamRule.of("owner", [("db", "storage"), ("", "ignored")])
    assigned = rule.assign(
        {"db": {"owner": "shop"}, "web": {"owner": "shop"}, "tmp": {"team": "x"}}
    )
    assert assigned == {"db": "storage", "web": "shop", "tmp": ""}
    assert (
        rule.source_of("db", {}) == "mapping"
        and rule.source_of("web", {"owner": "shop"}) == "label"
    )
    assert team_names(assigned) == ["shop", "storage", NO_TEAM]
    assert members(assigned, NO_TEAM) == {"tmp"} and members(assigned, "shop") == {"web"}
    assert describe(NO_TEAM) == "no team" and describe("shop") == "team shop"
    # No label configured: only the mapping assigns.
    assert TeamRule.of("", [("db", "storage")]).assign({"db": {}, "web": {"team": "a"}}) == {
        "db": "storage",
        "web": "",
    }


def test_graph_groups_are_the_teams_of_the_same_rule():
    rule = TeamRule.of("team", [("payments", "shop")])
    assert graph.groups.group_key("payments", {"team": "payments"}, rule) == "team=shop"
    assert graph.groups.group_key("x", {"owner": "ops"}, rule) == "owner=ops"
    assert graph.groups.group_key("kube-system", {}, rule) == "kube-*"


def test_grouping_follows_the_clusters_rule(demo):
    rule = TeamRule.of("team", [("payments", "shop")])
    groups = graph.groups_of(demo, rule)
    index = graph.flows.index_of(demo)
    assert sorted(index.names[i] for i in groups.members["team=shop"]) == [
        "payments",
        "shop-backend",
        "shop-db",
        "shop-frontend",
    ]
    # The default rule's groups are kept apart from this one's.
    assert "team=payments" in graph.groups_of(demo).members


def team_filters(model, team: str, rule: TeamRule = DEFAULT_RULE, **params) -> graph.Filters:
    return graph.parse_filters(
        {"team": team, **params}, model.namespaces, rule.assign(labels_of(model)), rule
    )


def test_a_teams_graph_draws_its_namespaces_and_their_peers_only(demo):
    filters = team_filters(demo, "shop")
    assert filters.team_namespaces == {"shop-frontend", "shop-backend", "shop-db"}
    data = graph.build_graph(demo, None, filters)
    assert data["level"] == "namespace"
    nodes = {
        n["data"]["id"]: n for n in data["elements"]["nodes"] if n["data"]["kind"] == "namespace"
    }
    shop = {f"ns:{n}" for n in filters.team_namespaces}
    assert shop <= set(nodes)
    peers = set(nodes) - shop
    # Every peer exchanges traffic with the team, is marked as another team's, and every
    # flow drawn touches the team.
    everything = graph.build_graph(demo, None, graph.Filters(view="all"))
    all_pairs = {
        (e["data"]["source"], e["data"]["target"]) for e in everything["elements"]["edges"]
    }
    for peer in peers:
        assert "other-team" in nodes[peer]["classes"]
        assert any((peer, s) in all_pairs or (s, peer) in all_pairs for s in shop)
    for edge in data["elements"]["edges"]:
        ends = {edge["data"]["source"], edge["data"]["target"]}
        assert ends & shop
    # And every flow of the whole graph that touches the team is drawn.
    drawn = {(e["data"]["source"], e["data"]["target"]) for e in data["elements"]["edges"]}
    assert {p for p in all_pairs if set(p) & shop and all(x.startswith("ns:") for x in p)} <= drawn
    assert data["notes"][0].startswith("Team shop: its 3 namespaces and ")


def test_unknown_teams_are_refused_and_no_team_is_a_team(demo):
    with pytest.raises(graph.FilterError, match="no namespace of team nobody"):
        team_filters(demo, "nobody")
    filters = team_filters(demo, NO_TEAM)
    assert filters.team_namespaces == {"kube-system"}
    assert filters.query()["team"] == NO_TEAM and "no team" in filters.describe()


def test_a_teams_matrix_rows_are_the_team_first_then_its_peers(demo):
    filters = team_filters(demo, "shop")
    grid = graph.matrix(demo, None, "", "", filters)
    labels = [h["label"] for h in grid["rows"]]
    assert labels[:3] == ["shop-backend", "shop-db", "shop-frontend"]
    assert set(labels[3:]) and not set(labels[3:]) & filters.team_namespaces
    assert grid["notes"][0].startswith("Team shop:")
    # Pairs of two other teams are marked, not shown as what they allow.
    for row in grid["cells"]:
        for cell in row:
            touches = {cell["from"], cell["to"]} & filters.team_namespaces
            assert (cell["level"] == "other") == (not touches)
    assert ("other", "between two other teams: not shown") in grid["legend"]


def test_a_big_clusters_grouped_graph_of_one_team():
    from tests.test_graph import synthetic

    model = synthetic(5_000, 200, 1_000)
    filters = team_filters(model, "team-07", view="groups")
    assert len(filters.team_namespaces) == 4
    data = graph.build_graph(model, None, filters)
    assert data["level"] == "groups"
    team = {f"ns:{n}" for n in filters.team_namespaces}
    index = graph.flows.index_of(model)
    for edge in data["elements"]["edges"]:
        ends = {edge["data"]["source"], edge["data"]["target"]}
        # An edge touches the team's group or one of its namespaces.
        assert ends & (team | {"grp:team=team-07"}), ends
    assert all(r["namespace"] in filters.team_namespaces for r in data["risk"]["rows"])
    # Without view=groups a team is drawn namespace by namespace.
    flat = graph.build_graph(model, None, team_filters(model, "team-07"))
    assert flat["level"] == "namespace"
    assert team <= {n["data"]["id"] for n in flat["elements"]["nodes"]}
    assert len(index.names) == 200
