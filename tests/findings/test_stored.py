"""The typed reader of the stored analysis: it reads every field the pages use from a
real report of the demo cluster, and a renamed key fails loudly, naming the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from netpol import load_paths
from netpol.findings import audit
from netpol.findings.coverage import coverage_percent
from netpol.findings.stored import CoverageCounts, ReportFormatError, StoredReport

DEMO = Path(__file__).resolve().parents[2] / "auditor" / "demo_cluster"


@pytest.fixture(scope="module")
def stored() -> dict:
    """What ``Analysis.report`` holds: the report less its findings, through JSON."""
    data = audit(load_paths([DEMO])).to_dict()
    data.pop("findings")
    return json.loads(json.dumps(data))


def test_reads_every_field_the_pages_use(stored):
    report = StoredReport.from_dict(stored)
    raw = stored["coverage"]["cluster"]
    cluster = report.coverage.cluster
    assert (cluster.pods, cluster.workloads) == (raw["pods"], raw["workloads"])
    assert cluster.pods > 0
    assert (cluster.ingress.pods, cluster.egress.pods) == (raw["ingress"]["pods"], raw["egress"]["pods"])
    assert cluster.ingress.pod_ratio == raw["ingress"]["pod_ratio"]
    assert cluster.egress.workload_ratio == raw["egress"]["workload_ratio"]
    assert cluster.host_network_pods == raw["host_network_pods"]
    assert cluster.percent == coverage_percent(raw["pods"], raw["ingress"]["pods"], raw["egress"]["pods"])

    assert set(report.coverage.namespaces) == set(stored["coverage"]["namespaces"])
    payments = report.coverage.namespaces["payments"]
    raw_ns = stored["coverage"]["namespaces"]["payments"]
    assert payments.name == "payments"
    assert (payments.counts.pods, payments.policies) == (raw_ns["pods"], raw_ns["policies"])
    assert payments.default_deny_ingress == tuple(raw_ns["default_deny"]["ingress"])
    assert payments.default_deny_egress == tuple(raw_ns["default_deny"]["egress"])
    assert report.coverage.without_policy == tuple(stored["coverage"]["without_policy"])
    assert "batch" in report.coverage.without_policy
    assert report.coverage.without_default_deny_ingress == tuple(stored["coverage"]["without_default_deny"]["ingress"])

    assert report.score.cluster == stored["score"]["cluster"]
    assert report.score.namespaces == stored["score"]["namespaces"]
    assert report.score.formula.startswith("score = ")
    assert report.score.enforced is True

    assert report.cni.status == stored["cni"]["status"]
    assert report.cni.plugins == tuple(stored["cni"]["plugins"])
    assert report.cni.warning == ""
    assert [c.to_dict() for c in report.compliance] == stored["compliance"]
    assert report.compliance_passed == sum(c["status"] == "pass" for c in stored["compliance"])
    assert report.counts == stored["counts"]


def test_the_cluster_counts_alone_read_as_the_database_picks_them(stored):
    counts = CoverageCounts.from_dict(stored["coverage"]["cluster"])
    assert counts == StoredReport.from_dict(stored).coverage.cluster


@pytest.mark.parametrize(
    "path",
    [
        ("coverage",),
        ("coverage", "cluster", "pods"),
        ("coverage", "cluster", "ingress", "pods"),
        ("coverage", "namespaces", "payments", "default_deny"),
        ("coverage", "without_policy"),
        ("score", "namespaces"),
        ("score", "cluster"),
        ("cni", "warning"),
        ("compliance",),
    ],
)
def test_a_renamed_key_fails_naming_it(stored, path):
    data = copy.deepcopy(stored)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1] + "_renamed"] = parent.pop(path[-1])
    with pytest.raises(ReportFormatError, match=".".join(path)):
        StoredReport.from_dict(data)


def test_a_wrong_type_fails_naming_the_key(stored):
    data = copy.deepcopy(stored)
    data["coverage"]["cluster"]["egress"]["pods"] = "12"
    with pytest.raises(ReportFormatError, match=r"coverage\.cluster\.egress\.pods.*str"):
        StoredReport.from_dict(data)


def test_the_score_reads_with_its_reason_drivers_and_first_fixes(stored):
    score = StoredReport.from_dict(stored).score
    assert score.reason == stored["score"]["reason"] and score.reason.endswith("fix that first.")
    assert [d["rule"] for d in score.by_rule] == [d["rule"] for d in stored["score"]["by_rule"]]
    frontend = score.namespace("shop-frontend")
    assert (frontend.score, frontend.coverage) == (62, 1.0)
    assert frontend.reason == stored["score"]["details"]["shop-frontend"]["reason"]
    # stored compact, described from the catalogue on reading
    top = frontend.drivers[0]
    assert set(stored["score"]["details"]["shop-frontend"]["drivers"][0]) == {"fingerprint", "rule", "points", "pods"}
    assert (top["rule"], top["namespace"], top["severity"]) == ("NP020", "shop-frontend", "high")
    assert top["title"] and top["remediation"]
    assert frontend.fix_first == list(frontend.drivers[:3])
    assert score.namespace("no-such-namespace") is None


def test_a_score_stored_before_its_reasons_reads_without_them(stored):
    old = copy.deepcopy(stored)
    for key in ("reason", "drivers", "by_rule", "fix_first"):
        del old["score"][key]
    for detail in old["score"]["details"].values():
        for key in ("reason", "drivers", "points", "ingress", "egress"):
            del detail[key]
    score = StoredReport.from_dict(old).score
    assert (score.reason, score.drivers, score.fix_first) == ("", (), ())
    ns = score.namespace("shop-frontend")
    assert (ns.score, ns.reason, ns.drivers, ns.fix_first) == (62, "", (), [])


def test_a_mistyped_reason_fails_naming_the_key(stored):
    bad = copy.deepcopy(stored)
    bad["score"]["details"]["shop-frontend"]["reason"] = 3
    with pytest.raises(ReportFormatError, match=r"'score\.details\.shop-frontend\.reason' is int, not str"):
        StoredReport.from_dict(bad).score.namespace("shop-frontend")
