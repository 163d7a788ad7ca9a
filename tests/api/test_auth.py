"""Who may call the API: tokens, roles, revocation, and what is never shown."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from auditor.api.schema import openapi_document
from auditor.api.tokens import api_token_create, api_token_revoke
from auditor.models import ApiToken, Cluster, Report

from .conftest import assert_matches_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(demo_report):
    """The demo snapshot, with a report."""
    return demo_report.snapshot


def endpoints(snapshot) -> list[tuple[str, str, dict]]:
    """(URL, schema path, query) of every token endpoint, on the demo snapshot."""
    finding = snapshot.findings.order_by("pk").first()
    report = Report.objects.get(snapshot=snapshot)
    reach = {"from": "shop-frontend/storefront-0", "to": "shop-backend/catalog-0", "port": "8080"}
    return [
        ("/api/v1/me", "/api/v1/me", {}),
        ("/api/v1/clusters", "/api/v1/clusters", {}),
        ("/api/v1/clusters/demo", "/api/v1/clusters/{name}", {}),
        ("/api/v1/clusters/demo/snapshots", "/api/v1/clusters/{name}/snapshots", {}),
        (
            f"/api/v1/clusters/demo/snapshots/{snapshot.pk}",
            "/api/v1/clusters/{name}/snapshots/{id}",
            {},
        ),
        ("/api/v1/clusters/demo/findings", "/api/v1/clusters/{name}/findings", {}),
        (
            "/api/v1/clusters/demo/findings/groups",
            "/api/v1/clusters/{name}/findings/groups",
            {"by": "rule"},
        ),
        (
            f"/api/v1/clusters/demo/findings/{finding.pk}",
            "/api/v1/clusters/{name}/findings/{id}",
            {},
        ),
        ("/api/v1/clusters/demo/reach", "/api/v1/clusters/{name}/reach", reach),
        ("/api/v1/clusters/demo/reports", "/api/v1/clusters/{name}/reports", {}),
        ("/api/v1/clusters/demo/teams", "/api/v1/clusters/{name}/teams", {}),
        (f"/api/v1/clusters/demo/reports/{report.pk}", "/api/v1/clusters/{name}/reports/{id}", {}),
    ]


def test_every_documented_endpoint_is_tested_here(demo):
    tested = {template for _, template, _ in endpoints(demo)}
    assert tested | {"/api/v1/schema.json"} == set(openapi_document()["paths"])


def test_every_endpoint_answers_every_role_and_matches_the_schema(api, demo):
    for url, template, query in endpoints(demo):
        for role in ("viewer", "auditor", "admin"):
            response = api.get(url, role, **query)
            assert response.status_code == 200, (url, role, response.content[:300])
            assert_matches_schema(response, template)


def test_me_names_the_user_role_and_token(api, personas):
    for role in ("viewer", "auditor", "admin"):
        body = api.get("/api/v1/me", role).json()
        assert body["username"] == role and body["role"] == role
        assert body["token"]["name"] == f"{role} token" and body["token"]["prefix"].startswith(
            "npa_"
        )


def test_a_user_without_a_role_gets_403_everywhere(api, demo):
    for url, template, query in endpoints(demo):
        response = api.get(url, "stranger", **query)
        assert response.status_code == 403, url
        body = assert_matches_schema(response, template)
        assert "viewer group" in body["detail"]


def test_no_token_is_401_with_a_bearer_challenge(api, demo):
    for url, template, query in endpoints(demo):
        response = api.get(url, None, **query)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == 'Bearer realm="netpol-auditor"'
        assert_matches_schema(response, template)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer npa_not-a-real-token",
        "Bearer not-even-our-format",
        "Token npa_not-a-real-token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer " + "x" * 5000,
    ],
)
def test_a_bad_token_is_401_invalid_token(api, demo, header):
    for url, template, query in endpoints(demo):
        response = api.get(url, None, headers={"Authorization": header}, **query)
        assert response.status_code == 401, url
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
        assert_matches_schema(response, template)


def test_a_revoked_token_is_401_and_the_others_still_work(api, tokens, personas, demo):
    token = ApiToken.objects.get(user=personas["viewer"])
    assert api_token_revoke(token=token) is True
    first = token.revoked_at
    assert api_token_revoke(token=token) is False and token.revoked_at == first
    for url, _, query in endpoints(demo):
        assert api.get(url, "viewer", **query).status_code == 401, url
        assert api.get(url, "auditor", **query).status_code == 200, url


def test_the_token_scheme_and_any_case_work(api, tokens):
    for header in (
        f"Token {tokens['viewer']}",
        f"bearer {tokens['viewer']}",
        f"  Bearer   {tokens['viewer']} ",
    ):
        response = api.get("/api/v1/me", None, headers={"Authorization": header})
        assert response.status_code == 200, header


def test_a_disabled_user_is_401(api, personas):
    personas["auditor"].is_active = False
    personas["auditor"].save()
    assert api.get("/api/v1/me", "auditor").status_code == 401


def test_the_role_is_read_at_each_request(api, personas):
    """Taking the user out of their group cuts the token's access at once."""
    assert api.get("/api/v1/me", "viewer").status_code == 200
    personas["viewer"].groups.clear()
    assert api.get("/api/v1/me", "viewer").status_code == 403


def test_a_logged_in_session_is_not_enough(client, personas):
    client.force_login(personas["admin"])
    response = client.get("/api/v1/clusters")
    assert response.status_code == 401


def test_writes_are_405_without_csrf_trouble(api, tokens):
    for method in ("post", "put", "patch", "delete"):
        response = getattr(api.client, method)(
            "/api/v1/clusters", headers={"Authorization": f"Bearer {tokens['admin']}"}
        )
        assert response.status_code == 405, method
        assert response["Allow"] == "GET"
        assert "read-only" in response.json()["detail"]


def test_only_the_hash_is_stored(personas):
    token, key = api_token_create(user=personas["viewer"], name="ci")
    stored = ApiToken.objects.get(pk=token.pk)
    assert key.startswith("npa_") and len(key) > 40
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert stored.prefix == key[:12]
    assert not ApiToken.objects.filter(key_hash=key).exists()
    for field in ApiToken._meta.fields:
        assert key not in str(getattr(stored, field.attname))


def test_last_used_is_recorded_at_most_once_a_minute(api, personas):
    token = ApiToken.objects.get(user=personas["viewer"])
    assert token.last_used_at is None
    api.get("/api/v1/me")
    token.refresh_from_db()
    used = token.last_used_at
    assert used is not None and timezone.now() - used < timedelta(seconds=5)
    api.get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at == used  # no write within the minute
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=used - timedelta(minutes=2))
    api.get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at > used


def test_cluster_credentials_never_appear(api, demo):
    cluster = Cluster(
        name="prod",
        source=Cluster.Source.TOKEN,
        api_url="https://k8s.internal.example:6443",
        token_file="/run/secrets/kube-token",
        ca_file="/etc/ssl/prod-ca.pem",
        kubeconfig_path="/home/ops/.kube/config",
    )
    cluster.set_token("super-secret-token")
    cluster.save()
    secrets = [
        "super-secret-token",
        cluster.token_encrypted,
        "k8s.internal.example",
        "/run/secrets",
        "prod-ca.pem",
        ".kube/config",
        "token_encrypted",
        "token_file",
        "api_url",
        "kubeconfig",
    ]
    for url in ("/api/v1/clusters", "/api/v1/clusters/prod", "/api/v1/clusters/demo"):
        text = api.get(url, "admin").content.decode()
        for secret in secrets:
            assert secret not in text, (url, secret)
