"""What every API view shares: the token check, JSON errors, query parameters, pages.

A view decorated with ``api_view`` runs only for a GET with a valid token of a user
with a role; it reads its query string through ``Query``, which refuses unknown or
malformed parameters with a 400 naming the parameter, and returns plain dicts that
``api_view`` turns into JSON. Errors are ``{"status", "detail"[, "parameter"]}``.
"""

from __future__ import annotations

import logging
from functools import wraps
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from auditor import throttle
from auditor.access import has_role

from .tokens import KEY_PREFIX, PREFIX_LENGTH, api_token_for_key

logger = logging.getLogger(__name__)
REALM = "netpol-auditor"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200  # a page of findings stays small at any cluster size
MAX_VALUE = 2000  # room for a list of namespaces; far below abuse
MAX_NUMBER = (
    999_999_999_999  # ids, pages: beyond any real one, and within every database's integers
)


class ApiError(Exception):
    def __init__(self, status: int, detail: str, *, parameter: str | None = None, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.parameter = status, detail, parameter
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        body = {"status": self.status, "detail": self.detail}
        if self.parameter is not None:
            body["parameter"] = self.parameter
        return json_response(body, status=self.status, headers=self.headers)


def json_response(data: dict, *, status: int = 200, headers=None) -> JsonResponse:
    response = JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})
    # Answers depend on who asks and on the moment: never kept by a shared cache.
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _unauthorized(detail: str, *, invalid: bool) -> ApiError:
    """401 with the RFC 6750 challenge; ``error="invalid_token"`` when a token was sent."""
    challenge = f'Bearer realm="{REALM}"'
    if invalid:
        challenge += f', error="invalid_token", error_description="{detail}"'
    return ApiError(401, detail, headers={"WWW-Authenticate": challenge})


def authenticate(request):
    """The request's active token, or an ApiError (401, 403, or 429 after too many wrong
    tokens from the address or for the key's prefix) saying what is wrong."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise _unauthorized(
            "Authentication required: send 'Authorization: Bearer <token>'.", invalid=False
        )
    scheme, _, key = header.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not key.strip():
        raise _unauthorized(
            "Use 'Authorization: Bearer <token>' (or 'Token <token>').", invalid=True
        )
    key = key.strip()
    keys = throttle.keys_for("api", request, key[:PREFIX_LENGTH] if key.startswith(KEY_PREFIX) else "")
    wait = throttle.retry_after(keys)
    if wait:
        raise ApiError(
            429,
            f"Too many wrong tokens from this address or for this token: try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    token = api_token_for_key(key)
    if token is None:
        throttle.record_failure(keys)
        raise _unauthorized("The token is unknown or revoked.", invalid=True)
    if not token.user.is_active:
        raise _unauthorized("The token's user is disabled.", invalid=True)
    if not has_role(token.user, "viewer"):
        raise ApiError(
            403,
            "The token's user has no role: an admin must add them to the viewer group (or higher).",
        )
    return token


def api_view(view):
    """A read-only API endpoint: GET only, a token, a role; dicts in, JSON out."""

    # Tokens, not cookies, authenticate here, so there is no cross-site request to forge.
    @csrf_exempt
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            if request.method != "GET":
                raise ApiError(
                    405,
                    f"{request.method[:20]} is not allowed: the API is read-only.",
                    headers={"Allow": "GET"},
                )
            token = authenticate(request)
            request.user = token.user
            request.api_token = token
            return json_response(view(request, *args, **kwargs))
        except ApiError as exc:
            return exc.response()
        except Http404 as exc:
            return ApiError(404, str(exc) or "Not found.").response()
        except Exception:
            # A client of a JSON API must get JSON, even for our own bug; the log has the trace.
            logger.exception("API %s %s failed", request.method, request.path)
            return ApiError(500, "Internal error; the server log has the details.").response()

    return wrapped


class Query:
    """The query string of one request, checked against the parameters a view takes."""

    def __init__(self, request, allowed: set[str]):
        self.request = request
        unknown = sorted(set(request.GET) - allowed)
        if unknown:
            takes = ", ".join(sorted(allowed)) or "none"
            raise ApiError(
                400,
                f"Unknown parameter '{unknown[0][:40]}'; this endpoint takes: {takes}.",
                parameter=unknown[0][:40],
            )

    def text(self, name: str, default: str = "") -> str:
        values = self.request.GET.getlist(name)
        if len(values) > 1:
            raise ApiError(400, f"{name}: give it once.", parameter=name)
        value = values[0].strip() if values else default
        if len(value) > MAX_VALUE:
            raise ApiError(400, f"{name}: longer than {MAX_VALUE} characters.", parameter=name)
        return value

    def _given(self, name: str) -> str:
        """The value, "" when absent; a parameter given empty is an error, not a default."""
        raw = self.text(name)
        if raw == "" and name in self.request.GET:
            raise ApiError(
                400, f"{name}: empty; give a value or leave the parameter out.", parameter=name
            )
        return raw

    def integer(
        self, name: str, default: int | None = None, *, low: int = 1, high: int | None = None
    ) -> int | None:
        raw = self._given(name)
        if raw == "":
            return default
        if not (raw.isascii() and raw.isdigit()):
            raise ApiError(400, f"{name}: '{raw[:20]}' is not a whole number.", parameter=name)
        high = MAX_NUMBER if high is None else high
        value = int(raw) if len(raw) <= len(str(MAX_NUMBER)) else MAX_NUMBER + 1
        if value < low or value > high:
            raise ApiError(
                400, f"{name}: {raw[:20]} is out of range ({low} to {high}).", parameter=name
            )
        return value

    def items(
        self, name: str, *, allowed=None, upper: bool = False, max_items: int, max_length: int = 63,
        check=None,
    ) -> list[str]:
        """A comma-separated list (``?severity=high,critical``); [] when absent.
        Values are case-folded (``upper`` for rule ids) and, with ``allowed``, checked;
        ``check(value)`` returns why a value is not acceptable, or None."""
        raw = self._given(name)
        values = [v.strip() for v in raw.split(",")] if raw else []
        if "" in values:
            # "a,,b" or a trailing comma: the document allows no empty item, so neither do we.
            raise ApiError(400, f"{name}: an empty item in the list; separate values with single commas.",
                           parameter=name)
        values = (
            [v.upper() if upper else v.lower() for v in values] if allowed is not None else values
        )
        if len(values) > max_items:
            raise ApiError(400, f"{name}: at most {max_items} values.", parameter=name)
        for value in values:
            if len(value) > max_length:
                raise ApiError(
                    400,
                    f"{name}: '{value[:40]}…' is longer than {max_length} characters.",
                    parameter=name,
                )
            if check is not None and (problem := check(value)):
                raise ApiError(400, f"{name}: {problem}.", parameter=name)
            if allowed is not None and value not in allowed:
                raise ApiError(
                    400,
                    f"{name}: '{value[:40]}' is not one of {', '.join(allowed)}.",
                    parameter=name,
                )
        return values

    def boolean(self, name: str) -> bool | None:
        raw = self._given(name).lower()
        if raw == "":
            return None
        if raw in ("true", "1", "yes"):
            return True
        if raw in ("false", "0", "no"):
            return False
        raise ApiError(400, f"{name}: '{raw[:20]}' is not true or false.", parameter=name)


PAGE_PARAMETERS = {"page", "page_size"}


def paginate(request, query: Query, rows, serialize) -> dict:
    """One page of ``rows`` (a queryset, ordered) as ``{"count", "page", "page_size",
    "pages", "next", "previous", "results"}``; next/previous are relative URLs.
    ``serialize`` takes the page's rows as a list, so it can load what they share at once."""
    page_size = query.integer("page_size", DEFAULT_PAGE_SIZE, high=MAX_PAGE_SIZE)
    number = query.integer("page", 1)
    paginator = Paginator(rows, page_size)
    if number > paginator.num_pages:
        # A well-formed number naming a page that does not exist: an unknown object.
        raise ApiError(
            404, f"page: {number} is past the last page ({paginator.num_pages}).", parameter="page"
        )
    page = paginator.page(number)

    def link(n: int) -> str:
        params = request.GET.copy()
        params["page"] = str(n)
        return f"{request.path}?{urlencode(sorted(params.items()))}"

    return {
        "count": paginator.count,
        "page": number,
        "page_size": page_size,
        "pages": paginator.num_pages,
        "next": link(number + 1) if page.has_next() else None,
        "previous": link(number - 1) if page.has_previous() else None,
        "results": serialize(list(page.object_list)),
    }
