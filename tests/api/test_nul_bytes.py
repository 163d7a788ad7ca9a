"""A NUL byte in the address is refused with a 400 that names where it is, never a 500."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse


@pytest.mark.parametrize("query", ["namespace=%00", "namespace=shop%00x", "%00=1"])
def test_api_refuses_a_nul_byte_in_json(api, demo_snapshot, query):
    response = api.client.get(
        f"/api/v1/clusters/demo/findings?{query}",
        headers={"Authorization": f"Bearer {api.tokens['viewer']}"},
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == 400
    assert "NUL byte (%00)" in body["detail"]
    if query.startswith("namespace"):
        assert body["parameter"] == "namespace"


def test_pages_refuse_a_nul_byte_with_a_page_naming_the_parameter(client_as, demo_snapshot):
    client = client_as("viewer")
    url = reverse("webui:findings", args=["demo"])
    response = client.get(f"{url}?namespace=%00")
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert "Parameter 'namespace' contains a NUL byte (%00)" in text
    # The same page without it still answers.
    assert client.get(f"{url}?namespace=shop").status_code == 200


def test_an_api_bug_answers_json_not_an_html_page(api, demo_snapshot, monkeypatch):
    from auditor.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(views, "findings_of", broken)
    response = api.get("/api/v1/clusters/demo/findings")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": 500, "detail": "Internal error; the server log has the details."}
