"""Reads: what is current, findings and waivers, and what changed between snapshots.

Selectors never write and never import services; the engine's model of a stored
snapshot comes from ``storage``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone

from netpol.cache import LRU
from netpol.collect.normalize import PodRecord
from netpol.diff import coverage_delta, findings_delta, policies_delta
from netpol.enforcement import AUTO, FILTERED_KINDS, PLUGIN_NAMESPACES, decide
from netpol.findings.catalogue import CIS_532, SEVERITY_RANK
from netpol.findings.coverage import coverage_percent
from netpol.findings.stored import CLUSTER_COUNTS_PATH, CoverageCounts, StoredReport
from netpol.teams import TeamRule, describe, team_names
from netpol.teams import members as team_members

from .models import (
    Analysis,
    Cluster,
    ClusterPolicy,
    CniObject,
    Finding,
    Namespace,
    NetworkPolicy,
    Pod,
    Snapshot,
    Waiver,
)


def _complete_newest_first(cluster):
    return Snapshot.objects.filter(cluster=cluster, status=Snapshot.Status.COMPLETE).order_by("-finished_at", "-id")


def analysis_of(snapshot: Snapshot) -> Analysis | None:
    """The snapshot's analysis row without its report, which is megabytes at 50,000 pods:
    a page showing the status and score needs only the row (``stored_report`` reads it)."""
    return Analysis.objects.defer("report").filter(snapshot=snapshot).first()


# Each report read at 50,000 pods costs 0.2 s of decoding; a complete analysis never
# changes (analysing again gives it a new finish time), so a few are kept per process.
_REPORTS = LRU(2)


def stored_report(analysis: Analysis | None) -> StoredReport | None:
    """The complete analysis's report, typed; None while it is pending or failed."""
    if analysis is None or analysis.status != Analysis.Status.COMPLETE:
        return None
    return _REPORTS.get(
        (analysis.pk, analysis.finished_at),
        lambda: StoredReport.from_dict(
            Analysis.objects.values_list("report", flat=True).get(pk=analysis.pk)
        ),
    )


def forget_reports() -> None:
    """Drop the kept reports and team assignments (tests that rebuild a snapshot under the
    same id, benchmarks)."""
    _REPORTS.clear()
    _TEAMS.clear()


def latest_snapshot(cluster: Cluster) -> Snapshot | None:
    """The current snapshot: the newest complete one. Failed or running never count."""
    return _complete_newest_first(cluster).first()


def current_snapshot_id(cluster_ref) -> Subquery:
    """``latest_snapshot``'s choice as a subquery (``cluster_ref``: an ``OuterRef``), to
    annotate a list of clusters in one query."""
    return Subquery(_complete_newest_first(cluster_ref).values("pk")[:1])


class SnapshotChoiceError(Exception):
    """Why no complete snapshot answers the request, and the HTTP status that says so."""

    def __init__(self, message: str, status: int = 404, *, wanted: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.wanted = wanted  # the well-formed id that is missing or not complete


class NoCompleteSnapshot(SnapshotChoiceError):
    """The cluster has no complete snapshot yet: pages show their empty state instead."""


def pick_snapshot(cluster: Cluster, wanted: str | int | None, *, parameter: str = "snapshot",
                  purpose: str = "can be shown") -> Snapshot:
    """The complete snapshot a request means: ``wanted`` (an id, as text or a number) or the
    current one when it is empty. Every page and the API choose through here.

    Raises ``SnapshotChoiceError`` (400 for a malformed id, 404 otherwise) whose message
    names ``parameter`` and ends with what only complete snapshots ``purpose``.
    """
    if wanted is None or wanted == "":
        snapshot = latest_snapshot(cluster)
        if snapshot is None:
            raise NoCompleteSnapshot(f"{cluster.name} has no complete snapshot yet.")
        return snapshot
    if isinstance(wanted, str):
        if not (wanted.isascii() and wanted.isdigit()):
            shown = wanted[:20]
            raise SnapshotChoiceError(
                f"'{shown}' is not a snapshot number." if parameter == "snapshot"
                else f"'{parameter}' must be a snapshot number, not '{shown}'.",
                status=400,
            )
        wanted = int(wanted)
    snapshot = Snapshot.objects.filter(cluster=cluster, pk=wanted).first()
    if snapshot is None:
        raise SnapshotChoiceError(f"{cluster.name} has no snapshot #{wanted}.", wanted=wanted)
    if snapshot.status != Snapshot.Status.COMPLETE:
        raise SnapshotChoiceError(
            f"Snapshot #{wanted} is {snapshot.status}; only complete snapshots {purpose}.", wanted=wanted
        )
    return snapshot


def pick_pair(cluster: Cluster, new: str, old: str) -> tuple[Snapshot, Snapshot]:
    """``(old, new)`` to compare: the ids given, or the current snapshot and the one before it."""
    new_snapshot = pick_snapshot(cluster, new, parameter="new", purpose="can be compared")
    if old:
        return pick_snapshot(cluster, old, parameter="old", purpose="can be compared"), new_snapshot
    old_snapshot = previous_complete(new_snapshot)
    if old_snapshot is None:
        raise SnapshotChoiceError(
            f"Snapshot #{new_snapshot.pk} is the first complete one: there is nothing to compare it with yet."
        )
    return old_snapshot, new_snapshot


def active_snapshot(cluster: Cluster) -> Snapshot | None:
    return Snapshot.objects.filter(cluster=cluster, status__in=Snapshot.ACTIVE).first()


def _in_force(cluster_id: int, at=None):
    return Waiver.objects.filter(cluster_id=cluster_id, revoked_at__isnull=True, expires_at__gt=at or timezone.now())


def active_waivers(cluster: Cluster, at=None) -> dict[str, Waiver]:
    """The waivers in force now (or at ``at``), by the fingerprint they accept."""
    return {w.fingerprint: w for w in _in_force(cluster.pk, at).order_by("created_at").select_related("author")}


def _waived_through_aliases(snapshot: Snapshot, at=None) -> list[int]:
    """Ids of the snapshot's findings whose every alias an active waiver names."""
    return sorted(waived_through_aliases([snapshot.pk], at))


def waived_through_aliases(snapshot_ids: list[int], at=None) -> set[int]:
    """Ids of the findings of these snapshots whose every alias an active waiver names.

    A finding that now stands for several per-workload findings (its ``aliases``) is
    waived when each of them was: waivers made before the change keep their meaning.
    Few findings have aliases (one per namespace and rule at most), so they are checked
    here rather than in SQL; two queries whatever the number of snapshots.
    """
    rows = list(
        Finding.objects.filter(snapshot_id__in=snapshot_ids).exclude(aliases=[])
        .values_list("pk", "snapshot__cluster_id", "aliases")
    )
    if not rows:
        return set()
    waived: dict[int, set[str]] = {}
    in_force = Waiver.objects.filter(
        cluster_id__in={cluster for _, cluster, _ in rows}, revoked_at__isnull=True,
        expires_at__gt=at or timezone.now(),
    )
    for cluster_id, fingerprint in in_force.values_list("cluster_id", "fingerprint"):
        waived.setdefault(cluster_id, set()).add(fingerprint)
    return {pk for pk, cluster, aliases in rows if waived.get(cluster, set()).issuperset(aliases)}


def findings_of(snapshot: Snapshot, at=None):
    """The snapshot's findings, most severe first, each annotated with ``waived``: an active
    waiver (now, or at ``at``) names its fingerprint, or active waivers name every one of its
    aliases."""
    in_force = _in_force(snapshot.cluster_id, at).filter(fingerprint=OuterRef("fingerprint"))
    through_aliases = _waived_through_aliases(snapshot, at)
    waived = Exists(in_force)
    if through_aliases:
        waived = ExpressionWrapper(Q(waived) | Q(pk__in=through_aliases), output_field=BooleanField())
    return (
        Finding.objects.filter(snapshot=snapshot)
        .annotate(waived=waived, severity_rank=_SEVERITY_RANK)
        .order_by("severity_rank", "rule", "namespace", "id")
    )


_SEVERITY_RANK = Case(
    *[When(severity=s, then=Value(r)) for s, r in SEVERITY_RANK.items()], output_field=IntegerField()
)


def partly_waived(findings, cluster: Cluster) -> dict[int, dict]:
    """For each open finding with aliases some of which (not all) active waivers name:
    ``{"waived": N, "of": M, "waivers": [Waiver, ...]}`` by finding id, the waivers one
    per author and expiry. The page says "N of M affected workloads were waived before"."""
    findings = [f for f in findings if f.aliases and not getattr(f, "waived", False)]
    if not findings:
        return {}
    wanted = {a for f in findings for a in f.aliases}
    by_fingerprint = {
        w.fingerprint: w
        for w in _in_force(cluster.pk).filter(fingerprint__in=wanted).order_by("created_at").select_related("author")
    }
    partial = {}
    for f in findings:
        waivers = [by_fingerprint[a] for a in f.aliases if a in by_fingerprint]
        if waivers:
            distinct = {(w.author_id, w.expires_at.date()): w for w in waivers}
            partial[f.pk] = {"waived": len(waivers), "of": len(f.aliases), "waivers": list(distinct.values())}
    return partial


class JSONArrayLength(Func):
    """The length of a JSON array column, counted by the database."""

    function = "JSON_ARRAY_LENGTH"
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="JSONB_ARRAY_LENGTH", **extra)


GROUP_KEYS = ("rule", "namespace")
GROUP_SAMPLE = 5


def finding_groups(findings, by: str):
    """``findings`` (a ``findings_of`` queryset, filtered) grouped by ``by`` (rule or
    namespace), as one aggregate query: each group's key, its number of findings and of
    affected workloads, its count per severity, and its worst severity's rank. Most severe
    groups first, then the largest."""
    if by not in GROUP_KEYS:
        raise ValueError(f"Group by {by!r}: use one of {', '.join(GROUP_KEYS)}.")
    per_severity = {f"n_{s}": Count("pk", filter=Q(severity=s)) for s in SEVERITY_RANK}
    return (
        findings.order_by()
        .values(key=F(by))
        .annotate(findings=Count("pk"), workloads=Sum(JSONArrayLength("workloads")), worst=Min("severity_rank"),
                  **per_severity)
        .order_by("worst", "-findings", "key")
    )


def group_samples(findings, by: str, keys: list[str], size: int = GROUP_SAMPLE) -> dict[str, list[Finding]]:
    """The first ``size`` findings of each group in ``keys``, in two queries whatever the
    groups' sizes: the ids, numbered per group by a window function, then those rows
    (numbering whole rows would carry every message and snippet through the sort)."""
    place = Window(RowNumber(), partition_by=[F(by)],
                   order_by=[F("severity_rank").asc(), F("rule").asc(), F("namespace").asc(), F("id").asc()])
    first = (findings.filter(**{f"{by}__in": keys}).annotate(place=place).filter(place__lte=size)
             .values_list("pk", flat=True))
    samples: dict[str, list[Finding]] = {key: [] for key in keys}
    for finding in findings.filter(pk__in=list(first)):
        samples[getattr(finding, by)].append(finding)
    return samples


def previous_complete(snapshot: Snapshot) -> Snapshot | None:
    return (
        Snapshot.objects.filter(cluster_id=snapshot.cluster_id, status=Snapshot.Status.COMPLETE,
                                finished_at__lt=snapshot.finished_at)
        .order_by("-finished_at", "-id")
        .first()
    )


DIFF_CAP = 200


def snapshot_diff(
    old: Snapshot, new: Snapshot, *, cap: int = DIFF_CAP, namespaces: frozenset[str] | None = None
) -> dict:
    """What changed from ``old`` to ``new``: findings, coverage, policies, exposed and uncovered.

    ``netpol.diff`` compares what the database hands over in bulk (fingerprints, policy
    specs, the cluster's coverage counts), so two 50,000-pod snapshots compare without
    building a finding or policy object each; only the rows shown, at most ``cap`` per
    list next to its full count, are fetched whole. ``other_policies_*`` are the policies of
    every other kind (``_other_kinds_delta``). ``namespaces`` (a team's) narrows the
    findings and policies to theirs (cluster-wide policies are kept: they apply to every
    team's pods); coverage and score stay the cluster's.
    """
    old_findings, new_findings = _finding_keys(old), _finding_keys(new)
    if namespaces is not None:
        old_findings = [k for k in old_findings if k[3] in namespaces]
        new_findings = [k for k in new_findings if k[3] in namespaces]
    delta = findings_delta((f[-1] for f in old_findings), (f[-1] for f in new_findings))
    appeared = [f for f in new_findings if f[-1] in delta.new]
    policies = _policies_delta(old, new)
    others = _other_kinds_delta(old, new)
    if namespaces is not None:
        policies = {key: [n for n in names if n.split("/", 1)[0] in namespaces] for key, names in policies.items()}
        # Cluster-wide objects stay: they decide traffic of every team's pods.
        others = {key: [r for r in rows if not r["namespace"] or r["namespace"] in namespaces]
                  for key, rows in others.items()}
    return {
        "old": old,
        "new": new,
        "cap": cap,
        "new_findings": _finding_rows(new, appeared, cap),
        "resolved_findings": _finding_rows(old, [f for f in old_findings if f[-1] in delta.resolved], cap),
        "coverage": _coverage_of_both(old, new),
        "score": (_score(old), _score(new)),
        **{f"policies_{key}": {"items": names[:cap], "count": len(names)} for key, names in policies.items()},
        **{f"other_policies_{key}": {"items": rows[:cap], "count": len(rows)} for key, rows in others.items()},
        # A workload is newly uncovered or exposed when a finding saying so is new.
        "pods_newly_exposed": _workloads_of([f for f in appeared if f[2] in EXPOSURE_RULES], cap),
        "pods_newly_uncovered": _workloads_of([f for f in appeared if f[2] in COVERAGE_RULES], cap),
    }


def _finding_keys(snapshot: Snapshot) -> list[tuple]:
    """``(severity rank, id, rule, namespace, fingerprint)`` of each finding, in ``findings_of`` order."""
    rows = Finding.objects.filter(snapshot=snapshot).values_list("severity", "id", "rule", "namespace", "fingerprint")
    keys = [(SEVERITY_RANK[severity], pk, rule, namespace, fp) for severity, pk, rule, namespace, fp in rows]
    keys.sort(key=lambda k: (k[0], k[2], k[3], k[1]))
    return keys


def _finding_rows(snapshot: Snapshot, keys: list[tuple], cap: int) -> dict:
    shown = findings_of(snapshot).filter(pk__in=[k[1] for k in keys[:cap]])
    return {"items": list(shown), "count": len(keys)}


def _policies_delta(old: Snapshot, new: Snapshot) -> dict[str, list[str]]:
    """``netpol.diff.policies_delta`` of the two snapshots, as ``namespace/name`` sorted by both.

    Only the policies that can differ are handed over: those in one snapshot alone, and
    those whose stored spec the database finds unequal. Decoding every spec would cost
    seconds at 10,000 policies; a spec stored identically is unchanged anyway.
    """
    def keys(snapshot: Snapshot) -> dict[tuple[str, str], int]:
        rows = NetworkPolicy.objects.filter(snapshot=snapshot).values_list("namespace", "name", "pk")
        return {(namespace, name): pk for namespace, name, pk in rows}

    def same_name_in(snapshot: Snapshot):
        return NetworkPolicy.objects.filter(snapshot=snapshot, namespace=OuterRef("namespace"), name=OuterRef("name"))

    def specs(pks) -> dict[str, dict]:
        rows = NetworkPolicy.objects.filter(pk__in=pks).values_list("namespace", "name", "spec")
        return {f"{namespace}/{name}": spec for namespace, name, spec in rows}

    before, after = keys(old), keys(new)
    rewritten = set(
        NetworkPolicy.objects.filter(snapshot=new)
        .filter(Exists(same_name_in(old)))
        .exclude(Exists(same_name_in(old).filter(spec=OuterRef("spec"))))
        .values_list("namespace", "name")
    )
    delta = policies_delta(
        specs([pk for key, pk in before.items() if key not in after or key in rewritten]),
        specs([pk for key, pk in after.items() if key not in before or key in rewritten]),
    )
    return {key: sorted(names, key=lambda n: n.split("/", 1)) for key, names in delta.items()}


# The kinds of CniObject rows that are Calico's (their ``api_version`` is Calico's group);
# Cilium's rows leave ``api_version`` empty.
_CALICO_STAGED = (
    "StagedNetworkPolicy",
    "StagedGlobalNetworkPolicy",
    "StagedKubernetesNetworkPolicy",
)


def _other_kinds_delta(old: Snapshot, new: Snapshot) -> dict[str, list[dict]]:
    """The policies of every kind but NetworkPolicy (ClusterPolicy rows; CniObject rows:
    Cilium's and Calico's policies, tiers, network sets and staged policies) ``added``,
    ``removed`` and ``changed``, as ``_other_row`` describes them, by kind, namespace, name.

    As for NetworkPolicies, the database tells which rows are stored identically in both
    snapshots; only the others present in both are fetched whole and compared as data
    (key order aside), so 10,000 unchanged rows cost two key lists and one query. A Calico
    object read from ``crd.projectcalico.org/v1`` (its name prefixed with its tier) and
    from ``projectcalico.org/v3`` is matched by the name the engine reads."""
    before, after = _other_keys(old), _other_keys(new)
    identical = _stored_identically(old, new)
    candidates = [
        key for key in after.keys() & before.keys() if (key[0], after[key]["pk"]) not in identical
    ]
    contents = _other_contents([before[k] for k in candidates] + [after[k] for k in candidates])
    unused_old, unused_new = _unenforced(old), _unenforced(new)

    def rows(keys, side, unenforced):
        return sorted(
            (_other_row(side[k], unenforced) for k in keys),
            key=lambda r: (r["kind"], r["namespace"], r["name"]),
        )

    return {
        "added": rows(after.keys() - before.keys(), after, unused_new),
        "removed": rows(before.keys() - after.keys(), before, unused_old),
        "changed": rows(
            [
                k
                for k in candidates
                if contents[k[0], before[k]["pk"]] != contents[k[0], after[k]["pk"]]
            ],
            after,
            unused_new,
        ),
    }


def _other_keys(snapshot: Snapshot) -> dict[tuple, dict]:
    """``{(table, kind, namespace, name as the engine reads it): row facts}`` of a snapshot."""
    out = {}
    for pk, kind, name in ClusterPolicy.objects.filter(snapshot=snapshot).values_list(
        "pk", "kind", "name"
    ):
        out["cluster", kind, "", name] = {
            "table": "cluster",
            "pk": pk,
            "kind": kind,
            "calico": False,
            "namespace": "",
            "name": name,
            "stored_name": name,
            "list_form": False,
            "snapshot": snapshot.pk,
        }
    rows = CniObject.objects.filter(snapshot=snapshot).values_list(
        "pk",
        "kind",
        "api_version",
        "namespace",
        "name",
        "spec__tier",
        ExpressionWrapper(Q(spec__isnull=True), output_field=BooleanField()),
    )
    for pk, kind, api_version, namespace, stored, tier, no_spec in rows:
        name = stored
        if api_version == "crd.projectcalico.org/v1" and "." in stored:
            # The storage form prefixes the tier ("security.block"); the engine reads "block"
            # (netpol/engine/calico.py parse_calico_policy).
            prefix, _, rest = stored.partition(".")
            if prefix == (tier or "default"):
                name = rest
        out["cni", kind, namespace, name] = {
            "table": "cni",
            "pk": pk,
            "kind": kind,
            "calico": bool(api_version),
            "namespace": namespace,
            "name": name,
            "stored_name": stored,
            "list_form": bool(no_spec),
            "snapshot": snapshot.pk,
        }
    return out


def _stored_identically(old: Snapshot, new: Snapshot) -> set[tuple[str, int]]:
    """``(table, pk)`` of the new snapshot's rows stored exactly as a row of the old one.

    Cilium's ``spec`` and ``specs`` may each be SQL NULL, which equals nothing: each
    pattern of NULLs is compared on its own."""
    same_cluster = ClusterPolicy.objects.filter(
        snapshot=old, kind=OuterRef("kind"), name=OuterRef("name"), spec=OuterRef("spec")
    )
    out = {
        ("cluster", pk)
        for pk in ClusterPolicy.objects.filter(snapshot=new)
        .filter(Exists(same_cluster))
        .values_list("pk", flat=True)
    }
    same_cni = CniObject.objects.filter(
        snapshot=old,
        kind=OuterRef("kind"),
        api_version=OuterRef("api_version"),
        namespace=OuterRef("namespace"),
        name=OuterRef("name"),
        labels=OuterRef("labels"),
    )
    unchanged = Q()
    for spec_null in (False, True):
        for specs_null in (False, True):
            inner = (
                same_cni.filter(spec__isnull=True)
                if spec_null
                else same_cni.filter(spec=OuterRef("spec"))
            )
            inner = (
                inner.filter(specs__isnull=True)
                if specs_null
                else inner.filter(specs=OuterRef("specs"))
            )
            unchanged |= Q(Q(spec__isnull=spec_null, specs__isnull=specs_null), Exists(inner))
    out |= {
        ("cni", pk)
        for pk in CniObject.objects.filter(snapshot=new)
        .filter(unchanged)
        .values_list("pk", flat=True)
    }
    return out


def _other_contents(facts: list[dict]) -> dict[tuple[str, int], tuple]:
    """What the engine reads of each of these rows, decoded: ``{(table, pk): content}``."""
    out: dict[tuple[str, int], tuple] = {}
    cluster = [f["pk"] for f in facts if f["table"] == "cluster"]
    for pk, spec in ClusterPolicy.objects.filter(pk__in=cluster).values_list("pk", "spec"):
        out["cluster", pk] = (spec,)
    cni = [f["pk"] for f in facts if f["table"] == "cni"]
    for pk, spec, specs, labels in CniObject.objects.filter(pk__in=cni).values_list(
        "pk", "spec", "specs", "labels"
    ):
        out["cni", pk] = (spec, specs, labels)
    return out


def _unenforced(snapshot: Snapshot):
    """``kind key -> True`` when the snapshot's network plugin does not enforce that kind,
    decided as ``storage.build_model`` decides (``netpol.enforcement.split``) from the pods
    of the plugins' namespaces, the only ones detection reads."""
    names = [f.name for f in fields(PodRecord)]
    pods = Pod.objects.filter(snapshot=snapshot, namespace__in=PLUGIN_NAMESPACES).values_list(
        *names
    )
    enforcement = decide(AUTO, [PodRecord(*row).to_api() for row in pods])
    return lambda key: key in FILTERED_KINDS and not enforcement.enforces(key)


def _other_row(facts: dict, unenforced) -> dict:
    """A policy of another kind as the diff page names and links it: ``kind`` ("Calico
    GlobalNetworkPolicy"), ``api_kind`` (its page's URL kind), ``namespace``, ``name``
    (the engine's), ``page_name`` (the name its page is found by: a Cilium object of
    ``specs`` only is read as ``NAME#0``...), ``text``, ``snapshot`` (the snapshot whose
    page to link) and ``enforcement``: "" when enforced, "not enforced" when the
    snapshot's plugin does not read the kind, "staged" for Calico's Staged* policies."""
    kind, namespace, name = facts["kind"], facts["namespace"], facts["name"]
    shown = f"Calico {kind}" if facts["calico"] else kind
    key = f"projectcalico.org/{kind}" if facts["calico"] else kind
    if kind in _CALICO_STAGED:
        enforcement = "staged"
    else:
        enforcement = "not enforced" if unenforced(key) else ""
    return {
        "kind": shown,
        "api_kind": f"Calico{kind}" if facts["calico"] else kind,
        "namespace": namespace,
        "name": name,
        "page_name": f"{name}#0" if facts["list_form"] else name,
        "text": f"{shown} {namespace}/{name}" if namespace else f"{shown} {name}",
        "snapshot": facts["snapshot"],
        "enforcement": enforcement,
    }


def _score(snapshot: Snapshot):
    return Analysis.objects.filter(snapshot=snapshot).values_list("score", flat=True).first()


def _coverage_of_both(old: Snapshot, new: Snapshot) -> dict:
    """``netpol.diff.coverage_delta`` of the cluster counts; empty while an analysis is unfinished."""
    counts = dict(
        Analysis.objects.filter(snapshot__in=[old, new], status=Analysis.Status.COMPLETE)
        .values_list("snapshot_id", "__".join(("report", *CLUSTER_COUNTS_PATH)))
    )
    if len(counts) < len({old.pk, new.pk}):  # a snapshot compared with itself is one row
        return {}
    for value in counts.values():
        CoverageCounts.from_dict(value)  # a renamed key fails here rather than dropping a measure
    return coverage_delta({"cluster": counts[old.pk]}, {"cluster": counts[new.pk]})


# The findings that say a workload is uncovered or exposed: their objects are the answer,
# so "newly uncovered" means the same here as on the findings page.
COVERAGE_RULES = {"NP001", "NP002", "NP003"}
EXPOSURE_RULES = {"NP020", "NP021", "NP022", "NP024"}


def _workloads_of(keys: list[tuple], cap: int) -> dict:
    """The workloads and pods named by the first ``cap`` of these findings."""
    rows = Finding.objects.filter(pk__in=[k[1] for k in keys[:cap]]).values_list("object_refs", flat=True)
    refs = sorted({
        ref for refs in rows for ref in refs if not ref.startswith(("NetworkPolicy/", "Namespace/"))
    })
    return {"items": refs[:cap], "count": len(refs)}


# --- Teams (netpol.teams): which namespaces a ``?team=`` filter keeps ------------------

# Three queries per snapshot and rule (namespace rows, and the namespaces only pods or
# policies name); a review moves between pages of the same snapshot.
_TEAMS = LRU(16)


def namespace_teams(snapshot: Snapshot, rule: TeamRule) -> dict[str, str]:
    """Every namespace of the snapshot (listed, or named only by pods or policies, which
    have no labels) and its team, "" for none."""

    def build() -> dict[str, str]:
        labels = dict(Namespace.objects.filter(snapshot=snapshot).values_list("name", "labels"))
        for model in (Pod, NetworkPolicy):
            for name in model.objects.filter(snapshot=snapshot).values_list("namespace", flat=True).distinct():
                labels.setdefault(name, {})
        return rule.assign(dict(sorted(labels.items())))

    return _TEAMS.get((snapshot.pk, rule), build)


@dataclass(frozen=True)
class TeamChoice:
    """The team a request means: ``team`` "" (the whole cluster), a team's name, or
    ``NO_TEAM``; ``namespaces`` is None for the whole cluster."""

    team: str
    namespaces: frozenset[str] | None
    teams: tuple[str, ...]  # every team of the snapshot, for the selector
    assigned: dict = field(repr=False, compare=False, default_factory=dict)

    @property
    def label(self) -> str:
        return describe(self.team) if self.team else ""

    def filter(self, queryset, field_name: str = "namespace"):
        """``queryset`` narrowed to the team's namespaces (cluster-wide rows belong to no team)."""
        if self.namespaces is None:
            return queryset
        return queryset.filter(**{f"{field_name}__in": sorted(self.namespaces)})

    def keeps(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces


def pick_team(cluster: Cluster, snapshot: Snapshot, wanted: str | None) -> TeamChoice:
    """The ``?team=`` of a request against the snapshot's teams. Raises
    ``SnapshotChoiceError`` (404) naming the teams there are when no namespace has it."""
    assigned = namespace_teams(snapshot, cluster.team_rule())
    teams = tuple(team_names(assigned))
    wanted = (wanted or "").strip()
    if not wanted:
        return TeamChoice("", None, teams, assigned)
    if wanted not in teams:
        known = ", ".join(describe(t) for t in teams[:20]) or "none: no namespace has a team"
        raise SnapshotChoiceError(
            f"Snapshot #{snapshot.pk} of {cluster.name} has no namespace of {describe(wanted[:100])}. Teams: {known}."
        )
    return TeamChoice(wanted, team_members(assigned, wanted), teams, assigned)


def team_figures(snapshot: Snapshot, report: StoredReport | None, namespaces: frozenset[str]) -> dict:
    """A team's own figures: coverage summed over its namespaces, open findings by
    severity, CIS 5.3.2 results and its lowest namespace score."""
    findings = (
        findings_of(snapshot).filter(namespace__in=sorted(namespaces), waived=False)
        .order_by().values("severity").annotate(n=Count("pk"))
    )
    counts = {row["severity"]: row["n"] for row in findings}
    out = {
        "namespaces": len(namespaces),
        "counts": [(s, counts.get(s, 0)) for s in SEVERITY_RANK],
        "findings": sum(counts.values()),
    }
    if report is None:
        return out
    covered = [report.coverage.namespaces[n].counts for n in sorted(namespaces) if n in report.coverage.namespaces]
    pods = sum(c.pods for c in covered)
    ingress = sum(c.ingress.pods for c in covered)
    egress = sum(c.egress.pods for c in covered)
    scores = [(s, n) for n in namespaces if (s := report.score.namespaces.get(n)) is not None]
    cis = [c for c in report.compliance if c.control == CIS_532 and c.namespace in namespaces]
    out.update(
        pods=pods, ingress=ingress, egress=egress, coverage=coverage_percent(pods, ingress, egress),
        lowest=min(scores) if scores else None,
        cis={"passed": sum(c.passed for c in cis), "total": len(cis)},
        without_policy=[n for n in report.coverage.without_policy if n in namespaces],
    )
    return out


def teams_summary(snapshot: Snapshot, report: StoredReport | None, assigned: dict[str, str]) -> list[dict]:
    """One row per team (``NO_TEAM`` last): its namespaces, coverage and open findings by
    severity; one query for the findings of every team."""
    by_namespace: dict[str, dict[str, int]] = {}
    rows = (findings_of(snapshot).filter(waived=False).exclude(namespace="").order_by()
            .values("namespace", "severity").annotate(n=Count("pk")))
    for row in rows:
        by_namespace.setdefault(row["namespace"], {})[row["severity"]] = row["n"]
    summary = []
    for team in team_names(assigned):
        names = sorted(team_members(assigned, team))
        counts = {s: sum(by_namespace.get(n, {}).get(s, 0) for n in names) for s in SEVERITY_RANK}
        row = {"team": team, "label": describe(team), "namespaces": names,
               "counts": list(counts.items()), "findings": sum(counts.values()), "coverage": None, "pods": 0}
        if report is not None:
            covered = [report.coverage.namespaces[n].counts for n in names if n in report.coverage.namespaces]
            row["pods"] = sum(c.pods for c in covered)
            row["coverage"] = coverage_percent(
                row["pods"], sum(c.ingress.pods for c in covered), sum(c.egress.pods for c in covered)
            )
        summary.append(row)
    return summary


def team_namespaces(cluster: Cluster, snapshot: Snapshot, team: str) -> frozenset[str] | None:
    """The namespaces of ``team`` in the snapshot (empty when it has none now), or None for
    no team: what a team's report covers."""
    if not team:
        return None
    return team_members(namespace_teams(snapshot, cluster.team_rule()), team)
