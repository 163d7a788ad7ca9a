"""Replay observed flows against a cluster model: allowed, denied, would-deny, unused rules.

Pure Python, no Django::

    result = replay(model, ["hubble.json"], changed=None, progress=None)
    result.to_dict()   # {"matched", "unmatched", "allowed", "denied", "would_deny", ...}

How, in bounded memory whatever the files' size:

1. Count each file's distinct raw flows (``counting.count_flows``: both ends as the file
   gives them, port, protocol, observed verdict; what repeats read once). Time
   and source port are left out, so the counts grow with the distinct conversations,
   not with the flows; every ``RAW_LIMIT`` distinct flows they are folded into step 2's
   table.
2. Match each distinct end to the snapshot (``Resolver``): a pod by namespace/name (or,
   for Calico, by generated-name prefix), else a pod or node by IP, else a pod of the
   one workload whose pods carry the flow's labels; an address outside the cluster is an
   end too. Ends that match nothing are counted with the reason and never dropped.
3. Judge each distinct (source, destination, port, protocol) once per pod-class pair
   (``Judge``; pods of a class behave alike): ``ClusterModel.reach`` gives the outcome and
   the rules that decide it; the reason names the flow's own pods. With a change, the same flows are judged on the changed model:
   allowed now and denied after are "would-deny".
4. Rules of the model that allow something but no allowed flow used are the unused
   allowances, ranked by what they open (selected pods × peer pods × ports). Each entry
   keeps the first and last time its flows were seen (``first_seen``, ``last_seen``, RFC
   3339 UTC); with ``since`` (a time) or ``window`` (seconds before the last time seen),
   only flows last seen at or after that time make a rule used. A conversation whose
   flows carry no time counts as used: nothing says it was older.
5. The verdict the flow carries (Hubble's, Calico's action, the CSV's column) is compared
   with the engine's; the differences are listed as disagreements.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from netpol.engine import ACTIVE, ClusterModel, InputError, IPSet, cidr_set, gc_paused, ip_to_int

from .counting import count_flows
from .formats import _RFC3339, ALLOWED, DENIED, Counts, End, FlowFileError, detect, instant, widen

RAW_LIMIT = 500_000  # distinct raw flows kept before they are matched and folded
MAX_UNMATCHED = 100  # unmatched ends listed (all are counted)
_CACHE_LIMIT = 1_000_000


class Decision(NamedTuple):
    outcome: str  # "allowed", "denied", "undefined" (hostNetwork), "no traffic"
    rules: tuple[tuple[str, str, str | None], ...]  # (direction, policy, "spec.ingress[0]" | None)
    reason: str


# --- 2. matching ends to the snapshot -------------------------------------------------


class Resolver:
    """Ends of flows to pod keys ("ns/name") or addresses; ``None, reason`` when neither."""

    def __init__(self, model: ClusterModel):
        self.model = model
        self._cache: dict[End, tuple[str | None, str]] = {}
        self._by_namespace: dict[str, list] | None = None
        pod_cidrs, _ = model.pod_ranges
        ranges = IPSet()
        for cidr in pod_cidrs:
            ranges = ranges | cidr_set(cidr)
        self._pod_ranges = ranges
        self._service_ips = {ip_to_int(a) for s in model.services for a in s.cluster_ips}

    def resolve(self, end: End) -> tuple[str | None, str]:
        """(pod key or address, how it matched) or (None, why not)."""
        hit = self._cache.get(end)
        if hit is None:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            hit = self._cache[end] = self._resolve(end)
        return hit

    def _resolve(self, end: End) -> tuple[str | None, str]:
        namespace, name, ip, labels, kind = end
        if kind == "networkset" and not ip:
            return None, "a Calico network set (no address logged)"
        if kind in ("network", "host") and not ip:
            return None, "an endpoint outside the pods with no address logged"
        if namespace and name and not kind:
            key = self._by_name(namespace, name)
            if key is not None:
                return key, "name"
        if ip:
            try:
                endpoint = self.model.endpoint(ip)
            except InputError:
                return None, f"{ip!r} is not an IP address"
            if endpoint.pod is not None:
                if not namespace or endpoint.pod.namespace == namespace:
                    return endpoint.pod.key, "ip"
            elif not namespace and not name:
                value = ip_to_int(ip)
                if endpoint.node:
                    return ip, "node address"
                if value in self._service_ips:
                    return None, "a Service address (flows must be recorded after translation)"
                if value in self._pod_ranges:
                    return None, "an address in the pod ranges that no pod of the snapshot holds"
                return ip, "address"
        if namespace and labels:
            key, why = self._by_labels(namespace, labels)
            if key is not None:
                return key, "labels"
            return None, why
        if namespace and name:
            return None, "no such pod in the snapshot (nor by address or labels)"
        return None, "no pod, address or labels given"

    def _pods_of(self, namespace: str) -> list:
        if self._by_namespace is None:
            self._by_namespace = {}
            # Active pods first: a flow's end took part in traffic.
            for pod in sorted(self.model.pods, key=lambda p: (p.state != ACTIVE, p.name)):
                self._by_namespace.setdefault(pod.namespace, []).append(pod)
        return self._by_namespace.get(namespace, [])

    def _by_name(self, namespace: str, name: str) -> str | None:
        if not name.endswith("*"):
            pod = self.model.pods_by_key.get(f"{namespace}/{name}")
            return pod.key if pod is not None else None
        prefix = name[:-1]
        for pod in self._pods_of(namespace):
            if pod.name.startswith(prefix):
                return pod.key
        return None

    def _by_labels(self, namespace: str, labels: tuple[str, ...]) -> tuple[str | None, str]:
        wanted = {}
        for label in labels:
            k, sep, v = label.partition("=")
            if sep:
                wanted[k] = v
        if not wanted:
            return None, "no pod labels given"
        found = [
            p
            for p in self._pods_of(namespace)
            if all(p.labels.get(k) == v for k, v in wanted.items())
        ]
        if not found:
            return None, f"no pod in {namespace} carries {_labels_text(wanted)}"
        workloads = {p.workload_key for p in found}
        if len(workloads) > 1:
            return None, (
                f"{_labels_text(wanted)} match {len(workloads)} workloads in {namespace}: ambiguous"
            )
        return found[0].key, "labels"


def _labels_text(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def describe_end(end: End) -> str:
    """An end in words, for the unmatched list."""
    parts = []
    if end.namespace or end.name:
        parts.append(f"{end.namespace or '?'}/{end.name or '?'}")
    if end.ip:
        parts.append(end.ip)
    if end.labels and not end.name:
        parts.append("{" + ",".join(end.labels) + "}")
    if end.kind:
        parts.append(f"({end.kind})")
    return " ".join(parts) or "(nothing given)"


# --- 3. judging -----------------------------------------------------------------------


class Judge:
    """The engine's decision per distinct flow, computed once per pod-class pair."""

    def __init__(self, model: ClusterModel):
        self.model = model
        self.class_of = model.evaluation.class_of
        self._cache: dict[tuple, Decision] = {}
        self._nodes: dict[str, bool] = {}
        self._kinds: dict[str, str] = {}

    def rules_json(self, rules) -> list[dict]:
        """A decision's rules as the replay's entries name them, each with its policy's
        kind (``CalicoNetworkPolicy`` for Calico's, as the pages name it)."""
        from netpol.summaries import policy_ref

        out = []
        for direction, policy, rule in rules:
            kind = self._kinds.get(policy)
            if kind is None:
                kind = self._kinds[policy] = policy_ref(self.model, policy)["api_kind"]
            out.append({"direction": direction, "policy": policy, "kind": kind, "rule": rule})
        return out

    def _is_node(self, address: str) -> bool:
        found = self._nodes.get(address)
        if found is None:
            found = self._nodes[address] = bool(self.model.endpoint(address).node)
        return found

    def decide(self, src: str, dst: str, port: int, protocol: str) -> Decision:
        if src == dst:
            return Decision(ALLOWED, (), "a pod cannot block traffic to itself")
        # Pods of one class behave alike, except towards their own node's address.
        near_node = ("/" not in src and self._is_node(src)) or (
            "/" not in dst and self._is_node(dst)
        )
        key = (
            src if near_node else self.class_of.get(src, src),
            dst if near_node else self.class_of.get(dst, dst),
            port,
            protocol,
        )
        found = self._cache.get(key)
        if found is None:
            found = decision(self.model.reach(src, dst, port, protocol))
            self._cache[key] = (found, src, dst)
            return found
        found, first_src, first_dst = found
        if (first_src != src or first_dst != dst) and (
            first_src in found.reason or first_dst in found.reason
        ):
            # The reason names the pods judged first; a flow of other pods of the same
            # classes gets its own names, whichever flow a file gave first.
            names = {first_src: src, first_dst: dst}
            reason = _NAMES.sub(lambda m: names.get(m[0], m[0]), found.reason)
            found = found._replace(reason=reason)
        return found


# The tokens of a reason that can be a pod's key or an address: what ``Judge`` renames.
_NAMES = re.compile(r"[^\s;,:]+")


def decision(verdict) -> Decision:
    """The outcome and the rules that decided it, per side: the allowing rules, or the
    policy whose rule decided in a tier (an Admin Accept or Deny, a Calico rule, a Cilium
    deny), else the policies isolating a side no rule allowed."""
    rules = []
    for d in (verdict.egress, verdict.ingress):
        if d is None:
            continue
        if verdict.outcome == ALLOWED:
            rules += [
                (d.direction, m.policy, f"spec.{d.direction}[{m.rule}]") for m in d.allowed_by
            ]
            if not d.allowed_by and d.decided_policy:
                rules.append((d.direction, d.decided_policy, None))
        elif not d.allowed:
            if d.decided_policy or d.denied_by:
                key = d.decided_policy or d.denied_by.split(" ", 1)[0]
                rules.append((d.direction, key, None))
            else:
                rules += [(d.direction, p, None) for p in d.isolating_policies]
    return Decision(verdict.outcome, tuple(rules), verdict.reason)


# --- the result -------------------------------------------------------------------------


@dataclass
class Replay:
    files: list[dict]
    counts: Counts
    matched: int
    unmatched: int
    allowed: list[dict]
    denied: list[dict]
    outside_policy: list[dict]
    would_deny: list[dict]
    unused_rules: list[dict]
    disagreements: list[dict]
    unmatched_ends: list[dict]
    unmatched_ends_total: int
    change: dict | None = None
    distinct: dict = field(default_factory=dict)
    unused_since: str | None = None  # with a window: the time rules' use is counted from

    def to_dict(self) -> dict:
        out = {
            "matched": self.matched,
            "unmatched": self.unmatched,
            "allowed": self.allowed,
            "denied": self.denied,
            "would_deny": self.would_deny,
            "unused_rules": self.unused_rules,
            "outside_policy": self.outside_policy,
            "disagreements": self.disagreements,
            "unmatched_ends": self.unmatched_ends,
            "unmatched_ends_total": self.unmatched_ends_total,
            "skipped": dict(sorted(self.counts.skipped.items())),
            "malformed": {"lines": self.counts.malformed, "examples": self.counts.examples},
            "files": self.files,
            "window": {"first": self.counts.first_time, "last": self.counts.last_time},
        }
        if self.unused_since is not None:
            out["unused_since"] = self.unused_since
        if self.change is not None:
            out["change"] = self.change
        return out


def time_text(when: bytes | None) -> str | None:
    """An ``instant`` as RFC 3339 text, the fraction without its trailing zeros."""
    if when is None:
        return None
    text = when.decode("utf-8", "replace")
    if len(text) == 30 and text[19] == "." and text[-1] == "Z":
        fraction = text[20:29].rstrip("0")
        return text[:19] + ("." + fraction if fraction else "") + "Z"
    return text


def since_instant(since: str) -> bytes:
    """``--since`` as an ``instant``; FlowFileError naming it when it is no RFC 3339 time."""
    if not _RFC3339.fullmatch(since.strip().encode()):
        raise FlowFileError(f"since {since!r} is not an RFC 3339 time (like 2025-06-01T10:00:00Z)")
    return instant(since.strip().encode())


def _earlier(when: bytes, seconds: float) -> bytes:
    from datetime import UTC, datetime, timedelta

    text = when.decode()
    if not (len(text) == 30 and text[-1] == "Z"):
        raise FlowFileError(f"a window needs RFC 3339 times in the flows; the last one is {text!r}")
    at = datetime.fromisoformat(text[:26] + "+00:00") - timedelta(seconds=seconds)
    return (
        at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").encode() + text[26:29].encode() + b"Z"
    )


# --- 1. streaming, and the whole replay -------------------------------------------------


# The replay allocates millions of short-lived tuples and no reference cycles; next to a
# 50,000-pod model the collector's full passes over the model cost more than the replay.
@gc_paused()
def replay(
    model: ClusterModel,
    paths,
    *,
    changed: ClusterModel | None = None,
    change: dict | None = None,
    progress=None,
    since: str | None = None,
    window: float | None = None,
) -> Replay:
    """Replay the flows of ``paths`` against ``model`` (module docstring); ``changed``:
    the model after a change, for would-deny; ``progress(done_bytes, total_bytes)`` is
    called as the files are read; ``since`` (RFC 3339) or ``window`` (seconds before the
    last time seen): the unused rules are those no flow seen since then used."""
    start = since_instant(since) if since is not None else None
    paths = [Path(p) for p in paths]
    formats = [detect(p) for p in paths]
    sizes = [p.stat().st_size for p in paths]
    total = sum(sizes)
    counts = Counts()
    resolver = Resolver(model)
    # (source, destination, port, protocol) -> {observed verdict: flows}
    table: dict[tuple[str, str, int, str], Counter] = {}
    spans: dict[tuple[str, str, int, str], list[bytes]] = {}  # the same keys: [first, last]
    times: dict = {}  # the batch's Observed -> [first, last]
    unmatched_ends: Counter = Counter()
    tally = {"matched": 0, "unmatched": 0}

    def fold(raw: Counter) -> None:
        resolve = resolver.resolve
        for observed, n in raw.items():
            src, dst, port, protocol, verdict = observed
            a, why_a = resolve(src)
            b, why_b = resolve(dst)
            if a is None or b is None:
                tally["unmatched"] += n
                if a is None:
                    unmatched_ends[describe_end(src), why_a] += n
                if b is None:
                    unmatched_ends[describe_end(dst), why_b] += n
                continue
            tally["matched"] += n
            seen = table.get((a, b, port, protocol))
            if seen is None:
                seen = table[a, b, port, protocol] = Counter()
            seen[verdict] += n
            span = times.get(observed)
            if span is not None:
                widen(spans, (a, b, port, protocol), span[0])
                widen(spans, (a, b, port, protocol), span[1])
        times.clear()

    done = 0
    for path, fmt, size in zip(paths, formats, sizes, strict=True):
        report = None
        if progress is not None:
            base = done

            def report(at, base=base):
                progress(base + at, total)

        for batch in count_flows(path, counts, fmt, report, limit=RAW_LIMIT, times=times):
            fold(batch)
        done += size
        if progress is not None:
            progress(done, total)

    return _judge_all(
        model,
        changed,
        change,
        paths,
        formats,
        counts,
        table,
        unmatched_ends,
        tally,
        spans=spans,
        start=start,
        window=window,
    )


def _judge_all(
    model,
    changed,
    change,
    paths,
    formats,
    counts,
    table,
    unmatched_ends,
    tally,
    spans=None,
    start: bytes | None = None,
    window: float | None = None,
):
    spans = spans or {}
    if window is not None and start is None:
        if not spans:
            raise FlowFileError("a window needs times in the flows, and no flow has one")
        start = _earlier(max(span[1] for span in spans.values()), window)
    judge = Judge(model)
    after = Judge(changed) if changed is not None else None
    allowed, denied, outside, would_deny, disagreements = [], [], [], [], []
    used: set[tuple[str, str, int]] = set()
    workload_of = {p.key: p.workload_key for p in model.pods}
    for key, seen in table.items():
        src, dst, port, protocol = key
        d = judge.decide(src, dst, port, protocol)
        flows = sum(seen.values())
        span = spans.get(key)
        entry = {
            "from": src,
            "to": dst,
            "port": port,
            "protocol": protocol,
            "flows": flows,
            "rule": judge.rules_json(d.rules),
            "reason": d.reason,
            "from_workload": workload_of.get(src),
            "to_workload": workload_of.get(dst),
            "first_seen": time_text(span[0]) if span else None,
            "last_seen": time_text(span[1]) if span else None,
        }
        observed = {k: v for k, v in seen.items() if k is not None}
        if observed:
            entry["observed"] = dict(sorted(observed.items()))
        if d.outcome == ALLOWED:
            allowed.append(entry)
            if start is None or span is None or span[1] >= start:
                for direction, policy, rule in d.rules:
                    used.add((policy, direction, rule))
            if after is not None:
                later = after.decide(src, dst, port, protocol)
                if later.outcome == DENIED:
                    would_deny.append(
                        {**entry, "rule": after.rules_json(later.rules), "reason": later.reason}
                    )
        elif d.outcome == DENIED:
            denied.append(entry)
        else:
            outside.append({**entry, "outcome": d.outcome})
        if d.outcome in (ALLOWED, DENIED):
            against = DENIED if d.outcome == ALLOWED else ALLOWED
            if seen.get(against):
                disagreements.append(
                    {
                        **{k: entry[k] for k in ("from", "to", "port", "protocol", "rule")},
                        "observed": against,
                        "flows": seen[against],
                        "engine": d.outcome,
                        "reason": d.reason,
                    }
                )
    order = _by_flows
    ends = sorted(unmatched_ends.items(), key=lambda kv: (-kv[1], kv[0]))
    return Replay(
        files=[{"path": str(p), "format": f} for p, f in zip(paths, formats, strict=True)],
        counts=counts,
        matched=tally["matched"],
        unmatched=tally["unmatched"],
        allowed=sorted(allowed, key=order),
        denied=sorted(denied, key=order),
        outside_policy=sorted(outside, key=order),
        would_deny=sorted(would_deny, key=order),
        unused_rules=unused_rules(model, used),
        disagreements=sorted(disagreements, key=order),
        unmatched_ends=[
            {"end": end, "reason": why, "flows": n} for (end, why), n in ends[:MAX_UNMATCHED]
        ],
        unmatched_ends_total=len(ends),
        change=change,
        distinct={"pairs": len(table), "decisions": len(judge._cache)},
        unused_since=time_text(start),
    )


def _by_flows(entry: dict):
    return (-entry["flows"], entry["from"], entry["to"], entry["protocol"], entry["port"])


# --- 4. unused allowances -----------------------------------------------------------------


def unused_rules(model: ClusterModel, used: set[tuple[str, str, str]]) -> list[dict]:
    """Valid rules that allow something (their policy selects pods and isolates that
    direction) and that no allowed flow used, most opening first: ``opens`` is the pods
    the policy selects × the peer pods (an ipBlock counts as one) × the ports."""
    ev = model.evaluation
    pods_in: dict[int, int] = {}

    def count(classes: int) -> int:
        n = pods_in.get(classes)
        if n is None:
            n = pods_in[classes] = len(ev.pods_in(classes))
        return n

    out = []
    for compiled in ev.rules:
        policy, direction, rule = compiled.policy, compiled.direction, compiled.rule
        path = f"spec.{direction}[{rule.index}]"
        if not rule.valid or (policy.key, direction, path) in used:
            continue
        if not (policy.affects_ingress if direction == "ingress" else policy.affects_egress):
            continue
        selected = count(ev.selected[policy.id])
        if not selected:
            continue
        peers = count(compiled.classes)
        cidrs = compiled.ips.to_cidrs() if compiled.ips else []
        if not peers and not cidrs:
            continue
        if compiled.fixed_ports is not None:
            ports = compiled.fixed_ports.describe()
            width = sum(hi - lo for lo, hi in compiled.fixed_ports.ranges)
        else:  # named ports resolve per pod: one each
            ports = [spec.text for spec in rule.ports]
            width = len(rule.ports)
        if not width:
            continue
        out.append(
            {
                "policy": policy.key,
                "kind": "NetworkPolicy",
                "rule": path,
                "direction": direction,
                "pods": selected,
                "peer_pods": peers,
                "ipBlocks": cidrs,
                "ports": ports,
                "opens": selected * max(peers, 1 if cidrs else 0) * width,
            }
        )
    out.sort(key=lambda r: (-r["opens"], r["policy"], r["rule"]))
    return out


# --- replaying flows already counted (a stored import) ---------------------------------


@gc_paused()
def replay_counted(
    model: ClusterModel,
    counted,
    *,
    counts: Counts | None = None,
    files: list[dict] = (),
    changed: ClusterModel | None = None,
    change: dict | None = None,
    times: dict | None = None,
    since: str | None = None,
    window: float | None = None,
) -> Replay:
    """``replay`` for flows already read and counted: ``counted`` yields ``(Observed,
    flows)`` pairs, as an import stores them, so a page replays distinct conversations
    instead of re-reading files. ``files`` (``{"path", "format"}``) and ``counts`` only
    describe where the flows came from; ``times``: ``Observed`` -> ``(first, last)``
    (``instant`` bytes or RFC 3339 text), as ``count_flows`` keeps them."""
    start = since_instant(since) if since is not None else None
    spans: dict[tuple[str, str, int, str], list[bytes]] = {}
    resolver = Resolver(model)
    table: dict[tuple[str, str, int, str], Counter] = {}
    unmatched_ends: Counter = Counter()
    tally = {"matched": 0, "unmatched": 0}
    for observed, n in counted:
        src, dst, port, protocol, verdict = observed
        a, why_a = resolver.resolve(src)
        b, why_b = resolver.resolve(dst)
        if a is None or b is None:
            tally["unmatched"] += n
            if a is None:
                unmatched_ends[describe_end(src), why_a] += n
            if b is None:
                unmatched_ends[describe_end(dst), why_b] += n
            continue
        tally["matched"] += n
        table.setdefault((a, b, port, protocol), Counter())[verdict] += n
        span = times.get(observed) if times else None
        if span is not None:
            for when in span:
                if isinstance(when, str):
                    when = instant(when.encode())
                widen(spans, (a, b, port, protocol), when)
    result = _judge_all(
        model,
        changed,
        change,
        [],
        [],
        counts or Counts(),
        table,
        unmatched_ends,
        tally,
        spans=spans,
        start=start,
        window=window,
    )
    result.files = list(files)
    return result


def would_deny(changed: ClusterModel, allowed: list[dict]) -> list[dict]:
    """The entries of a replay's ``allowed`` list (``Replay.to_dict()``) that ``changed``
    denies, with the rules that deny them: a change's would-deny from a replay already
    made, judging only the allowed flows again, in the list's order."""
    after = Judge(changed)
    out = []
    for entry in allowed:
        later = after.decide(entry["from"], entry["to"], entry["port"], entry["protocol"])
        if later.outcome == DENIED:
            out.append({**entry, "rule": after.rules_json(later.rules), "reason": later.reason})
    return out
