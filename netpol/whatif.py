"""What-if: the cluster as it would be with some policies added, replaced or removed.

Pure Python, no Django. An auditor tries policies before anyone applies them::

    policies, notes = read_policies(pasted_text)      # WhatIfInputError names the document
    result = compare(engine_model(snapshot), add=policies, remove={"shop/allow-all"})

``compare`` answers what changes against the snapshot's model:

1. The changed model. Pods, namespaces, nodes and services are the base model's parsed
   objects, reused as they are (the engine never modifies them); only the policies are
   parsed again. A pasted policy with the namespace/name of an existing one replaces it,
   as ``kubectl apply`` would. Calico NetworkPolicies and GlobalNetworkPolicies may be
   pasted or removed too (``CalicoNetworkPolicy/ns/name``, ``CalicoGlobalNetworkPolicy/name``):
   Calico's staged policies are tried as their enforced kind (``netpol/staged.py``), and
   such a change is evaluated in full (``ClusterModel.with_calico_policies``).
   The engine evaluates only what the change touches when it can
   (``ClusterModel.with_policies``): the base's pod classes, label indexes and compiled
   rules are reused, and only the destinations whose traffic may change are recomputed.
2. Both models are audited with ``netpol.findings.audit``. The base model's audit is
   kept with the model (``base_report``, ``ClusterModel.derived``):
   ``storage.engine_model`` keeps the same object per snapshot, so a second what-if on a
   snapshot audits only the changed model. The audit is not scoped to the touched
   namespaces: the score, coverage, compliance and several findings are cluster-wide.
3. Coverage before and after (cluster, and the namespaces whose counts changed);
   findings added and removed, matched by fingerprint (``netpol.diff``); connections gained and lost,
   from the engine's allowed set aggregated per workload (never pod by pod), and only
   into the workloads whose incoming traffic the change touched (``changed_edges``).
   Ports are compared as port sets, and address sources address by address, so the same
   access written with other CIDRs is not reported as a change. Each listed connection
   names the kind and policy that decide it once changed (``summaries.pair_decision``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from netpol.collect.base import CollectionError
from netpol.collect.kinds import CALICO_PREFIX
from netpol.collect.manifests import DEFAULT_MAX_ALIAS_NODES, unpack, yaml_documents
from netpol.collect.normalize import normalize
from netpol.diff import Connections, changed_pairs, finding_changes, not_loopback
from netpol.engine import (
    ACTIVE,
    ALL_PORTS,
    ClusterModel,
    InputError,
    PortSet,
    changed_edges,
    parse_policy,
)
from netpol.findings import audit
from netpol.findings.catalogue import SEVERITIES
from netpol.staged import STAGED_KINDS
from netpol.summaries import decision, pair_decision, policy_ref, probe

# A page of policies is a few KiB; 1 MiB is hundreds of them, and keeps one request's
# parsing well under a second.
MAX_INPUT_BYTES = 1024 * 1024
# Rules, peers, ports and ipBlock excepts over all pasted policies. Real policies have a
# handful each; 1 MiB of one-line port entries would cost the engine a minute.
MAX_ENTRIES = 2_000
SOURCE_NAME = "pasted YAML"
NETWORK_POLICY_GROUPS = ("networking.k8s.io", "extensions")
CALICO_GROUPS = ("projectcalico.org", "crd.projectcalico.org")
CALICO_KINDS = ("NetworkPolicy", "GlobalNetworkPolicy")
# What-if keys of Calico policies (in ``remove`` and ``Changes``), by engine key prefix.
# A Kubernetes NetworkPolicy's is ``ns/name``; these start with an upper-case kind, which
# no namespace name can, so the two never collide.
CALICO_KEY_KINDS = {"calico/": "CalicoNetworkPolicy/", "gnp/": "CalicoGlobalNetworkPolicy/"}
ACCEPTED = (
    "only Kubernetes NetworkPolicy objects (networking.k8s.io/v1) and Calico NetworkPolicy "
    "and GlobalNetworkPolicy objects (projectcalico.org/v3, crd.projectcalico.org/v1) can be "
    "tried here"
)


class WhatIfInputError(ValueError):
    """Input the what-if cannot use; the message says what and where, for the form."""


# --- 1. Reading the pasted policies ---------------------------------------------------


def read_policies(text: str) -> tuple[list[dict], list[str]]:
    """The policy objects of pasted YAML or JSON, and notes about them.

    Uses the manifests backend's reader, so the same limits hold (alias bombs, nesting
    depth), and kubectl's forms: several documents, ``kind: List``, ``NetworkPolicyList``.
    Anything but a Kubernetes NetworkPolicy or a Calico NetworkPolicy or
    GlobalNetworkPolicy is refused, naming the document and its kind.
    """
    size = len(text.encode("utf-8"))
    if size > MAX_INPUT_BYTES:
        raise WhatIfInputError(
            f"The pasted text is {size:,} bytes, over the limit of {MAX_INPUT_BYTES:,} bytes "
            f"({MAX_INPUT_BYTES / 2**20:g} MiB). "
            "Try fewer policies at a time."
        )
    try:
        documents = yaml_documents(
            text.removeprefix("\ufeff"), SOURCE_NAME, DEFAULT_MAX_ALIAS_NODES
        )
        found = [  # (where, object)
            item
            for index, data in enumerate(documents, start=1)
            if data is not None
            for item in _policies_in(data, f"{SOURCE_NAME}, document {index}")
        ]
    except CollectionError as exc:
        raise WhatIfInputError(str(exc)) from None

    policies: dict[str, dict] = {}
    notes = []
    for where, obj in found:
        metadata = obj["metadata"]
        key = _key(obj)
        if not metadata.get("namespace") and obj["kind"] != "GlobalNetworkPolicy":
            notes.append(
                f"{where}: {metadata['name']} names no namespace; it is tried in 'default', "
                "as kubectl would apply it with a context on the default namespace."
            )
        if key in policies:
            notes.append(
                f"{where}: {key} is given twice; the later one is used, as kubectl apply would."
            )
        policies[key] = obj
    entries = sum(_entries(obj) for obj in policies.values())
    if entries > MAX_ENTRIES:
        raise WhatIfInputError(
            f"The pasted policies have {entries:,} rules, peers, ports and ipBlock excepts; "
            f"at most {MAX_ENTRIES:,} can be tried at once. Try fewer policies at a time."
        )
    return list(policies.values()), notes


def _entries(obj: dict) -> int:
    """What the engine's work grows with: rules, peers, port entries and excepts."""
    spec = obj.get("spec") or {}
    count = 0
    if _is_calico(obj):
        return _calico_entries(spec)
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules = spec.get(direction)
        for rule in rules if isinstance(rules, list) else ():
            count += 1
            if not isinstance(rule, dict):
                continue
            peers, ports = rule.get(peers_key), rule.get("ports")
            count += len(ports) if isinstance(ports, list) else 0
            for peer in peers if isinstance(peers, list) else ():
                count += 1
                block = peer.get("ipBlock") if isinstance(peer, dict) else None
                excepts = block.get("except") if isinstance(block, dict) else None
                count += len(excepts) if isinstance(excepts, list) else 0
    return count


def _calico_entries(spec: dict) -> int:
    """``_entries`` of a Calico policy: rules, and the nets and ports of their ends."""
    count = 0
    for direction in ("ingress", "egress"):
        rules = spec.get(direction)
        for rule in rules if isinstance(rules, list) else ():
            count += 1
            for end in ("source", "destination") if isinstance(rule, dict) else ():
                entity = rule.get(end)
                for field in (
                    ("nets", "notNets", "ports", "notPorts") if isinstance(entity, dict) else ()
                ):
                    value = entity.get(field)
                    count += len(value) if isinstance(value, list) else 0
    return count


def _is_calico(obj: dict) -> bool:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group in CALICO_GROUPS and obj.get("kind") in CALICO_KINDS


def _policies_in(data: object, where: str):
    """``(where, object)`` for each policy of one document; anything else is refused."""
    for at, group, kind, obj in unpack(data, where):
        if kind == "NetworkPolicy" and group in NETWORK_POLICY_GROUPS:
            table_kind = "NetworkPolicy"
        elif kind in CALICO_KINDS and group in CALICO_GROUPS:
            table_kind = CALICO_PREFIX + kind
        elif kind in STAGED_KINDS:
            raise WhatIfInputError(
                f"{at}: a {kind} is a staged policy; paste its enforced kind, or try the "
                "snapshot's staged policies with their own button."
            )
        else:
            raise WhatIfInputError(f"{at}: {ACCEPTED}, not a {kind} of {obj['apiVersion']}.")
        try:
            normalize(table_kind, obj)  # what a snapshot would refuse, refused now
        except CollectionError as exc:
            raise WhatIfInputError(f"{at}: {exc}") from None
        yield at, obj


# --- 2. The changed model -------------------------------------------------------------


@dataclass(slots=True)
class Changes:
    # What-if keys: ns/name, CalicoNetworkPolicy/ns/name, CalicoGlobalNetworkPolicy/name.
    added: list[str]  # new policy keys
    replaced: list[str]  # existing keys a pasted policy replaces
    removed: list[str]  # existing keys removed
    not_found: list[str]  # keys marked for removal that the snapshot does not have
    new_namespaces: list[str]  # namespaces only the pasted policies name


def changed_model(
    base: ClusterModel, *, add: list[dict], remove: set[str], incremental: bool = True
) -> tuple[ClusterModel, Changes]:
    """The base model with ``add`` applied (replacing same-named policies) and ``remove``d.

    ``incremental``: evaluate only what the change touches (``ClusterModel.with_policies``);
    False rebuilds the changed model's evaluation from scratch (for the benchmark). Calico
    policies added or removed are evaluated in full (``ClusterModel.with_calico_policies``)."""
    add = list({_key(obj): obj for obj in add}.values())  # the last of a name wins
    calico_add = [obj for obj in add if _is_calico(obj)]
    add = [obj for obj in add if not _is_calico(obj)]
    calico_remove = {k for k in remove if is_calico_key(k)}
    remove = {k for k in remove if not is_calico_key(k)}
    pasted = []
    errors = []
    for obj in add:
        try:
            policy, problems = parse_policy(obj)
        except (InputError, TypeError, AttributeError, KeyError, ValueError) as exc:
            name = (obj.get("metadata") or {}).get("name", "?")
            raise WhatIfInputError(f"NetworkPolicy {name}: cannot be read ({exc})") from None
        errors.extend(problems)
        if policy is not None:
            pasted.append(policy)
    pasted_keys = {_key(obj) for obj in add}
    existing = {p.key for p in base.policies}
    # A pasted policy the engine could not read at all still replaces its namespace/name.
    if add or remove or not (calico_add or calico_remove):
        model = base.with_policies(add=pasted, remove=pasted_keys | set(remove), errors=errors)
    else:
        model = base  # Calico's change alone: with_calico_policies makes the new model
    if not incremental and model is not base:
        model = base.copy_with(
            policies=[dataclasses.replace(p) for p in model.policies], errors=model.errors
        )
    if calico_add or calico_remove:
        try:
            model, keys = model.with_calico_policies(
                add=calico_add, remove={engine_key(k) for k in calico_remove}
            )
        except InputError as exc:
            raise WhatIfInputError(f"Calico policy: cannot be read ({exc})") from None
        pasted_keys |= {whatif_key(k) for k in keys}
        existing |= {whatif_key(p.key) for p in base.calico_policies}
        remove |= calico_remove
    namespaces = {k.removeprefix("CalicoNetworkPolicy/").split("/", 1)[0] for k in pasted_keys}
    changes = Changes(
        added=sorted(pasted_keys - existing),
        replaced=sorted(pasted_keys & existing),
        removed=sorted((set(remove) & existing) - pasted_keys),
        not_found=sorted(set(remove) - existing - pasted_keys),
        new_namespaces=sorted(
            namespaces
            - {k.split("/", 1)[0] for k in pasted_keys if k.startswith("CalicoGlobal")}
            - set(base.namespaces)
        ),
    )
    return model, changes


def _key(obj: dict) -> str:
    metadata = obj.get("metadata") or {}
    if _is_calico(obj):
        kind = f"Calico{obj['kind']}"
        if obj["kind"] == "GlobalNetworkPolicy":
            return f"{kind}/{metadata.get('name')}"
        return f"{kind}/{metadata.get('namespace') or 'default'}/{metadata.get('name')}"
    return f"{metadata.get('namespace') or 'default'}/{metadata.get('name')}"


def is_calico_key(key: str) -> bool:
    """Whether a what-if key names a Calico policy (else a Kubernetes NetworkPolicy)."""
    return key.startswith(tuple(CALICO_KEY_KINDS.values()))


def engine_key(key: str) -> str:
    """The engine's key of a what-if key: ``CalicoGlobalNetworkPolicy/x`` is ``gnp/x``."""
    for prefix, shown in CALICO_KEY_KINDS.items():
        if key.startswith(shown):
            return prefix + key.removeprefix(shown)
    return key


def whatif_key(key: str) -> str:
    """The what-if key of an engine key (``engine_key``'s inverse)."""
    for prefix, shown in CALICO_KEY_KINDS.items():
        if key.startswith(prefix):
            return shown + key.removeprefix(prefix)
    return key


# --- 3. Comparing ---------------------------------------------------------------------


def base_report(model: ClusterModel):
    """The audit of a snapshot's model, built once per model and kept as long as it is
    (``storage.engine_model`` keeps the same object per snapshot)."""
    return model.derived("whatif.report", lambda: audit(model))


def compare(
    base: ClusterModel,
    *,
    add: list[dict] = (),
    remove: set[str] = frozenset(),
    incremental: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """What changes from ``base`` once ``add`` is applied and ``remove`` deleted (module doc).

    ``incremental`` False rebuilds the changed model in full and compares every
    connection (the benchmark's "before"). ``progress`` is told each step as it starts,
    for a run in a worker to show."""
    add, remove = list(add), set(remove)
    if not add and not remove:
        raise WhatIfInputError(
            "Nothing to try: paste at least one NetworkPolicy or mark an existing one for removal."
        )
    step = progress or (lambda _text: None)
    step("evaluating the change")
    model, changes = changed_model(base, add=add, remove=remove, incremental=incremental)
    step("comparing connections")
    if incremental:
        # Only the destinations the change touched: the others' edges are the same.
        before_edges, after_edges = changed_edges(base, model, "workload")
    else:
        before_edges = base.allowed_connections().edges("workload")
        after_edges = model.allowed_connections().edges("workload")
    keep = not_loopback(base)  # a what-if changes policies, never pods
    connections = _connections(
        Connections.of_edges(before_edges, keep), Connections.of_edges(after_edges, keep)
    )
    step("auditing the snapshot")
    before = base_report(base)
    step("auditing the changed cluster")
    after = audit(model)
    step("checking what the change cuts")
    pasted = {engine_key(k) for k in (*changes.added, *changes.replaced)}
    changed = pasted | {engine_key(k) for k in changes.removed}
    step("naming what decides each connection")
    for rows in (connections["gained"], connections["lost"]):
        _decide(model, rows[:SHOWN_CONNECTIONS])
    return {
        "dns_cut": _dns_cut(base, model),
        "allows_cut": _allows_cut(base, model, connections["lost"], changed),
        "changes": dataclasses.asdict(changes),
        "errors": [e.to_dict() for e in model.errors if e.policy in pasted],
        "coverage": _coverage(before, after),
        "findings": _findings(before, after),
        "connections": connections,
    }


# Rows of each result list kept for the page (and stored for a run in a worker); the
# totals always count all of them.
SHOWN_FINDINGS = 100
SHOWN_CONNECTIONS = 200
SHOWN_NAMESPACE_PAIRS = 50


def bounded(result: dict) -> dict:
    """``compare``'s answer with its long lists cut to what a page shows, and their
    totals: small enough to store as JSON and render at 50,000 pods."""
    findings, connections = result["findings"], result["connections"]
    return {
        **result,
        "findings": {
            "added": findings["added"][:SHOWN_FINDINGS],
            "removed": findings["removed"][:SHOWN_FINDINGS],
            "added_total": len(findings["added"]),
            "removed_total": len(findings["removed"]),
            "added_counts": findings["added_counts"],
            "removed_counts": findings["removed_counts"],
            "unchanged": findings["unchanged"],
        },
        "connections": {
            "gained": connections["gained"][:SHOWN_CONNECTIONS],
            "lost": connections["lost"][:SHOWN_CONNECTIONS],
            "gained_total": len(connections["gained"]),
            "lost_total": len(connections["lost"]),
            "by_namespace": connections["by_namespace"][:SHOWN_NAMESPACE_PAIRS],
            "namespace_pairs": len(connections["by_namespace"]),
        },
    }


DNS_LABEL = ("k8s-app", "kube-dns")


def _pods_reaching_dns(model: ClusterModel, protocol: str) -> set[str]:
    key, value = DNS_LABEL
    dns = [p.key for p in model.pods if p.labels.get(key) == value]
    return model.pods_reaching(dns, 53, protocol) - set(dns)


def _dns_cut(base: ClusterModel, model: ClusterModel) -> list[dict]:
    """Per namespace, the workloads whose pods reached the cluster DNS on UDP 53 before the
    change and no longer do: every lookup by name there would fail. A default deny
    written without a DNS rule does this, and NP032 alone would not say so for pods
    that are then allowed no egress at all."""
    before = base.derived("whatif.dns", lambda: _pods_reaching_dns(base, "UDP"))
    lost = before - _pods_reaching_dns(model, "UDP")
    by_namespace: dict[str, dict[str, int]] = {}
    for key in lost:
        pod = model.pod(key)
        workloads = by_namespace.setdefault(pod.namespace, {})
        workloads[pod.workload_id] = workloads.get(pod.workload_id, 0) + 1
    return [
        {
            "namespace": ns,
            "pods": sum(workloads.values()),
            "workloads": sorted(workloads),
        }
        for ns, workloads in sorted(by_namespace.items())
    ]


# Lost connections examined for rules they make dead; each costs a reach() or two.
MAX_CUT_CHECKED = 300
# Connections listed per dead rule; the count is always whole.
MAX_CUT_LISTED = 20


def _allows_cut(base: ClusterModel, model: ClusterModel, lost: list[dict], changed: set) -> list:
    """The existing rules that still allow connections the change cuts, so that they no
    longer work: a default deny egress in one namespace makes another namespace's
    ``allow-from-a`` dead, and the team that wrote it is not told.

    Only lost workload connections are examined (at most ``MAX_CUT_CHECKED``), each
    between one running pod of each workload, on the first port of each lost port range:
    the changed model's verdict names the rules on the side that still allows it, and
    those of policies the change leaves as they are are reported."""
    first_pod = base.derived("whatif.first_pods", lambda: _first_pods(base))
    found: dict[tuple[str, str, int], dict] = {}
    for row in lost[:MAX_CUT_CHECKED]:
        if row["from"].get("cidr"):
            continue
        src, dst = first_pod.get(row["from"]["key"]), first_pod.get(row["to"]["key"])
        if src is None or dst is None:
            continue
        ports = ALL_PORTS if row["ports"] == ["all ports"] else PortSet.parse(row["ports"])
        for protocol, port in ports.samples():
            verdict = model.reach(src, dst, port, protocol)
            if verdict.allowed:
                continue
            for side in (verdict.ingress, verdict.egress):
                if side is None or not side.allowed:
                    continue
                for match in side.allowed_by:
                    if match.policy in changed:
                        continue
                    key = (match.policy, side.direction, match.rule)
                    entry = found.setdefault(key, {"connections": {}, "ports": set()})
                    entry["connections"].setdefault((row["from"]["key"], row["to"]["key"]), row)
                    entry["ports"].add(f"{protocol}/{port}")
    out = []
    for (policy, direction, rule), entry in sorted(found.items()):
        rows = list(entry["connections"].values())
        namespace, _, name = policy.partition("/")
        out.append(
            {
                "policy": policy,
                "ref": policy_ref(model, policy),  # its kind, for the page's link
                "namespace": namespace,
                "name": name,
                "rule": f"spec.{direction}[{rule}]",
                "direction": direction,
                "connections": rows[:MAX_CUT_LISTED],
                "total": len(rows),
                "ports": sorted(entry["ports"]),
            }
        )
    return out


def _decide(model: ClusterModel, rows: list[dict]) -> None:
    """Each connection row gets ``decided``: which kind and policy decide it in the
    changed model, each side (``summaries.pair_decision``, on an example pair of pods and
    one port of the row), or None when no running pod stands for an end."""
    pods = model.derived("whatif.workload_pods", lambda: _workload_pods(model))
    for row in rows:
        destinations = pods.get(row["to"]["key"], [])
        ports = ALL_PORTS if row["ports"] == ["all ports"] else PortSet.parse(row["ports"])
        found = probe(ports, destinations[0].named_ports) if destinations else None
        if found is None:
            row["decided"] = None
            continue
        protocol, port = found
        if row["from"].get("cidr"):
            sources = [row["from"]["cidr"].split("/", 1)[0]]  # an address of the range
            row["decided"] = _address_decision(model, sources[0], destinations, port, protocol)
        else:
            sources = pods.get(row["from"]["key"], [])
            row["decided"] = pair_decision(model, sources, destinations, port, protocol)


def _address_decision(model, address: str, destinations, port: int, protocol: str):
    try:
        found = decision(model, address, destinations[0], port, protocol)
    except InputError:
        return None
    return {**found, "src": address, "dst": destinations[0].key}


def _workload_pods(model: ClusterModel) -> dict[str, list]:
    """Running pods by workload key (``ns/Kind/name``), in name order."""
    out: dict[str, list] = {}
    for pod in sorted(model.pods, key=lambda p: p.key):
        if pod.state == ACTIVE:
            out.setdefault(pod.workload_key, []).append(pod)
    return out


def _first_pods(model: ClusterModel) -> dict[str, str]:
    """Per workload, the key of its first running pod by name (one stands for all:
    pods of a workload share labels and ports)."""
    out: dict[str, str] = {}
    for pod in sorted(model.pods, key=lambda p: p.key):
        if pod.state == ACTIVE:
            out.setdefault(pod.workload_key, pod.key)
    return out


def _coverage(old, new) -> dict:
    """Cluster figures before and after, and a row per namespace whose figures changed.

    Coverage is the share of (running pod, direction) pairs isolated, in percent, as the
    cluster and namespaces pages show it."""

    def cluster(report) -> dict:
        c = report.coverage.cluster
        return {
            "pods": c.pods,
            "ingress_pods": c.ingress_pods,
            "egress_pods": c.egress_pods,
            "ingress_workloads": c.ingress_workloads,
            "egress_workloads": c.egress_workloads,
            "workloads": c.workloads,
            "coverage": _percent(report.coverage.ratio()),
            "score": report.score.get("cluster"),
        }

    def namespace(report, name: str) -> dict | None:
        nc = report.coverage.namespaces.get(name)
        if nc is None:
            return None
        c = nc.counts
        return {
            "pods": c.pods,
            "ingress_pods": c.ingress_pods,
            "egress_pods": c.egress_pods,
            "coverage": _percent(report.coverage.ratio(name)),
            "policies": len(nc.policies),
            "deny_ingress": bool(nc.default_deny_ingress),
            "deny_egress": bool(nc.default_deny_egress),
            "score": report.score.get("namespaces", {}).get(name),
        }

    rows = []
    for name in sorted(set(old.coverage.namespaces) | set(new.coverage.namespaces)):
        a, b = namespace(old, name), namespace(new, name)
        if a != b:
            rows.append(
                {
                    "namespace": name,
                    "before": a,
                    "after": b,
                    "coverage_change": _change(a, b, "coverage"),
                }
            )
    a, b = cluster(old), cluster(new)
    return {
        "cluster": {
            "before": a,
            "after": b,
            "coverage_change": _change(a, b, "coverage"),
            "score_change": _change(a, b, "score"),
        },
        "namespaces": rows,
    }


def _percent(ratio: float | None) -> float | None:
    return None if ratio is None else round(100 * ratio, 1)


def _change(a: dict | None, b: dict | None, field: str) -> float | None:
    x, y = (a or {}).get(field), (b or {}).get(field)
    return round(y - x, 1) if x is not None and y is not None else None


def _findings(old, new) -> dict:
    """Findings only the changed model has, and those it no longer has, by fingerprint."""
    new_findings, resolved, unchanged = finding_changes(old.findings, new.findings)
    added = [_finding(f) for f in new_findings]
    removed = [_finding(f) for f in resolved]
    return {
        "added": added,
        "removed": removed,
        "added_counts": _severity_counts(added),
        "removed_counts": _severity_counts(removed),
        "unchanged": unchanged,
    }


# What the what-if page shows of a finding.
_FINDING_FIELDS = ("rule", "severity", "title", "message", "namespace", "objects", "fingerprint")


def _finding(f) -> dict:
    shown = f.to_dict()
    return {key: shown[key] for key in _FINDING_FIELDS}


def _severity_counts(findings: list[dict]) -> list[tuple[str, int]]:
    counts = Counter(f["severity"] for f in findings)
    return [(s, counts[s]) for s in SEVERITIES if counts[s]]


def _connections(old: Connections, new: Connections) -> dict:
    gained, lost = (
        [_row(_source(src), dst, ports) for src, dst, ports in rows]
        for rows in changed_pairs(old, new)
    )
    order = lambda row: (row["to"]["key"], row["from"]["key"])  # noqa: E731
    gained.sort(key=order)
    lost.sort(key=order)
    return {"gained": gained, "lost": lost, "by_namespace": _by_namespace(gained, lost)}


def _source(key: str) -> dict:
    if key.startswith("ipBlock:"):
        return {"key": key, "cidr": key.removeprefix("ipBlock:")}
    return _workload(key)


def _row(source: dict, destination: str, ports: PortSet) -> dict:
    shown = ["all ports"] if ports == ALL_PORTS else ports.describe()
    return {"from": source, "to": _workload(destination), "ports": shown}


def _workload(key: str) -> dict:
    """``ns/Kind/name`` (the engine's workload key) split for links; a bare pod is ``ns/Pod/name``."""
    namespace, kind, name = key.split("/", 2)
    return {"key": key, "namespace": namespace, "kind": kind, "name": name}


def _by_namespace(gained: list[dict], lost: list[dict]) -> list[dict]:
    """Workload connections gained and lost per (source namespace, destination namespace)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for index, rows in ((0, gained), (1, lost)):
        for row in rows:
            source = row["from"].get("namespace", "")  # "" for address sources
            counts.setdefault((source, row["to"]["namespace"]), [0, 0])[index] += 1
    return [
        {"from": s, "to": d, "gained": g, "lost": lo}
        for (s, d), (g, lo) in sorted(counts.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    ]
