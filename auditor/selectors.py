"""Reads: what is current, findings and waivers, and what changed between snapshots.

Selectors never write and never import services; the engine's model of a stored
snapshot comes from ``storage``."""

from __future__ import annotations

from django.db.models import Case, Exists, IntegerField, OuterRef, Value, When
from django.utils import timezone

from .models import SEVERITY_ORDER, Analysis, Cluster, Finding, NetworkPolicy, Snapshot, Waiver


def latest_snapshot(cluster: Cluster) -> Snapshot | None:
    """The current snapshot: the newest complete one. Failed or running never count."""
    return (
        Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.COMPLETE)
        .order_by("-finished_at", "-id")
        .first()
    )


def active_snapshot(cluster: Cluster) -> Snapshot | None:
    return Snapshot.objects.filter(cluster=cluster, status__in=Snapshot.ACTIVE).first()


def active_waivers(cluster: Cluster, at=None) -> dict[str, Waiver]:
    """The waivers in force now (or at ``at``), by the fingerprint they accept."""
    at = at or timezone.now()
    waivers = Waiver.objects.filter(cluster=cluster, revoked_at__isnull=True, expires_at__gt=at).order_by("created_at")
    return {w.fingerprint: w for w in waivers}


def findings_of(snapshot: Snapshot):
    """The snapshot's findings, most severe first, each annotated with ``waived``."""
    in_force = Waiver.objects.filter(
        cluster_id=snapshot.cluster_id, fingerprint=OuterRef("fingerprint"), revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    rank = Case(*[When(severity=s, then=Value(r)) for s, r in SEVERITY_ORDER.items()], output_field=IntegerField())
    return (
        Finding.objects.filter(snapshot=snapshot)
        .annotate(waived=Exists(in_force), severity_rank=rank)
        .order_by("severity_rank", "rule", "namespace", "id")
    )


def previous_complete(snapshot: Snapshot) -> Snapshot | None:
    return (
        Snapshot.objects.filter(cluster_id=snapshot.cluster_id, status=Snapshot.Status.COMPLETE,
                                finished_at__lt=snapshot.finished_at)
        .order_by("-finished_at", "-id")
        .first()
    )


DIFF_CAP = 200


def snapshot_diff(old: Snapshot, new: Snapshot, *, cap: int = DIFF_CAP) -> dict:
    """What changed from ``old`` to ``new``: findings, coverage, policies, exposed and uncovered.

    The set differences run in the database, so two 50,000-pod snapshots compare without
    loading their findings or policies; each list holds at most ``cap`` items next to
    its full count.
    """
    def findings_only_in(a: Snapshot, b: Snapshot):
        in_b = Finding.objects.filter(snapshot=b).values("fingerprint")
        return findings_of(a).exclude(fingerprint__in=in_b)

    def policies(snapshot: Snapshot):
        return NetworkPolicy.objects.filter(snapshot=snapshot).order_by("namespace", "name")

    def same_name_in(snapshot: Snapshot):
        return NetworkPolicy.objects.filter(snapshot=snapshot, namespace=OuterRef("namespace"), name=OuterRef("name"))

    new_findings = findings_only_in(new, old)
    resolved_findings = findings_only_in(old, new)
    added = policies(new).exclude(Exists(same_name_in(old)))
    removed = policies(old).exclude(Exists(same_name_in(new)))
    changed = policies(new).filter(Exists(same_name_in(old))).exclude(Exists(same_name_in(old).filter(spec=OuterRef("spec"))))
    old_report, new_report = _report(old), _report(new)
    return {
        "old": old,
        "new": new,
        "cap": cap,
        "new_findings": _capped(new_findings, cap),
        "resolved_findings": _capped(resolved_findings, cap),
        "coverage": _coverage_delta(old_report.get("coverage") or {}, new_report.get("coverage") or {}),
        "score": (_score(old), _score(new)),
        "policies_added": _capped(added, cap, key=_policy_key),
        "policies_removed": _capped(removed, cap, key=_policy_key),
        "policies_changed": _capped(changed, cap, key=_policy_key),
        # A workload is newly uncovered or exposed when a finding saying so is new.
        "pods_newly_exposed": _workloads_of(new_findings.filter(rule__in=EXPOSURE_RULES), cap),
        "pods_newly_uncovered": _workloads_of(new_findings.filter(rule__in=COVERAGE_RULES), cap),
    }


def _capped(queryset, cap: int, key=None) -> dict:
    rows = list(queryset[:cap])
    return {"items": [key(r) for r in rows] if key else rows, "count": queryset.count()}


def _policy_key(policy) -> str:
    return f"{policy.namespace}/{policy.name}"


def _score(snapshot: Snapshot):
    return Analysis.objects.filter(snapshot=snapshot).values_list("score", flat=True).first()


def _report(snapshot: Snapshot) -> dict:
    analysis = Analysis.objects.filter(snapshot=snapshot, status=Analysis.Status.COMPLETE).first()
    return analysis.report if analysis else {}


COVERAGE_MEASURES = [
    ("Running pods", ("pods",)),
    ("Pods isolated for ingress", ("ingress", "pods")),
    ("Pods isolated for egress", ("egress", "pods")),
    ("Workloads", ("workloads",)),
    ("Workloads isolated for ingress", ("ingress", "workloads")),
    ("Workloads isolated for egress", ("egress", "workloads")),
    ("hostNetwork pods (policy behaviour undefined)", ("host_network_pods",)),
]


def _coverage_delta(old: dict, new: dict) -> dict:
    """Cluster-wide coverage counts before and after, by readable measure."""
    def pick(counts: dict, path: tuple):
        for key in path:
            counts = counts.get(key) if isinstance(counts, dict) else None
        return counts if isinstance(counts, int | float) else None

    old_cluster, new_cluster = old.get("cluster") or {}, new.get("cluster") or {}
    delta = {}
    for label, path in COVERAGE_MEASURES:
        before, after = pick(old_cluster, path), pick(new_cluster, path)
        if before is not None and after is not None:
            delta[label] = {"old": before, "new": after, "change": after - before}
    return delta


# The findings that say a workload is uncovered or exposed: their objects are the answer,
# so "newly uncovered" means the same here as on the findings page.
COVERAGE_RULES = {"NP001", "NP002", "NP003"}
EXPOSURE_RULES = {"NP020", "NP021", "NP022", "NP024"}


def _workloads_of(findings, cap: int) -> dict:
    refs = sorted({
        ref for refs in findings.values_list("object_refs", flat=True)[:cap] for ref in refs
        if not ref.startswith(("NetworkPolicy/", "Namespace/"))
    })
    return {"items": refs[:cap], "count": len(refs)}
