"""Fingerprints follow a problem across snapshots; diffs between two audits."""

from __future__ import annotations

from netpol.diff import (
    COVERAGE_MEASURES,
    FindingsDelta,
    coverage_delta,
    diff_audits,
    findings_delta,
    policies_delta,
)
from tests.findings.helpers import SECURE, of, owned, run, without
from tests.objects import namespace, pod, policy


def _batch(hash_, suffixes, replicas):
    return [namespace("batch")] + [
        owned(
            pod("batch", f"worker-{hash_}-{s}", {"app": "worker"}, ip=f"10.244.0.{100 + i}"),
            "ReplicaSet",
            "worker",
            hash_,
        )
        for i, s in enumerate(suffixes[:replicas])
    ]


def test_fingerprints_ignore_pod_names_replicas_and_template_hashes():
    _, a = run(
        *SECURE,
        *_batch("7f9c", ["aaaaa", "bbbbb"], 2),
        policy("shop", "allow-all", {"podSelector": {}, "ingress": [{}]}),
    )
    _, b = run(
        *SECURE,
        *_batch("d00d", ["ccccc", "ddddd", "eeeee"], 3),
        policy("shop", "allow-all", {"podSelector": {}, "ingress": [{}]}),
    )
    assert {f.fingerprint for f in a.findings} == {f.fingerprint for f in b.findings}
    assert of(a, "NP003")[0].objects != of(b, "NP003")[0].objects


def test_fingerprint_survives_rule_reordering_but_not_a_different_problem():
    wide = {"from": [{"namespaceSelector": {}}], "ports": [{"port": 8080}]}
    other = {"from": [{"podSelector": {}}], "ports": [{"port": 9090}]}
    sel = {"matchLabels": {"app": "web"}}
    _, a = run(*SECURE, policy("shop", "p", {"podSelector": sel, "ingress": [wide, other]}))
    _, b = run(*SECURE, policy("shop", "p", {"podSelector": sel, "ingress": [other, wide]}))
    [fa], [fb] = of(a, "NP011"), of(b, "NP011")
    assert fa.fingerprint == fb.fingerprint and fa.evidence["rule"] != fb.evidence["rule"]
    _, c = run(*SECURE, policy("shop", "q", {"podSelector": sel, "ingress": [wide]}))
    assert of(c, "NP011")[0].fingerprint != fa.fingerprint


def test_cronjob_job_suffix_is_stripped():
    def job(n):
        return owned(
            pod("batch", f"report-{n}-x1", {"app": "r"}, ip="10.244.0.77"), "Job", f"report-{n}"
        )

    deny = policy("batch", "only-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
    _, a = run(*SECURE, namespace("batch"), job(28453920), deny)
    _, b = run(*SECURE, namespace("batch"), job(28455360), deny)
    [fa], [fb] = of(a, "NP002"), of(b, "NP002")
    assert fa.workloads == ["CronJob/batch/report"]
    assert fa.fingerprint == fb.fingerprint and fa.aliases == fb.aliases


def test_diff_new_and_resolved_findings_policies_and_coverage():
    old_m, old = run(
        *SECURE, policy("shop", "gone", {"podSelector": {"matchLabels": {"app": "x"}}})
    )
    new_objects = without(SECURE, "NetworkPolicy", "web", "shop")
    new_objects.append(
        policy(
            "shop",
            "web",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
            },
        )
    )
    new_objects += _batch("7f9c", ["aaaaa"], 1)
    new_objects.append(
        policy(
            "shop",
            "cdn",
            {
                "podSelector": {"matchLabels": {"app": "db"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 5432}]}
                ],
            },
        )
    )
    new_m, new = run(*new_objects)
    d = diff_audits(old_m, old, new_m, new)
    assert {f["rule"] for f in d["findings"]["resolved"]} == {"NP031"}
    assert {f["rule"] for f in d["findings"]["new"]} == {"NP003", "NP014", "NP020"}
    assert d["policies"] == {
        "added": ["shop/cdn"],
        "removed": ["shop/gone"],
        "changed": [{"policy": "shop/web", "changed": ["egress"]}],
    }
    assert d["newly_uncovered"] == [
        {
            "workload": "Deployment/batch/worker",
            "namespace": "batch",
            "direction": d_,
            "pods": ["worker-7f9c-aaaaa"],
            "new_workload": True,
        }
        for d_ in ("egress", "ingress")
    ]
    exposed = {(e["workload"], e["direction"]) for e in d["newly_exposed"]}
    assert ("StatefulSet/shop/db", "ingress") in exposed
    assert ("Deployment/batch/worker", "ingress") in exposed  # a new, open workload
    assert d["coverage"]["cluster"]["old"]["ingress"]["pod_ratio"] == 1.0
    assert d["coverage"]["cluster"]["new"]["ingress"]["pod_ratio"] == 0.8
    assert "batch" in d["coverage"]["namespaces"]
    # NP031 before (low, on few of the pods) costs under half a cluster point
    assert d["score"]["old"] == 100 and d["score"]["new"] < 100


def test_diff_of_identical_snapshots_is_empty():
    m1, r1 = run(*SECURE)
    m2, r2 = run(*SECURE)
    d = diff_audits(m1, r1, m2, r2)
    assert d["findings"] == {"new": [], "resolved": [], "unchanged": 0}
    assert d["policies"] == {"added": [], "removed": [], "changed": []}
    assert d["newly_uncovered"] == [] and d["newly_exposed"] == []
    assert d["coverage"]["namespaces"] == {}


def test_narrower_exposure_is_not_newly_exposed():
    def cluster(cidr):
        return run(
            *SECURE,
            policy(
                "shop",
                "cdn",
                {
                    "podSelector": {"matchLabels": {"app": "db"}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 5432}]}],
                },
            ),
        )

    wide_m, wide = cluster("203.0.113.0/24")
    narrow_m, narrow = cluster("203.0.113.0/25")
    assert diff_audits(wide_m, wide, narrow_m, narrow)["newly_exposed"] == []
    grown = diff_audits(narrow_m, narrow, wide_m, wide)["newly_exposed"]
    assert [(e["workload"], e["direction"]) for e in grown] == [("StatefulSet/shop/db", "ingress")]


# --- The pure primitives (stored data, no model) ------------------------------------------


def test_findings_delta_by_fingerprint():
    d = findings_delta(["a", "b", "c"], ["b", "c", "d"])
    assert d == FindingsDelta(new=frozenset({"d"}), resolved=frozenset({"a"}), unchanged=2)


def test_coverage_delta_by_readable_measure():
    old = {"cluster": {"pods": 10, "ingress": {"pods": 4, "workloads": 2}, "workloads": 5}}
    new = {"cluster": {"pods": 12, "ingress": {"pods": 7, "workloads": 3}, "workloads": 6}}
    assert coverage_delta(old, new) == {
        "Running pods": {"old": 10, "new": 12, "change": 2},
        "Pods isolated for ingress": {"old": 4, "new": 7, "change": 3},
        "Workloads": {"old": 5, "new": 6, "change": 1},
        "Workloads isolated for ingress": {"old": 2, "new": 3, "change": 1},
    }
    assert coverage_delta({}, new) == {}
    assert [label for label, _ in COVERAGE_MEASURES][0] == "Running pods"


def test_policies_delta_compares_specs_as_the_api_server_reads_them():
    peer = {"namespaceSelector": {}}
    old = {
        "a/same": {"podSelector": {}, "ingress": [{"from": [], "ports": []}]},
        "a/types": {"podSelector": {"matchLabels": {}}, "egress": []},
        "a/peer": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]},
        "a/gone": {"podSelector": {}},
    }
    new = {
        # A missing or empty from/ports/egress is the same; policyTypes is defaulted.
        "a/same": {"podSelector": {}, "ingress": [{}]},
        "a/types": {"podSelector": {}, "policyTypes": ["Ingress"]},
        # A missing namespaceSelector is the policy's namespace, {} every namespace.
        "a/peer": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}, **peer}]}]},
        "a/new": {"podSelector": {}},
    }
    assert policies_delta(old, new) == {
        "added": ["a/new"],
        "removed": ["a/gone"],
        "changed": ["a/peer"],
    }
    # ingress: [] with Ingress isolates; egress rules make Egress a default type.
    assert policies_delta(
        {"a/x": {"podSelector": {}}}, {"a/x": {"podSelector": {}, "egress": [{}]}}
    )["changed"] == ["a/x"]
