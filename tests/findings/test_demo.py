"""The bundled demo cluster: its pinned findings (auditor/demo_cluster/README.md lists
the intended mistakes), scores, and every finding's evidence checked against reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol import load_paths
from netpol.findings import audit
from tests.findings.helpers import check_probe

DEMO = Path(__file__).resolve().parents[2] / "auditor" / "demo_cluster"

# (rule, first object, direction, rule index): the README's mistakes 1-9 and gaps.
EXPECTED = {
    # 6. batch has no policy at all
    ("NP003", "Namespace/batch", None, None),
    # 1. allow-all ingress
    ("NP010", "NetworkPolicy/shop-frontend/admin-ui-allow-all", "ingress", 0),
    # intended public exposure, and 8. the public CDN range to the storefront
    ("NP020", "NetworkPolicy/ingress-nginx/ingress-nginx-controller", "ingress", 0),
    ("NP020", "NetworkPolicy/shop-frontend/storefront-allow-cdn", "ingress", 0),
    # 3. 0.0.0.0/0 without except: metadata, cluster ranges, the internet, all ports
    ("NP022", "NetworkPolicy/shop-backend/catalog-egress-internet", "egress", 0),
    ("NP013", "NetworkPolicy/shop-backend/catalog-egress-internet", "egress", 0),
    ("NP023", "NetworkPolicy/shop-backend/catalog-egress-internet", "egress", 0),
    ("NP024", "NetworkPolicy/shop-backend/catalog-egress-internet", "egress", 0),
    ("NP014", "NetworkPolicy/shop-backend/catalog-egress-internet", "egress", 0),
    # 2. 0.0.0.0/0 with except 169.254.169.254: no NP022, the rest stays
    ("NP013", "NetworkPolicy/payments/payments-api", "egress", 0),
    ("NP023", "NetworkPolicy/payments/payments-api", "egress", 0),
    ("NP024", "NetworkPolicy/payments/payments-api", "egress", 0),
    # 7. payments-api: egress restricted without DNS
    ("NP032", "NetworkPolicy/payments/payments-api", None, None),
    # pods no policy selects, one finding per namespace and direction (no default deny)
    ("NP001", "Namespace/kube-system", "ingress", None),
    ("NP001", "Namespace/payments", "ingress", None),
    ("NP002", "Namespace/kube-system", "egress", None),
    ("NP002", "Namespace/payments", "egress", None),
    # empty namespaceSelectors, intended (DNS for all; scraping on "metrics" only)
    ("NP011", "NetworkPolicy/kube-system/coredns", "ingress", 0),
    ("NP011", "NetworkPolicy/monitoring/prometheus", "egress", 0),
    # 4. namespaceSelector alone, on every port
    ("NP012", "NetworkPolicy/shop-backend/allow-monitoring", "ingress", 0),
    ("NP014", "NetworkPolicy/shop-backend/allow-monitoring", "ingress", 0),
    # the controller's 0.0.0.0/0 also holds the pod CIDRs
    ("NP013", "NetworkPolicy/ingress-nginx/ingress-nginx-controller", "ingress", 0),
    ("NP023", "NetworkPolicy/ingress-nginx/ingress-nginx-controller", "ingress", 0),
    # 5. namespaceSelector on "name"
    ("NP030", "NetworkPolicy/shop-backend/orders-to-payments", "egress", 0),
    # 9. endPort 9100-9199
    ("NP015", "NetworkPolicy/monitoring/prometheus", "egress", 1),
    # hostNetwork DaemonSets
    ("NP037", "DaemonSet/kube-system/calico-node", None, None),
    ("NP037", "DaemonSet/kube-system/kube-proxy", None, None),
    ("NP037", "DaemonSet/monitoring/node-exporter", None, None),
    # postgres, the crown jewel: batch is open to every address and its backup job may
    # open postgres, so the internet is two connections away
    ("NP050", "StatefulSet/shop-db/postgres", None, None),
}


@pytest.fixture(scope="module")
def demo():
    model = load_paths([DEMO], warn=lambda m: pytest.fail(f"warning: {m}"))
    return model, audit(model)


def test_pinned_findings(demo):
    _, report = demo
    found = [
        (f.rule, f.objects[0], f.evidence.get("direction"), f.evidence.get("rule"))
        for f in report.findings
    ]
    assert len(found) == len(set(found))
    assert set(found) == EXPECTED


def test_pinned_objects_and_evidence(demo):
    _, report = demo
    by = {(f.rule, f.objects[0]): f for f in report.findings}
    batch = by["NP003", "Namespace/batch"]
    assert (
        "Pod/batch/queue-worker-0" in batch.objects
        and len([o for o in batch.objects if o.startswith("Pod/")]) == 8
    )
    assert batch.workloads == [
        "CronJob/batch/db-backup",
        "CronJob/batch/nightly-report",
        "Deployment/batch/queue-worker",
        "Job/batch/catalog-import",
    ]
    cdn = by["NP020", "NetworkPolicy/shop-frontend/storefront-allow-cdn"]
    assert cdn.evidence["public_cidrs"] == ["203.0.113.0/24"]
    assert cdn.evidence["ports"] == ["TCP/8080"]
    assert cdn.objects == [
        "NetworkPolicy/shop-frontend/storefront-allow-cdn",
        "Deployment/shop-frontend/storefront",
    ]
    name = by["NP030", "NetworkPolicy/shop-backend/orders-to-payments"]
    assert name.evidence["suggested_namespace"] == "payments"
    dns = by["NP032", "NetworkPolicy/payments/payments-api"]
    assert dns.workloads == ["Deployment/payments/payments-api"]
    assert dns.evidence["pods"] == 4
    wide = by["NP015", "NetworkPolicy/monitoring/prometheus"]
    assert wide.evidence["ports"] == ["TCP/9100-9199"]
    assert report.cni["status"] == "enforcing" and report.cni["plugins"] == ["calico"]
    assert all(f.warnings == [] for f in report.findings)


def test_every_probe_agrees_with_reach(demo):
    model, report = demo
    probed = [f for f in report.findings if "probe" in f.evidence]
    assert {f.rule for f in probed} >= {
        "NP001",
        "NP002",
        "NP010",
        "NP011",
        "NP012",
        "NP020",
        "NP022",
        "NP024",
        "NP030",
        "NP032",
    }
    for f in probed:
        check_probe(model, f)


def test_demo_mistakes_through_reach(demo):
    model, _ = demo
    # allow-all: a pod from an unrestricted namespace reaches admin-ui on any port
    v = model.reach("batch/queue-worker-0", "shop-frontend/admin-ui-0", 31337)
    assert v.allowed
    assert [(m.policy, m.rule) for m in v.ingress.allowed_by] == [
        ("shop-frontend/admin-ui-allow-all", 0)
    ]
    # missing DNS: payments-api cannot reach CoreDNS on 53, either protocol
    for proto in ("UDP", "TCP"):
        assert not model.reach(
            "payments/payments-api-0", "kube-system/coredns-0", 53, proto
        ).allowed
    # the "name" label: orders cannot reach payments-api on grpc
    v = model.reach("shop-backend/orders-0", "payments/payments-api-0", 9000)
    assert not v.allowed and not v.egress.allowed


def test_demo_scores_and_compliance(demo):
    _, report = demo
    assert report.score["namespaces"] == {
        "batch": 0,
        "ingress-nginx": 55,
        "kube-system": 23,
        "monitoring": 90,
        "payments": 36,
        "shop-backend": 45,
        "shop-db": 80,  # NP050: fully isolated, yet two connections from the internet
        "shop-frontend": 62,
    }
    assert report.score["cluster"] == 45
    # fully covered, passes CIS 5.3.2, and says what its 38 points went to
    assert report.score["details"]["shop-frontend"]["reason"] == (
        "100% covered and passes CIS 5.3.2; score 62, 38 points lost, 21.9 of them to Pods "
        "reachable from public addresses through an ipBlock (NP020) and 1 other cause: fix "
        "that first."
    )
    [no_policy] = report.score["details"]["batch"]["drivers"]
    assert (no_policy["rule"], no_policy["points"]) == ("NP003", 100.0)
    status = {(c["namespace"], c["control"]): c["status"] for c in report.compliance}
    assert status["shop-db", "NSA/CISA default deny"] == "pass"
    assert status["shop-frontend", "CIS 5.3.2"] == "pass"
    assert status["shop-frontend", "NSA/CISA default deny"] == "fail"
    assert status["batch", "CIS 5.3.2"] == "fail"
    [nsa] = [
        c
        for c in report.compliance
        if c["namespace"] == "shop-frontend" and c["control"].startswith("NSA")
    ]
    assert "2 pods still ingress-open through admin-ui-allow-all" in nsa["evidence"]


def test_the_internet_two_connections_from_the_crown_jewel(demo):
    model, report = demo
    [jewel] = [f for f in report.findings if f.rule == "NP050"]
    assert jewel.message == (
        "The internet reaches crown jewel shop-db/StatefulSet/postgres in 2 connections: "
        "the internet → batch/CronJob/db-backup (TCP/1) → shop-db/StatefulSet/postgres (TCP/5432)."
    )
    assert jewel.workloads == ["StatefulSet/shop-db/postgres"]
    # Each hop is allowed, as reach says, by the rules the finding names.
    for hop in jewel.evidence["path"][1:]:
        assert model.reach(hop["from_pod"], hop["to_pod"], hop["port"], hop["protocol"]).allowed
    [ingress] = [r for r in jewel.evidence["path"][1]["rules"] if r["direction"] == "ingress"]
    assert ingress["policy"].startswith("shop-db/")
    # Without crown jewels there is no such finding.
    from netpol.findings import audit

    assert not [f for f in audit(model, crown_jewels="").findings if f.rule == "NP050"]
