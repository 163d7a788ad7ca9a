"""NP048: a rule no observed flow used in the unused-rule window (issue 14, "a finding per
such rule when the window is long enough"; docs/findings.md), from a replay of flows on
the demo cluster: one flow 40 days before the last, one on the last day."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol import load_paths
from netpol.findings import audit
from netpol.flows import replay

DEMO = Path(__file__).resolve().parents[2] / "auditor" / "demo_cluster"
# storefront → catalog is allowed by shop-frontend/frontend spec.egress[0] and
# shop-backend/backend-api spec.ingress[0]; orders → postgres by two other rules.
FLOWS = """\
time,src_ns,src_pod,dst_ns,dst_pod,dst_ip,port,protocol,verdict
2025-01-01T00:00:00Z,shop-frontend,storefront-0,shop-backend,catalog-0,,8080,TCP,ALLOWED
2025-02-10T00:00:00Z,shop-backend,orders-0,shop-db,postgres-0,,5432,TCP,ALLOWED
"""
OLD_ONLY = {
    ("shop-frontend/frontend", "spec.egress[0]"),
    ("shop-backend/backend-api", "spec.ingress[0]"),
}


@pytest.fixture(scope="module")
def model():
    return load_paths([DEMO])


@pytest.fixture
def flows(tmp_path):
    path = tmp_path / "seen.csv"
    path.write_text(FLOWS)
    return path


def np048(report) -> list:
    return [f for f in report.findings if f.rule == "NP048"]


def test_a_finding_per_rule_unused_in_the_window_ranked_by_what_it_opens(model, flows):
    unused = replay(model, [flows], window=30 * 86400).to_dict()["unused_rules"]
    found = np048(audit(model, unused_rules=unused, unused_window_days=30))
    assert {(f.evidence["policy"], f.evidence["field"]) for f in found} == {
        (r["policy"], r["rule"]) for r in unused
    }
    # Used 40 days before the last flow only: unused in a 30-day window.
    assert OLD_ONLY <= {(f.evidence["policy"], f.evidence["field"]) for f in found}
    used_in_window = ("shop-db/postgres", "spec.ingress[0]")
    assert used_in_window not in {(f.evidence["policy"], f.evidence["field"]) for f in found}
    top = min(found, key=lambda f: f.evidence["rank"])
    assert top.evidence["opens"] == max(f.evidence["opens"] for f in found) == unused[0]["opens"]
    assert f"#1 of {len(unused)} unused rules by what they open" in top.message
    assert "no observed flow used in the last 30 days" in top.message
    assert top.objects[0] == f"NetworkPolicy/{unused[0]['policy']}"
    assert (top.severity, top.category) == ("low", "permissive")


def test_no_window_no_finding_and_the_fingerprint_follows_the_rule(model, flows):
    assert np048(audit(model)) == []
    assert np048(audit(model, unused_rules=[], unused_window_days=30)) == []
    unused = replay(model, [flows], window=30 * 86400).to_dict()["unused_rules"]
    first = {
        f.evidence["field"] + f.evidence["policy"]: f.fingerprint
        for f in np048(audit(model, unused_rules=unused, unused_window_days=30))
    }
    # The window's length is not the rule's identity: a longer window keeps the fingerprints.
    again = {
        f.evidence["field"] + f.evidence["policy"]: f.fingerprint
        for f in np048(audit(model, unused_rules=unused, unused_window_days=45))
    }
    assert first == again and len(set(first.values())) == len(first)
