"""Brute-force protection for bearer credentials (API tokens, METRICS_TOKEN).

Each wrong credential counts against the client address and, for API keys, the key's
prefix (``npa_`` and 8 characters, what the tokens page shows). A key that reaches
``API_AUTH_FAILURE_LIMIT`` within ``API_AUTH_WINDOW`` seconds of its first failure is
refused, right or wrong, until that window ends. Logins are django-axes' job.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import AuthFailure


def keys_for(scope: str, request, prefix: str = "") -> list[str]:
    keys = [f"{scope}:address:{request.META.get('REMOTE_ADDR', '')}"[:200]]
    if prefix:
        keys.append(f"{scope}:prefix:{prefix}"[:200])
    return keys


def _window() -> timedelta:
    return timedelta(seconds=settings.API_AUTH_WINDOW)


def retry_after(keys: list[str]) -> int:
    """Seconds until the longest lock among ``keys`` ends; 0 when none is locked."""
    now = timezone.now()
    starts = AuthFailure.objects.filter(
        key__in=keys,
        failures__gte=settings.API_AUTH_FAILURE_LIMIT,
        window_start__gt=now - _window(),
    ).values_list("window_start", flat=True)
    return max((math.ceil((s + _window() - now).total_seconds()) for s in starts), default=0)


def record_failure(keys: list[str]) -> None:
    now = timezone.now()
    expired = now - _window()
    for key in keys:
        # One UPDATE, so concurrent failures in several processes all count.
        if AuthFailure.objects.filter(key=key, window_start__gt=expired).update(
            failures=F("failures") + 1
        ):
            continue
        try:
            with transaction.atomic():
                AuthFailure.objects.update_or_create(
                    key=key, defaults={"failures": 1, "window_start": now}
                )
        except IntegrityError:  # another process created it just now
            AuthFailure.objects.filter(key=key).update(failures=F("failures") + 1)
    AuthFailure.objects.filter(window_start__lte=expired).delete()  # keep the table small
