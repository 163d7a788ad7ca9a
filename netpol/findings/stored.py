"""The stored analysis, read back: ``AuditReport.to_dict()`` less its findings, typed.

The Django side keeps that dict in ``Analysis.report``; pages, reports, metrics and the
API read it only through ``StoredReport.from_dict`` (or, for a part the database picked
out, ``CoverageCounts.from_dict``). A renamed or missing key raises ``ReportFormatError``
naming it, instead of blanking a page. Pure Python, no Django.

    report = StoredReport.from_dict(analysis.report)
    report.coverage.cluster.percent        # coverage_percent of the cluster
    report.coverage.namespaces["shop"].counts.ingress.pods
    report.score.namespaces["shop"], report.cni.warning, report.compliance_passed
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from . import headline
from .coverage import coverage_percent

# Where the cluster-wide counts sit, for a reader that asks the database for that part
# alone (the whole report is megabytes at 50,000 pods).
CLUSTER_COUNTS_PATH = ("coverage", "cluster")


class ReportFormatError(ValueError):
    """The stored report lacks a key, or holds the wrong type under it; names the key."""


def _field(
    data: dict, key: str, path: str, kind: type | tuple[type, ...], *, optional: bool = False
):
    """``data[key]`` checked against ``kind`` (or None when ``optional``)."""
    where = f"{path}.{key}" if path else key
    if not isinstance(data, dict):
        raise ReportFormatError(f"stored analysis report: '{path or 'report'}' is not an object")
    if key not in data:
        raise ReportFormatError(f"stored analysis report has no '{where}'")
    value = data[key]
    if value is None and optional:
        return None
    # bool is an int, but never a count.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise ReportFormatError(
            f"stored analysis report: '{where}' is {type(value).__name__}, not {_names(kind)}"
        )
    return value


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


_NUMBER = (int, float)


def _names_list(data: dict, key: str, path: str) -> tuple[str, ...]:
    return tuple(_field(data, key, path, list))


@dataclass(frozen=True, slots=True)
class DirectionCounts:
    """Running pods and workloads isolated for one direction, and their shares (0-1)."""

    direction: str  # "ingress" or "egress"
    pods: int
    pod_ratio: float | None
    workloads: int
    workload_ratio: float | None

    @classmethod
    def from_dict(cls, data: dict, path: str, direction: str) -> DirectionCounts:
        return cls(
            direction=direction,
            pods=_field(data, "pods", path, int),
            pod_ratio=_field(data, "pod_ratio", path, _NUMBER, optional=True),
            workloads=_field(data, "workloads", path, int),
            workload_ratio=_field(data, "workload_ratio", path, _NUMBER, optional=True),
        )


@dataclass(frozen=True, slots=True)
class CoverageCounts:
    """``coverage.Counts.to_dict()``: of the cluster, or of one namespace."""

    pods: int
    workloads: int
    ingress: DirectionCounts
    egress: DirectionCounts
    host_network_pods: int
    no_traffic_pods: int

    @classmethod
    def from_dict(cls, data: dict, path: str = ".".join(CLUSTER_COUNTS_PATH)) -> CoverageCounts:
        return cls(
            pods=_field(data, "pods", path, int),
            workloads=_field(data, "workloads", path, int),
            ingress=DirectionCounts.from_dict(
                _field(data, "ingress", path, dict), f"{path}.ingress", "ingress"
            ),
            egress=DirectionCounts.from_dict(
                _field(data, "egress", path, dict), f"{path}.egress", "egress"
            ),
            host_network_pods=_field(data, "host_network_pods", path, int),
            no_traffic_pods=_field(data, "no_traffic_pods", path, int),
        )

    @property
    def percent(self) -> float | None:
        """Isolated (pod, direction) pairs as a percentage: the score's coverage."""
        return coverage_percent(self.pods, self.ingress.pods, self.egress.pods)


def cluster_counts(data: dict) -> CoverageCounts:
    """The cluster-wide counts of a whole stored report, leaving its namespaces unread."""
    coverage = _field(data, "coverage", "", dict)
    return CoverageCounts.from_dict(_field(coverage, "cluster", "coverage", dict))


@dataclass(frozen=True, slots=True)
class NamespaceCoverage:
    name: str
    counts: CoverageCounts
    policies: int
    default_deny_ingress: tuple[str, ...]
    default_deny_egress: tuple[str, ...]

    @classmethod
    def from_dict(cls, name: str, data: dict, path: str) -> NamespaceCoverage:
        deny = _field(data, "default_deny", path, dict)
        return cls(
            name=name,
            counts=CoverageCounts.from_dict(data, path),
            policies=_field(data, "policies", path, int),
            default_deny_ingress=_names_list(deny, "ingress", f"{path}.default_deny"),
            default_deny_egress=_names_list(deny, "egress", f"{path}.default_deny"),
        )


@dataclass(frozen=True, slots=True)
class StoredCoverage:
    cluster: CoverageCounts
    namespaces: dict[str, NamespaceCoverage]
    without_default_deny_ingress: tuple[str, ...]
    without_default_deny_egress: tuple[str, ...]
    without_policy: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict, path: str = "coverage") -> StoredCoverage:
        namespaces = _field(data, "namespaces", path, dict)
        without = _field(data, "without_default_deny", path, dict)
        return cls(
            cluster=CoverageCounts.from_dict(
                _field(data, "cluster", path, dict), f"{path}.cluster"
            ),
            namespaces={
                name: NamespaceCoverage.from_dict(
                    name,
                    _field(namespaces, name, f"{path}.namespaces", dict),
                    f"{path}.namespaces.{name}",
                )
                for name in namespaces
            },
            without_default_deny_ingress=_names_list(
                without, "ingress", f"{path}.without_default_deny"
            ),
            without_default_deny_egress=_names_list(
                without, "egress", f"{path}.without_default_deny"
            ),
            without_policy=_names_list(data, "without_policy", path),
        )


@dataclass(frozen=True, slots=True)
class NamespaceScore:
    """One namespace's score and why (``headline.compute``); drivers described from the
    catalogue, most points first."""

    name: str
    score: int
    pods: int
    coverage: float
    penalty: float
    points: dict  # {"coverage": points lost to open pods, "causes": to the causes}
    drivers: tuple[dict, ...]
    reason: str

    @property
    def fix_first(self) -> list[dict]:
        return headline.fix_first(list(self.drivers), self.name)


@dataclass(frozen=True, slots=True)
class StoredScore:
    cluster: int | None
    namespaces: dict[str, int | None]  # None: a namespace without running pods
    details: dict[str, dict]
    formula: str
    enforced: bool
    # What drives the score (``headline.compute``). Analyses stored before the drivers were
    # kept have none and an empty reason; pages then show the score alone.
    reason: str = ""
    drivers: tuple[dict, ...] = ()
    by_rule: tuple[dict, ...] = ()
    fix_first: tuple[dict, ...] = ()

    @classmethod
    def from_dict(cls, data: dict, path: str = "score") -> StoredScore:
        explained = "reason" in data
        return cls(
            cluster=_field(data, "cluster", path, _NUMBER, optional=True),
            namespaces=dict(_field(data, "namespaces", path, dict)),
            details=dict(_field(data, "details", path, dict)),
            formula=_field(data, "formula", path, str),
            enforced=_field(data, "enforced", path, bool),
            reason=_field(data, "reason", path, str) if explained else "",
            drivers=tuple(_field(data, "drivers", path, list)) if explained else (),
            by_rule=tuple(_field(data, "by_rule", path, list)) if explained else (),
            fix_first=tuple(_field(data, "fix_first", path, list)) if explained else (),
        )

    def namespace(self, name: str) -> NamespaceScore | None:
        """The namespace's score and why; None without running pods (or not analysed)."""
        value = self.namespaces.get(name)
        detail = self.details.get(name)
        if value is None or detail is None:
            return None
        path = f"score.details.{name}"
        explained = "reason" in detail
        return NamespaceScore(
            name=name,
            score=value,
            pods=_field(detail, "pods", path, int),
            coverage=_field(detail, "coverage", path, _NUMBER),
            penalty=_field(detail, "penalty", path, _NUMBER),
            points=_field(detail, "points", path, dict) if explained else {},
            drivers=tuple(
                headline.describe(d, name)
                for d in (_field(detail, "drivers", path, list) if explained else ())
            ),
            reason=_field(detail, "reason", path, str) if explained else "",
        )


@dataclass(frozen=True, slots=True)
class ComplianceResult:
    control: str
    namespace: str
    status: str  # "pass" or "fail"
    evidence: str

    @classmethod
    def from_dict(cls, data: dict, path: str) -> ComplianceResult:
        return cls(**{f.name: _field(data, f.name, path, str) for f in fields(cls)})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True, slots=True)
class StoredCni:
    status: str  # "enforcing", "not enforcing" or "unknown"
    plugins: tuple[str, ...]
    evidence: dict[str, list[str]]
    warning: str  # "" unless the plugin does not enforce NetworkPolicy

    @classmethod
    def from_dict(cls, data: dict, path: str = "cni") -> StoredCni:
        return cls(
            status=_field(data, "status", path, str),
            plugins=_names_list(data, "plugins", path),
            evidence=dict(_field(data, "evidence", path, dict)),
            warning=_field(data, "warning", path, str),
        )


@dataclass(frozen=True, slots=True)
class StoredReport:
    coverage: StoredCoverage
    score: StoredScore
    compliance: tuple[ComplianceResult, ...]
    cni: StoredCni
    counts: dict[str, int]  # findings by severity
    errors: tuple[dict, ...]

    @classmethod
    def from_dict(cls, data: dict) -> StoredReport:
        if not isinstance(data, dict):
            raise ReportFormatError(f"stored analysis report is {type(data).__name__}, not dict")
        return cls(
            coverage=StoredCoverage.from_dict(_field(data, "coverage", "", dict)),
            score=StoredScore.from_dict(_field(data, "score", "", dict)),
            compliance=tuple(
                ComplianceResult.from_dict(item, f"compliance[{i}]")
                for i, item in enumerate(_field(data, "compliance", "", list))
            ),
            cni=StoredCni.from_dict(_field(data, "cni", "", dict)),
            counts=dict(_field(data, "counts", "", dict)),
            errors=tuple(_field(data, "errors", "", list)),
        )

    @property
    def compliance_passed(self) -> int:
        return sum(c.passed for c in self.compliance)
