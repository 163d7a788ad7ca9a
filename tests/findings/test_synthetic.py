"""The synthetic cluster (bench/synthetic.py): every probe agrees with reach, and each
finding is one cause. Speed is measured in bench/, figures in docs/benchmarks.md."""

from __future__ import annotations

from collections import Counter

from bench.synthetic import generate_cluster
from netpol.engine import ACTIVE, ClusterModel
from netpol.findings import audit
from netpol.findings.finding import workload_ref
from tests.findings.helpers import check_probe


def test_5000_pods_every_probe_agrees_with_reach():
    c = generate_cluster(pods=5000, namespaces=200, policies=1000, seed=0)
    model = ClusterModel.from_objects(
        c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"]
    )
    report = audit(model)
    probed = [f for f in report.findings if "probe" in f.evidence]
    assert len(probed) > 300
    for f in probed:
        check_probe(model, f)
    # Aggregated per workload/rule: far fewer findings than pods.
    assert len(report.findings) < 5000
    assert len({f.fingerprint for f in report.findings}) == len(report.findings)


def test_5000_pods_kubectl_export_one_finding_per_cause():
    """``kubectl get -o yaml`` shape: no Nodes, no Services. A namespace's missing DNS
    allowance is one finding listing its workloads, not one per workload."""
    from bench.synthetic import kubectl_list
    from netpol.load import load_objects

    items = kubectl_list(5000, 200, 1000)["items"]
    model = load_objects((o["kind"], o) for o in items)
    report = audit(model)
    per_namespace = ("NP001", "NP002", "NP003", "NP004", "NP005", "NP032", "NP033")
    counts = Counter((f.rule, f.namespace) for f in report.findings if f.rule in per_namespace)
    assert counts and max(counts.values()) == 1
    dns = [f for f in report.findings if f.rule == "NP032"]
    assert len(dns) <= 200 and sum(len(f.workloads) for f in dns) > 2 * len(dns)
    assert all(f.workloads and len(f.aliases) == len(f.workloads) for f in dns)
    # A policy rule's finding names every workload the policy selects (plain matching).
    policies = {p.key: p for p in model.policies}
    for f in report.findings:
        if "policy" in f.evidence:
            policy = policies[f.evidence["policy"]]
            expected = {
                workload_ref(p.namespace, p.workload_id)
                for p in model.pods
                if p.state == ACTIVE
                and p.namespace == policy.namespace
                and policy.pod_selector.matches(p.labels)
            }
            assert set(f.workloads) == expected, f.message
    assert report.to_dict()["cluster_ranges"]["source"] == "inferred"
    # A finding caused by a workload (hostNetwork) names it.
    assert all(f.workloads for f in report.findings if f.rule == "NP037")
    for f in report.findings:
        if "probe" in f.evidence:
            check_probe(model, f)
