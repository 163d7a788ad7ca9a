"""Single sign-on with OpenID Connect, beside local accounts (docs/sso.md).

mozilla-django-oidc runs the protocol: state, nonce and PKCE, the code exchange, the ID
token's signature. This module adds what it leaves to the site:

1. The provider's endpoints from its discovery document, read on the first sign-in and
   kept per issuer, so a provider that is down never stops start-up or local logins.
2. The ID token's issuer and audience, which the library does not check.
3. The user, found by the username claim, created on the first sign-in; a local account
   (one with a usable password) is never taken over by a provider's user of that name.
4. The role, set again from the groups claim at every sign-in through ``OIDC_ROLE_MAP``:
   a user the provider drops from a group loses the role at the next sign-in.
5. Pages in words when sign-in fails, and one that names the groups a user needs when
   none of theirs maps to a role (that user is not logged in).
6. Logout that also ends the provider's session when it offers RP-initiated logout.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .access import RANK, ROLES, role_of

log = logging.getLogger(__name__)


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read or does not fit."""


# --- 1. Discovery ---------------------------------------------------------------------

_metadata: dict[str, dict] = {}
_metadata_lock = threading.Lock()


def provider_metadata() -> dict:
    """The discovery document of ``OIDC_ISSUER``, fetched once per process and issuer."""
    issuer = settings.OIDC_ISSUER
    with _metadata_lock:
        if issuer not in _metadata:
            _metadata[issuer] = _discover(issuer)
        return _metadata[issuer]


def _discover(issuer: str) -> dict:
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"{url} did not answer with a discovery document ({type(exc).__name__})") from exc
    # The issuer in the document must be the one configured (OpenID Connect Discovery 4.3).
    if document.get("issuer", "").rstrip("/") != issuer:
        raise ProviderUnavailable(f"{url} names the issuer {document.get('issuer')!r}, not OIDC_ISSUER={issuer!r}")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(k)]
    if missing:
        raise ProviderUnavailable(f"{url} lacks {', '.join(missing)}")
    return document


def forget_provider_metadata() -> None:
    """Read the discovery document again on the next sign-in (tests start new providers)."""
    with _metadata_lock:
        _metadata.clear()


# --- 2-4. The authentication backend ----------------------------------------------------


def roles_for(groups: list[str]) -> list[str]:
    """The roles ``OIDC_ROLE_MAP`` gives these groups, highest first."""
    roles = {settings.OIDC_ROLE_MAP[g] for g in groups if g in settings.OIDC_ROLE_MAP}
    return sorted(roles, key=RANK.__getitem__, reverse=True)


def groups_claim(claims: dict) -> list[str]:
    """The groups claim as a list: providers send a list, one string, or an object whose
    keys are the names (Zitadel's roles)."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [str(k) for k in value]
    return [str(v) for v in value]


class OIDCBackend(OIDCAuthenticationBackend):
    """Authenticates the provider's callback only; a local login's username and password
    pass it by. Endpoints and client settings are read when used, not at construction:
    Django constructs every backend for every login, the local ones included."""

    def __init__(self, *args, **kwargs):
        self.UserModel = get_user_model()

    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: provider_metadata()["token_endpoint"])
    OIDC_OP_USER_ENDPOINT = property(lambda self: provider_metadata().get("userinfo_endpoint"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: provider_metadata()["jwks_uri"])
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        # The callback view passes the nonce; nothing else does.
        if not settings.OIDC_ENABLED or request is None or "nonce" not in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        issuer = provider_metadata()["issuer"]
        audience = payload.get("aud")
        audience = [audience] if isinstance(audience, str) else audience or []
        if payload.get("iss") != issuer or settings.OIDC_RP_CLIENT_ID not in audience:
            raise SuspiciousOperation("the ID token was issued by another issuer or for another client")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims with the userinfo endpoint's on top: Keycloak and Okta
        send groups from userinfo, Azure AD only in the ID token."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("userinfo is about another subject than the ID token")
            claims.update(userinfo)
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        username = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email")
        if not username:
            return self._refuse(
                "no_username",
                f"{settings.OIDC_PROVIDER_NAME} sent neither the '{settings.OIDC_USERNAME_CLAIM}' claim "
                "nor 'email', so there is no name to sign you in under. Ask an administrator to check "
                "OIDC_USERNAME_CLAIM and OIDC_SCOPES.",
            )
        user = self.UserModel.objects.filter(username=username).first()
        if user is not None and user.has_usable_password():
            return self._refuse(
                "local_account",
                f"A local account named '{username}' exists, and single sign-on never takes over a "
                "local account. Sign in with its password, or ask an administrator to remove it.",
            )
        if user is None:
            user = self.UserModel(username=username)
            user.set_unusable_password()
        user.email = claims.get("email") or ""
        user.first_name = (claims.get("given_name") or "")[:150]
        user.last_name = (claims.get("family_name") or "")[:150]
        user.save()
        groups = groups_claim(claims)
        self.request.sso_groups = groups
        sync_role(user, roles_for(groups))
        log.info("single sign-on: %s with groups %s has the role %s", username, groups, role_of(user) or "none")
        return user

    def _refuse(self, reason: str, message: str):
        self.request.sso_refusal = message
        log.warning("single sign-on refused (%s): %s", reason, message)
        return None


def sync_role(user, roles: list[str]) -> None:
    """Make the highest of ``roles`` the user's only role group (no group if none)."""
    keep = roles[:1]
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name__in=keep))
    for role in keep:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    user.__dict__.pop("_netpol_role", None)


# --- 5. The views -------------------------------------------------------------------------


def _refused(request, *, title: str, message: str, status: int, groups=None):
    needed: dict[str, list[str]] = {}
    for group, role in settings.OIDC_ROLE_MAP.items():
        needed.setdefault(role, []).append(group)
    context = {
        "title": title,
        "message": message,
        "provider_name": settings.OIDC_PROVIDER_NAME,
        "groups_claim": settings.OIDC_GROUPS_CLAIM,
        "needed": [(role, needed[role]) for role in reversed(ROLES) if role in needed],
        "groups": groups,
    }
    return render(request, "registration/sso_refused.html", context, status=status)


def _unavailable(request, exc: Exception):
    log.warning("single sign-on: the provider is unavailable: %s", exc)
    return _refused(
        request,
        title="Sign-in provider unavailable",
        message=f"{settings.OIDC_PROVIDER_NAME} could not be reached or gave an answer that does not fit "
        f"({exc}). Try again later, or sign in with a local account.",
        status=502,
    )


class SSOLoginView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's login page, with state, nonce and PKCE."""

    def __init__(self, *args, **kwargs):
        # Not the library's __init__: it reads the endpoint from settings; ours is discovered.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("single sign-on is not configured")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_metadata()["authorization_endpoint"]
        except ProviderUnavailable as exc:
            return _unavailable(request, exc)
        return super().get(request)


class SSOCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: signs the user in when a group of
    theirs maps to a role, and says why not otherwise."""

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("single sign-on is not configured")
        try:
            return super().get(request)
        except (ProviderUnavailable, requests.RequestException) as exc:
            return _unavailable(request, exc)

    def login_success(self):
        if role_of(self.user) is None:
            groups = getattr(self.request, "sso_groups", [])
            return _refused(
                self.request,
                title="No access",
                message=f"You signed in with {settings.OIDC_PROVIDER_NAME} as {self.user.username}, "
                "but none of your groups gives a role in Netpol Auditor.",
                status=403,
                groups=groups,
            )
        return super().login_success()

    def login_failure(self):
        request = self.request
        if getattr(request, "sso_refusal", None):
            message = request.sso_refusal
        elif request.GET.get("error"):
            # The provider's own words (access_denied when the user declines consent).
            # Cut short: anyone can put text in this query string.
            error = (request.GET.get("error_description") or request.GET["error"])[:200]
            message = f"{settings.OIDC_PROVIDER_NAME} did not sign you in: {error}."
        else:
            message = "The sign-in did not complete (it expired, or was already used). Try again."
        return _refused(request, title="Sign-in failed", message=message, status=403)


class LoginWithSSOView(LoginView):
    """The local login form, with a "Sign in with <provider>" button when SSO is on."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sso_provider_name"] = settings.OIDC_PROVIDER_NAME if settings.OIDC_ENABLED else None
        return context


class SSOLogoutView(LogoutView):
    """Django's logout; after a single sign-on, the provider's logout too (RP-initiated
    logout) when its discovery document names an end_session_endpoint."""

    def post(self, request, *args, **kwargs):
        id_token = request.session.get("oidc_id_token")
        response = super().post(request, *args, **kwargs)
        if not (settings.OIDC_ENABLED and id_token):
            return response
        try:
            end_session = provider_metadata().get("end_session_endpoint")
        except ProviderUnavailable:
            end_session = None
        if not end_session:
            return response
        query = urlencode({
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
        })
        # A page that moves on by itself, not a redirect: the logout form's CSP
        # (form-action 'self') would block a redirect to the provider.
        return render(request, "registration/sso_signed_out.html", {
            "provider_name": settings.OIDC_PROVIDER_NAME,
            "end_session_url": f"{end_session}?{query}",
        })
