"""End to end in headless Chromium: teams on the demo and on a generated 200-namespace
cluster, at 1440 and 1024 px. From the teams page a team's views open filtered; the
header's selector changes team and the navigation keeps it; namespaces, findings, graph
and matrix show only the team's (and, on the graph, its peers marked as others').
Screenshots in artifacts/."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .test_e2e_graph import (
    READY,
    big_cluster,  # noqa: F401  (the fixture, shared)
    listen,
    nav_fits,
    smallest_label_px,
)

pytestmark = pytest.mark.django_db(transaction=True)

SHOP = {"shop-frontend", "shop-backend", "shop-db"}


def table_namespaces(page) -> list[str]:
    return page.eval_on_selector_all(
        "table.namespaces tbody a.ns-link", "(links) => links.map((a) => a.textContent.trim())"
    )


def finding_namespaces(page) -> set[str]:
    return set(
        page.eval_on_selector_all(
            "table.findings a.ns-link", "(links) => links.map((a) => a.textContent.trim())"
        )
    )


def graph_namespaces(page) -> dict[str, bool]:
    """Each namespace node drawn: True for the team's, False for a peer of another team."""
    return page.evaluate(
        """() => Object.fromEntries(window.netpolGraph.nodes('[kind = "namespace"]')
            .map((n) => [n.data('namespace'), !n.hasClass('other-team')]))"""
    )


@pytest.mark.parametrize("width", [1440, 1024])
def test_demo_teams_filter_every_view(live_server, browser, personas, demo_snapshot, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/demo/teams/")
    nav_fits(page)
    teams = page.eval_on_selector_all(
        "table.teams tbody tr[data-team]", "(rows) => rows.map((r) => r.dataset.team)"
    )
    assert teams == ["data", "payments", "platform", "shop", "-"]
    assert "no team" in page.inner_text("tr[data-team='-']")
    screenshot(page, f"teams-demo-{width}")

    # The shop team's namespaces, from its row.
    page.click("tr[data-team=shop] >> text=namespaces")
    page.wait_for_url("**/clusters/demo/?team=shop")
    assert set(table_namespaces(page)) == SHOP
    assert "Showing team shop: 3 namespaces" in page.inner_text(".teambar")
    assert "coverage, team shop" in page.inner_text(".team-figures").lower()
    nav_fits(page)
    screenshot(page, f"teams-demo-namespaces-shop-{width}")

    # The navigation keeps the team: findings are the team's only.
    page.click(".cluster-nav >> text=Findings")
    page.wait_for_url("**/findings/?team=shop")
    assert "Findings of team shop" in page.inner_text("h1")
    shown = finding_namespaces(page)
    assert shown and shown <= SHOP
    screenshot(page, f"teams-demo-findings-shop-{width}")

    # The graph: the team's namespaces, and their peers marked as another team's.
    page.click(".cluster-nav >> text=Graph")
    page.wait_for_url("**/graph/?team=shop")
    page.wait_for_selector(READY)
    drawn = graph_namespaces(page)
    assert {n for n, mine in drawn.items() if mine} == SHOP
    assert any(not mine for mine in drawn.values())  # the ingress controller and DNS talk to shop
    assert page.evaluate("() => window.netpolGraphData.notes[0]").startswith(
        "Team shop: its 3 namespaces"
    )
    assert smallest_label_px(page) >= 11
    page.mouse.move(5, 5)
    screenshot(page, f"teams-demo-graph-shop-{width}")

    # The header's selector changes team and keeps the page.
    page.select_option("#team-select", "payments")
    page.click(".teambar button[type=submit]")
    page.wait_for_url("**/graph/?team=payments")
    page.wait_for_selector(READY)
    assert {n for n, mine in graph_namespaces(page).items() if mine} == {"payments"}
    page.click(".cluster-nav >> text=Namespaces")
    page.wait_for_url("**/clusters/demo/?team=payments")
    assert table_namespaces(page) == ["payments"]
    # And back to the whole cluster.
    page.click(".teambar a.team-clear")
    page.wait_for_url("**/clusters/demo/?")
    assert len(table_namespaces(page)) == 8 and not page.locator(".team-figures").count()
    # The overview: the team's figures under each cluster's.
    page.goto(f"{live_server.url}/?team=shop")
    assert "Team shop in demo: 3 namespaces" in page.inner_text(".cluster-card .team-line")
    nav_fits(page)
    screenshot(page, f"teams-demo-overview-{width}")
    assert problems == []
    context.close()


@pytest.mark.parametrize("width", [1440, 1024])
def test_200_namespaces_one_team(live_server, browser, personas, big_cluster, width):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/big/teams/")
    nav_fits(page)
    teams = page.eval_on_selector_all(
        "table.teams tbody tr[data-team]", "(rows) => rows.map((r) => r.dataset.team)"
    )
    assert len(teams) == 51 and teams[-1] == "-"  # 50 teams, and kube-system and friends
    assert page.inner_text("tr[data-team=team-07] td.num").strip() == "4"
    screenshot(page, f"teams-200-{width}")

    team = {"app-0007", "app-0057", "app-0107", "app-0157"}
    page.goto(f"{live_server.url}/clusters/big/?team=team-07")
    assert set(table_namespaces(page)) == team
    assert "coverage, team team-07" in page.inner_text(".team-figures").lower()
    nav_fits(page)
    screenshot(page, f"teams-200-namespaces-{width}")

    page.click(".cluster-nav >> text=Findings")
    page.wait_for_url("**/findings/?team=team-07")
    shown = finding_namespaces(page)
    assert shown and shown <= team
    screenshot(page, f"teams-200-findings-{width}")

    # The graph of one team at 200 namespaces: drawn namespace by namespace, not grouped.
    page.click(".cluster-nav >> text=Graph")
    page.wait_for_url("**/graph/?team=team-07")
    page.wait_for_selector(READY)
    data = page.evaluate(
        "() => ({level: window.netpolGraphData.level, notes: window.netpolGraphData.notes})"
    )
    assert data["level"] == "namespace" and data["notes"][0].startswith(
        "Team team-07: its 4 namespaces"
    )
    drawn = graph_namespaces(page)
    assert {n for n, mine in drawn.items() if mine} == team
    assert smallest_label_px(page) >= 11
    page.mouse.move(5, 5)
    screenshot(page, f"teams-200-graph-{width}")

    # The matrix keeps the team: its namespaces are the first rows.
    page.click("nav >> text=Matrix")
    page.wait_for_url("**/graph/?*view=matrix*")
    assert "team=team-07" in page.url
    heads = page.eval_on_selector_all(
        "table.matrix tbody th", "(cells) => cells.map((c) => c.textContent.trim().split(/\\s/)[0])"
    )
    assert set(heads[:4]) == team and not set(heads[4:]) & team
    screenshot(page, f"teams-200-matrix-{width}")
    assert problems == []
    context.close()


@pytest.fixture
def own_demo(transactional_db):
    """The demo manifests as a cluster of its own (the shared demo's teams stay as they are)."""
    from pathlib import Path
    from unittest import mock

    from auditor import services
    from auditor.models import Cluster, Snapshot

    with mock.patch("django.db.transaction.on_commit"):
        cluster = Cluster.objects.create(
            name="teamdemo",
            source=Cluster.Source.MANIFESTS,
            manifest_path=str(Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster"),
        )
        snapshot = services.snapshot_request(
            cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
        )
        services.snapshot_collect(snapshot_id=snapshot.pk)
        services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=snapshot.pk))
    return cluster


def test_the_admin_sets_the_label_and_the_mapping(live_server, browser, personas, own_demo):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "admin", PASSWORD)
    page.goto(f"{live_server.url}/admin/auditor/cluster/{own_demo.pk}/change/")
    assert page.input_value("#id_team_label") == "team"
    # Only the mapping assigns teams: no label.
    page.fill("#id_team_label", "")
    page.fill("#id_team_mapping", "payments=finance\nbatch=finance\nshop-db=storage")
    page.locator(".field-team_mapping").scroll_into_view_if_needed()
    screenshot(page, "teams-admin-mapping", full_page=False)
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/auditor/cluster/")
    page.goto(f"{live_server.url}/clusters/teamdemo/teams/")
    teams = page.eval_on_selector_all(
        "table.teams tbody tr[data-team]", "(rows) => rows.map((r) => r.dataset.team)"
    )
    assert teams == ["finance", "storage", "-"]
    assert "batch, payments" in page.inner_text("table.teams tbody tr.team-members >> nth=0")
    explained = "(3 namespaces mapped in the admin), else to the value of its team label (none is set"
    assert explained in page.inner_text("main")
    screenshot(page, "teams-admin-mapping-result")
    page.goto(f"{live_server.url}/clusters/teamdemo/namespaces/shop-db/")
    assert "Team storage (mapped in the admin)" in page.inner_text(".namespace-team")
    assert problems == []
    context.close()
