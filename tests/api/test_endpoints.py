"""What the endpoints answer on the demo cluster: lists, filters, pages, reach, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from auditor import services
from auditor.models import Cluster, Finding, Snapshot, Waiver
from auditor.storage import engine_model

from .conftest import assert_matches_schema

pytestmark = pytest.mark.django_db

FINDINGS = "/api/v1/clusters/{name}/findings"
REACH = "/api/v1/clusters/{name}/reach"
STOREFRONT = "shop-frontend/storefront-0"
CATALOG = "shop-backend/catalog-0"


def findings(api, **params):
    response = api.get("/api/v1/clusters/demo/findings", **params)
    return response, assert_matches_schema(response, FINDINGS)


def reach(api, **params):
    response = api.get("/api/v1/clusters/demo/reach", **params)
    return response, assert_matches_schema(response, REACH)


def second_snapshot(cluster) -> Snapshot:
    newer = services.snapshot_request(
        cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False
    )
    services.snapshot_collect(snapshot_id=newer.pk)
    newer.refresh_from_db()
    return newer


# --- Clusters and snapshots ---------------------------------------------------------------


def test_clusters_list_the_current_snapshot_with_score_and_counts(api, demo_snapshot):
    body = assert_matches_schema(api.get("/api/v1/clusters"), "/api/v1/clusters")
    assert body["count"] == 1 and body["pages"] == 1 and body["next"] is None
    demo = body["results"][0]
    analysis = demo_snapshot.analysis
    assert demo["name"] == "demo" and demo["source"] == "manifests"
    assert demo["current_snapshot"]["id"] == demo_snapshot.pk
    assert demo["current_snapshot"]["score"] == analysis.score
    assert demo["current_snapshot"]["finding_counts"] == analysis.finding_counts
    assert demo["current_snapshot"]["counts"]["pods"] == 60
    assert demo["url"] == "/api/v1/clusters/demo"


def test_clusters_paginate_with_counts_and_links(api, demo_snapshot):
    for i in range(6):
        Cluster.objects.create(name=f"c{i}", source=Cluster.Source.MANIFESTS, manifest_path="x")
    first = assert_matches_schema(api.get("/api/v1/clusters", page_size="3"), "/api/v1/clusters")
    assert (first["count"], first["pages"], first["page"], first["page_size"]) == (7, 3, 1, 3)
    assert [c["name"] for c in first["results"]] == ["c0", "c1", "c2"]
    assert first["previous"] is None
    assert first["next"] == "/api/v1/clusters?page=2&page_size=3"
    second = api.get(first["next"]).json()
    assert [c["name"] for c in second["results"]] == ["c3", "c4", "c5"]
    assert second["previous"] == "/api/v1/clusters?page=1&page_size=3"
    last = api.get(second["next"]).json()
    assert [c["name"] for c in last["results"]] == ["demo"] and last["next"] is None
    assert last["results"][0]["current_snapshot"]["id"] == demo_snapshot.pk
    assert first["results"][0]["current_snapshot"] is None


def test_cluster_list_costs_the_same_for_many_clusters(
    api, demo_snapshot, django_assert_max_num_queries
):
    for i in range(30):
        cluster = Cluster.objects.create(
            name=f"c{i:02d}", source=Cluster.Source.MANIFESTS, manifest_path="x"
        )
        Snapshot.objects.create(cluster=cluster, status="complete", finished_at=timezone.now())
    with django_assert_max_num_queries(8):
        body = api.get("/api/v1/clusters", page_size="50").json()
    assert len(body["results"]) == 31


def test_cluster_detail_and_unknown_cluster(api, demo_snapshot):
    body = assert_matches_schema(api.get("/api/v1/clusters/demo"), "/api/v1/clusters/{name}")
    assert body["current_snapshot"]["id"] == demo_snapshot.pk
    response = api.get("/api/v1/clusters/nope")
    assert response.status_code == 404
    assert (
        assert_matches_schema(response, "/api/v1/clusters/{name}")["detail"]
        == "No cluster named 'nope'."
    )


def test_a_cluster_without_a_complete_snapshot(api):
    cluster = Cluster.objects.create(
        name="fresh", source=Cluster.Source.MANIFESTS, manifest_path="x"
    )
    Snapshot.objects.create(cluster=cluster, status="failed", error="forbidden: cannot list pods")
    body = assert_matches_schema(api.get("/api/v1/clusters/fresh"), "/api/v1/clusters/{name}")
    assert body["current_snapshot"] is None
    for path, template in (
        ("/api/v1/clusters/fresh/findings", FINDINGS),
        ("/api/v1/clusters/fresh/reach?from=a/b&to=c/d&port=80", REACH),
    ):
        response = api.get(path)
        assert response.status_code == 404
        assert "no complete snapshot yet" in assert_matches_schema(response, template)["detail"]
    snapshots = api.get("/api/v1/clusters/fresh/snapshots").json()
    assert snapshots["results"][0]["status"] == "failed"
    assert snapshots["results"][0]["error"] == "forbidden: cannot list pods"


def test_snapshots_newest_first_filtered_by_status(api, demo_snapshot):
    newer = second_snapshot(demo_snapshot.cluster)
    Snapshot.objects.create(cluster=demo_snapshot.cluster, status="failed", error="boom")
    template = "/api/v1/clusters/{name}/snapshots"
    body = assert_matches_schema(api.get("/api/v1/clusters/demo/snapshots"), template)
    assert body["count"] == 3 and body["results"][0]["status"] == "failed"
    body = assert_matches_schema(
        api.get("/api/v1/clusters/demo/snapshots", status="complete"), template
    )
    assert [s["id"] for s in body["results"]] == [newer.pk, demo_snapshot.pk]
    assert body["results"][1]["score"] == demo_snapshot.analysis.score
    assert body["results"][0]["score"] is None  # not analysed in this test
    body = api.get("/api/v1/clusters/demo/snapshots", status="failed,running").json()
    assert body["count"] == 1
    response = api.get("/api/v1/clusters/demo/snapshots", status="broken")
    assert response.status_code == 400 and response.json()["parameter"] == "status"


def test_snapshot_detail_has_the_analysis_report(api, demo_snapshot):
    template = "/api/v1/clusters/{name}/snapshots/{id}"
    body = assert_matches_schema(
        api.get(f"/api/v1/clusters/demo/snapshots/{demo_snapshot.pk}"), template
    )
    report = demo_snapshot.analysis.report
    assert body["analysis"]["status"] == "complete"
    assert body["analysis"]["report"]["coverage"]["cluster"] == report["coverage"]["cluster"]
    assert body["analysis"]["report"]["cni"]["plugins"] == ["calico"]
    assert body["findings_url"] == f"/api/v1/clusters/demo/findings?snapshot={demo_snapshot.pk}"
    assert body["duration_seconds"] >= 0 and body["counts"]["policies"] == 22


def test_snapshot_of_another_cluster_or_unknown_is_404(api, demo_snapshot):
    other = Cluster.objects.create(name="other", source=Cluster.Source.MANIFESTS, manifest_path="x")
    template = "/api/v1/clusters/{name}/snapshots/{id}"
    for url in (
        f"/api/v1/clusters/other/snapshots/{demo_snapshot.pk}",
        "/api/v1/clusters/demo/snapshots/99999",
    ):
        response = api.get(url)
        assert response.status_code == 404, url
        assert_matches_schema(response, template)
    assert other.snapshots.count() == 0


# --- Findings --------------------------------------------------------------------------------


def test_findings_of_the_current_snapshot_most_severe_first(api, demo_snapshot):
    _, body = findings(api)
    assert body["snapshot"] == demo_snapshot.pk and body["cluster"] == "demo"
    assert body["count"] == Finding.objects.filter(snapshot=demo_snapshot).count() == 29
    assert body["page_size"] == 50 and body["pages"] == 1
    severities = [f["severity"] for f in body["results"]]
    order = ["critical", "high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)
    first = body["results"][0]
    assert first["url"] == f"/api/v1/clusters/demo/findings/{first['id']}"


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"severity": "high"}, lambda f: f.severity == "high"),
        ({"severity": "HIGH,medium"}, lambda f: f.severity in ("high", "medium")),
        ({"rule": "NP001"}, lambda f: f.rule == "NP001"),
        ({"rule": "np001,NP020"}, lambda f: f.rule in ("NP001", "NP020")),
        ({"namespace": "payments"}, lambda f: f.namespace == "payments"),
        (
            {"namespace": "payments,batch", "severity": "medium"},
            lambda f: f.namespace in ("payments", "batch") and f.severity == "medium",
        ),
        ({"namespace": "nowhere"}, lambda f: False),
    ],
)
def test_findings_filters(api, demo_snapshot, params, expected):
    _, body = findings(api, **params, page_size="200")
    wanted = sorted(f.pk for f in Finding.objects.filter(snapshot=demo_snapshot) if expected(f))
    assert sorted(f["id"] for f in body["results"]) == wanted
    assert body["count"] == len(wanted)


def test_findings_waived_filter_and_flag(api, personas, demo_snapshot):
    finding = Finding.objects.filter(snapshot=demo_snapshot, rule="NP010").first()
    Waiver.objects.create(
        cluster=demo_snapshot.cluster,
        fingerprint=finding.fingerprint,
        rule=finding.rule,
        summary="x",
        reason="accepted",
        author=personas["auditor"],
        expires_at=timezone.now() + timedelta(days=3),
    )
    _, waived = findings(api, waived="true")
    assert [f["id"] for f in waived["results"]] == [finding.pk] and waived["results"][0][
        "waived"
    ] is True
    _, others = findings(api, waived="false", page_size="200")
    assert others["count"] == 28 and finding.pk not in [f["id"] for f in others["results"]]
    detail = api.get(f"/api/v1/clusters/demo/findings/{finding.pk}").json()
    assert detail["waived"] is True


def test_findings_pages(api, demo_snapshot):
    _, first = findings(api, page_size="10")
    assert (first["count"], first["pages"]) == (29, 3)
    seen = [f["id"] for f in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [f["id"] for f in page["results"]]
    assert len(seen) == len(set(seen)) == 29
    assert page["page"] == 3 and len(page["results"]) == 9
    assert page["next"] is None and page["previous"].startswith(
        "/api/v1/clusters/demo/findings?page=2"
    )


def test_findings_of_a_given_snapshot(api, demo_snapshot):
    from auditor.services import snapshot_analyze

    newer = second_snapshot(demo_snapshot.cluster)
    snapshot_analyze(snapshot=newer)
    _, current = findings(api)
    assert current["snapshot"] == newer.pk
    _, older = findings(api, snapshot=str(demo_snapshot.pk))
    assert older["snapshot"] == demo_snapshot.pk
    assert {f["snapshot"] for f in older["results"]} == {demo_snapshot.pk}
    assert older["count"] == current["count"]  # the same manifests: the same findings


@pytest.mark.parametrize(
    "params, status, parameter, message",
    [
        (
            {"severity": "urgent"},
            400,
            "severity",
            "severity: 'urgent' is not one of critical, high",
        ),
        ({"rule": "NP999"}, 400, "rule", "rule: 'NP999' is not one of NP001"),
        ({"waived": "maybe"}, 400, "waived", "waived: 'maybe' is not true or false."),
        ({"snapshot": "abc"}, 400, "snapshot", "snapshot: 'abc' is not a whole number."),
        ({"snapshot": "-1"}, 400, "snapshot", "snapshot: '-1' is not a whole number."),
        ({"snapshot": "0"}, 400, "snapshot", "snapshot: 0 is out of range (1 to 999999999999)."),
        ({"page": "x"}, 400, "page", "page: 'x' is not a whole number."),
        ({"page": "0"}, 400, "page", "page: 0 is out of range (1 to 999999999999)."),
        ({"page": "9"}, 404, "page", "page: 9 is past the last page (1)."),
        ({"page_size": "201"}, 400, "page_size", "page_size: 201 is out of range (1 to 200)."),
        ({"page_size": "0"}, 400, "page_size", "page_size: 0 is out of range (1 to 200)."),
        ({"page_size": "9" * 40}, 400, "page_size", "is out of range (1 to 200)."),
        ({"snapshot": "9" * 40}, 400, "snapshot", "is out of range (1 to 999999999999)."),
        ({"page": "999999999999"}, 404, "page", "page: 999999999999 is past the last page (1)."),
        ({"namespace": "x," * 1001}, 400, "namespace", "namespace: longer than 2000 characters."),
        (
            {"namespace": ",".join(f"ns{i}" for i in range(21))},
            400,
            "namespace",
            "namespace: at most 20 values.",
        ),
        ({"namespace": "n" * 64}, 400, "namespace", "is longer than 63 characters."),
        ({"page": ""}, 400, "page", "page: empty; give a value or leave the parameter out."),
        ({"waived": ""}, 400, "waived", "waived: empty"),
        (
            {"severty": "high"},
            400,
            "severty",
            "Unknown parameter 'severty'; this endpoint takes: namespace, page",
        ),
        ({"snapshot": "99999"}, 404, None, "demo has no snapshot #99999."),
    ],
)
def test_findings_bad_parameters(api, demo_snapshot, params, status, parameter, message):
    response, body = findings(api, **params)
    assert response.status_code == status
    assert message in body["detail"]
    assert body.get("parameter") == parameter


def test_findings_of_a_snapshot_that_is_not_complete_is_404(api, demo_snapshot):
    failed = Snapshot.objects.create(cluster=demo_snapshot.cluster, status="failed", error="boom")
    response, body = findings(api, snapshot=str(failed.pk))
    assert response.status_code == 404 and body["detail"].startswith(
        f"Snapshot #{failed.pk} is failed"
    )


def test_a_parameter_given_twice_is_400(api, demo_snapshot):
    response = api.client.get(
        "/api/v1/clusters/demo/findings?severity=high&severity=low",
        headers={"Authorization": f"Bearer {api.tokens['viewer']}"},
    )
    assert response.status_code == 400 and response.json()["parameter"] == "severity"


def test_finding_detail_has_evidence_and_remediation(api, demo_snapshot):
    finding = Finding.objects.filter(snapshot=demo_snapshot, rule="NP010").first()
    template = "/api/v1/clusters/{name}/findings/{id}"
    body = assert_matches_schema(api.get(f"/api/v1/clusters/demo/findings/{finding.pk}"), template)
    assert body["rule"] == "NP010" and body["objects"] == finding.object_refs
    assert body["evidence"] == finding.evidence and body["snippet"] == finding.snippet
    assert body["rule_info"]["remediation"] and body["rule_info"]["why"]
    assert body["waived"] is False


def test_finding_of_another_cluster_is_404(api, demo_snapshot):
    Cluster.objects.create(name="other", source=Cluster.Source.MANIFESTS, manifest_path="x")
    finding = Finding.objects.filter(snapshot=demo_snapshot).first()
    template = "/api/v1/clusters/{name}/findings/{id}"
    for url in (
        f"/api/v1/clusters/other/findings/{finding.pk}",
        "/api/v1/clusters/demo/findings/999999",
    ):
        response = api.get(url)
        assert response.status_code == 404
        assert_matches_schema(response, template)


# --- Reach --------------------------------------------------------------------------------------


def test_reach_allowed_is_the_engines_verdict(api, demo_snapshot):
    response, body = reach(api, **{"from": STOREFRONT, "to": CATALOG, "port": "8080"})
    assert response.status_code == 200
    expected = engine_model(demo_snapshot).reach(STOREFRONT, CATALOG, 8080, "TCP").to_dict()
    assert body == {"cluster": "demo", "snapshot": demo_snapshot.pk, **expected}
    assert body["allowed"] is True and body["outcome"] == "allowed"
    assert body["src"] == {"kind": "pod", "pod": STOREFRONT}
    assert [m["policy"] for m in body["egress"]["allowed_by"]] == ["shop-frontend/frontend"]
    assert "shop-backend/backend-api" in [m["policy"] for m in body["ingress"]["allowed_by"]]


def test_reach_denied_names_the_isolating_policy(api, demo_snapshot):
    _, body = reach(
        api,
        **{
            "from": "payments/payments-api-0",
            "to": "kube-system/coredns-0",
            "port": "53",
            "protocol": "udp",
        },
    )
    assert body["allowed"] is False and body["outcome"] == "denied" and body["protocol"] == "UDP"
    assert body["egress"]["allowed"] is False
    assert body["egress"]["isolating_policies"] == ["payments/payments-api"]
    assert body["ingress"]["allowed"] is True  # CoreDNS admits every namespace


def test_reach_with_addresses(api, demo_snapshot):
    _, body = reach(api, **{"from": CATALOG, "to": "169.254.169.254", "port": "80"})
    assert body["allowed"] is True and body["dst"] == {"kind": "ip", "ip": "169.254.169.254"}
    assert body["ingress"] is None
    _, body = reach(api, **{"from": "8.8.8.8", "to": STOREFRONT, "port": "8080"})
    assert body["allowed"] is False and body["egress"] is None
    assert body["ingress"]["pod"] == STOREFRONT
    _, body = reach(api, **{"from": "10.10.0.11", "to": STOREFRONT, "port": "8080"})
    assert body["src"] == {"kind": "node", "ip": "10.10.0.11", "node": "worker-1"}


def test_reach_with_a_host_network_pod_is_undefined(api, demo_snapshot):
    _, body = reach(api, **{"from": "kube-system/calico-node-0", "to": STOREFRONT, "port": "8080"})
    assert body["outcome"] == "undefined" and "hostNetwork" in body["reason"]


def test_reach_on_a_given_snapshot(api, demo_snapshot):
    newer = second_snapshot(demo_snapshot.cluster)
    _, body = reach(api, **{"from": STOREFRONT, "to": CATALOG, "port": "8080"})
    assert body["snapshot"] == newer.pk
    _, body = reach(
        api,
        **{"from": STOREFRONT, "to": CATALOG, "port": "8080", "snapshot": str(demo_snapshot.pk)},
    )
    assert body["snapshot"] == demo_snapshot.pk


@pytest.mark.parametrize(
    "params, parameter, message",
    [
        ({"to": CATALOG, "port": "80"}, "from", "from: required"),
        ({"from": STOREFRONT, "port": "80"}, "to", "to: required"),
        ({"from": STOREFRONT, "to": CATALOG}, "port", "port: required"),
        (
            {"from": STOREFRONT, "to": CATALOG, "port": "0"},
            "port",
            "port: 0 is out of range (1 to 65535).",
        ),
        (
            {"from": STOREFRONT, "to": CATALOG, "port": "70000"},
            "port",
            "port: 70000 is out of range",
        ),
        (
            {"from": STOREFRONT, "to": CATALOG, "port": "http"},
            "port",
            "port: 'http' is not a whole number.",
        ),
        (
            {"from": STOREFRONT, "to": CATALOG, "port": "80", "protocol": "ICMP"},
            "protocol",
            "protocol: 'ICMP' is not one of TCP, UDP, SCTP.",
        ),
        (
            {"from": STOREFRONT, "to": "10.0.0.999", "port": "80"},
            "to",
            "to: '10.0.0.999' is neither",
        ),
        (
            {"from": "shop-frontend", "to": CATALOG, "port": "80"},
            "from",
            "from: 'shop-frontend' is neither",
        ),
        ({"from": "a/b/c", "to": CATALOG, "port": "80"}, "from", "from: 'a/b/c' is neither"),
        ({"from": "/x", "to": CATALOG, "port": "80"}, "from", "from: '/x' is neither"),
        (
            {"from": "x" * 2100, "to": CATALOG, "port": "80"},
            "from",
            "from: longer than 2000 characters.",
        ),
        (
            {"from": STOREFRONT, "to": CATALOG, "port": "80", "extra": "1"},
            "extra",
            "Unknown parameter 'extra'",
        ),
    ],
)
def test_reach_bad_parameters_are_400_naming_the_parameter(
    api, demo_snapshot, params, parameter, message
):
    response, body = reach(api, **params)
    assert response.status_code == 400
    assert body["parameter"] == parameter
    assert message in body["detail"], body["detail"]


def test_reach_to_a_pod_the_snapshot_does_not_have_is_404(api, demo_snapshot):
    response, body = reach(api, **{"from": "shop-frontend/nope-0", "to": CATALOG, "port": "80"})
    assert response.status_code == 404
    assert body == {
        "status": 404,
        "detail": f"from: no pod shop-frontend/nope-0 in snapshot #{demo_snapshot.pk}.",
        "parameter": "from",
    }
    # namespace/Kind/workload is the web form's shorthand, not the API's.
    response, body = reach(
        api, **{"from": STOREFRONT, "to": "shop-backend/Deployment/catalog", "port": "80"}
    )
    assert response.status_code == 400 and body["parameter"] == "to"


def test_unknown_api_paths_answer_json_404(api, client):
    for path in ("/api/v1/nothing", "/api/v1/clusters/", "/api/v2/clusters"):
        response = client.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert "/api/v1/schema.json" in response.json()["detail"]
