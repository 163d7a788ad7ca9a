"""The Cytoscape graphs of a snapshot: Python decides what is drawn, the browser only draws.

Two levels. The namespace graph (the default) has a node per namespace, a node per
external address set and an edge per allowed flow, labelled with its ports. The workload
graph of one namespace has its workloads, the peers they talk to (workloads when few,
namespaces otherwise) and the outside addresses.

Both come from the engine's compact allowed set (``AllowedConnections.groups``: groups
of destination pod classes, each with per-port entries "from these source classes") and
its external exposure, never from pod pairs. ``edges("namespace")`` aggregates the same
set, but it lists every namespace pair: a cluster of 2,000 namespaces of which 1,400
have no policy has 1.4 million pairs (5 s to list, and the workload level ran out of
memory). Here flows are kept as bitsets over namespaces and only the pairs that will be
drawn are listed; the tests check that the result equals ``edges()`` on small clusters.

What a browser gets is bounded: at most ``MAX_NODES`` nodes and ``MAX_EDGES`` edges,
whatever the cluster. Above that, namespaces with exactly the same flows are drawn as one
group node, then the most connected are kept, and the response says what was left out.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from dataclasses import dataclass

from ..bits import bit_positions
from ..cache import LRU
from ..engine import (
    ACTIVE,
    ALL_PORTS,
    EGRESS,
    HOST_NETWORK,
    INGRESS,
    IPV4_BASE,
    NO_PORTS,
    PROTOCOLS,
    IPSet,
    PortSet,
)

MAX_NODES = 200
MAX_EDGES = 1500
COSE_LIMIT = 120  # force-directed layout up to this many nodes; concentric/grid above
PEER_WORKLOADS = 60  # a workload graph draws peer workloads one by one up to this many
MAX_CIDRS_SHOWN = 20  # per external node, in its detail
MAX_EXTERNAL = 30  # outside address sets drawn one by one; the rest share one node
OTHER = "other"  # the key of that shared node

IPV4 = IPSet.from_cidr("0.0.0.0/0")
IPV6 = IPSet.from_cidr("::/0")


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
        return out

    def describe(self) -> str:
        parts = []
        if self.around:
            parts.append(f"around {self.around}")
        if self.external:
            parts.append("external only")
        if self.port is not None:
            parts.append(f"port {self.protocol or 'TCP'}/{self.port}")
        elif self.protocol:
            parts.append(f"any {self.protocol} port")
        return ", ".join(parts)


def parse_filters(params, namespaces) -> Filters:
    """The graph's query parameters, checked. ``namespaces``: the snapshot's namespace names.

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
    return Filters(
        namespace=namespace,
        around=around,
        external=external in ("1", "true", "on"),
        port=int(port) if port else None,
        protocol=protocol,
    )


# --- What the engine knows, indexed by namespace --------------------------------------


class _Index:
    """Per model: namespaces by number, each pod class's namespace and workloads, and
    per namespace its active pods and how many are isolated each way."""

    def __init__(self, model):
        allowed = model.allowed_connections()
        ev = allowed.ev
        self.names = sorted(model.namespaces)
        self.number = {name: i for i, name in enumerate(self.names)}
        n = len(self.names)
        self.class_ns = [self.number[c.namespace] for c in ev.classes]
        self.class_workloads = [sorted({workload_key(p) for p in c.pods}) for c in ev.classes]
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


def workload_key(pod) -> str:
    """ "ns/Kind/name", as the engine's workload edges name it; an unowned pod is "ns/Pod/name"."""
    return f"{pod.namespace}/{pod.workload_id}"


@dataclass
class _Flows:
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


def index_of(model) -> _Index:
    return model.derived("graph.index", lambda: _Index(model))


def _cut(ports: PortSet, wanted: PortSet | None) -> PortSet:
    return ports if wanted is None else ports & wanted


def flows_of(model, wanted: PortSet | None = None) -> _Flows:
    per_filter = model.derived("graph.flows", lambda: LRU(FLOW_FILTERS_PER_MODEL))
    return per_filter.get(wanted, lambda: _build_flows(model, wanted))


def _build_flows(model, wanted: PortSet | None) -> _Flows:
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
            ports = _cut(entry.ports, wanted)
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
                ports = _cut(ports, wanted)
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
    return _Flows(into, in_bits, out_bits, ext_in, ext_out, exposed)


# --- Labels ----------------------------------------------------------------------------


def ports_label(ports: PortSet) -> str:
    """Short edge label: "5432, 6379", "53/udp", "all ports", "all TCP"."""
    if ports == ALL_PORTS:
        return "all ports"
    items = []
    for text in ports.describe():
        protocol, value = text.split("/")
        if value == "*":
            items.append(f"all {protocol}")
        else:
            items.append(value if protocol == "TCP" else f"{value}/{protocol.lower()}")
    if len(items) > 4:
        return ", ".join(items[:3]) + f" +{len(items) - 3} more"
    return ", ".join(items)


def address_label(ips: IPSet, outside: IPSet) -> str:
    """An outside address set in a few words: "203.0.113.0/24", "any external IPv4",
    "external IPv4 except 169.254.169.254/32". Sets are cut to the outside, so the
    complement within the outside is often the shorter description."""
    if ips == outside:
        return "any external address"
    parts = []
    for family, name in ((IPV4, "IPv4"), (IPV6, "IPv6")):
        mine, everything = ips & family, outside & family
        if not mine:
            continue
        cidrs = mine.to_cidrs()
        if mine == everything:
            parts.append(f"any external {name}")
        elif len(cidrs) <= 2:
            parts.extend(cidrs)
        else:
            missing = (everything - mine).to_cidrs()
            cover = _cover(mine)
            holes = (IPSet.from_cidr(cover) - mine).to_cidrs()
            if len(missing) <= 2:
                parts.append(f"external {name} except {', '.join(missing)}")
            elif len(holes) <= 2:
                parts.append(f"{cover} except {', '.join(holes)}")
            else:
                parts.append(f"parts of {cover}")
    return ", ".join(parts)


def _cover(ips: IPSet) -> str:
    """The smallest CIDR holding every address of a one-family set."""
    lo, hi = ips.ranges[0][0], ips.ranges[-1][1] - 1
    base, bits = (IPV4_BASE, 32) if lo >= IPV4_BASE else (0, 128)
    lo, hi = lo - base, hi - base
    prefix = bits - (lo ^ hi).bit_length()
    network = lo >> (bits - prefix) << (bits - prefix)
    network_type = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    return str(network_type((network, prefix)))


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _fraction(part: int, whole: int) -> str:
    return f"{part} of {whole}"


def _coverage_class(pods: int, ingress: int, egress: int) -> str:
    """ "uncovered" when no pod is isolated either way, "partial" when some pod is not
    isolated both ways, "" when every pod is."""
    if not pods:
        return ""
    if ingress == 0 and egress == 0:
        return "uncovered"
    if ingress < pods or egress < pods:
        return "partial"
    return ""


# --- The graph under construction ------------------------------------------------------


class _Drawing:
    """Nodes and edges in Cytoscape's element format, with the external address nodes
    numbered as they appear."""

    def __init__(self, outside: IPSet):
        self.outside = outside
        self.nodes: list[dict] = []
        self.edges: list[dict] = []
        self.ext_ids: dict = {}
        self.other_sets = 0  # how many address sets the OTHER node stands for
        self.labels: dict = {}  # external labels, each worked out once

    def node(self, data: dict, classes: list[str]) -> None:
        self.nodes.append({"data": data, "classes": " ".join(c for c in classes if c)})

    def external_label(self, key) -> str:
        label = self.labels.get(key)
        if label is None:
            label = "other external addresses" if key == OTHER else address_label(key, self.outside)
            self.labels[key] = label
        return label

    def external(self, key) -> str:
        """The node of an outside address set (or of OTHER, the sets merged into one)."""
        node_id = self.ext_ids.get(key)
        if node_id is not None:
            return node_id
        node_id = self.ext_ids[key] = f"ext:{len(self.ext_ids)}"
        if key == OTHER:
            facts = [
                ["What", "Addresses outside the cluster, each set used by few namespaces"],
                [
                    "Address sets",
                    f"{self.other_sets:,}: open a namespace's workload graph to see its own",
                ],
            ]
            self.node(
                {
                    "id": node_id,
                    "kind": "external",
                    "label": self.external_label(key),
                    "facts": facts,
                },
                ["external", "other"],
            )
            return node_id
        cidrs = key.to_cidrs()
        shown = cidrs[:MAX_CIDRS_SHOWN]
        more = f" and {len(cidrs) - len(shown)} more" if len(cidrs) > len(shown) else ""
        self.node(
            {
                "id": node_id,
                "kind": "external",
                "label": self.external_label(key),
                "cidrs": shown,
                "cidr_count": len(cidrs),
                "facts": [
                    ["What", "Addresses outside the cluster"],
                    ["Addresses", ", ".join(shown) + more],
                ],
            },
            ["external"],
        )
        return node_id

    def edge(
        self, source: str, target: str, ports: PortSet, names: tuple[str, str], external: bool
    ) -> None:
        self.edges.append(
            {
                "data": {
                    "id": f"{source}>{target}",
                    "source": source,
                    "target": target,
                    "label": ports_label(ports),
                    "ports": ports.describe(),
                    "kind": "external" if external else "flow",
                    "facts": [
                        ["From", names[0]],
                        ["To", names[1]],
                        ["Ports", ", ".join(ports.describe())],
                    ],
                },
                "classes": "external" if external else "",
            }
        )


def _units(candidates: list[int], flows: _Flows, keep: set[int]) -> list[list[int]]:
    """Namespaces with exactly the same flows (same peers both ways, same outside
    addresses) as one unit; the namespaces in ``keep`` stay on their own."""
    by_signature: dict[tuple, list[int]] = {}
    units = []
    for i in candidates:
        if i in keep:
            units.append([i])
            continue
        signature = (
            flows.in_bits[i],
            flows.out_bits[i],
            frozenset(flows.ext_in[i]),
            frozenset(flows.ext_out[i]),
        )
        members = by_signature.get(signature)
        if members is None:
            members = by_signature[signature] = []
            units.append(members)
        members.append(i)
    return units


def _namespace_graph(model, report: dict, filters: Filters) -> dict:
    """1. Pick the candidate namespaces for the filters. 2. Above MAX_NODES, merge
    namespaces with the same flows into groups. 3. Rank by number of peers and add units
    while the node and edge budgets allow: every flow between drawn units is drawn.
    4. List the drawn pairs' ports from the per-namespace bitsets."""
    index = index_of(model)
    flows = flows_of(model, filters.wanted())
    n = len(index.names)
    coverage = (report.get("coverage") or {}).get("namespaces") or {}
    scores = (report.get("score") or {}).get("namespaces") or {}
    exposure = model.external_exposure()
    centre = index.number[filters.around] if filters.around else None

    def has_flow(i: int) -> bool:
        return bool(flows.in_bits[i] or flows.out_bits[i] or flows.ext_in[i] or flows.ext_out[i])

    # 1. Candidates, and which kinds of edge are drawn.
    pairs_drawn = not filters.external
    if centre is not None and filters.external:
        candidates = [centre]
    elif centre is not None:
        candidates = bit_positions(flows.in_bits[centre] | flows.out_bits[centre] | (1 << centre))
    elif filters.external:
        candidates = [i for i in range(n) if flows.ext_in[i] or flows.ext_out[i]]
    elif filters.wanted() is not None or n > MAX_NODES:
        candidates = [i for i in range(n) if has_flow(i)]
    else:
        candidates = list(range(n))
    left_without_flow = n - len(candidates) if not filters.describe() else 0

    # 2. Groups, only when there are too many namespaces to draw one by one.
    keep = {centre} if centre is not None else set()
    if len(candidates) > MAX_NODES:
        units = _units(candidates, flows, keep)
    else:
        units = [[i] for i in candidates]
    masks = [sum(1 << i for i in members) for members in units]

    # Outside address sets: the most used get a node each, the rest share one (OTHER).
    usage = Counter(ips for i in candidates for ips in {*flows.ext_in[i], *flows.ext_out[i]})
    own_node = (
        {ips for ips, _ in usage.most_common(MAX_EXTERNAL - 1)}
        if len(usage) > MAX_EXTERNAL
        else set(usage)
    )

    def ext_key(ips: IPSet):
        return ips if ips in own_node else OTHER

    def degree(u: int) -> int:
        rep = units[u][0]
        bits = (flows.in_bits[rep] | flows.out_bits[rep]) & ~masks[u]
        return bits.bit_count() * len(units[u]) + len(flows.ext_in[rep]) + len(flows.ext_out[rep])

    def draws_pair(u: int, v: int) -> bool:
        if not pairs_drawn:
            return False
        return centre is None or centre in units[u] or centre in units[v]

    def draws_ext(u: int) -> bool:
        return centre is None or centre in units[u]

    # 3. Rank and fill the budgets.
    order = sorted(
        range(len(units)),
        key=lambda u: (centre not in units[u], -degree(u), index.names[units[u][0]]),
    )
    chosen: list[int] = []
    chosen_ext: set = set()
    node_count = edge_count = 0
    truncated = False
    for u in order:
        rep = units[u][0]
        new_edges = 0
        for v in chosen:
            if draws_pair(u, v):
                new_edges += bool(flows.in_bits[rep] & masks[v]) + bool(
                    flows.out_bits[rep] & masks[v]
                )
        new_ext = set()
        if draws_ext(u):
            keys_in = {ext_key(ips) for ips in flows.ext_in[rep]}
            keys_out = {ext_key(ips) for ips in flows.ext_out[rep]}
            new_edges += len(keys_in) + len(keys_out)
            new_ext = (keys_in | keys_out) - chosen_ext
        if node_count + 1 + len(new_ext) > MAX_NODES or edge_count + new_edges > MAX_EDGES:
            truncated = True
            break
        chosen.append(u)
        chosen_ext |= new_ext
        node_count += 1 + len(new_ext)
        edge_count += new_edges

    # 4. Nodes, then edges with their ports.
    drawing = _Drawing(exposure.outside)
    drawing.other_sets = len(usage) - len(own_node)
    unit_id = {}
    for u in chosen:
        members = units[u]
        if len(members) == 1:
            i = members[0]
            unit_id[u] = f"ns:{index.names[i]}"
            _namespace_node(drawing, index, flows, i, coverage, scores, focus=(i == centre))
        else:
            unit_id[u] = f"group:{len(unit_id)}"
            _group_node(drawing, index, flows, unit_id[u], members)
    label = {u: drawing.nodes[k]["data"]["label"] for k, u in enumerate(chosen)}
    internal: dict[int, PortSet] = {}
    for v in chosen:
        merged: dict[int, PortSet] = defaultdict(PortSet)
        ext_in: dict = defaultdict(PortSet)
        ext_out: dict = defaultdict(PortSet)
        for d in units[v]:
            for bits, ports in flows.into[d].items():
                merged[bits] = merged[bits] | ports
            for ips, ports in flows.ext_in[d].items():
                ext_in[ext_key(ips)] = ext_in[ext_key(ips)] | ports
            for ips, ports in flows.ext_out[d].items():
                ext_out[ext_key(ips)] = ext_out[ext_key(ips)] | ports
        for u in chosen:
            ports = NO_PORTS
            for bits, p in merged.items():
                if bits & masks[u]:
                    ports = ports | p
            if not ports:
                continue
            if u == v:
                internal[v] = ports
            elif draws_pair(u, v):
                drawing.edge(unit_id[u], unit_id[v], ports, (label[u], label[v]), external=False)
        if draws_ext(v):
            for key, ports in sorted(ext_in.items(), key=_external_order):
                node = drawing.external(key)
                drawing.edge(
                    node, unit_id[v], ports, (drawing.external_label(key), label[v]), external=True
                )
            for key, ports in sorted(ext_out.items(), key=_external_order):
                node = drawing.external(key)
                drawing.edge(
                    unit_id[v], node, ports, (label[v], drawing.external_label(key)), external=True
                )
    for k, u in enumerate(chosen):
        if u in internal:
            data = drawing.nodes[k]["data"]
            data["internal_ports"] = internal[u].describe()
            data["facts"].append(["Flows inside", ports_label(internal[u])])

    shown = sum(len(units[u]) for u in chosen)
    groups = [u for u in chosen if len(units[u]) > 1]
    notes = []
    if truncated:
        notes.append(
            f"Showing {shown:,} of {len(candidates):,} namespaces (the most connected) to stay within "
            f"{MAX_NODES} nodes and {MAX_EDGES:,} edges; filter to see more."
        )
    if groups:
        notes.append(
            f"{len(groups)} group node{'s' if len(groups) > 1 else ''} stand{'' if len(groups) > 1 else 's'} for "
            f"{sum(len(units[u]) for u in groups):,} namespaces that have exactly the same flows."
        )
    if left_without_flow:
        notes.append(f"{left_without_flow:,} namespaces with no allowed flow are left out.")
    empty = None
    if not drawing.nodes:
        empty = (
            _filter_empty(filters)
            if filters.describe()
            else (
                "This snapshot has no namespace with running pods. Take a new snapshot once workloads are deployed."
            )
        )
    elif not drawing.edges and not filters.describe():
        empty = (
            "No flow is allowed anywhere: every pod is isolated and no policy lets traffic in or out. "
            "If that is unexpected, check the policies on the Namespaces page or take a new snapshot."
        )
    elif not drawing.edges:
        empty = _filter_empty(filters)
    return _response("namespace", "", filters, drawing, notes, truncated, empty, n)


def _external_order(item) -> tuple:
    key = item[0]
    return (True, ()) if key == OTHER else (False, key.ranges)


def _filter_empty(filters: Filters) -> str:
    return f"No flow matches these filters ({filters.describe()}). Widen them or clear them to see the whole cluster."


def _namespace_node(
    drawing: _Drawing, index: _Index, flows: _Flows, i: int, coverage, scores, focus: bool
) -> None:
    name = index.names[i]
    pods, ingress, egress = index.pods[i], index.ingress_isolated[i], index.egress_isolated[i]
    report = coverage.get(name) or {}
    deny = report.get("default_deny") or {}
    facts = [
        ["Running pods", str(pods)],
        ["Workloads", str(len(index.workloads[i]))],
        ["Isolated for ingress", _fraction(ingress, pods)],
        ["Isolated for egress", _fraction(egress, pods)],
        ["Accept from outside", f"{len(flows.exposed[i])} workload(s)"],
    ]
    if report:
        facts += [
            ["Policies", str(report.get("policies", 0))],
            ["Default deny", ", ".join(d for d in ("ingress", "egress") if deny.get(d)) or "none"],
        ]
    if scores.get(name) is not None:
        facts.append(["Score", f"{scores[name]}/100"])
    drawing.node(
        {
            "id": f"ns:{name}",
            "kind": "namespace",
            "label": name,
            "namespace": name,
            "pods": pods,
            "ingress_isolated": ingress,
            "egress_isolated": egress,
            "exposed_workloads": len(flows.exposed[i]),
            "score": scores.get(name),
            "facts": facts,
        },
        [
            "namespace",
            _coverage_class(pods, ingress, egress),
            "exposed" if flows.exposed[i] else "",
            "focus" if focus else "",
        ],
    )


def _group_node(
    drawing: _Drawing, index: _Index, flows: _Flows, node_id: str, members: list[int]
) -> None:
    names = [index.names[i] for i in members]
    pods = sum(index.pods[i] for i in members)
    ingress = sum(index.ingress_isolated[i] for i in members)
    egress = sum(index.egress_isolated[i] for i in members)
    shown = names[:50]
    drawing.node(
        {
            "id": node_id,
            "kind": "group",
            "label": f"{len(names):,} namespaces like {names[0]}",
            "members": shown,
            "member_count": len(names),
            "pods": pods,
            "facts": [
                ["What", "Namespaces with exactly the same flows, drawn as one node"],
                ["Namespaces", f"{len(names):,}"],
                [
                    "Members",
                    ", ".join(shown)
                    + (f" and {len(names) - len(shown):,} more" if len(names) > len(shown) else ""),
                ],
                ["Running pods", str(pods)],
                ["Isolated for ingress", _fraction(ingress, pods)],
                ["Isolated for egress", _fraction(egress, pods)],
            ],
        },
        [
            "group",
            _coverage_class(pods, ingress, egress),
            "exposed" if any(flows.exposed[i] for i in members) else "",
        ],
    )


def _response(level, namespace, filters, drawing, notes, truncated, empty, namespaces) -> dict:
    """The JSON the page draws. Layouts: "rings" (a workload graph: its namespace in the
    middle, peers around, addresses outside), "cose" (force-directed, for small graphs),
    "concentric" (by degree; cheap for big ones) and "grid" (no edges)."""
    node_count = len(drawing.nodes)
    if level == "workload":
        layout = "rings"
    elif node_count <= COSE_LIMIT:
        layout = "cose"
    else:
        layout = "concentric" if drawing.edges else "grid"
    return {
        "level": level,
        "namespace": namespace or None,
        "filters": filters.query(),
        "elements": {"nodes": drawing.nodes, "edges": drawing.edges},
        "layout": layout,
        "counts": {"namespaces": namespaces, "nodes": node_count, "edges": len(drawing.edges)},
        "limits": {"nodes": MAX_NODES, "edges": MAX_EDGES},
        "truncated": truncated,
        "notes": notes,
        "empty": empty,
    }


# --- The workload graph of one namespace -----------------------------------------------


def _workload_graph(model, report: dict, filters: Filters) -> dict:
    """1. Peers: the namespaces the namespace exchanges flows with, drawn as their
    workloads when few, else as namespaces (grouped as on the namespace graph when many).
    2. The workloads of the namespace and of expanded peers, from all their pods
    (host-network and idle ones are drawn greyed). 3. Flows from the compact allowed set:
    every entry into the namespace's classes, and every entry out of them (sources cut to
    the namespace). 4. Outside addresses from the exposure. 5. Keep nodes by rank (the
    namespace's own workloads first) within the budgets."""
    index = index_of(model)
    wanted = filters.wanted()
    flows = flows_of(model, wanted)
    allowed = model.allowed_connections()
    exposure = model.external_exposure()
    coverage = (report.get("coverage") or {}).get("namespaces") or {}
    scores = (report.get("score") or {}).get("namespaces") or {}
    focus = index.number[filters.namespace]
    focus_mask = index.class_mask[focus]

    # 1. Peers, and the key each pod class is drawn as.
    peers = bit_positions((flows.in_bits[focus] | flows.out_bits[focus]) & ~(1 << focus))
    expand = sum(len(index.workloads[i]) for i in peers) <= PEER_WORKLOADS

    def keys_of_class(c: int) -> list[str]:
        i = index.class_ns[c]
        if i == focus or expand:
            return [f"wl:{w}" for w in index.class_workloads[c]]
        return [f"ns:{index.names[i]}"]

    keys_cache: dict[int, set[str]] = {}

    def keys_of(bits: int) -> set[str]:
        hit = keys_cache.get(bits)
        if hit is None:
            hit = keys_cache[bits] = {
                k for c in allowed.ev.classes_in(bits) for k in keys_of_class(c)
            }
        return hit

    # 2. Pods per drawn workload, in one pass.
    drawn_namespaces = {filters.namespace} | ({index.names[i] for i in peers} if expand else set())
    pods_of: dict[str, list] = defaultdict(list)
    for pod in model.pods:
        if pod.namespace in drawn_namespaces:
            pods_of[f"wl:{workload_key(pod)}"].append(pod)
    own = sorted(k for k in pods_of if k[3:].split("/", 1)[0] == filters.namespace)

    # 3. Flows between drawn keys; a key's flows with itself become a fact on its node.
    pairs: dict[tuple[str, str], PortSet] = defaultdict(PortSet)
    for group in allowed.groups:
        into_focus = {
            k for c in group.classes if index.class_ns[c] == focus for k in keys_of_class(c)
        }
        into_peers = None  # only asked for when the namespace sends to the group
        for entry in group.entries:
            ports = _cut(entry.ports, wanted)
            if not ports or not entry.sources:
                continue
            if into_focus:
                for s in keys_of(entry.sources):
                    for d in into_focus:
                        pairs[s, d] = pairs[s, d] | ports
            mine = entry.sources & focus_mask
            if mine and into_peers is None:
                into_peers = {
                    k for c in group.classes if index.class_ns[c] != focus for k in keys_of_class(c)
                }
            if mine and into_peers:
                for s in keys_of(mine):
                    for d in into_peers:
                        pairs[s, d] = pairs[s, d] | ports
    internal = {s: p for (s, d), p in pairs.items() if s == d}
    links = {} if filters.external else {pair: p for pair, p in pairs.items() if pair[0] != pair[1]}
    peer_members: dict[str, list[int]] = {}
    if not expand:
        links, peer_members = _group_peers(links, index)

    # 4. Outside addresses, as ("ext", ips) keys; expanded peers are only marked exposed.
    exposed: set[str] = set()
    drawn_peers = {index.number[ns] for ns in drawn_namespaces} - {focus}
    for (i, e), classes in exposure.groups.items():
        if any(_cut(ports, wanted) for ports, _ in exposure.ingress[i]):
            for c in classes:
                if index.class_ns[c] in drawn_peers:
                    exposed.update(keys_of_class(c))
        mine = [c for c in classes if index.class_ns[c] == focus]
        for c in mine:
            for ports, ips in exposure.ingress[i]:
                ports = _cut(ports, wanted)
                for key in keys_of_class(c) if ports else ():
                    links[("ext", ips), key] = links.get((("ext", ips), key), NO_PORTS) | ports
                    exposed.add(key)
            for ports, ips in exposure.egress[e]:
                ports = _cut(ports, wanted)
                for key in keys_of_class(c) if ports else ():
                    links[key, ("ext", ips)] = links.get((key, ("ext", ips)), NO_PORTS) | ports

    # 5. Rank and fill the budgets; every link between kept nodes is drawn.
    neighbours: dict = defaultdict(list)
    for s, d in links:
        neighbours[s].append(d)
        neighbours[d].append(s)
    all_own = set(own)
    if filters.describe():  # a filter hides the workloads it leaves without a flow
        own = [k for k in own if neighbours.get(k) or k in internal]
    ranked = sorted(own, key=lambda k: (-len(neighbours.get(k, ())), k))
    ranked += sorted(
        (k for k in neighbours if k not in all_own), key=lambda k: (-len(neighbours[k]), str(k))
    )
    chosen: set = set()
    edge_count = 0
    truncated = False
    for key in ranked:
        new_edges = sum(other in chosen for other in neighbours.get(key, ()))
        if len(chosen) + 1 > MAX_NODES or edge_count + new_edges > MAX_EDGES:
            truncated = True
            break
        chosen.add(key)
        edge_count += new_edges

    # Drawn in rings (the layout "rings"): the namespace's workloads inside, then its
    # peers in namespace order, then the outside addresses.
    drawing = _Drawing(exposure.outside)
    label: dict = {}
    for key in sorted(
        (k for k in chosen if isinstance(k, str)), key=lambda k: (k not in all_own, k)
    ):
        if key.startswith("wl:"):
            label[key] = _workload_node(
                drawing,
                model,
                key[3:],
                pods_of[key],
                key in exposed,
                internal.get(key),
                peer=key not in all_own,
            )
        elif key.startswith("ns:"):
            _namespace_node(
                drawing, index, flows, index.number[key[3:]], coverage, scores, focus=False
            )
            label[key] = key[3:]
        else:
            _group_node(drawing, index, flows, key, peer_members[key])
            label[key] = drawing.nodes[-1]["data"]["label"]
        drawing.nodes[-1]["data"]["ring"] = 3 if key in all_own else 2
        if key not in all_own:
            drawing.nodes[-1]["classes"] += " peer"
    for key in sorted((k for k in chosen if isinstance(k, tuple)), key=lambda k: k[1].ranges):
        label[key] = address_label(key[1], drawing.outside)
        drawing.external(key[1])
        drawing.nodes[-1]["data"]["ring"] = 1
    ids = {k: drawing.external(k[1]) if isinstance(k, tuple) else k for k in label}
    for (s, d), ports in sorted(links.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
        if s in chosen and d in chosen:
            drawing.edge(
                ids[s],
                ids[d],
                ports,
                (label[s], label[d]),
                external=isinstance(s, tuple) or isinstance(d, tuple),
            )

    notes = []
    if truncated:
        notes.append(
            f"Showing {len(chosen):,} of {len(ranked):,} workloads, peers and address sets (the most connected) "
            f"to stay within {MAX_NODES} nodes and {MAX_EDGES:,} edges; filter by port to see more."
        )
    hidden = len(all_own) - len(own)
    if hidden:
        notes.append(
            f"{hidden} workloads of {filters.namespace} with no matching flow are left out."
        )
    if not expand:
        grouped = sum(len(m) for m in peer_members.values())
        notes.append(
            f"The {len(peers):,} peer namespaces hold more than {PEER_WORKLOADS} workloads, so they are drawn as "
            "namespaces"
            + (
                f" ({grouped:,} of them in {_plural(len(peer_members), 'group')} with the same flows here)"
                if peer_members
                else ""
            )
            + ": double-click one to see its workloads."
        )
    empty = None
    if not own and not filters.describe():
        empty = f"{filters.namespace} has no pods in this snapshot, so there is nothing to draw."
    elif not drawing.edges:
        empty = (
            _filter_empty(filters)
            if filters.describe()
            else (
                f"No flow is allowed to or from {filters.namespace}: its pods are isolated and no policy lets "
                "traffic in or out."
            )
        )
    return _response(
        "workload", filters.namespace, filters, drawing, notes, truncated, empty, len(index.names)
    )


def _group_peers(links: dict, index: _Index) -> tuple[dict, dict[str, list[int]]]:
    """Peer namespaces with exactly the same flows to and from the namespace's workloads
    (say, 800 namespaces that only ask CoreDNS on 53) become one group node."""
    signature: dict[str, set] = defaultdict(set)
    for (s, d), ports in links.items():
        if s.startswith("ns:"):
            signature[s].add(("to", d, ports))
        if d.startswith("ns:"):
            signature[d].add(("from", s, ports))
    by_signature: dict[frozenset, list[str]] = defaultdict(list)
    for key, parts in signature.items():
        by_signature[frozenset(parts)].append(key)
    rename, members = {}, {}
    for keys in by_signature.values():
        if len(keys) > 1:
            group = f"group:{len(members)}"
            members[group] = sorted(index.number[k[3:]] for k in keys)
            rename.update({k: group for k in keys})
    grouped = {(rename.get(s, s), rename.get(d, d)): ports for (s, d), ports in links.items()}
    return grouped, members


def _workload_node(
    drawing: _Drawing,
    model,
    key: str,
    pods: list,
    exposed: bool,
    internal: PortSet | None,
    peer: bool,
) -> str:
    """Draw one workload; returns how edges name it."""
    namespace, kind, name = key.split("/", 2)
    active = [p for p in pods if p.state == ACTIVE]
    ingress = sum(model.is_isolated(p, INGRESS) for p in active)
    egress = sum(model.is_isolated(p, EGRESS) for p in active)
    host = sum(p.state == HOST_NETWORK for p in pods)
    facts = [
        ["Kind", kind],
        ["Namespace", namespace],
        ["Pods", str(len(pods)) + (f" ({host} on the host network)" if host else "")],
        ["Isolated for ingress", _fraction(ingress, len(active))],
        ["Isolated for egress", _fraction(egress, len(active))],
        ["Accepts from outside", "yes" if exposed else "no"],
    ]
    if internal:
        facts.append(["Flows inside", ports_label(internal)])
    if not active:
        facts.append(
            [
                "Policies",
                "do not apply: host-network pods"
                if host
                else "do not apply: no running pod with an address",
            ]
        )
    state = "hostnet" if not active else _coverage_class(len(active), ingress, egress)
    drawing.node(
        {
            "id": f"wl:{key}",
            "kind": "workload",
            "label": f"{name}\n{namespace}" if peer else name,
            "namespace": namespace,
            "workload_kind": kind,
            "workload_name": name,
            "pods": len(pods),
            "exposed": exposed,
            "internal_ports": internal.describe() if internal else [],
            "facts": facts,
        },
        ["workload", state, "exposed" if exposed else ""],
    )
    return f"{name} ({namespace})"


# --- Entry point and cache -------------------------------------------------------------


def build_graph(model, report: dict | None, filters: Filters) -> dict:
    """The elements and what the page says about them, for the filters."""
    if filters.namespace:
        return _workload_graph(model, report or {}, filters)
    return _namespace_graph(model, report or {}, filters)


# A review reopens the same graphs, and complete snapshots never change.
_graphs = LRU(64)


def cached(key, build):
    """``build()`` once per key (snapshot and filters), the most recent few kept."""
    return _graphs.get(key, build)


def forget_graphs() -> None:
    _graphs.clear()
