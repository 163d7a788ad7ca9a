"""API tokens: made, checked and revoked here; only their sha256 is ever stored.

A key is ``npa_`` and 43 URL-safe characters (256 random bits), so a leaked one is
recognisable in logs and secret scanners; a lookup hashes what the client sent and
finds the row by that hash, so no stored value can be replayed and nothing is compared
character by character.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from auditor.models import ApiToken

KEY_PREFIX = "npa_"
PREFIX_LENGTH = 12  # "npa_" and 8 characters of the key: enough to tell tokens apart
# last_used_at is written at most this often per token: a busy client costs no write a request.
TOUCH_EVERY = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(token: ApiToken) -> str:
    """Give an unsaved token a fresh key; returns the key, which only the caller ever sees."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token.prefix = key[:PREFIX_LENGTH]
    token.key_hash = hash_key(key)
    return key


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user`` and its key, which is not stored and cannot be shown again."""
    token = ApiToken(user=user, name=name.strip()[:100] or "token")
    key = issue_key(token)
    token.save()
    return token, key


def api_token_revoke(*, token: ApiToken) -> bool:
    """Revoke once; False when it already was (the first revocation time stays)."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    return bool(changed)


def api_token_for_key(key: str) -> ApiToken | None:
    """The active token with this key, its user loaded, or None; records the use."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
