"""Single sign-on (auditor/sso.py) against a real OpenID Connect provider.

node-oidc-provider runs on a free port (tests/oidc_provider); Django's test client plays
the app's side and ``requests`` the browser's side at the provider: its login form, its
consent form, and back to the app's callback with a real code, exchanged for real signed
tokens. tests/test_e2e_sso.py drives the same flow in Chromium.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.test import Client

from auditor.access import role_of

from .conftest import ROOT
from .oidc_provider import APP, CLIENT_SECRET, USERS, OIDCProvider, free_port, sign_in, sso_settings

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    idp = OIDCProvider(tmp_path_factory.mktemp("idp"), [APP])
    yield idp
    idp.stop()


@pytest.fixture
def sso(settings, provider):
    sso_settings(settings, provider)
    yield provider
    for name, user in USERS.items():  # a test may have changed a user's groups
        provider.set_groups(name, user["groups"])


# --- Off unless configured ------------------------------------------------------------------


def test_without_an_issuer_the_login_page_has_only_the_local_form(client, settings):
    settings.OIDC_ENABLED = False
    page = client.get("/accounts/login/").content.decode()
    assert 'name="password"' in page and "Sign in with" not in page
    assert client.get("/accounts/sso/login/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404


def test_the_login_page_offers_the_provider_beside_the_local_form(client, sso):
    page = client.get("/accounts/login/?next=/clusters/demo/").content.decode()
    assert 'href="/accounts/sso/login/?next=/clusters/demo/"' in page
    assert "Sign in with Test IdP" in page and 'name="password"' in page


def test_the_authorization_request_carries_state_nonce_and_a_pkce_challenge(client, sso):
    start = client.get("/accounts/sso/login/")
    url = urlsplit(start["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == sso.issuer
    assert query["client_id"] == "netpol-auditor" and query["response_type"] == "code"
    assert query["redirect_uri"] == f"{APP}/accounts/sso/callback/"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert set(query["scope"].split()) == {"openid", "email", "profile", "groups"}
    assert CLIENT_SECRET not in start["Location"]


# --- Users and roles --------------------------------------------------------------------------


@pytest.mark.parametrize("username, role", [("alice", "admin"), ("bob", "auditor"), ("carol", "viewer")])
def test_groups_map_to_roles_and_the_user_is_created_on_first_sign_in(client, sso, username, role):
    response = sign_in(client, username, next_url="/clusters/")
    assert response.status_code == 302 and response["Location"] == "/clusters/"
    user = User.objects.get(username=username)
    assert role_of(user) == role
    assert user.email == USERS[username]["email"] and not user.has_usable_password()
    assert client.get("/").status_code == 200
    assert client.session["_auth_user_backend"] == "auditor.sso.OIDCBackend"


def test_the_role_is_synced_from_the_groups_at_every_sign_in(sso):
    assert sign_in(Client(), "bob").status_code == 302
    assert role_of(User.objects.get(username="bob")) == "auditor"

    sso.set_groups("bob", ["sec-admins"])
    assert sign_in(Client(), "bob").status_code == 302
    assert role_of(User.objects.get(username="bob")) == "admin"

    sso.set_groups("bob", ["everyone"])
    assert sign_in(Client(), "bob").status_code == 302
    bob = User.objects.get(username="bob")
    assert role_of(bob) == "viewer"
    assert list(bob.groups.values_list("name", flat=True)) == ["viewer"]

    # Out of every mapped group: no role left, and no session.
    sso.set_groups("bob", ["former-staff"])
    client = Client()
    refused = sign_in(client, "bob")
    assert refused.status_code == 403 and "No access" in refused.content.decode()
    assert not User.objects.get(username="bob").groups.exists()
    assert "_auth_user_id" not in client.session


def test_a_user_with_no_mapped_group_is_refused_with_the_groups_needed(client, sso):
    response = sign_in(client, "dave")
    page = response.content.decode()
    assert response.status_code == 403
    assert "No access" in page and "signed in with Test IdP as dave" in page
    assert "<code>contractors</code>" in page  # what the provider sent
    for group in ("sec-admins", "sec-auditors", "everyone"):
        assert f"<code>{group}</code>" in page
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # to the login page
    assert role_of(User.objects.get(username="dave")) is None


def test_sign_in_never_takes_over_a_local_account_of_the_same_name(client, sso):
    local = User.objects.create_user("carol", password="local-pw-for-carol")
    local.groups.add(Group.objects.get_or_create(name="admin")[0])
    response = sign_in(client, "carol")
    assert response.status_code == 403
    assert "A local account named &#x27;carol&#x27; exists" in response.content.decode()
    local.refresh_from_db()
    assert local.has_usable_password() and role_of(local) == "admin"
    assert "_auth_user_id" not in client.session


def test_a_user_who_denies_consent_reads_the_providers_reason(client, sso):
    response = sign_in(client, "carol", consent=False)
    assert response.status_code == 403
    assert "Test IdP did not sign you in: the user denied access." in response.content.decode()
    assert not User.objects.filter(username="carol").exists()


def test_a_replayed_callback_signs_no_one_in(client, sso):
    signed_in = sign_in(client, "carol")
    assert signed_in.status_code == 302
    # Another browser with the same code: it holds no state for it.
    stranger = Client()
    replay = stranger.get(signed_in.callback_url)
    assert replay.status_code == 403
    assert "The sign-in did not complete (it expired, or was already used)" in replay.content.decode()
    assert "_auth_user_id" not in stranger.session
    # The same browser again: its state was spent at the first use.
    assert client.get(signed_in.callback_url).status_code == 400


# --- Local accounts beside it -------------------------------------------------------------------


def test_local_logins_work_beside_it_and_while_the_provider_is_down(client, settings, personas, sso):
    from .conftest import PASSWORD

    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    from auditor.sso import forget_provider_metadata

    forget_provider_metadata()
    down = client.get("/accounts/sso/login/")
    assert down.status_code == 502
    assert "Test IdP could not be reached" in down.content.decode()
    response = client.post("/accounts/login/", {"username": "auditor", "password": PASSWORD})
    assert response.status_code == 302 and client.session["_auth_user_backend"].endswith("ModelBackend")


# --- Logout ---------------------------------------------------------------------------------------


def test_logout_after_sign_in_ends_the_providers_session_too(client, sso):
    assert sign_in(client, "carol").status_code == 302
    id_token = client.session["oidc_id_token"]
    response = client.post("/accounts/logout/")
    page = response.content.decode()
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    refresh = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page).group(1)
    end_session = urlsplit(unescape(refresh))
    assert f"{end_session.scheme}://{end_session.netloc}{end_session.path}" == f"{sso.issuer}/session/end"
    query = parse_qs(end_session.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == [f"{APP}/accounts/login/"]
    # The provider accepts the hint (this client holds no provider session, so it goes
    # straight on to its confirm step); a bad hint or redirect would be an error page.
    confirm = requests.get(unescape(refresh), timeout=10)
    assert confirm.status_code == 200 and "/session/end/confirm" in confirm.text


def test_logout_of_a_local_account_stays_on_the_site(client, sso, personas):
    client.force_login(personas["viewer"])
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"


# --- Secrets and settings ----------------------------------------------------------------------


def test_the_client_secret_shows_in_no_page_and_no_log_line(client, sso, caplog):
    caplog.set_level(logging.DEBUG)
    pages = [client.get("/accounts/login/"), client.get("/accounts/sso/login/")]
    pages.append(sign_in(client, "alice"))
    pages += [client.get("/"), client.post("/accounts/logout/")]
    pages.append(sign_in(Client(), "dave"))
    texts = [str(p.headers) + p.content.decode() for p in pages]
    assert len(caplog.records) >= 5
    assert not [t for t in texts if CLIENT_SECRET in t]
    assert CLIENT_SECRET not in caplog.text
    assert not [r for r in caplog.records if CLIENT_SECRET in repr(r.args)]


def settings_error(**env) -> str:
    """What importing the settings says with these variables set."""
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0, "the settings loaded"
    return result.stderr.strip().splitlines()[-1]


def test_settings_name_what_is_missing_or_malformed(tmp_path):
    assert "needs OIDC_CLIENT_SECRET and OIDC_ROLE_MAP too" in settings_error(
        OIDC_ISSUER="https://idp.example.com", OIDC_CLIENT_ID="app"
    )
    assert "OIDC_ROLE_MAP: 'admins=root' is not GROUP=ROLE" in settings_error(OIDC_ROLE_MAP="admins=root")
    assert "OIDC_CLIENT_AUTH='jwt'" in settings_error(OIDC_CLIENT_AUTH="jwt")
    assert "OIDC_SCOPES='email groups' lacks 'openid'" in settings_error(
        OIDC_ISSUER="https://idp.example.com", OIDC_CLIENT_ID="app", OIDC_CLIENT_SECRET="s",
        OIDC_ROLE_MAP="a=viewer", OIDC_SCOPES="email groups",
    )
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    loaded = subprocess.run(
        [sys.executable, "-c", "from config import settings as s; print(s.OIDC_RP_CLIENT_SECRET, s.OIDC_ROLE_MAP)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "OIDC_ISSUER": "https://idp.example.com/", "OIDC_CLIENT_ID": "app",
             "OIDC_CLIENT_SECRET_FILE": str(secret), "OIDC_ROLE_MAP": "/sec/admins=admin, everyone=viewer"},
    )
    assert loaded.stdout.split(" ", 1) == ["from-a-file", "{'/sec/admins': 'admin', 'everyone': 'viewer'}\n"]
