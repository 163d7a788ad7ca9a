"""Coverage: ratios by pod and by workload, default denies, NP001-NP005."""

from __future__ import annotations

from pathlib import Path

from netpol.findings import audit
from netpol.findings.finding import fingerprint
from netpol.load import load_paths
from tests.findings.helpers import (
    DB,
    SECURE,
    WEB,
    check_probe,
    deny_all,
    of,
    owned,
    run,
    without,
)
from tests.objects import namespace, pod, policy


def test_secure_cluster_has_no_finding_and_full_coverage():
    _, report = run(*SECURE)
    assert report.findings == []
    cov = report.to_dict()["coverage"]
    assert cov["cluster"]["pods"] == 4
    assert cov["cluster"]["workloads"] == 4
    for direction in ("ingress", "egress"):
        assert cov["cluster"][direction]["pod_ratio"] == 1.0
        assert cov["cluster"][direction]["workload_ratio"] == 1.0
    assert cov["without_default_deny"] == {"ingress": [], "egress": []}
    assert cov["without_policy"] == []
    assert cov["namespaces"]["shop"]["default_deny"] == {
        "ingress": ["default-deny-all"],
        "egress": ["default-deny-all"],
    }


def test_namespace_without_policy_is_one_np003_listing_every_pod():
    extra = [
        namespace("batch"),
        owned(pod("batch", "job-a-1", {"app": "a"}, ip="10.244.0.40"), "ReplicaSet", "a", "11aa"),
        owned(pod("batch", "job-a-2", {"app": "a"}, ip="10.244.0.41"), "ReplicaSet", "a", "11aa"),
        pod("batch", "loose", {"app": "b"}, ip="10.244.0.42"),
    ]
    m, report = run(*SECURE, *extra)
    [f] = of(report, "NP003")
    assert f.namespace == "batch"
    assert f.objects == [
        "Namespace/batch",
        "Deployment/batch/a",
        "Pod/batch/job-a-1",
        "Pod/batch/job-a-2",
        "Pod/batch/loose",
    ]
    assert "3 running pods" in f.message
    assert "kind: NetworkPolicy" in f.snippet and "namespace: batch" in f.snippet
    # NP003 stands for the per-workload and default-deny findings of that namespace.
    assert not [x for x in report.findings if x.namespace == "batch" and x.rule != "NP003"]
    cov = report.to_dict()["coverage"]
    assert cov["without_policy"] == ["batch"]
    assert cov["namespaces"]["batch"]["ingress"]["pod_ratio"] == 0.0
    assert cov["cluster"]["ingress"]["pods"] == 4 and cov["cluster"]["pods"] == 7
    assert cov["cluster"]["workloads"] == 6
    assert cov["cluster"]["ingress"]["workload_ratio"] == round(4 / 6, 4)


def test_empty_namespace_without_policy_is_not_a_finding_but_is_listed():
    _, report = run(*SECURE, namespace("empty"))
    assert not of(report, "NP003")
    assert report.to_dict()["coverage"]["without_policy"] == ["empty"]


def test_np001_np002_one_per_namespace_and_direction_standing_for_np004_np005():
    objects = without(SECURE, "NetworkPolicy", "default-deny-all", "shop")
    objects = without(objects, "NetworkPolicy", "allow-dns", "shop")
    m, report = run(*objects)
    # web: egress isolated by its own policy, not ingress; db: ingress only.
    [ing] = of(report, "NP001")
    assert ing.objects == ["Namespace/shop", "Deployment/shop/web"]
    assert ing.workloads == ["Deployment/shop/web"]
    assert ing.evidence["direction"] == "ingress"
    assert ing.evidence["workloads"] == [
        {"workload": "Deployment/web", "open_pods": 1, "running_pods": 1}
    ]
    assert "no default-deny ingress policy" in ing.message
    assert "policyTypes:\n  - Ingress" in ing.snippet
    check_probe(m, ing)
    [egress] = of(report, "NP002")
    assert egress.workloads == ["StatefulSet/shop/db"]
    check_probe(m, egress)
    np5 = egress.snippet
    assert "- Egress" in np5 and "port: 53" in np5  # default deny egress comes with DNS
    [dns] = of(report, "NP032")
    assert dns.workloads == ["Deployment/shop/web"]
    # The same cause (no default deny) is not reported twice for a direction.
    assert not of(report, "NP004") and not of(report, "NP005")


def test_np004_np005_when_every_pod_is_isolated_but_new_pods_would_not_be():
    objects = without(SECURE, "NetworkPolicy", "default-deny-all", "shop")
    objects.append(
        policy(
            "shop",
            "all-pods-by-label",
            {
                "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                "policyTypes": ["Ingress", "Egress"],
            },
        )
    )
    _, report = run(*objects)
    assert not of(report, "NP001") and not of(report, "NP002")
    assert [f.objects for f in of(report, "NP004")] == [["Namespace/shop"]]
    assert [f.objects for f in of(report, "NP005")] == [["Namespace/shop"]]
    assert "policyTypes:\n  - Ingress" in of(report, "NP004")[0].snippet


def test_open_workloads_keep_the_fingerprints_of_their_per_workload_findings():
    objects = without(SECURE, "NetworkPolicy", "default-deny-all", "shop")
    objects = without(objects, "NetworkPolicy", "db", "shop")
    _, report = run(*objects)
    [ing] = of(report, "NP001")
    assert ing.workloads == ["Deployment/shop/web", "StatefulSet/shop/db"]
    assert ing.aliases == [
        fingerprint("NP001", {"namespace": "shop", "workload": w, "direction": "ingress"})
        for w in ("Deployment/web", "StatefulSet/db")
    ]
    assert ing.fingerprint == fingerprint("NP001", {"namespace": "shop", "direction": "ingress"})


def test_partial_workload_coverage_counts_the_workload_as_open():
    other = owned(
        pod("shop", "web-7f9c-zzzzz", {"app": "web", "canary": "yes"}, ip="10.244.0.12"),
        "ReplicaSet",
        "web",
        "7f9c",
    )
    objects = without(SECURE, "NetworkPolicy", "default-deny-all", "shop")
    objects.append(deny_all("shop", ["Egress"], name="deny-egress"))
    objects.append(
        policy(
            "shop",
            "canary",
            {"podSelector": {"matchLabels": {"canary": "yes"}}, "policyTypes": ["Ingress"]},
        )
    )
    _, report = run(*objects, other)
    [np001] = of(report, "NP001")
    assert np001.workloads == ["Deployment/shop/web"]
    assert "Deployment/web (1 of 2 pods)" in np001.message
    ns = report.to_dict()["coverage"]["namespaces"]["shop"]
    assert ns["ingress"]["pods"] == 2  # db and the canary pod
    assert ns["ingress"]["workloads"] == 1  # db only: web has an open pod


def test_default_deny_needs_empty_selector_and_no_rules():
    objects = without(SECURE, "NetworkPolicy", "default-deny-all", "shop")
    objects.append(
        policy(
            "shop",
            "not-a-deny",
            {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"]},
        )
    )
    objects.append(
        policy("shop", "open-ns", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})
    )
    _, report = run(*objects)
    assert [f.namespace for f in of(report, "NP004")] == ["shop"]
    assert report.to_dict()["coverage"]["without_default_deny"]["ingress"] == ["shop"]


def test_hostnetwork_and_pending_pods_are_left_out_of_ratios():
    pending = pod("shop", "pending", {"app": "web"}, ip=None, phase="Pending")
    _, report = run(*SECURE, pending)
    c = report.to_dict()["coverage"]["cluster"]
    assert c["pods"] == 4 and c["no_traffic_pods"] == 1
    assert report.findings == []
    assert WEB and DB  # imported for the fixtures' sake


def test_a_namespaced_cilium_policy_is_the_namespaces_policy_and_default_deny():
    """The Cilium demo: `isolate-ledger` selects every pod of ledger (endpointSelector {})
    with ingress rules, so ledger has a policy and a default deny for ingress, as an
    empty podSelector would give; web's policy selects some pods only."""
    root = Path(__file__).resolve().parents[2] / "auditor" / "demo_cluster_cilium"
    report = audit(load_paths([root])).to_dict()
    coverage = report["coverage"]
    assert coverage["without_policy"] == ["kube-system", "sandbox"]
    assert "ledger" not in coverage["without_default_deny"]["ingress"]
    assert "ledger" in coverage["without_default_deny"]["egress"]  # no egress rules
    assert "web" in coverage["without_default_deny"]["ingress"]
    ledger = coverage["namespaces"]["ledger"]
    assert ledger["default_deny"]["ingress"] == ["cilium/ledger/isolate-ledger"]
    rules = {(f["rule"], f["namespace"]) for f in report["findings"]}
    assert ("NP004", "ledger") not in rules and ("NP003", "ledger") not in rules
    assert ("NP002", "ledger") in rules  # its pods may still connect anywhere


CALICO = Path(__file__).resolve().parents[1] / "fixtures" / "cli" / "calico.yaml"

# Added to the Calico fixture: batch's own all() policy in the default tier (which ends
# in Deny), and a GlobalNetworkPolicy of every pod in a tier ending in Pass.
CALICO_MORE = """
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: batch-closed, namespace: batch}
spec:
  selector: all()
  types: [Ingress, Egress]
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: platform}
spec: {order: 50, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: platform.log-all}
spec:
  tier: platform
  selector: all()
  types: [Ingress]
  ingress: [{action: Log}]
"""


def test_calico_policies_count_for_their_namespaces_and_default_deny(tmp_path):
    """docs/semantics-calico.md, "Selecting pods" and "Isolation": a Calico NetworkPolicy
    selects pods of its namespace, a GlobalNetworkPolicy pods of any namespace; a pod a
    policy of a tier ending in Deny selects is isolated (what no rule decides is denied
    at the tier's end), so a policy selecting every pod of a namespace for a direction is
    its default deny for it. The fixture's header says what each policy selects."""
    report = audit(load_paths([CALICO])).to_dict()
    coverage = report["coverage"]
    shop, monitoring = coverage["namespaces"]["shop"], coverage["namespaces"]["monitoring"]
    # shop: its Kubernetes policy, its Calico policy, and the security tier's
    # GlobalNetworkPolicy, whose selector app == 'db' holds shop's db.
    assert shop["policies"] == 3
    assert shop["ingress"]["pods"] == 2 and shop["egress"]["pods"] == 0
    # No policy selects both of shop's pods: no default deny, NP004 says so.
    assert shop["default_deny"] == {"ingress": [], "egress": []}
    # monitoring's prom-egress selects app == 'prometheus', monitoring's one running pod,
    # for Egress in the default tier: the namespace's default deny for egress.
    assert monitoring["policies"] == 1
    assert monitoring["default_deny"] == {
        "ingress": [],
        "egress": ["calico/monitoring/prom-egress"],
    }
    assert coverage["without_policy"] == ["batch"]
    assert coverage["without_default_deny"]["egress"] == ["batch", "shop"]
    rules = {(f["rule"], f["namespace"]) for f in report["findings"]}
    assert ("NP004", "shop") in rules and ("NP005", "monitoring") not in rules
    assert ("NP003", "batch") in rules

    (tmp_path / "calico.yaml").write_text(CALICO.read_text() + CALICO_MORE)
    report = audit(load_paths([tmp_path])).to_dict()
    coverage = report["coverage"]
    batch = coverage["namespaces"]["batch"]
    # batch-closed: all() of batch, both types, default tier: default deny both ways.
    assert batch["default_deny"] == {
        "ingress": ["calico/batch/batch-closed"],
        "egress": ["calico/batch/batch-closed"],
    }
    assert batch["ingress"]["pods"] == batch["egress"]["pods"] == 1
    # log-all selects every pod of every namespace with pods, but its tier ends in Pass:
    # a policy of each (shop 4, monitoring 2, batch 2), nobody's default deny.
    assert [coverage["namespaces"][n]["policies"] for n in ("shop", "monitoring", "batch")] == [
        4,
        2,
        2,
    ]
    denies = [
        key
        for ns in coverage["namespaces"].values()
        for keys in ns["default_deny"].values()
        for key in keys
    ]
    assert denies and not [key for key in denies if "log-all" in key]
    assert coverage["without_policy"] == []
    rules = {(f["rule"], f["namespace"]) for f in report["findings"]}
    assert not {r for r in rules if r[1] == "batch" and r[0] in ("NP001", "NP002", "NP003")}
