"""Score extremes and formula; CIS 5.3.2 and NSA/CISA evidence per namespace."""

from __future__ import annotations

from netpol.findings.score import FORMULA
from tests.findings.helpers import SECURE, of, run, without
from tests.objects import namespace, pod, policy

CONTROLS = {"CIS": "CIS 5.3.2", "NSA": "NSA/CISA default deny"}


def _compliance(report, namespace, control):
    [c] = [
        c
        for c in report.compliance
        if c["namespace"] == namespace and c["control"] == CONTROLS[control]
    ]
    return c


def test_isolated_cluster_with_narrow_rules_scores_top():
    _, report = run(*SECURE)
    assert report.score["cluster"] == 100
    assert report.score["namespaces"] == {"kube-system": 100, "shop": 100}
    assert report.score["formula"] == FORMULA and "coverage" in FORMULA


def test_cluster_with_no_policy_scores_bottom():
    objects = [o for o in SECURE if o["kind"] != "NetworkPolicy"]
    _, report = run(*objects)
    assert report.score["cluster"] == 0
    assert set(report.score["namespaces"].values()) == {0}


def test_penalty_lowers_an_isolated_namespace():
    _, report = run(
        *SECURE,
        policy(
            "shop",
            "all-ports",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
            },
        ),
    )
    # both low (0.02 each): all ports, and web's 5432 rule is now shadowed by it
    assert [f.rule for f in report.findings] == ["NP014", "NP036"]
    assert report.score["namespaces"]["shop"] == 96
    assert report.score["details"]["shop"]["penalty"] == 0.04
    assert report.score["cluster"] == round((96 * 2 + 100 * 2) / 4)


def test_half_coverage_halves_the_score():
    objects = without(SECURE, "NetworkPolicy", "default-deny-all", "shop")
    objects = without(objects, "NetworkPolicy", "allow-dns", "shop")
    objects = without(objects, "NetworkPolicy", "web", "shop")
    _, report = run(*objects)
    # shop: db isolated for ingress only -> coverage 1/4; no penalised finding
    assert report.score["details"]["shop"]["coverage"] == 0.25
    assert report.score["namespaces"]["shop"] == 25


def test_namespace_without_pods_has_no_score():
    _, report = run(*SECURE, namespace("empty"))
    assert report.score["namespaces"]["empty"] is None
    assert report.score["cluster"] == 100


def test_compliance_passes_on_secure_cluster_with_evidence():
    _, report = run(*SECURE)
    cis = _compliance(report, "shop", "CIS")
    assert cis["status"] == "pass"
    assert "2 of 2 running pods isolated for ingress, 2 of 2 for egress" in cis["evidence"]
    nsa = _compliance(report, "shop", "NSA")
    assert nsa["status"] == "pass"
    assert "default-deny ingress present (default-deny-all)" in nsa["evidence"]


def test_existence_of_a_policy_is_not_a_pass():
    objects = [
        o
        for o in SECURE
        if not (o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "shop")
    ]
    objects.append(
        policy(
            "shop",
            "web-only",
            {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]},
        )
    )
    _, report = run(*objects)
    cis = _compliance(report, "shop", "CIS")
    assert cis["status"] == "fail"
    assert "1 of 2 running pods isolated for ingress, 0 of 2 for egress" in cis["evidence"]
    assert "StatefulSet/db" in cis["evidence"]
    nsa = _compliance(report, "shop", "NSA")
    assert nsa["status"] == "fail"
    assert nsa["evidence"] == "no default-deny ingress; no default-deny egress"


def test_empty_namespace_compliance_needs_default_deny():
    _, report = run(
        *SECURE,
        namespace("empty"),
        namespace("locked"),
        policy(
            "locked", "default-deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        ),
    )
    assert _compliance(report, "empty", "CIS")["status"] == "fail"
    assert _compliance(report, "locked", "CIS")["status"] == "pass"
    assert _compliance(report, "locked", "NSA")["status"] == "pass"


def test_uncovered_pod_in_isolated_namespace():
    extra = pod("kube-system", "stray", {"app": "x"}, ip="10.244.0.99")
    _, report = run(*SECURE, extra)
    assert not of(report, "NP001")  # default deny selects it too
    assert report.score["cluster"] == 100
