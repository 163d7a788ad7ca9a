"""Tokens made on the user's own page and in the admin: shown once, working, revocable."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from auditor.models import ApiToken

pytestmark = pytest.mark.django_db

KEY = re.compile(r"npa_[A-Za-z0-9_-]{43}")
PAGE = "/account/api-tokens/"


def me(client, key):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})


def test_a_user_makes_a_token_sees_it_once_and_uses_it(client_as, client):
    page = client_as("auditor")
    response = page.post(PAGE, {"name": "grafana"})
    assert response.status_code == 200
    keys = KEY.findall(response.content.decode())
    assert len(set(keys)) == 1
    key = keys[0]
    token = ApiToken.objects.get(user__username="auditor")
    assert token.name == "grafana" and key.startswith(token.prefix)
    # Listed afterwards by its prefix, never in full.
    listing = page.get(PAGE).content.decode()
    assert token.prefix in listing and key not in listing
    body = me(client, key).json()
    assert body["username"] == "auditor" and body["role"] == "auditor"


def test_a_token_needs_a_name(client_as):
    response = client_as("viewer").post(PAGE, {"name": "  "})
    assert response.status_code == 400 and b"Give the token a name" in response.content
    assert not ApiToken.objects.exists()


def test_a_user_revokes_their_own_token_only(client_as, tokens, personas):
    page = client_as("viewer")
    mine = ApiToken.objects.get(user=personas["viewer"])
    theirs = ApiToken.objects.get(user=personas["admin"])
    assert page.post(reverse("api:token_revoke", args=[theirs.pk])).status_code == 404
    response = page.post(reverse("api:token_revoke", args=[mine.pk]))
    assert response.status_code == 302 and response["Location"] == PAGE
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert "revoked" in page.get(PAGE).content.decode()
    assert me(page, tokens["viewer"]).status_code == 401
    assert me(page, tokens["admin"]).status_code == 200
    assert page.get(reverse("api:token_revoke", args=[mine.pk])).status_code == 405


def test_the_page_needs_a_role(client_as, client):
    assert client.get(PAGE).status_code == 302  # to the login page
    assert client_as("stranger").get(PAGE).status_code == 403


def test_an_admin_makes_a_token_for_a_user_shown_once(client_as, personas, client):
    admin = client_as("admin")
    personas["admin"].is_superuser = True  # the admin site's own permissions
    personas["admin"].save()
    response = admin.post(
        reverse("admin:auditor_apitoken_add"),
        {"user": personas["viewer"].pk, "name": "ci pipeline"},
    )
    assert response.status_code == 200, response.content[:500]
    key = KEY.findall(response.content.decode())[0]
    token = ApiToken.objects.get(name="ci pipeline")
    assert token.user == personas["viewer"] and key.startswith(token.prefix)
    assert me(client, key).json()["username"] == "viewer"
    listing = admin.get(reverse("admin:auditor_apitoken_changelist")).content.decode()
    assert token.prefix in listing and key not in listing
    detail = admin.get(reverse("admin:auditor_apitoken_change", args=[token.pk])).content.decode()
    assert key not in detail and token.key_hash not in detail
    response = admin.post(
        reverse("admin:auditor_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert me(client, key).status_code == 401
