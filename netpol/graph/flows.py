"""What the engine knows, indexed by namespace: per-model index and namespace flows.

Flows are kept as bitsets over namespace numbers (this module's own), built from the
engine's allowed set and exposure once per model and port filter (``ClusterModel.derived``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ..bits import bit_positions
from ..cache import LRU
from ..engine import (
    EGRESS,
    INGRESS,
    NO_PORTS,
    IPSet,
    PortSet,
)

# --- What the engine knows, indexed by namespace --------------------------------------


class Index:
    """Per model: namespaces by number, each pod class's namespace and workloads, and
    per namespace its active pods and how many are isolated each way."""

    def __init__(self, model):
        allowed = model.allowed_connections()
        ev = allowed.ev
        self.names = sorted(model.namespaces)
        self.number = {name: i for i, name in enumerate(self.names)}
        n = len(self.names)
        self.class_ns = [self.number[c.namespace] for c in ev.classes]
        self.class_workloads = [sorted({p.workload_key for p in c.pods}) for c in ev.classes]
        self.pods = [0] * n
        self.ingress_isolated = [0] * n
        self.egress_isolated = [0] * n
        self.workloads: list[set[str]] = [set() for _ in range(n)]
        self.class_mask = [ev.ns_mask(name) for name in self.names]  # per namespace: its classes
        for c in ev.classes:
            i, size = self.class_ns[c.id], len(c.pods)
            self.pods[i] += size
            self.ingress_isolated[i] += size * ev.is_isolated(c.id, INGRESS)
            self.egress_isolated[i] += size * ev.is_isolated(c.id, EGRESS)
            self.workloads[i].update(self.class_workloads[c.id])


@dataclass
class Flows:
    """Namespace-level flows for one port filter, as bitsets over namespace numbers.

    ``into[d]``: source namespace bitset -> ports, for everything destination namespace
    ``d`` accepts; ``in_bits``/``out_bits``: the namespaces each one hears from / sends
    to (itself included when its pods talk to each other); ``ext_in``/``ext_out``:
    outside address set -> ports; ``exposed``: workloads that accept from outside.
    """

    into: list[dict[int, PortSet]]
    in_bits: list[int]
    out_bits: list[int]
    ext_in: list[dict[IPSet, PortSet]]
    ext_out: list[dict[IPSet, PortSet]]
    exposed: list[set[str]]


# A few port filters per model are plenty.
FLOW_FILTERS_PER_MODEL = 16


def index_of(model) -> Index:
    return model.derived("graph.index", lambda: Index(model))


def cut_ports(ports: PortSet, wanted: PortSet | None) -> PortSet:
    return ports if wanted is None else ports & wanted


def flows_of(model, wanted: PortSet | None = None) -> Flows:
    per_filter = model.derived("graph.flows", lambda: LRU(FLOW_FILTERS_PER_MODEL))
    return per_filter.get(wanted, lambda: _build_flows(model, wanted))


def _build_flows(model, wanted: PortSet | None) -> Flows:
    """1. Map each distinct source class bitset to its namespace bitset (once per bitset).
    2. Per destination group and entry, record "these namespaces, these ports" on each
       destination namespace. 3. The same from the exposure's groups for outside
       addresses. 4. Transpose the in-sets into out-sets."""
    index = index_of(model)
    allowed = model.allowed_connections()
    exposure = model.external_exposure()
    class_ns = index.class_ns
    n = len(index.names)
    ns_bits_of: dict[int, int] = {}

    def ns_bits(sources: int) -> int:
        hit = ns_bits_of.get(sources)
        if hit is None:
            hit = 0
            for c in allowed.ev.classes_in(sources):
                hit |= 1 << class_ns[c]
            ns_bits_of[sources] = hit
        return hit

    into: list[dict[int, PortSet]] = [{} for _ in range(n)]
    for group in allowed.groups:
        destinations = {class_ns[c] for c in group.classes}
        for entry in group.entries:
            ports = cut_ports(entry.ports, wanted)
            if not ports or not entry.sources:
                continue
            bits = ns_bits(entry.sources)
            for d in destinations:
                into[d][bits] = into[d].get(bits, NO_PORTS) | ports

    ext_in: list[dict[IPSet, PortSet]] = [{} for _ in range(n)]
    ext_out: list[dict[IPSet, PortSet]] = [{} for _ in range(n)]
    exposed: list[set[str]] = [set() for _ in range(n)]
    for (i, e), classes in exposure.groups.items():
        for direction, items in ((ext_in, exposure.ingress[i]), (ext_out, exposure.egress[e])):
            for ports, ips in items:
                ports = cut_ports(ports, wanted)
                if not ports:
                    continue
                for c in classes:
                    d = class_ns[c]
                    direction[d][ips] = direction[d].get(ips, NO_PORTS) | ports
                    if direction is ext_in:
                        exposed[d].update(index.class_workloads[c])

    in_bits = [0] * n
    for d in range(n):
        for bits in into[d]:
            in_bits[d] |= bits
    heard_by: dict[int, int] = defaultdict(int)
    for d, bits in enumerate(in_bits):
        heard_by[bits] |= 1 << d
    out_bits = [0] * n
    for bits, destinations in heard_by.items():
        for s in bit_positions(bits):
            out_bits[s] |= destinations
    return Flows(into, in_bits, out_bits, ext_in, ext_out, exposed)
