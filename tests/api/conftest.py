"""API fixtures: a token per persona, a client that sends it, and the schema check."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from auditor.api.schema import openapi_document
from auditor.api.tokens import api_token_create

DOCUMENT = openapi_document()


@pytest.fixture
def tokens(personas) -> dict[str, str]:
    """A key per persona (viewer, auditor, admin, stranger)."""
    return {
        role: api_token_create(user=user, name=f"{role} token")[1]
        for role, user in personas.items()
    }


@pytest.fixture
def demo_report(demo_snapshot):
    """A complete report of the demo snapshot, built as a schedule's run builds it."""
    from auditor.models import ReportSchedule
    from auditor.reports.services import report_build, report_request

    schedule = ReportSchedule.objects.create(cluster=demo_snapshot.cluster, name="Weekly review")
    report = report_request(schedule=schedule, enqueue=False)
    return report_build(report_id=report.pk)


def response_schema(template: str, status: int) -> dict:
    """The JSON schema the document gives for ``GET template`` answering ``status``."""
    responses = DOCUMENT["paths"][template]["get"]["responses"]
    response = responses[str(status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def assert_matches_schema(response, template: str) -> dict:
    """The answer is JSON of the documented shape for its status (and headers); returns it."""
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    documented = response_schema(template, response.status_code)
    for header in documented.get("headers", {}):
        assert response.has_header(header), header
    body = response.json()
    # The components sit beside the schema so its "#/components/..." references resolve.
    schema = {
        **documented["content"]["application/json"]["schema"],
        "components": DOCUMENT["components"],
    }
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return body


class Api:
    """``api.get(path, role="viewer", **params)``: the test client with a persona's token."""

    def __init__(self, client, tokens):
        self.client, self.tokens = client, tokens

    def get(self, path: str, role: str | None = "viewer", *, headers=None, **params):
        extra = dict(headers or {})
        if role is not None and "Authorization" not in extra:
            extra["Authorization"] = f"Bearer {self.tokens[role]}"
        return self.client.get(path, params, headers=extra)


@pytest.fixture
def api(client, tokens) -> Api:
    return Api(client, tokens)
