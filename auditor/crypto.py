"""Encryption at rest for cluster tokens (Fernet: AES-128-CBC with an HMAC)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    key = settings.FIELD_ENCRYPTION_KEY
    if not key:
        # Derived, so a deployment with only SECRET_KEY set still encrypts; rotating
        # SECRET_KEY then needs the tokens entered again (decrypt says so).
        digest = hashlib.sha256(b"netpol-auditor token encryption:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key.encode())


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(cipher: str) -> str:
    try:
        return _fernet().decrypt(cipher.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "the stored token cannot be decrypted: SECRET_KEY or FIELD_ENCRYPTION_KEY changed "
            "since it was saved; enter the token again in the cluster's admin page"
        ) from None
