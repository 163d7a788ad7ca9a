"""The attack-paths page and the blast radius on workload pages, on the demo, whose
postgres carries the crown-jewel label: what they show is what netpol.paths answers."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from auditor.storage import engine_model
from netpol.paths import (
    DEFAULT_CROWN_JEWELS,
    attack_paths,
    blast_radius,
    crown_jewels,
    parse_selector,
)

JEWEL = "shop-db/StatefulSet/postgres"


def url(**query) -> str:
    base = reverse("webui:attack_paths", args=["demo"])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_demo_crown_jewel_and_the_paths_to_it(client_as, demo_snapshot):
    model = engine_model(demo_snapshot)
    assert crown_jewels(model, selector=parse_selector(DEFAULT_CROWN_JEWELS)) == [JEWEL]
    expected = attack_paths(model, [JEWEL], start="*", max_hops=4)
    assert expected, "the demo has a path to its crown jewel"

    response = client_as("viewer").get(url(**{"from": "*"}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "1 crown jewel" in body and JEWEL in body
    assert f"{len(expected)} shortest path" in body
    first = expected[0].hops[0]
    assert first.src in body and f"{first.protocol}/{first.port}" in body
    # Rules link to the policy page at the rule; the drawing holds every hop.
    for rule in (r for hop in expected[0].hops for r in hop.rules if r["policy"]):
        namespace, name = rule["policy"].split("/", 1)
        assert reverse("webui:policy", args=["demo", namespace, name]) in body
    drawing = json.loads(body.split('id="paths-drawing" type="application/json">')[1].split("</script>")[0])
    edges = {(e["source"], e["target"]) for e in drawing["edges"]}
    assert {(h.src, h.dst) for p in expected for h in p.hops} == edges
    assert [n["id"] for n in drawing["nodes"] if n["kind"] == "jewel"] == [JEWEL]


def test_from_the_internet_as_the_engine_answers(client_as, demo_snapshot):
    model = engine_model(demo_snapshot)
    expected = attack_paths(model, [JEWEL], start="internet", max_hops=4)
    # batch, open to every address, holds the backup job that may open postgres.
    assert [h.dst for h in expected[0].hops] == ["batch/CronJob/db-backup", JEWEL]
    body = client_as("viewer").get(url()).content.decode()
    assert "reached from the internet within 4 hops" in body
    assert f"{len(expected)} shortest paths from the internet" in body
    assert "TCP/5432" in body


@pytest.mark.parametrize(
    "query, message",
    [
        ({"from": "shop/Deployment/nothing"}, "no workload &#x27;shop/Deployment/nothing&#x27;"),
        ({"jewels": "tier"}, "is not key=value"),
    ],
)
def test_bad_input_says_what_is_wrong(client_as, demo_snapshot, query, message):
    response = client_as("viewer").get(url(**query))
    assert response.status_code == 400
    assert message in response.content.decode()


def test_bad_hops_fall_back_and_say_so(client_as, demo_snapshot):
    body = client_as("viewer").get(url(hops="99")).content.decode()
    assert "Hops must be a whole number from 1 to 6; 4 were used." in body


def test_no_crown_jewel_explains_how_to_mark_one(client_as, demo_snapshot):
    body = client_as("viewer").get(url(jewels="nothing=here")).content.decode()
    assert "No crown jewel." in body and "netpol-auditor.io/crown-jewel" in body


def test_the_workload_page_shows_its_blast_radius(client_as, demo_snapshot):
    model = engine_model(demo_snapshot)
    workload = "shop-frontend/Deployment/storefront"
    expected = blast_radius(model, workload, max_hops=3, jewels=[JEWEL])
    page = reverse("webui:workload", args=["demo", "shop-frontend", "Deployment", "storefront"])
    body = client_as("viewer").get(page).content.decode()
    assert 'id="blast-radius"' in body
    assert expected["reached_jewels"] == [JEWEL]  # the storefront is two hops from postgres
    assert f"reaches <strong>{expected['workloads']} workloads" in body
    assert "1 crown jewel among them" in body and "Attack paths from here" in body
