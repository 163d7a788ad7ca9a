"""The workload graph of one namespace: its workloads, their peers and outside addresses."""

from __future__ import annotations

from collections import defaultdict

from ..bits import bit_positions
from ..engine import (
    ACTIVE,
    EGRESS,
    HOST_NETWORK,
    INGRESS,
    NO_PORTS,
    PortSet,
)
from ..findings.stored import StoredReport
from . import limits
from .drawing import Drawing, response
from .filters import Filters
from .flows import Index, cut_ports, flows_of, index_of
from .labels import address_label, coverage_class, fraction, plural, ports_label
from .namespaces import filter_empty, group_node, namespace_node

# --- The workload graph of one namespace -----------------------------------------------


def workload_graph(model, report: StoredReport | None, filters: Filters) -> dict:
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
    # Before the analysis is in there is no report: no policy counts or scores yet.
    coverage = report.coverage.namespaces if report else {}
    scores = report.score.namespaces if report else {}
    focus = index.number[filters.namespace]
    focus_mask = index.class_mask[focus]

    # 1. Peers, and the key each pod class is drawn as.
    peers = bit_positions((flows.in_bits[focus] | flows.out_bits[focus]) & ~(1 << focus))
    expand = sum(len(index.workloads[i]) for i in peers) <= limits.PEER_WORKLOADS

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
            pods_of[f"wl:{pod.workload_key}"].append(pod)
    own = sorted(k for k in pods_of if k[3:].split("/", 1)[0] == filters.namespace)

    # 3. Flows between drawn keys; a key's flows with itself become a fact on its node.
    pairs: dict[tuple[str, str], PortSet] = defaultdict(PortSet)
    for group in allowed.groups:
        into_focus = {
            k for c in group.classes if index.class_ns[c] == focus for k in keys_of_class(c)
        }
        into_peers = None  # only asked for when the namespace sends to the group
        for entry in group.entries:
            ports = cut_ports(entry.ports, wanted)
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
        if any(cut_ports(ports, wanted) for ports, _ in exposure.ingress[i]):
            for c in classes:
                if index.class_ns[c] in drawn_peers:
                    exposed.update(keys_of_class(c))
        mine = [c for c in classes if index.class_ns[c] == focus]
        for c in mine:
            for ports, ips in exposure.ingress[i]:
                ports = cut_ports(ports, wanted)
                for key in keys_of_class(c) if ports else ():
                    links[("ext", ips), key] = links.get((("ext", ips), key), NO_PORTS) | ports
                    exposed.add(key)
            for ports, ips in exposure.egress[e]:
                ports = cut_ports(ports, wanted)
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
        if len(chosen) + 1 > limits.MAX_NODES or edge_count + new_edges > limits.MAX_EDGES:
            truncated = True
            break
        chosen.add(key)
        edge_count += new_edges

    # Drawn in rings (the layout "rings"): the namespace's workloads inside, then its
    # peers in namespace order, then the outside addresses.
    drawing = Drawing(exposure.outside)
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
            namespace_node(
                drawing, index, flows, index.number[key[3:]], coverage, scores, focus=False
            )
            label[key] = key[3:]
        else:
            group_node(drawing, index, flows, key, peer_members[key])
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
            f"to stay within {limits.MAX_NODES} nodes and {limits.MAX_EDGES:,} edges; filter by port to see more."
        )
    hidden = len(all_own) - len(own)
    if hidden:
        notes.append(
            f"{hidden} workloads of {filters.namespace} with no matching flow are left out."
        )
    if not expand:
        grouped = sum(len(m) for m in peer_members.values())
        notes.append(
            f"The {len(peers):,} peer namespaces hold more than {limits.PEER_WORKLOADS} workloads, so they are drawn as "
            "namespaces"
            + (
                f" ({grouped:,} of them in {plural(len(peer_members), 'group')} with the same flows here)"
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
            filter_empty(filters)
            if filters.describe()
            else (
                f"No flow is allowed to or from {filters.namespace}: its pods are isolated and no policy lets "
                "traffic in or out."
            )
        )
    return response(
        "workload", filters.namespace, filters, drawing, notes, truncated, empty, len(index.names)
    )


def _group_peers(links: dict, index: Index) -> tuple[dict, dict[str, list[int]]]:
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
    drawing: Drawing,
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
        ["Isolated for ingress", fraction(ingress, len(active))],
        ["Isolated for egress", fraction(egress, len(active))],
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
    state = "hostnet" if not active else coverage_class(len(active), ingress, egress)
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
