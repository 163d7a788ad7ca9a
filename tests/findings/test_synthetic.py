"""The synthetic cluster (bench/synthetic.py): every probe agrees with reach, and the
audit stays fast. Figures: docs/benchmarks.md."""

from __future__ import annotations

import time

from bench.synthetic import generate_cluster
from netpol.engine import ClusterModel
from netpol.findings import audit
from tests.findings.helpers import check_probe


def test_5000_pods_probes_agree_and_audit_is_fast():
    c = generate_cluster(pods=5000, namespaces=200, policies=1000, seed=0)
    model = ClusterModel.from_objects(
        c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"]
    )
    start = time.perf_counter()
    report = audit(model)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"audit took {elapsed:.1f}s on 5,000 pods (about 0.6 s expected)"
    probed = [f for f in report.findings if "probe" in f.evidence]
    assert len(probed) > 500
    for f in probed:
        check_probe(model, f)
    # Aggregated per workload/rule: far fewer findings than pods.
    assert len(report.findings) < 5000
    assert len({f.fingerprint for f in report.findings}) == len(report.findings)
