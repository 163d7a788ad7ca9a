"""Reports name policies of every kind (issue 13): on tests/fixtures/cli/calico.yaml, the
snapshot line counts Calico's objects and staged policies beside the NetworkPolicies,
and compliance evidence names a Calico default deny by its kind, not by the engine's
key (``calico/monitoring/prom-egress``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from auditor.reports.ondemand import content_of, snapshot_report

from ..test_pages_objects import _snapshot

CALICO = Path(__file__).resolve().parent.parent / "fixtures" / "cli" / "calico.yaml"


def _calico(tmp_path):
    shutil.copy(CALICO, tmp_path)
    return _snapshot(tmp_path, "calico")


def test_the_snapshot_line_counts_every_kind(db, tmp_path):
    # One Kubernetes NetworkPolicy; Calico's Tier, GlobalNetworkPolicy, two
    # NetworkPolicies and GlobalNetworkSet; one StagedGlobalNetworkPolicy.
    content = content_of(_calico(tmp_path))
    assert content["snapshot"]["policies_text"] == (
        "1 NetworkPolicy, 5 Calico objects (policies, tiers, network sets), "
        "1 Calico staged policy (never enforced)"
    )
    assert content["snapshot"]["policies"] == 1  # the key kept for scripts


def test_html_and_csv_name_calico_policies_by_their_kind(db, tmp_path):
    snapshot = _calico(tmp_path)
    html = snapshot_report(snapshot, "html").body.decode()
    assert "3 namespaces, 4 pods, 1 NetworkPolicy, 5 Calico objects" in html
    # monitoring's egress default deny is the Calico NetworkPolicy prom-egress
    # (it selects every pod of monitoring, types Egress: the default tier's end denies).
    assert "default-deny egress present (Calico NetworkPolicy monitoring/prom-egress)" in html
    assert "calico/monitoring" not in html
    csv = snapshot_report(snapshot, "csv").body.decode()
    assert "calico/monitoring" not in csv
