"""Pages of policies of other kinds (ClusterNetworkPolicy, AdminNetworkPolicy,
BaselineAdminNetworkPolicy) and "which kind decided" on the object, namespace, graph and
explain pages (issue 13).

The cluster is tests/fixtures/cli/tiers.yaml, whose header says what each policy does;
the semantics behind each expectation are the API's (docs/semantics-clusternetworkpolicy.md):
the Admin tier decides before NetworkPolicies, the Baseline tier only what none isolated.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils.html import escape

from auditor.models import Finding

from .test_pages_objects import _snapshot

TIERS = Path(__file__).parent / "fixtures" / "cli" / "tiers.yaml"


@pytest.fixture
def tiers(db, tmp_path):
    shutil.copy(TIERS, tmp_path)
    return _snapshot(tmp_path, "tiers")


def cluster_policy_url(kind, name, cluster="tiers"):
    return reverse("webui:cluster_policy", args=[cluster, kind, name])


def test_a_cluster_network_policy_page_says_tier_priority_subject_rules_and_yaml(client_as, tiers):
    page = client_as("viewer").get(cluster_policy_url("ClusterNetworkPolicy", "isolate-batch"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "<h1>ClusterNetworkPolicy isolate-batch</h1>" in text
    assert "Admin tier</span>" in text and "priority 50" in text
    # Its subject is batch's pods, linked to their pages.
    assert 'id="subject"' in text and reverse("webui:pod", args=["tiers", "batch", "job-0"]) in text
    # Its one egress rule: Deny to every namespace's pods, in order, with an example.
    assert "<code>deny-all</code>" in text and 'badge-red">Deny<' in text
    assert "namespaces (all)" in text
    assert "explain batch/job-0 →" in text
    # The YAML as stored.
    assert (
        "kind: ClusterNetworkPolicy" in text
        and "apiVersion: policy.networking.k8s.io/v1alpha2" in text
    )


def test_v1alpha1_kinds_have_their_page_with_their_tier(client_as, tiers):
    client = client_as("viewer")
    anp = client.get(cluster_policy_url("AdminNetworkPolicy", "allow-monitoring")).content.decode()
    assert "Admin tier</span>" in anp and "priority 10" in anp
    assert 'badge-green">Allow<' in anp or 'badge-green">Accept<' in anp
    assert "TCP/9100" in anp
    banp = client.get(cluster_policy_url("BaselineAdminNetworkPolicy", "default")).content.decode()
    assert "Baseline tier</span>" in banp and "no priority: after every Baseline" in banp
    assert "<code>same-namespace-only</code>" in banp


def test_an_unknown_cluster_policy_is_a_404_naming_it(client_as, tiers):
    page = client_as("viewer").get(cluster_policy_url("ClusterNetworkPolicy", "nope"))
    assert page.status_code == 404
    assert "has no ClusterNetworkPolicy nope" in page.content.decode()


def test_pod_lists_say_which_kind_decided_each_connection(client_as, tiers):
    page = client_as("viewer").get(reverse("webui:pod", args=["tiers", "shop", "web-0"]))
    text = page.content.decode()
    inbound = text[text.index('id="inbound"') : text.index('id="outbound"')]
    anp = cluster_policy_url("AdminNetworkPolicy", "allow-monitoring")
    # monitoring reaches shop on 9100 only because the Admin tier accepts it, before
    # shop's NetworkPolicy (which admits only shop on 5432) is asked.
    assert f'<a href="{anp}">AdminNetworkPolicy allow-monitoring</a>, Accept' in inbound
    # shop's own pods are admitted by the NetworkPolicy, named as such.
    policy = reverse("webui:policy", args=["tiers", "shop", "default-deny"])
    assert f'<a href="{policy}">NetworkPolicy shop/default-deny</a>' in inbound
    # The cluster-wide policies whose subject holds the pod are listed with their tier.
    assert 'id="other-policies"' in text
    assert (
        "Isolated means in default deny, by a NetworkPolicy, a Cilium policy or a Calico tier"
        in text
    )
    assert anp in text and cluster_policy_url("BaselineAdminNetworkPolicy", "default") in text


def test_workload_of_batch_names_the_admin_tier_deny_on_its_outgoing_side(client_as, tiers):
    # batch may send to no pod (an Admin-tier Deny of every namespace): its outbound list
    # is empty, and the pod page lists the policy that decides it.
    text = (
        client_as("viewer")
        .get(reverse("webui:pod", args=["tiers", "batch", "job-0"]))
        .content.decode()
    )
    outbound = text[text.index('id="outbound"') :]
    assert "It can open a connection to no pod." in outbound
    assert cluster_policy_url("ClusterNetworkPolicy", "isolate-batch") in text


def test_namespace_page_lists_the_cluster_wide_policies_about_its_pods(client_as, tiers):
    text = (
        client_as("viewer")
        .get(reverse("webui:namespace", args=["tiers", "batch"]))
        .content.decode()
    )
    assert "No NetworkPolicy in this namespace; the policies below decide for its pods." in text
    assert cluster_policy_url("ClusterNetworkPolicy", "isolate-batch") in text
    assert "Admin tier</span>" in text


def test_explain_links_the_deciding_cluster_policy(client_as, tiers):
    query = {"from": "batch/job-0", "to": "shop/db-0", "port": "5432"}
    text = client_as("viewer").get(reverse("webui:reach", args=["tiers"]), query).content.decode()
    url = cluster_policy_url("ClusterNetworkPolicy", "isolate-batch")
    assert (
        f'Decided by the Admin tier: <span class="decided"><a href="{url}">ClusterNetworkPolicy isolate-batch</a>, Deny'
        in text
    )


def test_graph_edges_name_the_kind_that_decided_an_example_connection(client_as, tiers):
    data = client_as("viewer").get(reverse("webui:graph_elements", args=["tiers"])).json()
    edges = {
        (e["data"]["source"], e["data"]["target"]): e["data"] for e in data["elements"]["edges"]
    }
    edge = edges["ns:monitoring", "ns:shop"]
    facts = dict(map(tuple, edge["facts"]))
    assert (
        facts["Example"].startswith("monitoring/prom-0 → shop/") and "TCP/9100" in facts["Example"]
    )
    assert (
        facts["Decided by (ingress)"] == "Admin tier: AdminNetworkPolicy allow-monitoring, Accept"
    )
    assert facts["Decided by (egress)"] == "no tier decides: allowed by default"
    links = {link["text"]: link["url"] for link in edge["links"]}
    assert links["Ingress: AdminNetworkPolicy allow-monitoring"] == cluster_policy_url(
        "AdminNetworkPolicy", "allow-monitoring"
    )


def test_a_finding_naming_cluster_policies_links_their_pages(client_as, db, tmp_path):
    # A second Admin policy at isolate-batch's priority over the same pods and direction:
    # their order is undefined, and NP040 names both.
    second = """
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: batch-to-shop}
spec:
  tier: Admin
  priority: 50
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: batch}}}
  egress:
  - name: shop
    action: Accept
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}]
"""
    (tmp_path / "cluster.yaml").write_text(TIERS.read_text() + second)
    snapshot = _snapshot(tmp_path, "overlap")
    finding = Finding.objects.get(snapshot=snapshot, rule="NP040")
    url = reverse("webui:finding", args=["overlap", finding.pk])
    text = client_as("viewer").get(url).content.decode()
    for name in ("isolate-batch", "batch-to-shop"):
        assert cluster_policy_url("ClusterNetworkPolicy", name, cluster="overlap") in text


# --- The Cilium demo cluster (auditor/demo_cluster_cilium) ---------------------------------

CILIUM_DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster_cilium"


@pytest.fixture
def cilium_demo(db):
    return _snapshot(CILIUM_DEMO, "demo-cilium")


def kind_policy_url(kind, namespace, name, cluster="demo-cilium"):
    return reverse("webui:kind_policy", args=[cluster, kind, namespace, name])


def test_cilium_demo_explain_names_the_ingress_deny_that_overrides_the_allow(
    client_as, cilium_demo
):
    # Cilium: "deny policies take precedence over allow policies": sandbox is inside the
    # cluster entity web/api allows, and its ingressDeny refuses it.
    query = {"from": "sandbox/Deployment/scratch", "to": "web/Deployment/api", "port": "8080"}
    text = (
        client_as("viewer")
        .get(reverse("webui:reach", args=["demo-cilium"]), query)
        .content.decode()
    )
    assert "DENIED" in text
    assert "denied by cilium/web/api spec.ingressDeny[0]" in text
    url = kind_policy_url("CiliumNetworkPolicy", "web", "api")
    assert f'<a href="{url}">CiliumNetworkPolicy web/api</a>' in text


def test_cilium_demo_workload_lists_name_the_cilium_policy_that_decided(client_as, cilium_demo):
    url = reverse("webui:workload", args=["demo-cilium", "ledger", "StatefulSet", "ledger-db"])
    text = client_as("viewer").get(url).content.decode()
    inbound = text[text.index('id="inbound"') : text.index('id="outbound"')]
    # Only web's API reaches the database (its replicas reach each other: loopback is a
    # pod's own), and the CiliumNetworkPolicy that isolates ledger is what admits it.
    assert (
        ">api</a>" in inbound and ">frontend</a>" not in inbound and ">scratch</a>" not in inbound
    )
    policy = kind_policy_url("CiliumNetworkPolicy", "ledger", "isolate-ledger")
    assert f'<a href="{policy}">CiliumNetworkPolicy ledger/isolate-ledger</a>' in inbound
    assert policy in text[: text.index('id="inbound"')]  # listed with the policies about it


def test_cilium_policy_page_lists_allow_and_deny_rules_with_their_yaml(client_as, cilium_demo):
    page = client_as("viewer").get(kind_policy_url("CiliumNetworkPolicy", "web", "api"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "<h1>CiliumNetworkPolicy web/api</h1>" in text
    assert "NetworkPolicy tier</span>" in text and "default deny: ingress" in text
    assert "<code>spec.ingress[0]</code>" in text and "<code>spec.ingressDeny[0]</code>" in text
    assert 'badge-green">Allow<' in text and 'badge-red">Deny<' in text
    assert (
        reverse("webui:workload", args=["demo-cilium", "sandbox", "Deployment", "scratch"]) in text
    )
    assert "apiVersion: cilium.io/v2" in text and "ingressDeny:" in text


# --- Calico (tests/fixtures/cli/calico.yaml) -----------------------------------------------


@pytest.fixture
def calico(db, tmp_path):
    shutil.copy(TIERS.parent / "calico.yaml", tmp_path)
    return _snapshot(tmp_path, "calico")


def test_calico_explain_links_the_policy_of_the_tier_that_decided(client_as, calico):
    # Calico: the first matching rule of the first tier that selects the pod decides; the
    # security tier's GlobalNetworkPolicy denies batch towards db.
    query = {"from": "batch/job-0", "to": "shop/db-0", "port": "5432"}
    text = client_as("viewer").get(reverse("webui:reach", args=["calico"]), query).content.decode()
    assert "DENIED" in text
    url = cluster_policy_url("CalicoGlobalNetworkPolicy", "deny-batch-to-db", "calico")
    assert f'<a href="{url}">Calico GlobalNetworkPolicy deny-batch-to-db</a>, Deny' in text
    page = client_as("viewer").get(url).content.decode()
    assert "<h1>CalicoGlobalNetworkPolicy deny-batch-to-db</h1>" in page
    # The YAML as stored: crd.projectcalico.org/v1 names carry their tier.
    assert "name: security.deny-batch-to-db" in page
    assert "kind: GlobalNetworkPolicy" in page and "apiVersion: crd.projectcalico.org/v1" in page


def test_evidence_naming_a_cilium_policy_links_its_page():
    from webui.templatetags.evidence import evidence_rows

    rows = evidence_rows(
        {"policy": "cilium/web/api", "direction": "ingress", "rule": 0},
        cluster="demo-cilium",
        snapshot_id=3,
        policy_spec=None,
    )
    html = str(rows[0]["html"])
    assert html.startswith("CiliumNetworkPolicy <a href=")
    assert kind_policy_url("CiliumNetworkPolicy", "web", "api") + "?snapshot=3" in html


# --- Rules the audit cannot decide (tests/fixtures/cli/undecided.yaml) ------------------------


@pytest.fixture
def undecided(db, tmp_path):
    shutil.copy(TIERS.parent / "undecided.yaml", tmp_path)
    return _snapshot(tmp_path, "undecided")


UNDECIDED_WEB = [
    "cilium/shop/web-l7 spec.ingress[0]: L7 rule spec.ingress[0].toPorts[0].rules (http)",
    "cnp/web-to-api rule `api`: domainNames api.example.com",
    "calico/shop/web-http ingress[0]: HTTP match spec.ingress[0].http",
]


def test_pod_and_workload_pages_say_which_rules_about_them_cannot_be_decided(client_as, undecided):
    viewer = client_as("viewer")
    pod = viewer.get(reverse("webui:pod", args=["undecided", "shop", "web-0"])).content.decode()
    assert "<strong>Partially modelled</strong>: 3 rules about this pod depend on" in pod
    for text in UNDECIDED_WEB:
        assert f"<li><code>{escape(text)}</code></li>" in pod
    other = viewer.get(reverse("webui:pod", args=["undecided", "shop", "db-0"])).content.decode()
    assert "Partially modelled" not in other
