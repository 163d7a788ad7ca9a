"""The OpenAPI document: served, valid, complete, and true of the running API.

Besides the hand-written checks (here and in ``assert_matches_schema`` throughout these
tests), Schemathesis generates requests from the document and checks every answer:
documented status, content type, headers and body schema, and never a 500.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from auditor.api import urls as api_urls
from auditor.api.schema import openapi_document
from auditor.api.tokens import hash_key
from auditor.models import ApiToken

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,  # a request the schema allows is not a 400
    negative_data_rejection,  # one it forbids is not a 2xx
    ignored_auth,  # the request again without the token: must be refused
    unsupported_method,  # other methods: must be 405 with Allow
]


def test_the_schema_is_served_without_a_token_and_is_valid_openapi(client):
    response = client.get("/api/v1/schema.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any violation of the OpenAPI 3.1 specification
    assert document == openapi_document()


def test_every_api_route_is_documented_and_nothing_else():
    routes = set()
    for pattern in api_urls.urlpatterns:
        route = str(pattern.pattern)
        if route.startswith("api/v1/"):
            routes.add(
                "/"
                + re.sub(
                    r"<\w+:(\w+)>", lambda m: "{id}" if m[1] == "pk" else "{" + m[1] + "}", route
                )
            )
    assert routes == set(openapi_document()["paths"])


def test_every_component_is_used():
    document = openapi_document()
    text = str(document["paths"]) + str(document["components"])
    for kind, names in document["components"].items():
        if kind == "securitySchemes":
            continue
        for name in names:
            assert f"#/components/{kind}/{name}" in text, name


# --- Generated requests -------------------------------------------------------------------------

APP = WSGIHandler()
schema = schemathesis.openapi.from_dict(openapi_document())
# Every request, the checks' own probes included, goes to the app in this process.
schema.app = APP
# Requests the schema forbids too, to check that they are refused (and not with a 500).
schema.config.generation.update(modes=["positive", "negative"])


# A fixed key, so the auth provider below needs no per-test state.
FUZZ_KEY = "npa_fuzzing-viewer-key-for-the-schema-tests-only"


@schema.auth(refresh_interval=None)
class ViewerToken:
    """Explicit auth, so Schemathesis's ignored_auth check also retries without it."""

    def get(self, case, context):
        return FUZZ_KEY

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def fuzz_token(personas):
    ApiToken.objects.create(
        user=personas["viewer"], name="fuzz", prefix=FUZZ_KEY[:12], key_hash=hash_key(FUZZ_KEY)
    )
    # The ignored_auth check sends wrong tokens from the same address each example; at the
    # usual limit the fuzzer would soon see nothing but 429s (tests/test_bruteforce.py).
    from django.test import override_settings

    with override_settings(API_AUTH_FAILURE_LIMIT=10**9):
        yield


@pytest.fixture
def wsgi_in_test_transaction():
    """Requests through the real WSGI handler, without it closing the test's connection
    at each request's end (what Django's test client does for its own requests)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@schema.parametrize()
@FUZZ
def test_generated_requests_get_documented_answers(
    case, wsgi_in_test_transaction, fuzz_token, demo_snapshot
):
    response = case.call()
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_generated_requests_on_the_demo_cluster(
    case, wsgi_in_test_transaction, fuzz_token, demo_report
):
    """The same, with the path pointing at the demo cluster and its objects, so the
    generated query strings reach the endpoints' own checks, not just the 404."""
    if case.path_parameters:
        case.path_parameters["name"] = "demo"
        template = case.operation.path
        if template.endswith("snapshots/{id}"):
            case.path_parameters["id"] = demo_report.snapshot_id
        elif template.endswith("findings/{id}"):
            case.path_parameters["id"] = demo_report.snapshot.findings.first().pk
        elif template.endswith("reports/{id}"):
            case.path_parameters["id"] = demo_report.pk
    response = case.call()
    case.validate_response(response, checks=CHECKS)
