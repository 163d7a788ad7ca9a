"""Requests no view should see: a NUL byte in the address.

PostgreSQL text cannot hold NUL, so ``?namespace=%00`` would reach a query and fail
with a 500. It is refused here, before any view, with a 400 naming the parameter: JSON
in the API's error shape under ``/api/``, a short page elsewhere.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.html import escape

API_PREFIX = "/api/"


def _nul_in(request) -> str | None:
    """What carries the NUL byte: a parameter's name, or None when nothing does."""
    if "\x00" in request.path:
        return "the path"
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in v for v in values):
            return f"parameter '{name.replace(chr(0), '')[:40]}'"
    return None


class RejectNulBytesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _nul_in(request)
        if where is None:
            return self.get_response(request)
        detail = f"{where[0].upper()}{where[1:]} contains a NUL byte (%00); remove it and try again."
        if request.path.startswith(API_PREFIX):
            from .api.http import ApiError

            parameter = where.split("'")[1] if "'" in where else None
            return ApiError(400, detail, parameter=parameter).response()
        return HttpResponse(
            f"<!doctype html><title>Bad request</title><h1>Bad request</h1><p>{escape(detail)}</p>",
            status=400, content_type="text/html; charset=utf-8",
        )
