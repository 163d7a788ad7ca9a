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


def test_a_calico_policy_page_says_tier_order_subject_and_rules(client_as, db, tmp_path):
    # docs/semantics-calico.md, "The walk": tiers by order, policies by order in a tier,
    # rules in written order, the first match decides, the tier's end after. The fixture's
    # security tier (order 100) holds deny-batch-to-db (order 10): db refuses batch,
    # passes the rest on; shop's allow-web-to-db admits web on TCP 5432.
    shutil.copy(FIXTURES / "calico.yaml", tmp_path)
    _snapshot(tmp_path, "calico")
    client = client_as("viewer")
    gnp = client.get(
        reverse(
            "webui:cluster_policy", args=["calico", "CalicoGlobalNetworkPolicy", "deny-batch-to-db"]
        )
    )
    assert gnp.status_code == 200
    text = gnp.content.decode()
    assert "shown, not evaluated" not in text
    assert '<span class="tag">Calico tier security</span>' in text
    assert '<span class="tag">order 10</span>' in text
    assert "Calico tier security (order 100, 1 of 2 in the walk)" in text
    assert "meets the tier&#x27;s end: Deny." in text
    subject = text[text.index('id="subject"') : text.index('id="ingress"')]
    assert reverse("webui:pod", args=["calico", "shop", "db-0"]) in subject
    ingress = text[text.index('id="ingress"') :]
    assert "2 rules, in order: the first whose peer and port match decides" in ingress
    assert "Rule 0 <code>spec.ingress[0]</code>" in ingress
    assert 'badge-red">Deny<' in ingress and 'badge-grey">Pass<' in ingress
    assert "namespaceSelector: kubernetes.io/metadata.name == &#x27;batch&#x27;" in ingress
    assert reverse("webui:pod", args=["calico", "batch", "job-0"]) in ingress
    assert "explain batch/job-0 → shop/db-0" in ingress
    assert "no rule, but its types list" not in text  # Egress is not among its types

    np = client.get(
        reverse(
            "webui:kind_policy", args=["calico", "CalicoNetworkPolicy", "shop", "allow-web-to-db"]
        )
    ).content.decode()
    assert '<span class="tag">Calico tier default</span>' in np
    assert '<span class="tag">no order: last</span>' in np
    assert "selector: app == &#x27;web&#x27;" in np and "<code>TCP/5432</code>" in np
    assert "explain shop/web-0 → shop/db-0 TCP/5432" in np


def test_the_namespace_coverage_links_a_calico_default_deny(client_as, db, tmp_path):
    # monitoring's prom-egress selects its one running pod for Egress in the default
    # tier, which ends in Deny: its default deny for egress (docs/semantics-calico.md,
    # "Coverage").
    shutil.copy(FIXTURES / "calico.yaml", tmp_path)
    _snapshot(tmp_path, "calico")
    text = (
        client_as("viewer")
        .get(reverse("webui:namespace", args=["calico", "monitoring"]))
        .content.decode()
    )
    coverage = text[text.index('id="coverage"') : text.index('id="policies"')]
    url = reverse(
        "webui:kind_policy", args=["calico", "CalicoNetworkPolicy", "monitoring", "prom-egress"]
    )
    egress = coverage[coverage.index("Egress</th>") :]
    assert f'<span class="yes"><a href="{url}">Calico NetworkPolicy monitoring/prom-egress</a>' in (
        egress
    )
    ingress = coverage[coverage.index("Ingress</th>") : coverage.index("Egress</th>")]
    assert '<span class="no">none</span>' in ingress
