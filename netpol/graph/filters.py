"""The graph's query parameters: namespace, port and protocol, outside addresses only, team."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..engine import (
    PROTOCOLS,
    PortSet,
)
from ..teams import DEFAULT_RULE, TeamRule, describe, members, team_names

VIEWS = ("", "groups", "all", "matrix")
MAX_EXPANDED = 20


class FilterError(ValueError):
    """A query parameter the graph cannot use; ``status`` is 400 or 404."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Filters:
    namespace: str = ""  # draw this namespace's workloads instead of the namespace graph
    around: str = ""  # namespace graph: this namespace and its direct peers only
    external: bool = False  # only flows from or to addresses outside the cluster
    port: int | None = None
    protocol: str = ""  # with a port: that port's protocol (TCP by default); alone: all its ports
    view: str = ""  # "groups", "all" (every namespace) or "matrix"; "" picks by cluster size
    expand: tuple[str, ...] = ()  # grouped view: the groups drawn open, with their namespaces
    # How the cluster assigns teams (groups are teams first), and the team drawn: its
    # namespaces and those exchanging traffic with them.
    rule: TeamRule = DEFAULT_RULE
    team: str = ""
    team_namespaces: frozenset[str] = frozenset()

    def wanted(self) -> PortSet | None:
        if self.port is not None:
            return PortSet.of(self.protocol or "TCP", self.port)
        if self.protocol:
            return PortSet.of(self.protocol)
        return None

    def query(self) -> dict[str, str]:
        """The filters as query parameters, defaults left out."""
        out = {}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.around:
            out["around"] = self.around
        if self.external:
            out["external"] = "1"
        if self.port is not None:
            out["port"] = str(self.port)
        if self.protocol:
            out["protocol"] = self.protocol
        if self.view:
            out["view"] = self.view
        if self.expand:
            out["expand"] = ",".join(self.expand)
        if self.team:
            out["team"] = self.team
        return out

    def describe(self) -> str:
        parts = [describe(self.team)] if self.team else []
        if self.around:
            parts.append(f"around {self.around}")
        if self.external:
            parts.append("external only")
        if self.port is not None:
            parts.append(f"port {self.protocol or 'TCP'}/{self.port}")
        elif self.protocol:
            parts.append(f"any {self.protocol} port")
        return ", ".join(parts)


def parse_filters(
    params, namespaces, teams: Mapping[str, str] | None = None, rule: TeamRule = DEFAULT_RULE
) -> Filters:
    """The graph's query parameters, checked. ``namespaces``: the snapshot's namespace names;
    ``teams``: each namespace's team as ``rule`` assigns it (``TeamRule.assign``).

    Raises FilterError with a message a person can act on: 400 for a malformed value,
    404 for a namespace the snapshot does not have.
    """
    get = lambda key: (params.get(key) or "").strip()  # noqa: E731
    namespace, around = get("namespace"), get("around")
    if namespace and around:
        raise FilterError(
            "Use either namespace= (one namespace's workloads) or around= (a namespace and its "
            "peers on the namespace graph), not both."
        )
    for value in (namespace, around):
        if value and value not in namespaces:
            raise FilterError(f"This snapshot has no namespace '{value[:100]}'.", status=404)
    external = get("external").lower()
    if external not in ("", "0", "1", "true", "false", "on", "off"):
        raise FilterError(f"external must be 1 or 0, not '{external[:20]}'.")
    port = get("port")
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise FilterError(
            f"port must be a number from 1 to 65535, not '{port[:20]}' (named ports differ per pod: give the number)."
        )
    protocol = get("protocol").upper()
    if protocol and protocol not in PROTOCOLS:
        raise FilterError(f"protocol must be one of {', '.join(PROTOCOLS)}, not '{protocol[:20]}'.")
    view = get("view").lower()
    if view not in VIEWS:
        raise FilterError(f"view must be one of {', '.join(VIEWS)}, not '{view[:20]}'.")
    expand = tuple(dict.fromkeys(key.strip() for key in get("expand").split(",") if key.strip()))
    if len(expand) > MAX_EXPANDED or any(len(key) > 320 for key in expand):
        raise FilterError(
            f"expand names at most {MAX_EXPANDED} groups, each at most 320 characters."
        )
    team = get("team")
    assigned = teams or {}
    if team and team not in team_names(assigned):
        raise FilterError(f"This snapshot has no namespace of {describe(team[:100])}.", status=404)
    return Filters(
        rule=rule,
        team=team,
        team_namespaces=members(assigned, team) if team else frozenset(),
        namespace=namespace,
        around=around,
        external=external in ("1", "true", "on"),
        port=int(port) if port else None,
        protocol=protocol,
        view=view,
        expand=expand,
    )
