"""Which team a namespace belongs to: the one home of that answer.

A namespace's team is the one an explicit mapping names (set per cluster in the admin),
else the value of a label (``team`` unless the cluster names another), else none.
Namespaces with no team are a team of their own for filtering ("no team"), never hidden.
The graph's namespace groups start from the same answer (``netpol/graph/groups.py``), so
a group called ``team=payments`` holds exactly the namespaces the ``payments`` filter does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

DEFAULT_LABEL = "team"
# The filter value for namespaces with no team: no team name (nor label value) is "-".
NO_TEAM = "-"
NO_TEAM_LABEL = "no team"


@dataclass(frozen=True)
class TeamRule:
    """How a cluster assigns namespaces to teams. Frozen, so it keys caches."""

    label: str = DEFAULT_LABEL
    # (namespace, team) pairs, sorted: the mapping wins over the label.
    mapping: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, label: str | None, mapping: Iterable[tuple[str, str]] = ()) -> TeamRule:
        return cls(
            label=(label or "").strip(),
            mapping=tuple(sorted((n, t) for n, t in mapping if n and t)),
        )

    def team_of(self, name: str, labels: Mapping[str, str] | None) -> str:
        """The namespace's team, or "" when it has none."""
        mapped = self._mapped.get(name)
        if mapped:
            return mapped
        if self.label and labels:
            return str(labels.get(self.label) or "")
        return ""

    def source_of(self, name: str, labels: Mapping[str, str] | None) -> str:
        """Why: "mapping", "label" or "" (no team), for pages that explain an assignment."""
        if name in self._mapped:
            return "mapping"
        return "label" if self.team_of(name, labels) else ""

    def assign(self, namespaces: Mapping[str, Mapping[str, str] | None]) -> dict[str, str]:
        """``{namespace: team or ""}`` for ``{namespace: labels}``."""
        return {name: self.team_of(name, labels) for name, labels in namespaces.items()}

    @cached_property
    def _mapped(self) -> dict[str, str]:
        return dict(self.mapping)


DEFAULT_RULE = TeamRule()


def members(assigned: Mapping[str, str], team: str) -> frozenset[str]:
    """The namespaces of ``team`` (``NO_TEAM``: those without one) in an ``assign`` result."""
    wanted = "" if team == NO_TEAM else team
    return frozenset(name for name, t in assigned.items() if t == wanted)


def team_names(assigned: Mapping[str, str]) -> list[str]:
    """Every team named, sorted; ``NO_TEAM`` last when some namespace has none."""
    names = sorted({t for t in assigned.values() if t})
    if any(not t for t in assigned.values()):
        names.append(NO_TEAM)
    return names


def describe(team: str) -> str:
    """How a page names the filter: "team payments" or "no team"."""
    return NO_TEAM_LABEL if team == NO_TEAM else f"team {team}"
