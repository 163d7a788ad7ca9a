"""Score extremes and formula; CIS 5.3.2 and NSA/CISA evidence per namespace."""

from __future__ import annotations

from netpol.findings.score import FORMULA
from tests.findings.helpers import CALICO, SECURE, deny_all, host_network, of, owned, run, without
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
    assert report.score["formula"] == FORMULA and "severity weight" in FORMULA
    assert report.score["drivers"] == [] and report.score["fix_first"] == []
    assert report.score["reason"] == (
        "100% covered, 2 of 2 namespaces pass CIS 5.3.2; score 100: nothing costs points."
    )


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
    # both low (0.02 each): all ports, and web's 5432 rule is now shadowed by it; each
    # affects web, 1 of the 2 running pods: 0.02 x (1/2 + 1/2 x 1/2) = 0.015 each
    assert [f.rule for f in report.findings] == ["NP014", "NP036"]
    assert report.score["namespaces"]["shop"] == 97
    assert report.score["details"]["shop"]["penalty"] == 0.03
    assert [d["points"] for d in report.score["details"]["shop"]["drivers"]] == [1.5, 1.5]
    assert report.score["cluster"] == round((97 * 2 + 100 * 2) / 4)


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


def _locked_namespace(workloads: int) -> list[dict]:
    """Namespace "locked": ``workloads`` Deployments of one pod each, default deny both
    ways and nothing else, so DNS is cut for all of them (NP032)."""
    pods = [
        owned(
            pod("locked", f"w{i}-abc", {"app": f"w{i}"}, ip=f"10.244.0.{100 + i}"),
            "ReplicaSet",
            f"w{i}",
            "5d9f",
        )
        for i in range(workloads)
    ]
    # Egress among themselves on 8080 only: allowed some egress, none to DNS.
    peers = policy(
        "locked",
        "peers",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}],
        },
    )
    return [*SECURE, namespace("locked"), *pods, deny_all("locked"), peers]


def test_isolated_namespace_with_dns_cut_names_the_cause():
    _, report = run(*_locked_namespace(3))
    [dns] = of(report, "NP032")
    assert _compliance(report, "locked", "CIS")["status"] == "pass"
    detail = report.score["details"]["locked"]
    assert detail["coverage"] == 1.0 and detail["points"] == {"coverage": 0.0, "causes": 25.0}
    # high (0.25) and every running pod of the namespace affected: 0.25 x (1/2 + 1/2)
    assert report.score["namespaces"]["locked"] == 75
    [driver] = detail["drivers"]
    assert driver == {"fingerprint": dns.fingerprint, "rule": "NP032", "points": 25.0, "pods": 3}
    assert detail["reason"] == (
        "100% covered and passes CIS 5.3.2; score 75, 25 points lost, 25 of them to "
        "Egress-isolated pods that cannot reach DNS (NP032): fix that first."
    )
    [first] = report.score["fix_first"]
    assert first["rule"] == "NP032" and first["namespaces"] == 1
    assert "kube-dns on UDP and TCP 53" in first["remediation"]
    [cause] = report.score["drivers"]
    assert (cause["fingerprint"], cause["namespace"]) == (dns.fingerprint, "locked")
    # the cluster is the pod-weighted mean, and so are the cause's points: 3 of 7 pods
    assert report.score["cluster"] == round((100 * 4 + 75 * 3) / 7)
    assert cause["points"] == round(25 * 3 / 7, 2)
    assert report.score["reason"] == (
        "100% covered, 3 of 3 namespaces pass CIS 5.3.2; score 89, 11 points lost, 10.7 of "
        "them to Egress-isolated pods that cannot reach DNS (NP032, 1 namespace): fix that first."
    )


def test_one_cause_costs_once_however_many_workloads_it_lists():
    _, one = run(*_locked_namespace(1))
    _, thirty = run(*_locked_namespace(30))
    [finding] = of(thirty, "NP032")
    assert len(finding.workloads) == 30
    # the old penalty summed a weight per finding row: 30 rows of one cause cost 30 times
    assert one.score["namespaces"]["locked"] == thirty.score["namespaces"]["locked"] == 75
    assert thirty.score["details"]["locked"]["penalty"] == 0.25


def test_a_cause_on_few_pods_costs_less_than_one_on_all():
    objects = without(_locked_namespace(4), "NetworkPolicy", "peers", "locked")
    # only w1-w3 are allowed egress (without DNS): the cause affects 3 of the 4 pods
    objects.append(
        policy(
            "locked",
            "peers",
            {
                "podSelector": {
                    "matchExpressions": [
                        {"key": "app", "operator": "In", "values": ["w1", "w2", "w3"]}
                    ]
                },
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}
                ],
            },
        )
    )
    _, report = run(*objects)
    [driver] = [d for d in report.score["details"]["locked"]["drivers"] if d["rule"] == "NP032"]
    assert driver["pods"] == 3
    assert driver["points"] == round(100 * 0.25 * (0.5 + 0.5 * 3 / 4), 1)


def test_open_pods_cost_their_coverage_points_to_the_coverage_finding():
    objects = without(SECURE, "NetworkPolicy", "default-deny-all", "shop")
    objects = without(objects, "NetworkPolicy", "allow-dns", "shop")
    objects = without(objects, "NetworkPolicy", "web", "shop")
    _, report = run(*objects)
    detail = report.score["details"]["shop"]
    # web open both ways, db open for egress: 3 of 4 (pod, direction) pairs
    assert {d["rule"]: d["points"] for d in detail["drivers"]} == {"NP001": 25.0, "NP002": 50.0}
    assert detail["points"]["coverage"] == 75.0
    assert detail["reason"].startswith(
        "25% covered and fails CIS 5.3.2; score 25, 75 points lost, 50 of them to"
    )


def test_not_enforcing_plugin_scores_zero_and_says_why():
    flannel = owned(
        host_network(
            pod("kube-flannel", "kube-flannel-ds-abc", {"app": "flannel"}, ip="192.168.0.11")
        ),
        "DaemonSet",
        "kube-flannel-ds",
    )
    _, report = run(*without(SECURE, "Pod", CALICO["metadata"]["name"]), flannel)
    assert report.cni["status"] == "not enforcing"
    assert report.score["cluster"] == 0 and report.score["namespaces"]["shop"] == 0
    assert "does not enforce NetworkPolicy" in report.score["reason"]
    assert report.score["details"]["shop"]["reason"] == report.score["reason"]
