"""Suggested policies in the app (issue 14): from the Flows page and a workload's page, the
suggestion page shows what ``netpol.suggest`` answers for the demo's imported flows, its
verification, and a form that runs it as a what-if; its empty states explain themselves."""

from __future__ import annotations

import html

import pytest
import yaml
from django.urls import reverse

from auditor.flows import flows_import, flows_replay
from auditor.management.commands.setup_demo import DEMO_FLOWS
from auditor.storage import engine_model
from netpol.suggest import suggest

CATALOG = "shop-backend/Deployment/catalog"


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def suggest_url(**query) -> str:
    base = reverse("webui:flows_suggest", args=["demo"])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_page_shows_the_verified_suggestion(var_dir, client_as, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    model = engine_model(demo_snapshot)
    expected = suggest(
        model, flows_replay(cluster=demo_snapshot.cluster, model=model), workload=CATALOG
    )
    response = client_as("viewer").get(suggest_url(workload=CATALOG))
    assert response.status_code == 200
    body = response.content.decode()
    v = expected.verified
    assert v["denied"] == 0 and v["conversations"] > 0
    verified = body.split('id="suggest-verified"')[1].split("</p>")[0]
    assert f"against {v['conversations']} observed" in verified
    assert 'data-figure="denied">0<' in verified
    shown = html.unescape(body.split('id="suggest-yaml">')[1].split("</pre>")[0])
    assert shown == expected.yaml()
    docs = [d for d in yaml.safe_load_all(shown) if d]
    assert [d["metadata"]["name"] for d in docs] == ["least-privilege-deployment-catalog"]
    # A viewer reads it; trying it as a what-if needs the auditor role.
    assert "Try as what-if" not in body and "needs the auditor role" in body


def test_try_as_whatif_posts_the_yaml_to_the_whatif_page(var_dir, client_as, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    client = client_as("auditor")
    body = client.get(suggest_url(namespace="shop-backend")).content.decode()
    form = body.split('class="suggest-try"')[1].split("</form>")[0]
    action = body.split('class="suggest-try"')[0].rsplit("<form", 1)[1]
    assert reverse("webui:whatif", args=["demo"]) in action and 'method="post"' in action
    text = html.unescape(
        form.split('name="yaml" hidden aria-hidden="true">')[1].split("</textarea>")[0]
    )
    assert 'name="run"' in form
    # What the button sends: the what-if runs it at once.
    whatif = client.post(
        reverse("webui:whatif", args=["demo"]) + f"?snapshot={demo_snapshot.pk}",
        {"yaml": text, "run": "1"},
    )
    assert whatif.status_code == 200
    page = whatif.content.decode()
    assert "least-privilege-deployment-catalog" in page
    section = page.split('id="would-deny"')[1].split("</div>")[0]
    assert "Would deny no observed flow" in section  # as verified


def test_linked_from_the_flows_and_workload_pages(var_dir, client_as, demo_snapshot):
    client = client_as("viewer")
    workload = reverse("webui:workload", args=["demo", "shop-backend", "Deployment", "catalog"])
    assert 'id="suggest-link"' not in client.get(workload).content.decode()  # no flows yet
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    flows = client.get(reverse("webui:flows", args=["demo"])).content.decode()
    form = flows.split('id="suggest-form"')[1].split("</form>")[0]
    assert '<option value="shop-backend"' in form
    assert reverse("webui:flows_suggest", args=["demo"]) in flows
    page = client.get(workload).content.decode()
    assert (
        f"{reverse('webui:flows_suggest', args=['demo'])}?workload=shop-backend%2FDeployment%2Fcatalog"
        in page
    )


def test_empty_states_explain_themselves(var_dir, client_as, demo_snapshot):
    client = client_as("viewer")
    body = client.get(suggest_url(namespace="shop-backend")).content.decode()
    assert 'id="suggest-empty"' in body and "No flows imported for demo" in body
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    model = engine_model(demo_snapshot)
    seen = {
        k
        for e in flows_replay(cluster=demo_snapshot.cluster, model=model)["allowed"]
        for k in (e["from_workload"], e["to_workload"])
    }
    quiet = sorted({p.workload_key for p in model.pods} - seen)[0]
    body = client.get(suggest_url(workload=quiet)).content.decode()
    assert 'id="suggest-no-traffic"' in body and f"No observed traffic for workload {quiet}" in body


def test_bad_scope_is_named(var_dir, client_as, demo_snapshot):
    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    client = client_as("viewer")
    response = client.get(suggest_url(workload="shop-backend/Deployment/nope"))
    assert response.status_code == 400
    assert "shop-backend/Deployment/nope" in html.unescape(response.content.decode())
    both = client.get(suggest_url(workload=CATALOG, namespace="shop-backend"))
    assert both.status_code == 400 and "not both" in both.content.decode()


def test_strangers_cannot_read(var_dir, client, client_as, demo_snapshot):
    assert client_as("stranger").get(suggest_url()).status_code == 403
    client.logout()
    assert client.get(suggest_url()).status_code == 302  # to the login page
