"""Issue 12 item 4: wrong passwords and wrong tokens are limited, then refused for a while.

Logins (the site's and the admin's) are django-axes'; API tokens and METRICS_TOKEN are
auditor.throttle's. The windows are made to pass by moving the stored failures back in
time, so no test sleeps.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import override_settings

from auditor.api.tokens import api_token_create
from auditor.models import AuthFailure

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

LIMIT = 3
WINDOW = 60


@pytest.fixture(autouse=True)
def small_limits():
    with override_settings(
        AXES_FAILURE_LIMIT=LIMIT,
        AXES_COOLOFF_TIME=timedelta(seconds=WINDOW),
        API_AUTH_FAILURE_LIMIT=LIMIT,
        API_AUTH_WINDOW=WINDOW,
        METRICS_TOKEN="metrics-secret-for-tests",
    ):
        yield


def let_the_window_pass():
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=WINDOW + 1))
    AuthFailure.objects.update(window_start=F("window_start") - timedelta(seconds=WINDOW + 1))


def post_login(client, url, username, password, address="10.1.1.1"):
    return client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=address
    )


def logged_in_as(client):
    return client.session.get("_auth_user_id")


# --- The login page --------------------------------------------------------------------


def test_wrong_passwords_lock_the_login_until_the_window_passes(client, personas):
    for _ in range(LIMIT - 1):
        response = post_login(client, "/accounts/login/", "viewer", "wrong")
        assert response.status_code == 200
        assert "didn't match" in response.content.decode()
    locked = post_login(client, "/accounts/login/", "viewer", "wrong")
    assert locked.status_code == 429

    # The right password is refused too, and the page says why, for how long and what to do.
    response = post_login(client, "/accounts/login/", "viewer", PASSWORD)
    assert response.status_code == 429
    assert not logged_in_as(client)
    page = response.content.decode()
    assert "<h1>Login locked</h1>" in page
    assert "Too many failed logins" in page
    assert "60 seconds" in page
    assert "ask an administrator" in page
    assert "axes_reset_username viewer" in page
    assert 'href="/static/css/app.css"' in page  # the site's own layout

    # Another user, or the same one from another address, is not affected.
    assert post_login(client, "/accounts/login/", "viewer", PASSWORD, "10.2.2.2").status_code == 302
    client.logout()

    let_the_window_pass()
    response = post_login(client, "/accounts/login/", "viewer", PASSWORD)
    assert response.status_code == 302
    assert logged_in_as(client) == str(personas["viewer"].pk)


def test_a_successful_login_resets_the_count(client, personas):
    for _ in range(LIMIT - 1):
        post_login(client, "/accounts/login/", "viewer", "wrong")
    assert post_login(client, "/accounts/login/", "viewer", PASSWORD).status_code == 302
    client.logout()
    # The count starts again: LIMIT - 1 more failures still leave the right password working.
    for _ in range(LIMIT - 1):
        assert post_login(client, "/accounts/login/", "viewer", "wrong").status_code == 200
    assert post_login(client, "/accounts/login/", "viewer", PASSWORD).status_code == 302


def test_the_admin_login_is_limited_too(client, personas):
    personas["admin"].is_superuser = True
    personas["admin"].save()
    for _ in range(LIMIT):
        post_login(client, "/admin/login/", "admin", "wrong")
    response = post_login(client, "/admin/login/", "admin", PASSWORD)
    assert response.status_code == 429
    assert "Login locked" in response.content.decode()
    assert not logged_in_as(client)
    # The lock is per username and address, whichever page counted the failures.
    assert post_login(client, "/accounts/login/", "admin", PASSWORD).status_code == 429
    let_the_window_pass()
    assert post_login(client, "/admin/login/", "admin", PASSWORD).status_code == 302
    assert logged_in_as(client) == str(personas["admin"].pk)


def test_the_limits_come_from_the_environment(monkeypatch):
    import subprocess
    import sys

    from .conftest import ROOT

    script = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()), s.API_AUTH_FAILURE_LIMIT, s.API_AUTH_WINDOW)"
    )
    env = {"LOGIN_FAILURE_LIMIT": "7", "LOGIN_LOCKOUT_SECONDS": "120", "API_AUTH_FAILURE_LIMIT": "9", "API_AUTH_WINDOW": "30"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**__import__("os").environ, **env},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["7", "120", "9", "30"]
    bad = subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                         env={**__import__("os").environ, "LOGIN_FAILURE_LIMIT": "five"},
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "LOGIN_FAILURE_LIMIT='five' is not an integer" in bad.stderr


# --- API tokens ---------------------------------------------------------------------------


def get_api(client, key, address):
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=address)


def test_wrong_tokens_from_one_address_get_429_until_the_window_passes(client, personas):
    _, key = api_token_create(user=personas["viewer"], name="ci")
    for i in range(LIMIT):
        wrong = f"npa_wrong{i}-{'x' * 30}"
        assert get_api(client, wrong, "10.9.9.9").status_code == 401

    response = get_api(client, key, "10.9.9.9")  # even the right one, from that address
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert 0 < int(response["Retry-After"]) <= WINDOW
    body = response.json()
    assert body["status"] == 429 and "Too many wrong tokens" in body["detail"]
    assert set(body) == {"status", "detail"}

    # Another address with a valid token is unaffected.
    assert get_api(client, key, "10.8.8.8").status_code == 200

    let_the_window_pass()
    assert get_api(client, key, "10.9.9.9").status_code == 200


def test_wrong_keys_for_one_token_prefix_are_limited_from_any_address(client, personas):
    token, key = api_token_create(user=personas["viewer"], name="ci")
    other_token, other_key = api_token_create(user=personas["viewer"], name="other")
    for i in range(LIMIT):  # guesses at the rest of a known prefix, each from a new address
        assert get_api(client, token.prefix + "y" * 35, f"10.7.0.{i}").status_code == 401
    assert get_api(client, key, "10.7.1.1").status_code == 429
    assert get_api(client, other_key, "10.7.1.1").status_code == 200
    let_the_window_pass()
    assert get_api(client, key, "10.7.1.1").status_code == 200


def test_the_429_is_documented_in_the_schema():
    from auditor.api.schema import openapi_document

    doc = openapi_document()
    me = doc["paths"]["/api/v1/me"]["get"]["responses"]
    assert "429" in me
    assert "Retry-After" in doc["components"]["responses"]["E429"]["headers"]


def test_wrong_metrics_tokens_get_429(client):
    far = {"REMOTE_ADDR": "203.0.113.5"}
    for _ in range(LIMIT):
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **far)
        assert response.status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-for-tests", **far)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many wrong tokens" in response.content.decode()
    other = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-for-tests", REMOTE_ADDR="203.0.113.6"
    )
    assert other.status_code == 200
    let_the_window_pass()
    again = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-for-tests", **far)
    assert again.status_code == 200
