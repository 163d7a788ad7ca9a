"""The namespace page: coverage each way, policies, workloads, flows, findings and links,
for each role; namespace names elsewhere link to it."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.urls import reverse

from auditor.models import Finding, NetworkPolicy
from netpol.findings.stored import StoredReport

ROLES = ("viewer", "auditor", "admin")


def url(namespace: str = "shop-db", **query) -> str:
    base = reverse("webui:namespace", args=["demo", namespace])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("role", ROLES)
def test_the_page_for_each_role(client_as, demo_snapshot, role):
    response = client_as(role).get(url())
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Namespace shop-db" in body
    # What-if changes nothing, but running it is for auditors.
    whatif = reverse("webui:whatif", args=["demo"]) + "?q=shop-db&amp;yaml="
    assert (whatif in body) == (role != "viewer")


def test_strangers_and_anonymous_users_are_kept_out(client, client_as, demo_snapshot):
    assert client.get(url()).status_code == 302
    assert client_as("stranger").get(url()).status_code == 403


def test_an_unknown_namespace_is_404_and_says_which(client_as, demo_snapshot):
    response = client_as("viewer").get(url("no-such-ns"))
    assert response.status_code == 404
    assert "has no namespace no-such-ns" in response.content.decode()


def test_coverage_each_way_is_the_stored_reports(client_as, demo_snapshot):
    report = StoredReport.from_dict(demo_snapshot.analysis.report)
    response = client_as("viewer").get(url("shop-backend"))
    counts = report.coverage.namespaces["shop-backend"].counts
    directions = {d["name"]: d for d in response.context["coverage"]["directions"]}
    assert directions["ingress"]["pods"] == counts.ingress.pods
    assert directions["egress"]["pods"] == counts.egress.pods
    assert directions["ingress"]["of"] == directions["egress"]["of"] == counts.pods > 0
    body = response.content.decode()
    assert f"{counts.ingress.pods} of {counts.pods}" in body


def test_policies_workloads_and_findings_link_to_real_pages(client_as, demo_snapshot):
    client = client_as("viewer")
    response = client.get(url("shop-db"))
    body = response.content.decode()
    policies = NetworkPolicy.objects.filter(snapshot=demo_snapshot, namespace="shop-db")
    assert policies.exists()
    for policy in policies:
        link = reverse("webui:policy", args=["demo", "shop-db", policy.name])
        assert f'href="{link}"' in body
    assert client.get(link).status_code == 200
    workload = reverse("webui:workload", args=["demo", "shop-db", "StatefulSet", "postgres"])
    assert f'href="{workload}"' in body
    assert (
        response.context["findings"]["count"]
        == Finding.objects.filter(snapshot=demo_snapshot, namespace="shop-db").count()
    )
    links = response.context["links"]
    for key in ("around", "workloads", "findings", "reports"):
        assert client.get(links[key]).status_code == 200, key
    assert links["around"] == reverse("webui:graph", args=["demo"]) + "?around=shop-db"
    # Its neighbourhood graph loads the namespace graph around it.
    elements = reverse("webui:graph_elements", args=["demo"]) + "?around=shop-db"
    assert f'data-elements-url="{elements}"' in body
    assert client.get(elements).json()["filters"] == {"around": "shop-db"}


def test_flows_name_the_peers_with_their_ports(client_as, demo_snapshot):
    response = client_as("viewer").get(url("shop-db"))
    heard = {row["namespace"]: row["ports"] for row in response.context["peers"]["from"]["rows"]}
    assert heard["shop-backend"] == "5432, 6379"
    assert f'href="{url("shop-backend")}"' in response.content.decode()


def test_a_pinned_snapshot_stays_in_the_links(client_as, demo_snapshot):
    response = client_as("viewer").get(url("shop-db", snapshot=demo_snapshot.pk))
    assert response.status_code == 200
    keep = f"snapshot={demo_snapshot.pk}"
    assert response.context["links"]["around"].endswith(keep)
    assert f'href="{url("shop-backend")}?{keep}"' in response.content.decode()


def test_namespace_names_elsewhere_link_to_the_page(client_as, demo_snapshot):
    client = client_as("auditor")
    link = f'href="{url("shop-db")}"'
    assert link in client.get(reverse("webui:cluster", args=["demo"])).content.decode()
    named = Finding.objects.filter(snapshot=demo_snapshot).exclude(namespace="").first().namespace
    findings = client.get(reverse("webui:findings", args=["demo"]))
    assert f'href="{url(named)}"' in findings.content.decode()
    workload = reverse("webui:workload", args=["demo", "shop-db", "StatefulSet", "postgres"])
    assert link in client.get(workload).content.decode()
    policy = NetworkPolicy.objects.filter(snapshot=demo_snapshot, namespace="shop-db").first()
    assert (
        link
        in client.get(
            reverse("webui:policy", args=["demo", "shop-db", policy.name])
        ).content.decode()
    )
    nav = client.get(reverse("webui:home")).content.decode()
    for name in ("graph", "whatif", "reports", "reach", "findings"):
        assert f'href="{reverse(f"webui:{name}", args=["demo"])}"' in nav, name
    assert (
        f'href="{quote(reverse("webui:reach", args=["demo"]))}">Explain</a>'
        in client.get(url()).content.decode()
    )
