"""A real OpenID Connect provider for the single sign-on tests.

``server.mjs`` runs node-oidc-provider (npm ``oidc-provider``, pinned in package.json and
installed by ``make test``) on a free localhost port, with one confidential client and the
users below. Nothing here imitates the protocol: discovery, the authorization code flow
with PKCE, signed ID tokens, userinfo and RP-initiated logout are the library's.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
APP = "http://testserver"  # where Django's test client says it is
CLIENT_ID = "netpol-auditor"
# Letters, digits and dashes, so no encoding hides it from the secrets sweeps.
CLIENT_SECRET = "sso-client-secret-5f1d9a7c3e"
ROLE_MAP = {"sec-admins": "admin", "sec-auditors": "auditor", "everyone": "viewer"}
USERS = {
    "alice": {"password": "alice-pw-1", "email": "alice@example.com", "name": "Alice Admin",
              "groups": ["sec-admins", "everyone"]},
    "bob": {"password": "bob-pw-2", "email": "bob@example.com", "name": "Bob Auditor",
            "groups": ["sec-auditors", "everyone"]},
    "carol": {"password": "carol-pw-3", "email": "carol@example.com", "name": "Carol Viewer",
              "groups": ["everyone"]},
    "dave": {"password": "dave-pw-4", "email": "dave@example.com", "name": "Dave Contractor",
             "groups": ["contractors"]},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OIDCProvider:
    """The provider process; ``set_groups`` changes a user's groups for the next login."""

    def __init__(self, tmp_dir: Path, app_urls: list[str]):
        node = shutil.which("node")
        if node is None:
            pytest.fail("node not found: the SSO tests run node-oidc-provider (Node.js 20 or newer)")
        if not (ROOT / "node_modules" / "oidc-provider").is_dir():
            pytest.fail("node_modules/oidc-provider is missing: run `npm ci` (make test does)")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.config_path = tmp_dir / "oidc-provider.json"
        self.config = {
            "port": self.port,
            "issuer": self.issuer,
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{url}/accounts/sso/callback/" for url in app_urls],
                "post_logout_redirect_uris": [f"{url}/accounts/login/" for url in app_urls],
            },
            "users": json.loads(json.dumps(USERS)),
        }
        self._write()
        self.log_path = tmp_dir / "oidc-provider.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [node, str(HERE / "server.mjs"), str(self.config_path)],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_ready()

    def _write(self) -> None:
        self.config_path.write_text(json.dumps(self.config))

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the OIDC provider exited with {self.process.returncode}:\n{self.log()}")
            try:
                requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError(f"the OIDC provider did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def set_groups(self, username: str, groups: list[str]) -> None:
        self.config["users"][username]["groups"] = groups
        self._write()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def sso_settings(settings, provider: OIDCProvider, name: str = "Test IdP") -> None:
    """Turn single sign-on on against ``provider``, as the environment would."""
    from auditor.sso import forget_provider_metadata

    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = name
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_ROLE_MAP = dict(ROLE_MAP)
    forget_provider_metadata()


def form_action(html: str, marker: str) -> str:
    """The action of the form that contains ``marker`` (a field name or button text)."""
    for match in re.finditer(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', html, re.S):
        if marker in match.group(2):
            return unescape(match.group(1))
    raise AssertionError(f"no form with {marker!r} in:\n{html[:2000]}")


def sign_in(client, username: str, password: str | None = None, *, consent: bool = True, next_url="/"):
    """The whole sign-in: the app's redirect, the provider's login and consent forms, and
    the app's answer to the callback (not followed further)."""
    password = password or USERS[username]["password"]
    start = client.get(f"/accounts/sso/login/?next={next_url}")
    assert start.status_code == 302, start.content.decode()[:2000]
    browser = requests.Session()  # a fresh provider session: every sign-in shows the login form
    response = browser.get(start["Location"], allow_redirects=False)
    for _ in range(12):
        if response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(APP):
                parts = urlsplit(location)
                callback = f"{parts.path}?{parts.query}"
                answer = client.get(callback)
                answer.callback_url = callback
                return answer
            response = browser.get(location, allow_redirects=False)
        elif 'name="password"' in response.text:
            action = urljoin(response.url, form_action(response.text, 'name="password"'))
            response = browser.post(action, data={"username": username, "password": password}, allow_redirects=False)
        elif "Allow" in response.text:
            action = urljoin(response.url, form_action(response.text, "Allow" if consent else "Deny"))
            response = browser.post(action, allow_redirects=False)
        else:
            raise AssertionError(f"the provider answered {response.status_code}:\n{response.text[:2000]}")
    raise AssertionError("the provider never sent the browser back to the app")
