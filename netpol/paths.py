"""Attack paths: how an attacker moves, connection by connection, towards crown jewels.

Pure Python, no Django. Crown jewels are workloads (``ns/Kind/name``) marked by a label
selector or named. From the internet (every workload some outside address may connect
to), from one workload, or from every workload, ``attack_paths`` gives the shortest paths
of up to ``max_hops`` connections to each crown jewel; each hop says on which port and
protocol, and by which rules, at both ends: the source's egress rule and the
destination's ingress rule, or "not isolated"::

    jewels = crown_jewels(model, selector=parse_selector("tier=db"))
    for path in attack_paths(model, jewels, start=INTERNET, max_hops=4):
        print(path.to_dict())
    blast_radius(model, "shop/Deployment/web", max_hops=3, jewels=jewels)

How, on the engine's pod classes (pods no policy tells apart), never per pod pair:

1. Per crown jewel, a backward breadth-first search over class sets from the jewel's
   classes (``AllowedConnections.hops_to``): level k holds the classes k connections away.
2. The starting classes met on the lowest levels give the shortest paths, one per
   starting workload (up to ``limit`` per jewel), shortest first.
3. Each path is walked forward one level at a time (``HopLevels.next_hop``), and each hop
   is explained once by ``ClusterModel.reach`` for one pod of each class, on the lowest
   port the hop allows (a port the destination names first).

A hop is any allowed connection: an attacker holding a pod may open every connection the
pod's policies allow, whatever the port.
"""

from __future__ import annotations

from dataclasses import dataclass

from netpol.engine import INGRESS, ClusterModel, InputError, IPSet, Pod, PortSet, gc_paused

INTERNET = "internet"
EVERY_WORKLOAD = "*"
DEFAULT_MAX_HOPS = 4
DEFAULT_LIMIT = 3  # paths per crown jewel, from distinct starting workloads
# How the dashboard marks crown jewels unless a cluster says otherwise (the demo's postgres).
DEFAULT_CROWN_JEWELS = "netpol-auditor.io/crown-jewel=true"
NOT_ISOLATED = "not isolated"


@dataclass(frozen=True, slots=True)
class Hop:
    """One connection of a path: ``src`` is a workload key or ``INTERNET``."""

    src: str
    dst: str
    port: int
    protocol: str
    ports: tuple[str, ...]  # every port the hop allows, as the engine describes them
    rules: tuple[dict, ...]
    src_pod: str | None  # the pods the hop was explained for (None: the internet)
    dst_pod: str
    address: str | None = None  # for the internet: the outside range it was shown for

    def to_dict(self) -> dict:
        out = {
            "from": self.src,
            "to": self.dst,
            "port": self.port,
            "protocol": self.protocol,
            "rules": list(self.rules),
            "ports": list(self.ports),
            "from_pod": self.src_pod,
            "to_pod": self.dst_pod,
        }
        if self.address is not None:
            out["address"] = self.address
        return out


@dataclass(frozen=True, slots=True)
class Path:
    hops: tuple[Hop, ...]

    @property
    def target(self) -> str:
        return self.hops[-1].dst

    def to_dict(self) -> dict:
        return {"hops": [h.to_dict() for h in self.hops]}


# --- Crown jewels --------------------------------------------------------------------


def parse_selector(text: str) -> dict[str, str]:
    """``"k=v,k2=v2"`` as labels every crown-jewel pod carries; InputError otherwise."""
    labels: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not part.strip():
            continue
        if not sep or not key or value.startswith("=") or "!" in key:
            raise InputError(
                f"selector {text!r}: {part.strip()!r} is not key=value "
                "(only equality is supported: 'k=v,k2=v2')"
            )
        labels[key] = value
    if not labels:
        raise InputError(f"selector {text!r} is empty (expected 'k=v,k2=v2')")
    return labels


def crown_jewels(
    model: ClusterModel, *, selector: dict[str, str] | None = None, workloads=()
) -> list[str]:
    """The crown-jewel workloads (``ns/Kind/name``, sorted): those with an active pod
    carrying every label of ``selector``, and the named ``workloads`` (InputError for an
    unknown one or one with no pod taking part in traffic)."""
    ev = model.evaluation
    found = set()
    for key in workloads:
        if not _classes_of(model, key):
            raise InputError(f"{key} has no pod taking part in traffic")
        found.add(key)
    if selector:
        items = selector.items()
        for cls in ev.classes:
            if all(cls.labels.get(k) == v for k, v in items):
                found.update(p.workload_key for p in cls.pods)
    return sorted(found)


# --- Paths ---------------------------------------------------------------------------


def attack_paths(
    model: ClusterModel,
    jewels: list[str],
    *,
    start: str = INTERNET,
    max_hops: int = DEFAULT_MAX_HOPS,
    limit: int = DEFAULT_LIMIT,
) -> list[Path]:
    """The shortest paths of at most ``max_hops`` connections from ``start`` (``INTERNET``,
    a workload key or ``EVERY_WORKLOAD``) to each crown jewel: per jewel, up to ``limit``
    paths from distinct starting workloads; all of them shortest first, then by jewel and
    start. A path from the internet counts its first hop, from outside, as one."""
    if max_hops < 1:
        raise InputError(f"max hops {max_hops} must be at least 1")
    ev = model.evaluation
    allowed = model.allowed_connections()
    explain = _Explainer(model)
    if start == INTERNET:
        starts = model.external_exposure().exposed_classes()
        inside_hops = max_hops - 1
    elif start == EVERY_WORKLOAD:
        starts = list(range(len(ev.classes)))
        inside_hops = max_hops
    else:
        starts = _classes_of(model, start)
        if not starts:
            raise InputError(f"{start} has no pod taking part in traffic")
        inside_hops = max_hops

    paths = []
    for jewel in jewels:
        if jewel == start:
            continue  # a workload is no path to itself
        levels = allowed.hops_to(_classes_of(model, jewel), inside_hops, starts)
        # starting workload -> (connections inside the cluster, its class, first step)
        chosen: dict[str, tuple[int, int, int | None]] = {}
        for k in range(inside_hops + 1):
            found = levels.starts_at(k)
            if found is None:
                break
            for c in found:
                via = None
                if k == 0 and start == INTERNET:
                    names = [jewel]  # from outside straight into the jewel's class
                elif k == 0:
                    # The class holds the jewel's pods and others: those reach the jewel
                    # through their first step (their own class, when it admits itself).
                    step = levels.first_step(c)
                    if step is None or step[1] + 1 > inside_hops:
                        continue
                    via, inside = step[0], step[1] + 1
                    names = [n for n in _start_names(model, c, start) if n != jewel]
                else:
                    names = _start_names(model, c, start)
                for name in names:
                    ranked = (k if via is None else inside, c, via)
                    if name not in chosen or ranked[0] < chosen[name][0]:
                        chosen[name] = ranked
            if sum(1 for inside, _, _ in chosen.values() if inside <= k) >= limit:
                break  # later levels only give longer paths
        ranked = sorted(chosen.items(), key=lambda item: (item[1][0], item[0]))
        for name, (_, c, via) in ranked[:limit]:
            paths.append(explain.path(levels, c, via, name, jewel, internet=start == INTERNET))
    paths.sort(key=lambda p: (len(p.hops), p.target, p.hops[0].src, p.hops[0].dst))
    return paths


def _classes_of(model: ClusterModel, workload: str) -> list[int]:
    """The classes of a workload's pods taking part in traffic; InputError when it has
    no pod at all."""
    found = _index(model).classes.get(workload)
    if found is None:
        model.workload_pods(workload)  # raises InputError naming the workload
        return []
    return found


def _start_names(model: ClusterModel, c: int, start: str) -> list[str]:
    """The workloads a path starting at class ``c`` starts from."""
    if start not in (INTERNET, EVERY_WORKLOAD):
        return [start]
    return _index(model).workloads[c]


@dataclass(frozen=True, slots=True)
class _Index:
    classes: dict[str, list[int]]  # workload -> its classes (none: no pod in traffic)
    workloads: list[list[str]]  # class -> the workloads of its pods, sorted


def _index(model: ClusterModel) -> _Index:
    """Workloads and classes both ways, built once per model."""

    def build() -> _Index:
        with gc_paused():  # tens of thousands of new containers next to a large model
            return _build_index(model)

    return model.derived("paths.index", build)


def _build_index(model: ClusterModel) -> _Index:
    classes: dict[str, set[int]] = {p.workload_key: set() for p in model.pods}
    workloads = []
    for cls in model.evaluation.classes:
        names = {pod.workload_key for pod in cls.pods}
        for name in names:
            classes[name].add(cls.id)
        workloads.append(sorted(names))
    return _Index({k: sorted(v) for k, v in classes.items()}, workloads)


class _Explainer:
    """Turns a walk over classes into hops with ports and rules, each class pair once."""

    def __init__(self, model: ClusterModel):
        self.model = model
        self.ev = model.evaluation
        self.allowed = model.allowed_connections()
        self._hops: dict[tuple, Hop] = {}

    def path(
        self, levels, c: int, via: int | None, start: str, jewel: str, *, internet: bool
    ) -> Path:
        walk = [c] if via is None else [c, via]
        while (nxt := levels.next_hop(walk[-1])) is not None:
            walk.append(nxt)
        # One pod per class on the walk: of the starting workload first, of the jewel last.
        pods = [self._pod(x, None) for x in walk]
        pods[0] = self._pod(c, start)
        pods[-1] = self._pod(walk[-1], jewel)
        hops = [self._from_internet(c, pods[0])] if internet else []
        for i in range(len(walk) - 1):
            hops.append(self._hop(walk[i], walk[i + 1], pods[i], pods[i + 1]))
        return Path(tuple(hops))

    def _pod(self, c: int, workload: str | None) -> Pod:
        """A pod of class ``c`` standing for it, of ``workload`` when given."""
        pods = self.ev.classes[c].pods
        if workload is not None:
            return next(p for p in pods if p.workload_key == workload)
        return pods[0]

    def _hop(self, a: int, b: int, src: Pod, dst: Pod) -> Hop:
        key = (src.key, dst.key)
        hop = self._hops.get(key)
        if hop is None:
            ports = self.allowed.ports_between(a, b)
            protocol, port = _pick_port(ports, dst)
            verdict = self.model.reach(src.key, dst.key, port, protocol)
            hop = self._hops[key] = Hop(
                src=src.workload_key,
                dst=dst.workload_key,
                port=port,
                protocol=protocol,
                ports=tuple(ports.describe()),
                rules=tuple(_rules(verdict.egress) + _rules(verdict.ingress)),
                src_pod=src.key,
                dst_pod=dst.key,
            )
        return hop

    def _from_internet(self, c: int, dst: Pod) -> Hop:
        key = (INTERNET, dst.key)
        hop = self._hops.get(key)
        if hop is None:
            entries = self.model.external_exposure().ingress_of(c)
            ports = PortSet()
            for entry_ports, _ in entries:
                ports = ports | entry_ports
            protocol, port = _pick_port(ports, dst)
            addresses = IPSet()
            for entry_ports, ips in entries:
                if entry_ports.has(port, protocol):
                    addresses = addresses | ips
            cidr = _first_cidr(addresses)
            verdict = self.model.reach(cidr.partition("/")[0], dst.key, port, protocol)
            hop = self._hops[key] = Hop(
                src=INTERNET,
                dst=dst.workload_key,
                port=port,
                protocol=protocol,
                ports=tuple(ports.describe()),
                rules=tuple(_rules(verdict.ingress)),
                src_pod=None,
                dst_pod=dst.key,
                address=cidr,
            )
        return hop


def _pick_port(ports: PortSet, dst: Pod) -> tuple[str, int]:
    """The port a hop is shown on: a container port the destination names (a service
    listens there), TCP first; else the lowest allowed port, TCP first."""
    for protocol in ("TCP", "UDP", "SCTP"):
        for number in sorted(n for _, proto, n in dst.named_ports if proto == protocol):
            if ports.has(number, protocol):
                return protocol, number
    protocol, port = ports.samples()[0]
    return protocol, port


def _first_cidr(addresses: IPSet) -> str:
    """The first outside range, IPv4 first: the address a first hop is explained for."""
    return addresses.to_cidrs(limit=1)[0]


def _rules(direction) -> list[dict]:
    """The rules that open one end of a hop: each allowing rule as policy and field path,
    or "not isolated" when no policy isolates the pod for that direction."""
    if direction is None:
        return []
    base = {"direction": direction.direction, "pod": direction.pod}
    if not direction.isolated:
        return [{**base, "policy": None, "kind": None, "rule": NOT_ISOLATED}]
    if not direction.allowed:  # reach contradicts the allowed set: never expected
        raise AssertionError(f"{direction.pod}: {direction.reason}")
    field = "ingress" if direction.direction == INGRESS else "egress"
    return [
        {**base, "policy": m.policy, "kind": "NetworkPolicy", "rule": f"spec.{field}[{m.rule}]"}
        for m in direction.allowed_by
    ]


# --- Blast radius --------------------------------------------------------------------


def blast_radius(
    model: ClusterModel, workload: str, *, max_hops: int = DEFAULT_MAX_HOPS, jewels=()
) -> dict:
    """What an attacker holding the pods of ``workload`` reaches within ``max_hops``
    connections: ``{"workload", "max_hops", "workloads": N, "crown_jewels": N,
    "by_hops": [N per hop], "reached_jewels": [...]}`` (the workload itself not counted)."""
    if max_hops < 1:
        raise InputError(f"max hops {max_hops} must be at least 1")
    starts = _classes_of(model, workload)
    if not starts:
        raise InputError(f"{workload} has no pod taking part in traffic")
    ev = model.evaluation
    allowed = model.allowed_connections()
    levels = allowed.hops_from(starts, max_hops)

    def workloads(classes) -> set[str]:
        return {p.workload_key for c in classes for p in ev.classes[c].pods}

    seen = {workload}
    by_hops = []
    for k in range(1, max_hops + 1):
        reached = workloads(levels[k]) if k < len(levels) else set()
        if k == 1:
            # Other workloads' pods in the workload's own classes are one hop away when
            # one of those classes may connect to theirs.
            reached |= workloads(b for b in starts if any(allowed.reaches(a, b) for a in starts))
        new = reached - seen
        seen |= new
        by_hops.append(len(new))
    reached = seen - {workload}
    jewels_reached = sorted(reached & set(jewels))
    return {
        "workload": workload,
        "max_hops": max_hops,
        "workloads": len(reached),
        "crown_jewels": len(jewels_reached),
        "by_hops": by_hops,
        "reached_jewels": jewels_reached,
    }
