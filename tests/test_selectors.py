"""The one snapshot picker and the snapshot diff, read straight from the selectors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auditor.models import Analysis, Cluster, Finding, NetworkPolicy, Snapshot
from auditor.selectors import (
    NoCompleteSnapshot,
    SnapshotChoiceError,
    pick_pair,
    pick_snapshot,
    snapshot_diff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster():
    return Cluster.objects.create(name="picked", source=Cluster.Source.MANIFESTS, manifest_path="x")


def _snapshot(cluster, status=Snapshot.Status.COMPLETE, minutes=0):
    from django.utils import timezone

    return Snapshot.objects.create(
        cluster=cluster, status=status, finished_at=timezone.now() + timedelta(minutes=minutes)
    )


def _problem(cluster, wanted, **kwargs) -> SnapshotChoiceError:
    with pytest.raises(SnapshotChoiceError) as caught:
        pick_snapshot(cluster, wanted, **kwargs)
    return caught.value


def test_the_current_snapshot_or_the_one_asked_for(cluster):
    with pytest.raises(NoCompleteSnapshot, match="picked has no complete snapshot yet."):
        pick_snapshot(cluster, "")
    old, new = _snapshot(cluster), _snapshot(cluster, minutes=1)
    assert pick_snapshot(cluster, None) == new
    assert pick_snapshot(cluster, str(old.pk)) == old
    assert pick_snapshot(cluster, old.pk) == old


def test_each_refusal_says_why_with_its_status(cluster):
    failed = _snapshot(cluster, status=Snapshot.Status.FAILED)
    malformed = _problem(cluster, "12a")
    assert (malformed.status, malformed.message) == (400, "'12a' is not a snapshot number.")
    missing = _problem(cluster, "999999")
    assert (missing.status, missing.message, missing.wanted) == (404, "picked has no snapshot #999999.", 999999)
    incomplete = _problem(cluster, str(failed.pk), purpose="have answers")
    assert (incomplete.status, incomplete.message) == (
        404, f"Snapshot #{failed.pk} is failed; only complete snapshots have answers."
    )
    named = _problem(cluster, "x" * 50, parameter="old")
    assert named.message == f"'old' must be a snapshot number, not '{'x' * 20}'."


def test_the_pair_defaults_to_the_current_and_the_one_before(cluster):
    first = _snapshot(cluster)
    with pytest.raises(SnapshotChoiceError, match=f"#{first.pk} is the first complete one"):
        pick_pair(cluster, "", "")
    second = _snapshot(cluster, minutes=1)
    assert pick_pair(cluster, "", "") == (first, second)
    assert pick_pair(cluster, str(first.pk), str(second.pk)) == (second, first)


def test_diff_counts_findings_and_policies_as_netpol_diff_compares_them(demo_snapshot):
    cluster = demo_snapshot.cluster
    new = _snapshot(cluster, minutes=5)
    Analysis.objects.create(
        snapshot=new, status=Analysis.Status.COMPLETE, report=demo_snapshot.analysis.report,
        score=demo_snapshot.analysis.score,
    )
    findings = list(Finding.objects.filter(snapshot=demo_snapshot).order_by("id"))
    dropped, kept = findings[0], findings[1:]
    Finding.objects.bulk_create(
        [Finding(**{**_fields(f), "snapshot": new}) for f in kept]
        + [Finding(**{**_fields(kept[0]), "snapshot": new, "fingerprint": "brand-new"})]
    )
    policies = list(NetworkPolicy.objects.filter(snapshot=demo_snapshot).order_by("namespace", "name"))
    rewritten = next(p for p in policies if "ingress" not in p.spec)
    policies.remove(rewritten)
    removed, changed, same = policies[0], policies[1], policies[2:]
    NetworkPolicy.objects.bulk_create(
        [NetworkPolicy(snapshot=new, namespace=p.namespace, name=p.name, spec=p.spec) for p in same]
        + [
            NetworkPolicy(snapshot=new, namespace=changed.namespace, name=changed.name,
                          spec={**changed.spec, "podSelector": {"matchLabels": {"app": "other"}}}),
            # Written differently, read the same by the API server: not a change.
            NetworkPolicy(snapshot=new, namespace=rewritten.namespace, name=rewritten.name,
                          spec={**rewritten.spec, "ingress": []}),
            NetworkPolicy(snapshot=new, namespace="zz-new", name="added", spec={"podSelector": {}}),
        ]
    )
    diff = snapshot_diff(demo_snapshot, new, cap=1)
    assert diff["new_findings"]["count"] == 1
    assert [f.fingerprint for f in diff["new_findings"]["items"]] == ["brand-new"]
    assert diff["resolved_findings"]["count"] == 1
    assert [f.fingerprint for f in diff["resolved_findings"]["items"]] == [dropped.fingerprint]
    assert diff["policies_added"] == {"items": ["zz-new/added"], "count": 1}
    assert diff["policies_removed"] == {"items": [f"{removed.namespace}/{removed.name}"], "count": 1}
    assert diff["policies_changed"] == {"items": [f"{changed.namespace}/{changed.name}"], "count": 1}
    assert diff["coverage"]["Running pods"]["change"] == 0
    assert diff["score"] == (demo_snapshot.analysis.score, demo_snapshot.analysis.score)


def _fields(finding: Finding) -> dict:
    keys = ("rule", "severity", "title", "message", "namespace", "object_refs", "evidence", "snippet",
            "warnings", "fingerprint")
    return {key: getattr(finding, key) for key in keys}


def test_a_snapshot_compared_with_itself_changes_nothing(demo_snapshot):
    diff = snapshot_diff(demo_snapshot, demo_snapshot)
    assert diff["coverage"]["Running pods"]["change"] == 0
    assert (diff["new_findings"]["count"], diff["resolved_findings"]["count"]) == (0, 0)
    assert diff["policies_changed"] == {"items": [], "count": 0}


def test_the_report_is_read_once_per_analysis_and_again_after_a_new_analysis(demo_snapshot):
    from django.utils import timezone

    from auditor.selectors import analysis_of, stored_report

    analysis = analysis_of(demo_snapshot)
    assert "report" in analysis.get_deferred_fields()
    first = stored_report(analysis)
    assert first.coverage.cluster.pods > 0
    assert stored_report(analysis_of(demo_snapshot)) is first  # kept, not decoded again

    # Analysing again stores a new report with a new finish time: it is read afresh.
    report = Analysis.objects.get(pk=analysis.pk).report
    report["coverage"]["cluster"]["pods"] += 1
    Analysis.objects.filter(pk=analysis.pk).update(report=report, finished_at=timezone.now())
    again = stored_report(analysis_of(demo_snapshot))
    assert again.coverage.cluster.pods == first.coverage.cluster.pods + 1

    Analysis.objects.filter(pk=analysis.pk).update(status=Analysis.Status.FAILED)
    assert stored_report(analysis_of(demo_snapshot)) is None
