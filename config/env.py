"""Strict readers for settings from the environment.

A typo in a boolean or a number must stop the process at start-up with the variable's
name, not silently fall back to a default. ``NAME_FILE`` reads a secret from a file
(Docker and Kubernetes secrets), so the secret never sits in the environment itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name}: cannot read it ({exc.strerror})") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DATABASE_SCHEMES = ("postgres", "postgresql", "sqlite")


def env_database(name: str, default: str) -> dict:
    """Django's DATABASES entry from a URL; a malformed one stops start-up naming ``name``
    (and never repeating the URL's password)."""
    import dj_database_url

    from netpol.collect.base import redact_urls

    raw = env_str(name) or default
    scheme = raw.partition("://")[0].lower() if "://" in raw else ""
    problem = None
    if scheme not in DATABASE_SCHEMES:
        problem = f"the scheme must be one of {', '.join(DATABASE_SCHEMES)}"
    else:
        try:
            return dj_database_url.parse(raw, conn_max_age=60)
        except ValueError:  # dj_database_url's errors; their text may quote the URL
            problem = "a part of it is malformed: a port must be a number, and @ : / in a password percent-encoded"
    raise ImproperlyConfigured(
        f"{name}={redact_urls(raw)!r} is not a database URL ({problem}); for example "
        "postgres://user:password@host:5432/netpol or sqlite:////var/lib/netpol/netpol.sqlite3"
    )
