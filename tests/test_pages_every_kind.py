"""Objects of a kind the cluster's plugin does not enforce are shown, never applied
(issue 13): the overview's notice, the policy's own page, the namespace page; and Calico's
policies listed with the other kinds about a namespace.

The clusters are tests/fixtures/cli/cni-mismatch (Calico runs, a CiliumNetworkPolicy
isolates ledger on paper: docs/semantics-enforcement.md, Calico does not read Cilium's
kinds) and tests/fixtures/cli/calico.yaml, whose headers say what each object does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from auditor.models import Finding

from .test_pages_objects import _snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
MISMATCH = FIXTURES / "cni-mismatch"


@pytest.fixture
def mismatch(db):
    return _snapshot(MISMATCH, "mismatch")


def test_the_overview_counts_the_objects_shown_but_not_applied(client_as, mismatch):
    text = client_as("viewer").get(reverse("webui:cluster", args=["mismatch"])).content.decode()
    finding = Finding.objects.get(snapshot=mismatch, rule="NP042")
    url = reverse("webui:finding", args=["mismatch", finding.pk])
    assert (
        "1 object of kinds Calico does not enforce is shown but not applied "
        f'(<a href="{url}">NP042</a>).'
    ) in text


def test_the_policy_page_says_not_enforced_and_explains_no_connection(client_as, mismatch):
    url = reverse(
        "webui:kind_policy", args=["mismatch", "CiliumNetworkPolicy", "ledger", "isolate-ledger"]
    )
    page = client_as("viewer").get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "<h1>CiliumNetworkPolicy ledger/isolate-ledger</h1>" in text
    finding = Finding.objects.get(snapshot=mismatch, rule="NP042")
    assert (
        "<strong>Not enforced</strong>: the cluster runs Calico, which does not read "
        "CiliumNetworkPolicy. The policy is shown as written and applied nowhere: no "
        "connection is decided by it "
        f'(<a href="{reverse("webui:finding", args=["mismatch", finding.pk])}">NP042</a>).'
    ) in text
    # Shown as written, with no place in the order of evaluation nor example to explain.
    assert "kind: CiliumNetworkPolicy" in text and "endpointSelector: {}" in text
    assert 'id="place"' not in text and "explain " not in text
    assert "could not read this policy" not in text and "shown, not evaluated" not in text


def test_the_namespace_page_lists_the_policies_not_enforced(client_as, mismatch):
    text = (
        client_as("viewer")
        .get(reverse("webui:namespace", args=["mismatch", "ledger"]))
        .content.decode()
    )
    section = text[text.index('id="unenforced"') : text.index('id="workloads"')]
    url = reverse(
        "webui:kind_policy", args=["mismatch", "CiliumNetworkPolicy", "ledger", "isolate-ledger"]
    )
    assert "Policies not enforced <small>1</small>" in section
    assert "The cluster runs Calico, which does not read these kinds" in section
    assert f'<a href="{url}">CiliumNetworkPolicy ledger/isolate-ledger</a>' in section
    web = client_as("viewer").get(reverse("webui:namespace", args=["mismatch", "web"]))
    assert 'id="unenforced"' not in web.content.decode()


def test_an_enforced_cluster_has_no_notice(client_as, db, tmp_path):
    shutil.copy(FIXTURES / "calico.yaml", tmp_path)
    _snapshot(tmp_path, "calico")
    text = client_as("viewer").get(reverse("webui:cluster", args=["calico"])).content.decode()
    assert 'id="unenforced"' not in text and "shown but not applied" not in text


def test_the_namespace_page_lists_calico_policies_with_their_tier_and_order(
    client_as, db, tmp_path
):
    # shop's db is selected by the security tier's GlobalNetworkPolicy (order 10) and by
    # shop's Calico policy in the default tier (no order: last in it).
    shutil.copy(FIXTURES / "calico.yaml", tmp_path)
    _snapshot(tmp_path, "calico")
    text = (
        client_as("viewer")
        .get(reverse("webui:namespace", args=["calico", "shop"]))
        .content.decode()
    )
    section = text[text.index('id="other-policies"') : text.index('id="workloads"')]
    gnp = reverse(
        "webui:cluster_policy", args=["calico", "CalicoGlobalNetworkPolicy", "deny-batch-to-db"]
    )
    np = reverse(
        "webui:kind_policy", args=["calico", "CalicoNetworkPolicy", "shop", "allow-web-to-db"]
    )
    assert section.index(gnp) < section.index(np)  # security (order 100) before default
    assert 'Calico tier security</span> <small class="muted">order 10</small>' in section
    assert 'Calico tier default</span> <small class="muted">no order: last</small>' in section
    assert section.count("1 pod") >= 2  # each selects shop's db only
