"""NP040 and NP041: mistakes of the cluster-wide policy tiers, on models built from objects."""

from __future__ import annotations

from netpol.engine import ClusterModel
from netpol.findings import audit
from tests.findings.helpers import SECURE, deny_all, of
from tests.objects import namespace, pod

NS_NAME = "kubernetes.io/metadata.name"
JOB = pod("batch", "job-0", {"app": "job"}, ip="10.244.0.20")


def cnp(name, tier, priority, namespace_name, *, egress=None, ingress=None):
    spec = {
        "tier": tier,
        "priority": priority,
        "subject": {"namespaces": {"matchLabels": {NS_NAME: namespace_name}}},
    }
    if egress is not None:
        spec["egress"] = egress
    if ingress is not None:
        spec["ingress"] = ingress
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def audit_with(objects, cluster_policies):
    kinds = {"Namespace": [], "Pod": [], "Node": [], "NetworkPolicy": [], "Service": []}
    for obj in objects:
        kinds[obj["kind"]].append(obj)
    model = ClusterModel.from_objects(
        namespaces=kinds["Namespace"],
        pods=kinds["Pod"],
        nodes=kinds["Node"],
        policies=kinds["NetworkPolicy"],
        services=kinds["Service"],
        cluster_policies=cluster_policies,
    )
    return audit(model)


DENY_ALL_EGRESS = [{"name": "deny", "action": "Deny", "to": [{"namespaces": {}}]}]
ACCEPT_SHOP = [
    {
        "name": "to-shop",
        "action": "Accept",
        "to": [{"namespaces": {"matchLabels": {NS_NAME: "shop"}}}],
    }
]


def test_two_policies_of_one_tier_and_priority_on_the_same_pods_are_np040():
    objects = [*SECURE, namespace("batch"), JOB]
    report = audit_with(
        objects,
        [
            cnp("isolate-batch", "Admin", 50, "batch", egress=DENY_ALL_EGRESS),
            cnp("batch-to-shop", "Admin", 50, "batch", egress=ACCEPT_SHOP),
        ],
    )
    [finding] = of(report, "NP040")
    assert finding.severity == "medium"
    assert finding.objects == [
        "ClusterNetworkPolicy/batch-to-shop",
        "ClusterNetworkPolicy/isolate-batch",
        "Pod/batch/job-0",
    ]
    assert finding.workloads == ["Pod/batch/job-0"]
    assert "Admin tier priority 50" in finding.message and "order is undefined" in finding.message


def test_distinct_priorities_or_disjoint_subjects_are_no_np040():
    objects = [*SECURE, namespace("batch"), JOB]
    apart = audit_with(
        objects,
        [
            cnp("isolate-batch", "Admin", 50, "batch", egress=DENY_ALL_EGRESS),
            cnp("batch-to-shop", "Admin", 40, "batch", egress=ACCEPT_SHOP),
        ],
    )
    disjoint = audit_with(
        objects,
        [
            cnp("isolate-batch", "Admin", 50, "batch", egress=DENY_ALL_EGRESS),
            cnp("shop-out", "Admin", 50, "shop", egress=DENY_ALL_EGRESS),
        ],
    )
    assert of(apart, "NP040") == [] and of(disjoint, "NP040") == []


PASS_ALL_INGRESS = [{"name": "delegate", "action": "Pass", "from": [{"namespaces": {}}]}]


def test_an_admin_pass_with_nothing_below_is_np041():
    # batch has no NetworkPolicy and no Baseline rule: the Pass decides nothing.
    objects = [*SECURE, namespace("batch"), JOB]
    report = audit_with(objects, [cnp("delegate", "Admin", 10, "batch", ingress=PASS_ALL_INGRESS)])
    [finding] = of(report, "NP041")
    assert finding.objects == ["ClusterNetworkPolicy/delegate", "Pod/batch/job-0"]
    assert "`delegate` passes ingress" in finding.message
    assert finding.evidence["direction"] == "ingress"


def test_a_pass_that_a_networkpolicy_or_a_baseline_decides_is_no_np041():
    # shop's pods are isolated for ingress by its default deny: the Pass hands them to it.
    shop = audit_with(SECURE, [cnp("delegate", "Admin", 10, "shop", ingress=PASS_ALL_INGRESS)])
    assert of(shop, "NP041") == []
    # batch has a Baseline default deny below the Pass.
    objects = [*SECURE, namespace("batch"), JOB]
    baseline = cnp(
        "baseline-deny",
        "Baseline",
        10,
        "batch",
        ingress=[{"name": "deny", "action": "Deny", "from": [{"namespaces": {}}]}],
    )
    decided = audit_with(
        objects, [cnp("delegate", "Admin", 10, "batch", ingress=PASS_ALL_INGRESS), baseline]
    )
    assert of(decided, "NP041") == []
    # Once a NetworkPolicy isolates batch too, still nothing to report.
    isolated = audit_with(
        [*objects, deny_all("batch")],
        [cnp("delegate", "Admin", 10, "batch", ingress=PASS_ALL_INGRESS)],
    )
    assert of(isolated, "NP041") == []


# -- coverage: a cluster-wide default deny covers pods as a NetworkPolicy would ----------

BASELINE_DENY_ALL = cnp(
    "batch-default-deny",
    "Baseline",
    10,
    "batch",
    ingress=[{"name": "deny-in", "action": "Deny", "from": [{"namespaces": {}}]}],
    egress=[{"name": "deny-out", "action": "Deny", "to": [{"namespaces": {}}]}],
)


def test_a_cluster_wide_default_deny_is_not_wide_open():
    objects = [*SECURE, namespace("batch"), JOB]
    bare = audit_with(objects, [])
    assert [f.namespace for f in of(bare, "NP003")] == ["batch"]
    report = audit_with(objects, [BASELINE_DENY_ALL])
    batch = report.coverage.namespaces["batch"].counts
    assert (batch.pods, batch.ingress_pods, batch.egress_pods) == (1, 1, 1)
    assert [f for f in report.findings if f.namespace == "batch"] == []
    assert report.coverage.cluster.ingress_pods == bare.coverage.cluster.ingress_pods + 1


def test_a_cluster_wide_deny_of_one_direction_leaves_the_other_open():
    objects = [*SECURE, namespace("batch"), JOB]
    egress_only = cnp(
        "batch-no-egress", "Admin", 10, "batch", egress=BASELINE_DENY_ALL["spec"]["egress"]
    )
    report = audit_with(objects, [egress_only])
    batch = [f.rule for f in report.findings if f.namespace == "batch"]
    assert batch == ["NP001"]  # ingress still open; not NP003, egress is covered
    [np001] = [f for f in report.findings if f.namespace == "batch"]
    assert np001.workloads == ["Pod/batch/job-0"]


def test_a_narrow_cluster_wide_deny_does_not_cover():
    objects = [*SECURE, namespace("batch"), JOB]
    narrow = cnp(
        "batch-not-to-shop",
        "Admin",
        10,
        "batch",
        egress=[
            {
                "name": "no-shop",
                "action": "Deny",
                "to": [{"namespaces": {"matchLabels": {NS_NAME: "shop"}}}],
            }
        ],
    )
    report = audit_with(objects, [narrow])
    assert [f.namespace for f in of(report, "NP003")] == ["batch"]
