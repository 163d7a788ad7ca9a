"""The full set of allowed pod connections, kept compact, and what is derived from it.

The structure is a list of destination groups. Each group is a set of pod classes that
receive exactly the same traffic, with entries "these ports: from these source classes
(bitset) and these source addresses". Graph edges aggregate it per distinct source
bitset, never per pod pair. Loopback (a pod to itself) and node traffic are always
allowed and not listed.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property

from netpol.bits import bit_positions

from .evaluate import DestinationGroup, Evaluation
from .gcpause import gc_paused
from .ipsets import IPSet
from .ports import PortSet


def _id_ranges(bits: int) -> list[list[int]]:
    """[[first, last], ...] runs of set bits: class ids are namespace-ordered, so runs are few."""
    out: list[list[int]] = []
    for i in bit_positions(bits):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def _add(out: dict[int, PortSet], c: int, ports: PortSet) -> None:
    found = out.get(c)
    out[c] = ports if found is None else found | ports


class AllowedConnections:
    def __init__(self, ev: Evaluation, groups: list[DestinationGroup]):
        self.ev = ev
        self.groups = groups
        self.group_of = [0] * len(ev.classes)
        for gid, group in enumerate(groups):
            for c in group.classes:
                self.group_of[c] = gid
        self._cidrs: dict[IPSet, list[str]] = {}

    def sources(self, dst_class: int, port: int | None = None, protocol: str = "TCP") -> int:
        """Bitset of source classes allowed to ``dst_class`` on the port (any port of the
        protocol when None)."""
        wanted = PortSet.of(protocol) if port is None else PortSet.of(protocol, port)
        out = 0
        for entry in self.groups[self.group_of[dst_class]].entries:
            if entry.ports & wanted:
                out |= entry.sources
        return out

    def sources_of(self, classes: list[int]) -> dict[int, PortSet]:
        """Source class -> ports on which it may open connections to any of ``classes``."""
        out: dict[int, PortSet] = {}
        for gid in sorted({self.group_of[c] for c in classes}):
            for entry in self.groups[gid].entries:
                for s in bit_positions(entry.sources):
                    _add(out, s, entry.ports)
        return out

    def destinations_of(self, classes: list[int]) -> dict[int, PortSet]:
        """Destination class -> ports any of ``classes`` may open connections to."""
        mask = self.ev.class_set(classes)
        out: dict[int, PortSet] = {}
        for group in self.groups:
            for entry in group.entries:
                if entry.sources & mask:
                    for d in group.classes:
                        _add(out, d, entry.ports)
        return out

    def allows(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        """Pod to pod ("ns/name"), as the policies say (loopback is always allowed)."""
        if src == dst:
            return True
        s, d = self.ev.class_of.get(src), self.ev.class_of.get(dst)
        if s is None or d is None:
            return False
        return bool(self.sources(d, port, protocol) >> s & 1)

    # -- hops: connections on any port, for attack paths and blast radius ---------------

    @cached_property
    def _hop_index(self) -> tuple[list[int], list[int]]:
        """Per destination group: the classes allowed to it on some port, and its classes."""
        any_sources, members = [], []
        for group in self.groups:
            bits = 0
            for entry in group.entries:
                bits |= entry.sources
            any_sources.append(bits)
            members.append(self.ev.class_set(group.classes))
        return any_sources, members

    def reaches(self, src: int, dst: int) -> bool:
        """May class ``src`` open a connection to class ``dst`` on some port?"""
        return bool(self._hop_index[0][self.group_of[dst]] >> src & 1)

    def ports_between(self, src: int, dst: int) -> PortSet:
        """The ports on which class ``src`` may open connections to class ``dst``."""
        out = PortSet()
        for entry in self.groups[self.group_of[dst]].entries:
            if entry.sources >> src & 1:
                out = out | entry.ports
        return out

    def hops_to(
        self, targets: list[int], max_hops: int, starts: list[int] | None = None
    ) -> HopLevels:
        """Classes by the fewest connections (on any port) that lead to one of ``targets``:
        level 0 is the targets, level k the classes k hops away, up to ``max_hops``.
        ``starts``: the classes a caller looks for on each level (``HopLevels.starts_at``).

        A backward breadth-first search on class sets, one level at a time as the caller
        asks for it: a level's predecessors are the OR of the source sets of the
        destination groups it touches."""
        if starts is None:
            mask = self.ev.all
        else:
            key = tuple(starts)
            if self._start_mask[0] != key:  # many searches share one start set
                self._start_mask = (key, self.ev.class_set(starts))
            mask = self._start_mask[1]
        return HopLevels(self, self.ev.class_set(targets), max_hops, mask)

    _start_mask: tuple[tuple | None, int] = (None, 0)

    def _predecessors(self, frontier: int) -> int:
        any_sources = self._hop_index[0]
        before = 0
        for gid in {self.group_of[c] for c in self.ev.classes_in(frontier)}:
            before |= any_sources[gid]
        return before

    def hops_from(self, starts: list[int], max_hops: int) -> list[list[int]]:
        """Classes by the fewest connections (on any port) from one of ``starts``: level 0
        is the starts, level k the classes first reached in k hops, up to ``max_hops``."""
        any_sources, members = self._hop_index
        frontier = self.ev.class_set(starts)
        seen = frontier
        levels = [frontier]
        for _ in range(max_hops):
            after = 0
            for sources, classes in zip(any_sources, members, strict=True):
                if sources & frontier:
                    after |= classes
            frontier = after & ~seen
            if not frontier:
                break
            seen |= frontier
            levels.append(frontier)
        return [self.ev.classes_in(level) for level in levels]

    def cidrs(self, ips: IPSet) -> list[str]:
        hit = self._cidrs.get(ips)
        if hit is None:
            hit = self._cidrs[ips] = ips.to_cidrs()
        return hit

    @gc_paused()
    def to_dict(self) -> dict:
        """JSON form: classes (with their pods) and, per destination group, the allowed
        sources as runs of class ids ``[[first, last], ...]`` and CIDRs, per port list."""
        classes = [
            {
                "id": c.id,
                "namespace": c.namespace,
                "labels": c.labels,
                "pods": [p.key for p in c.pods],
            }
            for c in self.ev.classes
        ]
        groups = [
            {
                "destinations": g.classes,
                "allow": [
                    {
                        "ports": e.ports.describe(),
                        "sources": _id_ranges(e.sources),
                        "ipBlocks": self.cidrs(e.ips),
                    }
                    for e in g.entries
                ],
            }
            for g in self.groups
        ]
        return {"classes": classes, "groups": groups}

    @gc_paused()
    def edges(self, level: str = "namespace", destinations: int | None = None) -> list[dict]:
        """Aggregated edges ``{"from", "to", "ports"}`` between namespaces or workloads
        ("ns/Kind/name"; a pod without an owner is its own workload, "ns/Pod/name"). Address sources
        appear as ``"from": "ipBlock:<cidr>"``. ``destinations``: only the traffic into
        this class set (to be whole for a namespace or workload, it must hold all of its
        classes)."""
        if level == "namespace":
            keys_of = [{c.namespace} for c in self.ev.classes]
        elif level == "workload":
            keys_of = [{p.workload_key for p in c.pods} for c in self.ev.classes]
        else:
            raise ValueError("level must be 'namespace' or 'workload'")
        keys_cache: dict[int, set[str]] = {}
        found: dict[tuple[str, str], PortSet] = defaultdict(PortSet)
        for group in self.groups:
            members = group.classes
            if destinations is not None:
                members = [c for c in members if destinations >> c & 1]
                if not members:
                    continue
            dst_keys = set().union(*(keys_of[c] for c in members))
            for entry in group.entries:
                src_keys = keys_cache.get(entry.sources)
                if src_keys is None:
                    src_keys = keys_cache[entry.sources] = set().union(
                        *(keys_of[c] for c in bit_positions(entry.sources))
                    )
                src_keys = src_keys | {f"ipBlock:{cidr}" for cidr in self.cidrs(entry.ips)}
                for s in src_keys:
                    for d in dst_keys:
                        found[s, d] = found[s, d] | entry.ports
        return [{"from": s, "to": d, "ports": p.describe()} for (s, d), p in sorted(found.items())]


class HopLevels:
    """The answer of ``AllowedConnections.hops_to``: classes by their distance in hops to
    the targets, computed a level at a time as asked, and from any of them one step
    towards the targets."""

    def __init__(self, allowed: AllowedConnections, targets: int, max_hops: int, starts: int):
        self._allowed = allowed
        self._levels = [targets]
        self._seen = targets
        self._max_hops = max_hops
        self._starts = starts
        self._done = not targets
        self._by_group: dict[int, dict[int, int]] = {}  # per level: group -> its classes

    def _level(self, k: int) -> int | None:
        """Level ``k`` as a class set, searching further when needed; None beyond."""
        while len(self._levels) <= k and not self._done:
            if len(self._levels) > self._max_hops:
                self._done = True
                break
            frontier = self._allowed._predecessors(self._levels[-1]) & ~self._seen
            if not frontier:
                self._done = True
                break
            self._seen |= frontier
            self._levels.append(frontier)
        return self._levels[k] if k < len(self._levels) else None

    def starts_at(self, k: int) -> list[int] | None:
        """The ids of the start classes exactly ``k`` hops from the targets, ascending;
        None when no class is ``k`` hops away (nor further)."""
        level = self._level(k)
        return None if level is None else bit_positions(level & self._starts)

    def classes(self, k: int) -> list[int]:
        """The ids of the classes exactly ``k`` hops from the targets, ascending."""
        level = self._level(k)
        return [] if level is None else bit_positions(level)

    def level_of(self, c: int) -> int | None:
        """How many hops class ``c`` is from the targets, among the levels searched so far."""
        for k, level in enumerate(self._levels):
            if level >> c & 1:
                return k
        return None

    def next_hop(self, c: int) -> int | None:
        """The lowest class one level closer to the targets that ``c`` reaches; None for a
        target or a class beyond the levels searched."""
        k = self.level_of(c)
        return self._reached(c, k - 1) if k else None

    def first_step(self, c: int) -> tuple[int, int] | None:
        """``(d, k)``: the lowest class ``d`` on the lowest level ``k`` that ``c`` reaches
        (``c`` itself included). For a class that is a target but stands for more pods
        than the targets': how its other pods reach the targets."""
        k = 0
        while self._level(k) is not None:
            d = self._reached(c, k)
            if d is not None:
                return d, k
            k += 1
        return None

    def _reached(self, c: int, k: int) -> int | None:
        split = self._by_group.get(k)
        if split is None:
            split = self._by_group[k] = {}
            group_of = self._allowed.group_of
            for d in bit_positions(self._levels[k]):
                split[group_of[d]] = split.get(group_of[d], 0) | 1 << d
        any_sources = self._allowed._hop_index[0]
        found = 0
        for gid, classes in split.items():
            if any_sources[gid] >> c & 1:
                found |= classes
        return (found & -found).bit_length() - 1 if found else None
