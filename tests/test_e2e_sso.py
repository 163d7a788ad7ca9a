"""Single sign-on end to end: headless Chromium, the live site and a real OpenID Connect
provider (node-oidc-provider, tests/oidc_provider) on its own port and host name.

Each user signs in from the site's login page through the provider's login and consent
forms and comes back with the role their groups map to: an admin, an auditor who waives a
finding, a viewer who cannot, and a user in no mapped group who reads which groups are
needed. Logout ends the provider's session too. Screenshots land in artifacts/sso-*.png.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from auditor.access import role_of
from auditor.models import Waiver

from .browser import screenshot
from .oidc_provider import USERS, OIDCProvider, sso_settings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture
def provider(tmp_path, live_server, settings):
    idp = OIDCProvider(tmp_path, [live_server.url])
    sso_settings(settings, idp)
    yield idp
    idp.stop()


@pytest.fixture
def new_page(browser):
    """A page in a browser context of its own: no cookies at the site or the provider."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page, live_server, username: str, *, next_path: str = "", shots: str | None = None):
    """From the site's login page through the provider's forms and back."""
    page.goto(f"{live_server.url}/accounts/login/{'?next=' + next_path if next_path else ''}")
    if shots:
        screenshot(page, f"{shots}-1-login-page")
    page.click("text=Sign in with Test IdP")
    page.wait_for_selector("h1:has-text('Sign in to the test IdP')")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", USERS[username]["password"])
    if shots:
        screenshot(page, f"{shots}-2-provider-login")
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Allow access?')")
    assert "groups" in page.inner_text("main")
    if shots:
        screenshot(page, f"{shots}-3-provider-consent")
    page.click("button:has-text('Allow')")
    page.wait_for_url(f"{live_server.url}/**")


def test_sign_in_with_the_provider_as_each_role(live_server, provider, new_page, demo_snapshot):
    problems = []
    finding = demo_snapshot.findings.order_by("pk").first()
    finding_path = f"/clusters/demo/findings/{finding.pk}/"

    # Alice (sec-admins): the whole flow, screenshots at each step, back as admin.
    alice = new_page()
    alice.on("pageerror", lambda error: problems.append(str(error)))
    login_page = alice.goto(f"{live_server.url}/accounts/login/")
    assert "form-action 'self'" in login_page.headers["content-security-policy"]
    assert alice.locator("input[name=password]").count() == 1  # the local form stays
    sign_in(alice, live_server, "alice", shots="sso-alice")
    alice.wait_for_selector("text=Log out alice")
    assert alice.inner_text(".role") == "admin"
    screenshot(alice, "sso-alice-4-signed-in")
    assert role_of(User.objects.get(username="alice")) == "admin"

    # Bob (sec-auditors) comes back to the page he asked for, and waives the finding.
    bob = new_page()
    sign_in(bob, live_server, "bob", next_path=finding_path)
    assert bob.url == f"{live_server.url}{finding_path}"
    assert bob.inner_text(".role") == "auditor"
    bob.fill("textarea[name=reason]", "accepted by the platform team, see ticket 42")
    bob.click("button:has-text('Waive this finding')")
    bob.wait_for_selector(f"text={finding.rule} waived until")
    screenshot(bob, "sso-bob-auditor-waived")
    waiver = Waiver.objects.get(fingerprint=finding.fingerprint)
    assert waiver.author.username == "bob" and waiver.reason.startswith("accepted by the platform team")

    # Carol (everyone): a viewer; no waiver form, and the server refuses one sent anyway.
    carol = new_page()
    sign_in(carol, live_server, "carol", next_path=finding_path)
    assert carol.inner_text(".role") == "viewer"
    assert carol.locator("form.waive").count() == 0
    assert "Auditors can waive findings." in carol.inner_text("main")
    screenshot(carol, "sso-carol-viewer-cannot-waive")
    csrf = next(c["value"] for c in carol.context.cookies() if c["name"] == "csrftoken")
    refused = carol.request.post(
        f"{live_server.url}/clusters/demo/findings/{finding.pk}/waive/",
        form={"reason": "a viewer tries anyway", "expires": "2099-01-01"},
        headers={"X-CSRFToken": csrf, "Referer": f"{live_server.url}{finding_path}"},
    )
    assert refused.status == 403 and "This needs the auditor role" in refused.text()
    assert Waiver.objects.count() == 1

    # Dave (contractors): refused, told which groups give access, not logged in.
    dave = new_page()
    sign_in(dave, live_server, "dave")
    dave.wait_for_selector("h1:has-text('No access')")
    text = dave.inner_text("main")
    assert "none of your groups gives a role" in text and "contractors" in text
    for group, role in (("sec-admins", "admin"), ("sec-auditors", "auditor"), ("everyone", "viewer")):
        assert f"{role}: {group}" in text
    screenshot(dave, "sso-dave-no-access")
    dave.goto(f"{live_server.url}/")
    assert "/accounts/login/" in dave.url

    # Alice logs out: the site's session ends, then the provider's (its confirmation page),
    # and she lands on the site's login page; signing in again asks for her password.
    alice.click("text=Log out alice")
    alice.wait_for_selector("h1:has-text('Sign out of the test IdP?')")
    screenshot(alice, "sso-alice-5-provider-logout")
    alice.click("button:has-text('Yes, sign me out')")
    alice.wait_for_url(f"{live_server.url}/accounts/login/")
    alice.goto(f"{live_server.url}/")
    assert "/accounts/login/" in alice.url
    alice.click("text=Sign in with Test IdP")
    alice.wait_for_selector("h1:has-text('Sign in to the test IdP')")
    assert problems == []
