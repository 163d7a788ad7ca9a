"""The what-if page offers a snapshot's Calico staged policies (issue 13): listed with a
button for all and one for each, run as their enforced form would be pasted, inline or
by a worker, the result titled "what enforcing the staged policies would change" and each
connection naming the kind that decides it.

The cluster is tests/fixtures/cli/calico.yaml (its header says what each policy does);
the meaning of stagedAction is Calico's (docs/semantics-calico.md, "Staged policies").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from auditor.models import CniObject, WhatIfRun
from auditor.whatif.services import whatif_run_execute

from .test_pages_objects import _snapshot

CALICO = Path(__file__).parent / "fixtures" / "cli" / "calico.yaml"
DEMO_STAGED = "StagedGlobalNetworkPolicy/default.deny-everything"


@pytest.fixture
def calico(db, tmp_path):
    shutil.copy(CALICO, tmp_path)
    return _snapshot(tmp_path, "calico")


def url(name="calico"):
    return reverse("webui:whatif", args=[name])


def test_the_page_lists_the_staged_policies_with_their_buttons(client_as, calico):
    page = client_as("auditor").get(url()).content.decode()
    assert "<h2>Staged policies <small>1</small></h2>" in page
    assert (
        "<td>StagedGlobalNetworkPolicy</td>" in page and "<td>default.deny-everything</td>" in page
    )
    assert 'tag-add">Set</span>' in page and "<td>Calico GlobalNetworkPolicy</td>" in page
    assert f'name="staged" value="{DEMO_STAGED}"' in page
    assert 'name="staged" value="all"' in page and "Try staged policies as what-if" in page


def test_no_staged_policy_no_section(client_as, demo_snapshot):
    page = client_as("auditor").get(reverse("webui:whatif", args=["demo"])).content.decode()
    assert "Staged policies" not in page and 'name="staged"' not in page


def test_trying_them_runs_the_enforced_form_and_names_the_deciding_kind(client_as, calico):
    response = client_as("auditor").post(url(), {"staged": "all"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h2>What enforcing the staged policies would change</h2>" in page
    assert 'tag-add">added</span> Calico GlobalNetworkPolicy default.deny-everything' in page
    # As if pasted: the enforced form is in the text box for the user to edit.
    assert "# Calico staged policies as enforced (1):" in page
    assert "kind: GlobalNetworkPolicy" in page
    # Enforced, every pod is in the default tier, whose end denies web's egress to db;
    # db's ingress is still allowed by the Calico NetworkPolicy before it.
    assert "Decided after the change" in page
    assert "Calico tier default" in page
    policy_url = reverse(
        "webui:kind_policy", args=["calico", "CalicoNetworkPolicy", "shop", "allow-web-to-db"]
    )
    assert f'<a href="{policy_url}">Calico NetworkPolicy shop/allow-web-to-db</a>' in page
    # 37.5% of (pod, direction) pairs isolated before, all of them after.
    assert "37.5% → 100.0%" in page


def test_one_staged_delete_alone(client_as, calico):
    CniObject.objects.create(
        snapshot=calico,
        kind="StagedNetworkPolicy",
        api_version="projectcalico.org/v3",
        namespace="shop",
        name="allow-web-to-db",
        spec={"stagedAction": "Delete"},
    )
    client = client_as("auditor")
    assert "<h2>Staged policies <small>2</small></h2>" in client.get(url()).content.decode()
    page = client.post(
        url(), {"staged": "StagedNetworkPolicy/shop/allow-web-to-db"}
    ).content.decode()
    assert "<h2>What enforcing the staged policies would change</h2>" in page
    assert 'tag-remove">removed</span> Calico NetworkPolicy shop/allow-web-to-db' in page
    # Marked for removal as a user would mark it, not the other staged policy.
    assert 'value="CalicoNetworkPolicy/shop/allow-web-to-db" checked' in page
    assert "default.deny-everything</span>" not in page.split('id="result"')[1]


def test_a_staged_action_that_says_nothing_is_named(client_as, calico):
    CniObject.objects.create(
        snapshot=calico,
        kind="StagedNetworkPolicy",
        api_version="projectcalico.org/v3",
        namespace="shop",
        name="learning",
        spec={"stagedAction": "Learn"},
    )
    client = client_as("auditor")
    listed = client.get(url()).content.decode()
    assert "stagedAction &#x27;Learn&#x27; is neither Set nor Delete" in listed
    # The other one can still be tried alone; all of them cannot.
    assert client.post(url(), {"staged": DEMO_STAGED}).status_code == 200
    refused = client.post(url(), {"staged": "all"})
    assert refused.status_code == 400
    assert "StagedNetworkPolicy shop/learning: stagedAction" in refused.content.decode()


def test_an_unknown_staged_policy_is_a_400_naming_it(client_as, calico):
    response = client_as("auditor").post(url(), {"staged": "StagedNetworkPolicy/shop/nope"})
    assert response.status_code == 400
    assert "StagedNetworkPolicy/shop/nope: no such staged policy" in response.content.decode()


def test_viewers_cannot_run_them(client_as, calico):
    assert client_as("viewer").post(url(), {"staged": "all"}).status_code == 403


def test_a_large_snapshot_runs_them_in_a_worker_titled_alike(client_as, calico, settings):
    settings.WHATIF_INLINE_MAX_PODS = 0
    client = client_as("auditor")
    response = client.post(url(), {"staged": "all"})
    assert response.status_code == 302
    run = WhatIfRun.objects.get()
    assert run.yaml.startswith("# Calico staged policies as enforced")
    waiting = client.get(response.url).content.decode()
    assert "<h2>What enforcing the staged policies would change</h2>" in waiting
    whatif_run_execute(run_id=run.pk)
    page = client.get(response.url).content.decode()
    assert "<h2>What enforcing the staged policies would change</h2>" in page
    assert 'tag-add">added</span> Calico GlobalNetworkPolicy default.deny-everything' in page
    assert "Calico NetworkPolicy shop/allow-web-to-db</a>" in page
