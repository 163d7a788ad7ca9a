"""The findings API at one finding per cause: workloads, aliases, and groups with counts."""

import pytest

from auditor.models import Finding
from auditor.selectors import findings_of

from .conftest import assert_matches_schema

pytestmark = pytest.mark.django_db


def with_aliases(snapshot) -> Finding:
    found = max(Finding.objects.filter(snapshot=snapshot).order_by("pk"), key=lambda f: len(f.aliases))
    assert len(found.aliases) >= 3, "the demo should hold a finding with 3 aliases (NP002 kube-system)"
    return found


def test_findings_carry_workloads_and_aliases(api, demo_snapshot):
    finding = with_aliases(demo_snapshot)
    response = api.get("/api/v1/clusters/demo/findings", rule=finding.rule, namespace=finding.namespace)
    body = assert_matches_schema(response, "/api/v1/clusters/{name}/findings")
    row = next(r for r in body["results"] if r["fingerprint"] == finding.fingerprint)
    assert row["workloads"] == finding.workloads and row["aliases"] == finding.aliases


@pytest.mark.parametrize("by", ["rule", "namespace"])
def test_groups_count_findings_workloads_and_severities(api, demo_snapshot, by):
    response = api.get("/api/v1/clusters/demo/findings/groups", by=by, waived="false")
    body = assert_matches_schema(response, "/api/v1/clusters/{name}/findings/groups")
    expected = {}
    for f in findings_of(demo_snapshot).filter(waived=False):
        key = getattr(f, by)
        group = expected.setdefault(key, {"key": key, "findings": 0, "workloads": 0, "counts": {}})
        group["findings"] += 1
        group["workloads"] += len(f.workloads)
        group["counts"][f.severity] = group["counts"].get(f.severity, 0) + 1
    assert body["by"] == by and body["count"] == len(expected)
    assert sorted(body["results"], key=lambda g: g["key"]) == sorted(expected.values(), key=lambda g: g["key"])


def test_groups_need_a_known_key(api, demo_snapshot):
    for query in ({}, {"by": "severity"}):
        response = api.get("/api/v1/clusters/demo/findings/groups", **query)
        assert response.status_code == 400
        assert "by: required, one of rule, namespace" in response.json()["detail"]
