"""``netaudit``: the policy engine on manifest files, from the command line.

Every command reads PATH... (manifest files or directories, as ``kubectl apply -f``
reads them) with the manifests backend, builds a ``ClusterModel`` and prints one answer
as text (the default) or JSON (``--format json``). Warnings (skipped kinds, invalid
policy content) go to stderr; the answer alone goes to stdout.

Exit status: 0 on success (for ``reach``: the connection is allowed), 1 when ``reach``
finds it not allowed or ``audit --fail-on`` finds a finding that severe, 2 on bad input
(a bad file, an unknown pod, a bad address, port or protocol) with the reason on stderr.

Adding a command: write ``cmd_<name>(args) -> int`` that starts with
``_load(args.paths, args)``, and register it in ``build_parser`` with ``_add_command``.

The cluster's own ranges (what is *inside* the cluster, for the exposure findings) come
from ``--pod-cidr``, ``--service-cidr`` and ``--node-cidr``, added to those of a
``.netaudit.yaml`` in the manifest directory (see ``docs/cli.md``); with none and no Node
objects, the engine infers the pod ranges from pod IPs and a note on stderr says so.
The engine, the collectors and PyYAML are imported inside the commands, so ``--help``
and a usage error start in a fraction of the time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from .engine import ClusterModel, PodIsolation

PROG = "netaudit"
# The engine's PROTOCOLS and the catalogue's SEVERITIES (less "info"), written here so that
# --help imports neither; tests/test_cli.py checks they agree.
PROTOCOLS = ("TCP", "UDP", "SCTP")
SEVERITY_CHOICES = ("critical", "high", "medium", "low")
# netpol.enforcement.CNI_CHOICES, written here for the same reason (tests/test_cli_cni.py).
CNI_CHOICES = (
    "auto",
    "any",
    "calico",
    "canal",
    "cilium",
    "antrea",
    "kube-router",
    "weave",
    "azure-npm",
    "gke-network-policy",
    "flannel",
    "aws-vpc-cni",
)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


CONFIG_FILE = ".netaudit.yaml"
CONFIG_KEYS = {"podCIDRs": "pod", "serviceCIDRs": "service", "nodeCIDRs": "node"}


def _load(paths: Iterable[str | Path], args: argparse.Namespace | None = None) -> ClusterModel:
    """The cluster the manifests describe, with the declared ranges of ``.netaudit.yaml``
    and the command line; warnings go to stderr."""
    from .load import load_paths

    declared = _declared_cidrs(paths, args)
    cni = getattr(args, "cni", None) or "auto"
    model = load_paths(paths, declared_cidrs=declared, warn=_warn, cni=cni, inform=_inform)
    if model.pod_ranges_source == "inferred":
        _inform(
            f"pod ranges inferred from pod IPs: {', '.join(model.inferred_pod_cidrs)} "
            f"(no Node objects and no declared pod CIDR); declare the real ones with "
            f"--pod-cidr or podCIDRs in {CONFIG_FILE}"
        )
    return model


def _inform(message: str) -> None:
    print(f"{PROG}: note: {message}", file=sys.stderr)


def _declared_cidrs(paths: Iterable[str | Path], args: argparse.Namespace | None) -> dict:
    """``{"pod": [...], "service": [...], "node": [...]}``: each ``.netaudit.yaml`` found in
    the manifest directories (a file's own directory), then the command-line flags."""
    import pathlib

    declared: dict[str, list[str]] = {kind: [] for kind in CONFIG_KEYS.values()}
    seen = set()
    for path in paths:
        path = pathlib.Path(path)
        config = (path if path.is_dir() else path.parent) / CONFIG_FILE
        if config in seen or not config.is_file():
            continue
        seen.add(config)
        for kind, cidrs in _read_config(config).items():
            declared[kind] += [c for c in cidrs if c not in declared[kind]]
    for kind in declared:
        for cidr in getattr(args, f"{kind}_cidr", None) or []:
            if cidr not in declared[kind]:
                declared[kind].append(cidr)
    return declared


def _read_config(config: Path) -> dict[str, list[str]]:
    """The declared CIDRs of one config file; CollectionError naming the file and key."""
    import ipaddress

    import yaml

    from .collect.base import CollectionError

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CollectionError(f"{config}: cannot read it: {exc}") from None
    if not isinstance(data, dict):
        raise CollectionError(f"{config}: expected a mapping of {', '.join(CONFIG_KEYS)}")
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise CollectionError(
            f"{config}: unknown key {unknown[0]!r} (known: {', '.join(CONFIG_KEYS)})"
        )
    out: dict[str, list[str]] = {}
    for key, kind in CONFIG_KEYS.items():
        value = data.get(key) or []
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise CollectionError(f"{config}: {key}: expected a list of CIDRs")
        for cidr in value:
            try:
                ipaddress.ip_network(str(cidr), strict=False)
                if "/" not in str(cidr):
                    raise ValueError
            except ValueError:
                raise CollectionError(f"{config}: {key}: {cidr!r} is not a CIDR") from None
        out[kind] = [str(c) for c in value]
    return out


# --- Commands -------------------------------------------------------------------------


def cmd_matrix(args: argparse.Namespace) -> int:
    model = _load(args.paths, args)
    if args.by != "pod":
        return _grouped_matrix(model, args)
    result = model.matrix(port=args.port, protocol=args.protocol)
    if args.format == "json":
        _print_json(result, indent=None)  # one line: indenting would put each cell on its own
        return 0
    pods, matrix = result["pods"], result["matrix"]
    on = f"{args.protocol}/{args.port}" if args.port is not None else f"any {args.protocol} port"
    pairs = [
        (src, dst)
        for i, src in enumerate(pods)
        for j, dst in enumerate(pods)
        if i != j and matrix[i][j]
    ]
    total = len(pods) * (len(pods) - 1)
    print(f"{len(pairs)} of {total} connections between {len(pods)} pods allowed on {on}:")
    width = max((len(src) for src, _ in pairs), default=0)
    for src, dst in pairs:
        print(f"  {src.ljust(width)} -> {dst}")
    left_out = len(model.pods) - len(pods)
    if left_out:
        print(
            f"{left_out} pod{'s' if left_out > 1 else ''} left out: hostNetwork, or taking "
            f"no part in traffic (see '{PROG} coverage')"
        )
    return 0


def _grouped_matrix(model: ClusterModel, args: argparse.Namespace) -> int:
    result = model.grouped_matrix(args.by, port=args.port, protocol=args.protocol)
    if args.format == "json":
        _print_json(result, indent=None)
        return 0
    groups, matrix = result["groups"], result["matrix"]
    on = f"{args.protocol}/{args.port}" if args.port is not None else f"any {args.protocol} port"
    pairs = [
        (src, dst, matrix[i][j])
        for i, src in enumerate(groups)
        for j, dst in enumerate(groups)
        if matrix[i][j] != "none"
    ]
    print(
        f"{len(pairs)} of {len(groups) ** 2} {args.by} pairs allowed on {on} "
        "(all: every pod may reach every pod; some: only some pods):"
    )
    width = max((len(src) + len(dst) for src, dst, _ in pairs), default=0) + 4
    for src, dst, cell in pairs:
        print(f"  {(src + ' -> ' + dst).ljust(width)}{cell}")
    return 0


def _is_workload(value: str) -> bool:
    return value.count("/") == 2 and ":" not in value  # ns/Kind/name, not an IPv6 CIDR


def cmd_reach(args: argparse.Namespace) -> int:
    model = _load(args.paths, args)
    if _is_workload(args.src) or _is_workload(args.dst):
        return _reach_workloads(model, args)
    _check_endpoint(model, args.src, "--from")
    _check_endpoint(model, args.dst, "--to")
    verdict = model.reach(args.src, args.dst, args.port, args.protocol)
    if args.format == "json":
        _print_json(verdict.to_dict())
    else:
        print(verdict.text())
    return 0 if verdict.allowed else 1


def _reach_workloads(model: ClusterModel, args: argparse.Namespace) -> int:
    """A workload at either end: one verdict per distinct pair of pod classes (pods of a
    class behave alike), each explained for a representative pod pair."""
    from .engine import InputError

    ends = []
    for value, option in ((args.src, "--from"), (args.dst, "--to")):
        if _is_workload(value):
            try:
                pods = [p for p in model.workload_pods(value) if p.key in model.evaluation.class_of]
            except InputError as exc:
                raise InputError(f"{option}: {exc}") from None
            if not pods:
                raise InputError(f"{option}: {value} has no pod taking part in traffic")
            by_class: dict[int, list] = {}
            for pod in pods:
                by_class.setdefault(model.evaluation.class_of[pod.key], []).append(pod)
            ends.append([(members[0].key, len(members)) for members in by_class.values()])
        else:
            _check_endpoint(model, value, option)
            ends.append([(value, 1)])
    results = []
    for src, src_pods in ends[0]:
        for dst, dst_pods in ends[1]:
            if src == dst:
                continue
            verdict = model.reach(src, dst, args.port, args.protocol)
            results.append((src, src_pods, dst, dst_pods, verdict))
    allowed = [r for r in results if r[4].allowed]
    summary = "all" if len(allowed) == len(results) else "some" if allowed else "none"
    if args.format == "json":
        _print_json(
            {
                "from": args.src,
                "to": args.dst,
                "port": args.port,
                "protocol": args.protocol,
                "allowed": summary,
                "verdicts": [
                    {"src": s, "src_pods": sn, "dst": d, "dst_pods": dn, **v.to_dict()}
                    for s, sn, d, dn, v in results
                ],
            }
        )
    else:
        print(
            f"{args.src} -> {args.dst} on {args.protocol}/{args.port}: {summary} allowed "
            f"({len(results)} distinct pod pair{'s' if len(results) != 1 else ''}; pods of "
            "one class behave alike, each explained for one of them)"
        )
        for src, src_pods, dst, dst_pods, verdict in results:
            print(
                f"\n{src} ({src_pods} pod{'s' if src_pods > 1 else ''} like it) -> "
                f"{dst} ({dst_pods} pod{'s' if dst_pods > 1 else ''} like it):"
            )
            print(verdict.text())
    return 0 if summary == "all" else 1


def cmd_coverage(args: argparse.Namespace) -> int:
    model = _load(args.paths, args)
    rows = model.isolation()
    if args.format == "json":
        _print_json([row.to_dict() for row in rows])
        return 0
    table = [("POD", "INGRESS", "EGRESS", "NOTE", "POLICIES")]
    for row in rows:
        table.append(
            (
                row.pod,
                _isolation_cell(row, row.ingress_isolated),
                _isolation_cell(row, row.egress_isolated),
                _note(model, row),
                ", ".join(key.partition("/")[2] for key in row.policies) or "-",
            )
        )
    print(_aligned(table))
    from .engine import CATEGORIES

    counts = {category: 0 for category in CATEGORIES}
    for row in rows:
        counts[row.category] = counts.get(row.category, 0) + 1
    summary = ", ".join(f"{count} {category}" for category, count in counts.items() if count)
    print(f"{len(rows)} pod{'s' if len(rows) != 1 else ''}: {summary or 'none'}")
    return 0


def _isolation_cell(row: PodIsolation, isolated: bool | None) -> str:
    from .engine import HOST_NETWORK

    if row.state == HOST_NETWORK:
        return "undefined"
    if isolated is None:
        return "-"
    return "isolated" if isolated else "open"


def _note(model: ClusterModel, row: PodIsolation) -> str:
    from .engine import ACTIVE, HOST_NETWORK

    if row.state == HOST_NETWORK:
        return "policy behaviour undefined (hostNetwork)"
    if row.state != ACTIVE:
        return f"no traffic: {model.pod(row.pod).inactive_reason}"
    return ""


def _check_endpoint(model: ClusterModel, value: str, option: str) -> None:
    """Raise InputError naming the option when ``value`` is neither a pod nor an address;
    for an unknown pod, suggest close names and how to list them all."""
    from .engine import InputError

    try:
        model.endpoint(value)
    except InputError as exc:
        message = f"{option}: {exc}"
        if value not in model.pods_by_key and "/" in value:
            import difflib

            close = difflib.get_close_matches(value, model.pods_by_key, n=3)
            if close:
                message += f"; did you mean {' or '.join(close)}?"
            message += f" ('{PROG} coverage PATH...' lists every pod as namespace/name)"
        raise InputError(message) from None


def cmd_flows(args: argparse.Namespace) -> int:
    from .engine import InputError
    from .flows import FlowFileError, replay

    model = _load(args.paths, args)
    changed, change = None, None
    if args.change:
        changed, change = _changed(model, args.change)
    if args.since is not None and args.window is not None:
        raise InputError("--since and --window: give one or the other")
    window = _flows_window(args.window) if args.window is not None else None
    progress = _flows_progress() if sys.stderr.isatty() else None
    try:
        result = replay(
            model,
            args.flows,
            changed=changed,
            change=change,
            progress=progress,
            since=args.since,
            window=window,
        )
    except FlowFileError as exc:
        where = "--since" if str(exc).startswith("since ") else "--flows"
        if args.window is not None and "window" in str(exc):
            where = "--window"
        raise InputError(f"{where} {exc}") from None
    finally:
        if progress is not None:
            print(file=sys.stderr)
    for example in result.counts.examples:
        _warn(f"malformed flow, skipped: {example}")
    if result.counts.malformed > len(result.counts.examples):
        _warn(f"{result.counts.malformed} malformed lines in all (the first are listed)")
    if args.format == "json":
        _print_json(result.to_dict())
    else:
        print(_flows_text(result.to_dict()))
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    """Least-privilege NetworkPolicies from observed flows, verified before they are shown
    (``netpol/suggest.py``)."""
    from .engine import InputError
    from .flows import FlowFileError, replay
    from .suggest import SuggestionError, suggest

    model = _load(args.paths, args)
    try:
        replayed = replay(model, args.flows)
    except FlowFileError as exc:
        raise InputError(f"--flows {exc}") from None
    except OSError as exc:
        raise InputError(f"--flows {exc.filename}: {exc.strerror}") from None
    for example in replayed.counts.examples:
        _warn(f"malformed flow, skipped: {example}")
    try:
        result = suggest(
            model, replayed.to_dict(), namespace=args.namespace, workload=args.workload
        )
    except InputError as exc:
        option = "--workload" if args.workload is not None else "--namespace"
        raise InputError(f"{option} {exc}") from None
    except SuggestionError as exc:
        print(f"{PROG}: error: nothing shown, {exc} (a bug: please report it)", file=sys.stderr)
        for row in exc.denied[:20]:
            print(
                f"  {row['from']} -> {row['to']} {row['protocol']}/{row['port']}: {row['reason']}",
                file=sys.stderr,
            )
        return 3
    for skipped in result.skipped:
        _warn(f"{skipped['workload']} skipped: {skipped['reason']}")
    if not result.policies:
        _warn(f"no observed traffic for {result.scope['text']}: nothing to suggest")
        if args.format == "json":
            _print_json(result.to_dict())
        return 1
    if args.format == "json":
        _print_json(result.to_dict())
    else:
        sys.stdout.write(result.yaml())
    return 0


def _changed(model: ClusterModel, path: str):
    """The model with the NetworkPolicies under ``path`` applied as ``kubectl apply``
    would (same namespace/name replaces), and what changed."""
    from .collect.manifests import ManifestCollector
    from .engine import InputError
    from .whatif import WhatIfInputError, changed_model

    collector = ManifestCollector([path])
    objects = list(collector.fetch())
    for message in collector.warnings:
        if "used but not declared" not in message:  # the snapshot has the namespaces
            _warn(f"--change: {message}")
    policies = [obj for kind, obj in objects if kind == "NetworkPolicy"]
    others = sum(1 for kind, _ in objects if kind not in ("NetworkPolicy", "Namespace"))
    if others:
        _warn(f"--change: {others} object(s) other than NetworkPolicies ignored")
    if not policies:
        raise InputError(f"--change {path}: no NetworkPolicy in it")
    try:
        changed, changes = changed_model(model, add=policies, remove=set())
    except WhatIfInputError as exc:
        raise InputError(f"--change {path}: {exc}") from None
    for error in changed.errors:
        if error.policy in set(changes.added) | set(changes.replaced):
            _warn(f"--change: {error}")
    return changed, {"path": path, "added": changes.added, "replaced": changes.replaced}


def cmd_whatif(args: argparse.Namespace) -> int:
    """What a change would do to the cluster of PATH, as the what-if page says it
    (``netpol/whatif.py``): policies of ``--change`` applied, ``--remove`` deleted, and
    with ``--staged`` the cluster's Calico staged policies enforced (``netpol/staged.py``)."""
    from .engine import InputError
    from .staged import StagedPolicyError, staged_change
    from .whatif import WhatIfInputError, compare

    model = _load(args.paths, args)
    add: list[dict] = []
    remove = set(args.remove or ())
    staged = []
    if args.change:
        add.extend(_whatif_change(args.change))
    if args.staged:
        if not model.staged_policies:
            raise InputError("--staged: the cluster has no staged policy (Staged* kinds)")
        try:
            change = staged_change(model.staged_policies)
        except StagedPolicyError as exc:
            raise InputError(f"--staged: {exc}") from None
        add.extend(change.add)
        remove |= set(change.remove)
        staged = [s.to_dict() for s in change.policies]
    if not add and not remove:
        raise InputError("nothing to try: give --change DIR, --remove KEY or --staged")
    try:
        result = compare(model, add=add, remove=remove)
    except WhatIfInputError as exc:
        raise InputError(str(exc)) from None
    result["staged"] = staged
    if args.format == "json":
        _print_json(result)
    else:
        sys.stdout.write(_whatif_text(result))
    return 0


def _whatif_change(path: str) -> list[dict]:
    """The policies under ``path`` that a what-if can try (NetworkPolicies, Calico
    NetworkPolicies and GlobalNetworkPolicies); other kinds are skipped with a warning."""
    from .collect.kinds import CALICO_PREFIX
    from .collect.manifests import ManifestCollector
    from .engine import InputError

    tried = (
        "NetworkPolicy",
        CALICO_PREFIX + "NetworkPolicy",
        CALICO_PREFIX + "GlobalNetworkPolicy",
    )
    collector = ManifestCollector([path])
    objects = list(collector.fetch())
    for message in collector.warnings:
        if "used but not declared" not in message:  # the cluster has the namespaces
            _warn(f"--change: {message}")
    policies = [obj for kind, obj in objects if kind in tried]
    others = sum(1 for kind, _ in objects if kind not in (*tried, "Namespace"))
    if others:
        _warn(f"--change: {others} object(s) other than policies a what-if tries ignored")
    if not policies:
        raise InputError(f"--change {path}: no NetworkPolicy or Calico policy in it")
    return policies


def _whatif_text(result: dict, limit: int = 20) -> str:
    changes, coverage = result["changes"], result["coverage"]["cluster"]
    lines = []
    if result["staged"]:
        lines.append(
            f"What enforcing the {len(result['staged'])} staged polic"
            f"{'y' if len(result['staged']) == 1 else 'ies'} would change:"
        )
        for s in result["staged"]:
            lines.append(f"  {s['key']}: {s['action']} {s['enforced_kind']} {s['target']}")
    for word in ("added", "replaced", "removed", "not_found"):
        for key in changes[word]:
            lines.append(f"{word.replace('_', ' ')}: {key}")
    for error in result["errors"]:
        lines.append(f"invalid: {error['policy']} {error['field']}: {error['message']}")
    before, after = coverage["before"], coverage["after"]
    lines.append(
        f"Coverage {before['coverage']}% -> {after['coverage']}%, "
        f"score {before['score']} -> {after['score']}"
    )
    for title, rows in (
        ("Findings added", result["findings"]["added"]),
        ("Findings removed", result["findings"]["removed"]),
    ):
        lines.append(f"\n{title}: {len(rows)}")
        for f in rows[:limit]:
            lines.append(f"  {f['severity']:<8} {f['rule']} {f['title']}")
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more (--format json lists all)")
    for title, rows in (
        ("Connections gained", result["connections"]["gained"]),
        ("Connections lost", result["connections"]["lost"]),
    ):
        lines.append(f"\n{title}: {len(rows)}")
        for row in rows[:limit]:
            lines.append(f"  {row['from']['key']} -> {row['to']['key']} {', '.join(row['ports'])}")
            decided = row.get("decided")
            for side in (decided or {}).get("sides", ()):
                lines.append(f"      {side['direction']}: {side['text']}")
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more (--format json lists all)")
    return "\n".join(lines) + "\n"


_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _flows_window(text: str) -> float:
    """``--window`` (``90m``, ``24h``, ``30d``, ``2w``) in seconds."""
    from .engine import InputError

    number, unit = text.strip()[:-1], text.strip()[-1:]
    if unit not in _WINDOW_UNITS or not number.isdigit() or int(number) <= 0:
        raise InputError(
            f"--window {text!r}: expected a positive number of s, m, h, d or w (like 30d)"
        )
    return int(number) * _WINDOW_UNITS[unit]


def _flows_progress():
    def show(done: int, total: int) -> None:
        share = f"{100 * done // total}%" if total else ""
        print(f"\r{PROG}: reading flows {share} ({done / 2**20:,.0f} MiB)", end="", file=sys.stderr)

    return show


def _flows_n(n: int) -> str:
    return f"{n:,} flow{'s' if n != 1 else ''}"


def _flows_text(d: dict, limit: int = 20) -> str:
    read = d["matched"] + d["unmatched"]
    skipped = sum(d["skipped"].values())
    lines = [
        f"{read:,} flow{'s' if read != 1 else ''} replayed from {len(d['files'])} file"
        f"{'s' if len(d['files']) != 1 else ''}: {d['matched']:,} matched to the snapshot, "
        f"{d['unmatched']:,} unmatched"
    ]
    if skipped:
        lines.append(
            f"{skipped:,} records skipped: "
            + ", ".join(f"{n:,} {why}" for why, n in d["skipped"].items())
        )
    if d["malformed"]["lines"]:
        lines.append(f"{d['malformed']['lines']:,} malformed lines skipped (listed on stderr)")
    if d["window"]["first"]:
        lines.append(f"Observed from {d['window']['first']} to {d['window']['last']}")

    def rules(entry: dict) -> str:
        if not entry["rule"]:
            return "no policy isolates either end"
        if entry["rule"][0]["rule"] is None:
            return "isolated by " + ", ".join(
                f"{r['policy']} ({r['direction']})" for r in entry["rule"]
            )
        return "by " + ", ".join(f"{r['policy']} {r['rule']}" for r in entry["rule"])

    def section(title: str, entries: list[dict], line) -> None:
        lines.append(f"\n{title}: {len(entries):,}")
        for entry in entries[:limit]:
            lines.append("  " + line(entry))
        if len(entries) > limit:
            lines.append(f"  ... and {len(entries) - limit:,} more (--format json lists all)")

    def flow(entry: dict) -> str:
        return (
            f"{entry['from']} -> {entry['to']} {entry['protocol']}/{entry['port']}  "
            f"{_flows_n(entry['flows'])}  {rules(entry)}"
        )

    section("Allowed", d["allowed"], flow)
    section("Denied", d["denied"], flow)
    if d["outside_policy"]:
        section(
            "Outside policy (hostNetwork, or a pod taking no part in traffic)",
            d["outside_policy"],
            lambda e: f"{flow(e)}: {e['reason']}",
        )
    if "change" in d:
        section(f"Would deny after {d['change']['path']}", d["would_deny"], flow)
    section(
        "Disagreements (the flow's own verdict differs from the policies')",
        d["disagreements"],
        lambda e: (
            f"{e['from']} -> {e['to']} {e['protocol']}/{e['port']}: observed {e['observed']} "
            f"({_flows_n(e['flows'])}), the policies say {e['engine']}"
        ),
    )
    section(
        f"Unused rules (no flow seen since {d['unused_since']} used them; most opening first)"
        if d.get("unused_since")
        else "Unused rules (no observed flow used them; most opening first)",
        d["unused_rules"],
        lambda r: (
            f"{r['policy']} {r['rule']}: {r['pods']} pod(s) x "
            f"{r['peer_pods']} peer pod(s){' + ' + ', '.join(r['ipBlocks']) if r['ipBlocks'] else ''}"
            f" on {', '.join(r['ports'])}"
        ),
    )
    if d["unmatched_ends"]:
        section(
            "Unmatched ends (not found in the snapshot)",
            d["unmatched_ends"],
            lambda e: f"{e['end']}: {e['reason']} ({_flows_n(e['flows'])})",
        )
    return "\n".join(lines)


def cmd_audit(args: argparse.Namespace) -> int:
    import dataclasses

    from .findings import audit, render_text

    model = _load(args.paths, args)
    report = audit(model)
    gated = report.findings
    states: dict[str, str] = {}
    if args.baseline:
        known = _baseline_fingerprints(args.baseline)
        for f in report.findings:
            seen = f.fingerprint in known or (f.aliases and known.issuperset(f.aliases))
            states[f.fingerprint] = "unchanged" if seen else "new"
        gated = [f for f in report.findings if states[f.fingerprint] == "new"]
    findings = [
        {**f.to_dict(), **({"baseline_state": states[f.fingerprint]} if states else {})}
        for f in report.findings
    ]
    if args.format == "json":
        data = {**report.to_dict(), "findings": findings}
        if states:
            data["baseline"] = {
                "file": str(args.baseline),
                "new": len(gated),
                "unchanged": len(report.findings) - len(gated),
            }
        _print_json(data)
    elif args.format == "sarif":
        import pathlib

        from .sarif import manifest_locations, to_sarif

        located = manifest_locations(args.paths)
        _print_json(to_sarif(findings, locate=located.get, src_root=pathlib.Path.cwd()))
    else:
        from .sarif import manifest_locations

        if states:
            print(
                f"Baseline {args.baseline}: {len(gated)} new, "
                f"{len(report.findings) - len(gated)} unchanged (only new findings are listed)"
            )
            report = dataclasses.replace(report, findings=gated)
        located = manifest_locations(args.paths)
        print(render_text(report, locate=located.get, colour=_colour(args)))
    limit = args.fail_on
    if limit:
        from .findings.catalogue import SEVERITY_RANK

        if any(SEVERITY_RANK[f.severity] <= SEVERITY_RANK[limit] for f in gated):
            return 1
    return 0


def _colour(args: argparse.Namespace) -> bool:
    """ANSI colours: --color always/never, else only on a terminal and without NO_COLOR."""
    if args.color != "auto":
        return args.color == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _baseline_fingerprints(path: str) -> set[str]:
    """The fingerprints (and aliases) of an earlier ``netaudit audit --format json`` or
    ``--format sarif`` output; CollectionError naming the file when it is neither."""
    from .collect.base import CollectionError

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CollectionError(f"--baseline {path}: cannot read it as JSON: {exc}") from None
    found: set[str] = set()
    if isinstance(data, dict) and isinstance(data.get("runs"), list):  # SARIF
        for run in data["runs"]:
            for result in (run or {}).get("results") or []:
                found.update((result.get("partialFingerprints") or {}).values())
    elif isinstance(data, dict) and isinstance(data.get("findings"), list):
        for finding in data["findings"]:
            if isinstance(finding, dict) and finding.get("fingerprint"):
                found.add(finding["fingerprint"])
                found.update(finding.get("aliases") or [])
    else:
        raise CollectionError(
            f"--baseline {path}: neither a netaudit audit JSON (findings) nor a SARIF log (runs)"
        )
    return found


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import review_change
    from .findings import SEVERITIES, audit

    old_model, new_model = _load([args.old], args), _load([args.new], args)
    result = review_change(old_model, audit(old_model), new_model, audit(new_model))
    if args.format == "json":
        _print_json(result)
    elif args.format == "markdown":
        print(_diff_markdown(result))
    else:
        print(_diff_text(result))
    failed = bool(args.fail_on_opened and result["opened"])
    if args.fail_on_new:
        worst = SEVERITIES.index(args.fail_on_new)
        new = result["findings"]["new"]
        if any(SEVERITIES.index(f["severity"]) <= worst for f in new):
            failed = True
    return 1 if failed else 0


def _by_pair(connections: list[dict]) -> list[tuple[str, str, str]]:
    """(from, to, ports) per workload pair, in the entries' order: "TCP/5432, UDP/*"."""
    ports: dict[tuple[str, str], list[str]] = {}
    for c in connections:
        if c["port"] is None:
            text = f"{c['protocol']}/*"
        else:
            text = f"{c['protocol']}/{c['port']}" + (f"-{c['end_port']}" if c["end_port"] else "")
        ports.setdefault((c["from"], c["to"]), []).append(text)
    every = ["TCP/*", "UDP/*", "SCTP/*"]
    return [
        (src, dst, "all ports" if p == every else ", ".join(p)) for (src, dst), p in ports.items()
    ]


def _diff_markdown(d: dict) -> str:
    """A pull-request comment: the figures first, then each list, folded when long."""
    before, after = d["coverage"]["before"], d["coverage"]["after"]
    opened, closed = _by_pair(d["opened"]), _by_pair(d["closed"])
    findings, policies = d["findings"], d["policies"]

    def percent(value) -> str:
        return "-" if value is None else f"{value}%"

    def share(c: dict, direction: str) -> str:
        return f"{c[direction + '_workloads']} of {c['workloads']}"

    lines = [
        "### netaudit: what this change does",
        "",
        f"**{len(opened)}** workload connection{'s' if len(opened) != 1 else ''} opened, "
        f"**{len(closed)}** closed · **{len(findings['new'])}** new finding"
        f"{'s' if len(findings['new']) != 1 else ''}, **{len(findings['resolved'])}** resolved · "
        f"policies: {len(policies['added'])} added, {len(policies['removed'])} removed, "
        f"{len(policies['changed'])} changed",
        "",
        "| | before | after |",
        "| --- | --- | --- |",
        f"| Coverage (pod and direction pairs isolated) | {percent(before['coverage'])} | "
        f"{percent(after['coverage'])} |",
        f"| Score | {before['score']} | {after['score']} |",
        f"| Workloads isolated for ingress | {share(before, 'ingress')} | {share(after, 'ingress')} |",
        f"| Workloads isolated for egress | {share(before, 'egress')} | {share(after, 'egress')} |",
    ]
    for title, rows in (("Connections opened", opened), ("Connections closed", closed)):
        table = ["| from | to | ports |", "| --- | --- | --- |"]
        table += [f"| `{src}` | `{dst}` | {ports} |" for src, dst, ports in rows]
        lines += _md_section(title, len(rows), table)
    for title, items in (
        ("New findings", findings["new"]),
        ("Resolved findings", findings["resolved"]),
    ):
        table = ["| severity | rule | finding |", "| --- | --- | --- |"]
        table += [f"| {f['severity']} | {f['rule']} | {_md_cell(f['message'])} |" for f in items]
        lines += _md_section(title, len(items), table)
    changed = [f"- added `{key}`" for key in policies["added"]]
    changed += [f"- removed `{key}`" for key in policies["removed"]]
    changed += [
        f"- changed `{c['policy']}` ({', '.join(c['changed'])})" for c in policies["changed"]
    ]
    lines += _md_section("Policies", len(changed), changed)
    return "\n".join(lines)


MARKDOWN_FOLD = 10  # rows a section shows open; longer ones fold into <details>


def _md_section(title: str, count: int, body: list[str]) -> list[str]:
    if not count:
        return ["", f"**{title}:** none"]
    if count <= MARKDOWN_FOLD:
        return ["", f"**{title} ({count})**", "", *body]
    return [
        "",
        "<details>",
        f"<summary><b>{title} ({count})</b></summary>",
        "",
        *body,
        "",
        "</details>",
    ]


def _md_cell(text: str) -> str:
    """Text safe in a table cell: no pipe ends the cell, no newline ends the row."""
    return text.replace("|", "\\|").replace("\n", " ")


def _diff_text(d: dict) -> str:
    findings, policies, score = d["findings"], d["policies"], d["score"]
    lines = []
    for title, rows in (("opened", _by_pair(d["opened"])), ("closed", _by_pair(d["closed"]))):
        lines.append(
            f"Connections {title}: {len(rows)} workload pair{'s' if len(rows) != 1 else ''}"
        )
        lines += [f"  {src} -> {dst}: {ports}" for src, dst, ports in rows]
    lines += [
        f"Findings: {len(findings['new'])} new, {len(findings['resolved'])} resolved, "
        f"{findings['unchanged']} unchanged",
        f"Score: {score['old']} -> {score['new']}",
    ]
    for title, items in (("New", findings["new"]), ("Resolved", findings["resolved"])):
        for f in items:
            lines.append(f"  {title.lower()}: [{f['severity']}] {f['rule']} {f['message']}")
    measures = [
        f"  {label}: {m['old']} -> {m['new']} ({m['change']:+})"
        for label, m in d["coverage"]["measures"].items()
        if m["change"]
    ]
    lines.append("Coverage:" + ("" if measures else " unchanged"))
    lines += measures
    lines.append(
        f"Policies: {len(policies['added'])} added, {len(policies['removed'])} removed, "
        f"{len(policies['changed'])} changed"
    )
    lines += [f"  added: {key}" for key in policies["added"]]
    lines += [f"  removed: {key}" for key in policies["removed"]]
    lines += [f"  changed: {c['policy']} ({', '.join(c['changed'])})" for c in policies["changed"]]
    for title, rows in (
        ("Newly uncovered", d["newly_uncovered"]),
        ("Newly exposed", d["newly_exposed"]),
    ):
        lines.append(f"{title}: {len(rows)}")
        lines += [f"  {r['workload']} ({r['direction']})" for r in rows]
    return "\n".join(lines)


def cmd_paths(args: argparse.Namespace) -> int:
    from .engine import InputError
    from .paths import INTERNET, attack_paths, crown_jewels, parse_selector

    model = _load(args.paths, args)
    if args.src is not None and not _is_workload(args.src):
        raise InputError(
            f"--from: {args.src!r} is not a workload (NS/KIND/NAME, e.g. shop/Deployment/web)"
        )
    if args.dst is not None and not _is_workload(args.dst):
        raise InputError(
            f"--to: {args.dst!r} is not a workload (NS/KIND/NAME, e.g. shop-db/StatefulSet/postgres)"
        )
    start = INTERNET if args.from_internet else args.src
    if args.dst is not None:
        try:
            jewels = crown_jewels(model, workloads=[args.dst])
        except InputError as exc:
            raise InputError(f"--to: {exc}") from None
    else:
        jewels = crown_jewels(model, selector=parse_selector(args.to_selector))
        if not jewels:
            raise InputError(
                f"--to-selector {args.to_selector!r}: no pod taking part in traffic has these labels"
            )
    try:
        found = attack_paths(model, jewels, start=start, max_hops=args.max_hops, limit=args.limit)
    except InputError as exc:
        raise InputError(f"--from: {exc}" if start != INTERNET else str(exc)) from None
    if args.format == "json":
        _print_json({"paths": [p.to_dict() for p in found]})
    else:
        print(_paths_text(found, jewels, start, args.max_hops))
    return 0 if found else 1


def _paths_text(found: list, jewels: list[str], start: str, max_hops: int) -> str:
    origin = "the internet" if start == "internet" else start
    within = f"within {max_hops} hop{'s' if max_hops != 1 else ''}"
    targets = ", ".join(jewels)
    if not found:
        return f"No path from {origin} to {targets} {within}."
    reached = len({p.target for p in found})
    lines = [
        f"{len(found)} path{'s' if len(found) != 1 else ''} from {origin} to {reached} of "
        f"{len(jewels)} crown jewel{'s' if len(jewels) != 1 else ''} {within} (shortest first):"
    ]
    for number, path in enumerate(found, start=1):
        hops = len(path.hops)
        chain = " -> ".join([path.hops[0].src] + [h.dst for h in path.hops])
        lines.append(f"\n{number}. {chain}  ({hops} hop{'s' if hops != 1 else ''})")
        for hop in path.hops:
            on = f"{hop.protocol}/{hop.port}"
            if len(hop.ports) > 1 or "/*" in hop.ports[0] or "-" in hop.ports[0]:
                on += f" (allowed: {', '.join(hop.ports)})"
            lines.append(f"   {hop.src} -> {hop.dst} on {on}")
            for rule in hop.rules:
                opened = f"{rule['policy']} {rule['rule']}" if rule["policy"] else rule["rule"]
                lines.append(f"     {rule['direction']} at {rule['pod']}: {opened}")
    return "\n".join(lines)


# --- Output helpers -------------------------------------------------------------------


def _print_json(data, *, indent: int | None = 2) -> None:
    print(json.dumps(data, indent=indent))


def _aligned(rows: list[tuple[str, ...]]) -> str:
    """Rows as columns padded to their widest cell (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([cell.ljust(w) for cell, w in zip(row, widths, strict=False)] + [row[-1]])
        for row in rows
    )


# --- Arguments ------------------------------------------------------------------------


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 1-65535")
    return port


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} must be at least 1")
    return number


def _add_command(subparsers, name: str, handler, **kwargs) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )
    parser.set_defaults(handler=handler)
    return parser


def _paths_and_format(formats: tuple[str, ...]) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="manifest file or directory (YAML or JSON, multi-document, kind: List)",
    )
    common.add_argument(
        "--format",
        choices=formats,
        default="text",
        metavar="|".join(formats),
        help="output format (default: text)",
    )
    return common


def _cidr(value: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a CIDR") from None
    if "/" not in value:
        raise argparse.ArgumentTypeError(f"{value!r} is not a CIDR (no /prefix)")
    return value


def _ranges() -> argparse.ArgumentParser:
    ranges = argparse.ArgumentParser(add_help=False)
    group = ranges.add_argument_group(
        "cluster ranges",
        f"What is inside the cluster, added to those of {CONFIG_FILE} in the manifest "
        "directory. Without any and without Node objects, pod ranges are inferred from "
        "pod IPs (a note on stderr says so).",
    )
    for kind, what in (("pod", "pod"), ("service", "Service"), ("node", "node")):
        group.add_argument(
            f"--{kind}-cidr",
            dest=f"{kind}_cidr",
            action="append",
            type=_cidr,
            metavar="CIDR",
            help=f"a {what} CIDR of the cluster (repeatable)",
        )
    plugin = ranges.add_argument_group(
        "network plugin",
        "Policies of a kind the cluster's network plugin does not enforce are ignored (a "
        "note on stderr names them; the audit reports them as NP042).",
    )
    plugin.add_argument(
        "--cni",
        choices=CNI_CHOICES,
        default="auto",
        metavar="PLUGIN",
        help="the network plugin whose policy kinds are applied: auto (default: found "
        "among the pods; every kind when none is), any (every kind), or one of "
        + ", ".join(CNI_CHOICES[2:]),
    )
    return ranges


def build_parser() -> argparse.ArgumentParser:
    ranges = _ranges()
    common = _paths_and_format(("text", "json"))
    protocol = argparse.ArgumentParser(add_help=False)
    protocol.add_argument(
        "--protocol",
        type=str.upper,
        choices=PROTOCOLS,
        default="TCP",
        metavar="TCP|UDP|SCTP",
        help="protocol (default: TCP)",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Audit Kubernetes NetworkPolicies in manifest files.",
        epilog="Exit status: 0 on success (reach: allowed), 1 when reach finds the "
        "connection not allowed, 2 on bad input. Warnings go to stderr.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    matrix = _add_command(
        subparsers,
        "matrix",
        cmd_matrix,
        help="which pods may connect to which",
        description=(
            "Which pods may open a connection to which, on a port or on any port.\n\n"
            'json: {"pods": [sorted "namespace/name"], "matrix": [[bool]]}, where\n'
            "matrix[i][j] says whether pods[i] may connect to pods[j].\n"
            'text: the allowed pairs, one "SOURCE -> DESTINATION" per line (a pod always\n'
            "reaches itself; those pairs are not listed).\n\n"
            "hostNetwork pods and pods taking no part in traffic (no IP, not running) are\n"
            "left out. Pods made from workload templates count as running."
        ),
        parents=[common, protocol, ranges],
    )
    matrix.add_argument(
        "--port",
        type=_port,
        metavar="N",
        help="destination port (default: any port of the protocol)",
    )
    matrix.add_argument(
        "--by",
        choices=("pod", "workload", "namespace"),
        default="pod",
        metavar="pod|workload|namespace",
        help="one row per pod (default), or per workload or namespace: each cell then says "
        "whether all, some or none of the pod pairs are allowed",
    )

    reach = _add_command(
        subparsers,
        "reach",
        cmd_reach,
        help="may one connection be opened, and why",
        description=(
            "The verdict for one connection and its explanation: for each direction, the\n"
            "policy and rule (by index) that allow it, or the policies that isolate the pod.\n\n"
            "Exit status: 0 allowed, 1 not allowed (denied, or a hostNetwork pod or a pod\n"
            "taking no part in traffic at one end), 2 bad input."
        ),
        parents=[common, protocol, ranges],
    )
    reach.add_argument(
        "--from",
        dest="src",
        required=True,
        metavar="NS/POD|NS/KIND/NAME|IP",
        help="source: a pod, a workload (e.g. shop/Deployment/web) or an address",
    )
    reach.add_argument(
        "--to",
        dest="dst",
        required=True,
        metavar="NS/POD|NS/KIND/NAME|IP",
        help="destination: a pod, a workload or an address",
    )
    reach.add_argument(
        "--port", type=_port, required=True, metavar="N", help="destination port number"
    )

    _add_command(
        subparsers,
        "coverage",
        cmd_coverage,
        parents=[common, ranges],
        help="isolation per pod and the policies that select it",
        description=(
            "Per pod: whether it is isolated for ingress and for egress, and the policies\n"
            'that select it. hostNetwork pods are shown as "policy behaviour undefined"\n'
            'and pods taking no part in traffic (no IP, not running) as "no traffic".\n\n'
            "text: aligned columns; json: a list of objects, one per pod."
        ),
    )
    audit_parser = _add_command(
        subparsers,
        "audit",
        cmd_audit,
        parents=[_paths_and_format(("text", "json", "sarif")), ranges],
        help="findings, coverage, score and compliance evidence",
        description=(
            "The audit: findings of the catalogue (docs/findings.md) with their objects\n"
            "and evidence, coverage per cluster and namespace, the score and its formula,\n"
            "CIS 5.3.2 and NSA/CISA default-deny evidence per namespace.\n\n"
            'json: {"findings": [...], "coverage": {...}, "score": {...}, "compliance":\n'
            '[...], "cni": {...}}; each finding has rule, severity, title, message and\n'
            'objects ("Kind/namespace/name"; "Namespace/name" for namespaces).\n'
            "text: a summary, then the findings grouped by severity.\n"
            "sarif: SARIF 2.1.0 for code-scanning tools, one result per finding, located\n"
            "at the object's file and line (paths relative to the working directory).\n\n"
            "Exit status: 0, or 1 with --fail-on when a finding at or above that severity\n"
            "exists; 2 on bad input."
        ),
    )
    audit_parser.add_argument(
        "--fail-on",
        choices=SEVERITY_CHOICES,
        metavar="critical|high|medium|low",
        help="exit 1 when a finding of this severity or above exists (with --baseline: a new one)",
    )
    audit_parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        metavar="auto|always|never",
        help="colour the text output (default auto: on a terminal, unless NO_COLOR is set)",
    )
    audit_parser.add_argument(
        "--baseline",
        metavar="PREVIOUS.json|PREVIOUS.sarif",
        help="an earlier audit (--format json or sarif): its findings are 'unchanged', "
        "only new ones are listed in text and count for --fail-on",
    )

    flows_parser = _add_command(
        subparsers,
        "flows",
        cmd_flows,
        parents=[common, ranges],
        help="replay observed flows: allowed, denied, would-deny, unused rules",
        description=(
            "Replay flows observed in the cluster (Hubble's 'hubble observe -o json' or\n"
            "'-o jsonpb', Calico's Goldmane flow logs, or CSV with the columns\n"
            "time,src_ns,src_pod,dst_ns,dst_pod,dst_ip,port,protocol,verdict) against the\n"
            "policies of PATH: which flows they allow and which they deny, with the deciding\n"
            "rules; with --change, which allowed flows the change would deny; the rules no\n"
            "flow used, most opening first; where the flow's own verdict differs.\n"
            "Flow ends are matched to pods by namespace/name, then by IP, then by labels;\n"
            "unmatched ones are counted and listed. Files stream: any size, bounded memory.\n\n"
            'json: {"matched": N, "unmatched": N, "allowed": [...], "denied": [...],\n'
            '"would_deny": [...], "unused_rules": [...], ...}; see docs/cli.md.\n\n'
            "Exit status: 0, or 2 on bad input (a manifest, or a flow file with no flow)."
        ),
    )
    flows_parser.add_argument(
        "--flows",
        action="append",
        required=True,
        metavar="FILE",
        help="a flow file (repeatable; .gz is read through gzip)",
    )
    flows_parser.add_argument(
        "--change",
        metavar="CHANGE_DIR",
        help="NetworkPolicies to apply (same namespace/name replaces): lists the flows "
        "allowed now that they would deny",
    )
    flows_parser.add_argument(
        "--since",
        metavar="TIME",
        help="unused rules: those no flow seen at or after TIME (RFC 3339) used",
    )
    flows_parser.add_argument(
        "--window",
        metavar="DURATION",
        help="unused rules: those no flow seen in the last DURATION of the flows "
        "(30d, 24h, 90m; counted back from the last time seen) used",
    )

    suggest_parser = _add_command(
        subparsers,
        "suggest",
        cmd_suggest,
        parents=[_paths_and_format(("yaml", "json")), ranges],
        help="least-privilege NetworkPolicies from observed flows, verified",
        description=(
            "Suggest one NetworkPolicy per workload the observed flows name (or of\n"
            "--namespace, or --workload): default deny both ways plus an allow for each\n"
            "observed peer (by its workload's labels; other namespaces also by\n"
            "kubernetes.io/metadata.name; addresses as ipBlock /32), ports by name where\n"
            "the pods name them, and egress to the cluster DNS (UDP and TCP 53). The\n"
            "engine replays every observed conversation against the cluster with the\n"
            "suggestion applied before anything is shown.\n\n"
            "yaml (default): kubectl-applicable, a comment header with the verification.\n"
            'json: {"policies": [...], "verified": {"conversations", "flows", "denied",\n'
            '"opened"}, "closes": [...], "skipped": [...], ...}; see docs/cli.md.\n\n'
            "Exit status: 0 with a suggestion; 1 when the flows show no traffic in scope;\n"
            "2 on bad input; 3 when the verification fails (nothing shown)."
        ),
    )
    suggest_parser.set_defaults(format="yaml")
    suggest_parser.add_argument(
        "--flows",
        action="append",
        required=True,
        metavar="FILE",
        help="a flow file (repeatable; Hubble, Calico or CSV, as for 'flows')",
    )
    scope = suggest_parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", metavar="NS", help="only the workloads of this namespace")
    scope.add_argument(
        "--workload", metavar="NS/KIND/NAME", help="only this workload, e.g. shop/Deployment/web"
    )

    whatif_parser = _add_command(
        subparsers,
        "whatif",
        cmd_whatif,
        parents=[common, ranges],
        help="what a policy change would do: coverage, findings, connections",
        description=(
            "What the cluster of PATH would be with a change, as the what-if page says it:\n"
            "coverage and score before and after, findings added and removed, workload\n"
            "connections gained and lost, each naming the kind and policy that decide it\n"
            "after the change. The change: the policies of --change (Kubernetes\n"
            "NetworkPolicies, Calico NetworkPolicies and GlobalNetworkPolicies; the same\n"
            "name replaces), the policies named by --remove, and with --staged the\n"
            "cluster's Calico staged policies (Staged*) as if enforced: stagedAction Set\n"
            "sets the enforced policy of its name, Delete removes it.\n\n"
            'json: {"changes", "coverage", "findings", "connections", "staged", ...}; see\n'
            "docs/cli.md.\n\n"
            "Exit status: 0, or 2 on bad input (a manifest, nothing to try, --staged on a\n"
            "cluster without staged policies)."
        ),
    )
    whatif_parser.add_argument(
        "--change", metavar="CHANGE_DIR", help="policies to add or replace (a file or directory)"
    )
    whatif_parser.add_argument(
        "--remove",
        action="append",
        metavar="KEY",
        help="a policy to remove (repeatable): NS/NAME for a NetworkPolicy, "
        "CalicoNetworkPolicy/NS/NAME or CalicoGlobalNetworkPolicy/NAME",
    )
    whatif_parser.add_argument(
        "--staged",
        action="store_true",
        help="enforce the cluster's Calico staged policies (Set and Delete) as the change",
    )

    paths_parser = _add_command(
        subparsers,
        "paths",
        cmd_paths,
        parents=[common, ranges],
        help="attack paths to crown-jewel workloads",
        description=(
            "The shortest paths of allowed connections from the internet (every workload an\n"
            "outside address may connect to) or from one workload to crown-jewel workloads:\n"
            "per crown jewel, up to --limit paths from distinct starting workloads, each hop\n"
            "with a port and protocol it allows and the rules that open it at both ends\n"
            "(the source's egress rule and the destination's ingress rule, or 'not isolated').\n\n"
            'json: {"paths": [{"hops": [{"from": "ns/Kind/name" | "internet", "to",\n'
            '"port", "protocol", "rules": [...]}]}]}, shortest first.\n\n'
            "Exit status: 0 when a path exists, 1 when none, 2 on bad input."
        ),
    )
    start = paths_parser.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--from",
        dest="src",
        metavar="NS/KIND/NAME",
        help="the workload an attacker holds, e.g. shop-frontend/Deployment/storefront",
    )
    start.add_argument(
        "--from-internet",
        action="store_true",
        help="start outside the cluster: every workload an outside address may connect to",
    )
    target = paths_parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", dest="dst", metavar="NS/KIND/NAME", help="the crown-jewel workload")
    target.add_argument(
        "--to-selector",
        metavar="K=V,...",
        help="crown jewels: every workload with a pod carrying all these labels",
    )
    paths_parser.add_argument(
        "--max-hops",
        type=_positive,
        default=4,
        metavar="N",
        help="the longest path, in connections (default 4; from the internet, the first "
        "connection counts)",
    )
    paths_parser.add_argument(
        "--limit",
        type=_positive,
        default=3,
        metavar="N",
        help="paths per crown jewel, from distinct starting workloads (default 3)",
    )

    diff_parser = _add_command(
        subparsers,
        "diff",
        cmd_diff,
        parents=[ranges],
        help="what changes between two manifest trees",
        description=(
            "Audit two manifest trees (before and after) and say what changes: connections\n"
            "opened and closed (by workload, with ports), findings new and resolved\n"
            "(matched by fingerprint), coverage, the score, policies added, removed and\n"
            "changed (compared as the API server reads them), and the workloads newly\n"
            "uncovered or newly exposed to outside addresses.\n\n"
            'json: {"opened", "closed", "findings_new", "findings_resolved", "coverage":\n'
            '{"before", "after", ...}, "findings", "score", "policies", "newly_uncovered",\n'
            '"newly_exposed"}; each connection has from, to, protocol, port, end_port.\n'
            "text: a summary per section; markdown: a pull-request comment.\n\n"
            "Exit status: 0, or 1 with --fail-on-new when a new finding at or above that\n"
            "severity appears or with --fail-on-opened when a connection opens; 2 on bad input."
        ),
    )
    diff_parser.add_argument("old", metavar="OLD_PATH", help="manifest file or directory, before")
    diff_parser.add_argument("new", metavar="NEW_PATH", help="manifest file or directory, after")
    diff_parser.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        metavar="text|json|markdown",
        help="output format (default: text); markdown for a pull-request comment",
    )
    diff_parser.add_argument(
        "--fail-on-opened",
        action="store_true",
        help="exit 1 when the change opens a connection (a workload or an outside address "
        "may reach a workload on a port it could not before)",
    )
    diff_parser.add_argument(
        "--fail-on-new",
        choices=SEVERITY_CHOICES,
        metavar="critical|high|medium|low",
        help="exit 1 when a new finding of this severity or above appears",
    )
    return parser


# --- Entry point ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run ``netaudit`` with ``argv`` (default: the command line); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2); argparse printed why
        return exc.code if isinstance(exc.code, int) else 2
    from .collect.base import CollectionError
    from .engine import InputError

    try:
        return args.handler(args)
    except (CollectionError, InputError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``netaudit matrix ... | head``): stop quietly, and keep
        # Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
