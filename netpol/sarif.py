"""SARIF 2.1.0 from findings, so they show up in code-scanning tools.

One generator for both uses: a stored report (findings of a live cluster: logical
locations only) and ``netaudit audit --format sarif`` on manifest files (logical
locations, plus the file and line of each object found in the files).

Mapping:

* ``tool.driver.rules``: catalogue rules, with ``why`` as the full description and the
  remediation as help; ``security-severity`` lets GitHub rank them.
* one ``result`` per finding: ``level`` from the severity (critical and high: error,
  medium: warning, low and info: note), the fingerprint in ``partialFingerprints``,
  one ``location`` per object (at most ``MAX_LOCATIONS``), the located ones first.
* a waived finding carries an ``accepted`` suppression with the waiver's reason.

No Django here: ``netpol.cli`` imports it without settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FINGERPRINT_KEY = "netpolAuditorFinding/v1"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning reads these (0.1-10) to sort alerts into its own severities.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
MAX_LOCATIONS = 100
SRCROOT = "%SRCROOT%"

# ref -> (uri relative to %SRCROOT% or absolute file URI, 1-based line)
Locate = Callable[[str], tuple[str, int] | None]


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("netpol-auditor")
    except PackageNotFoundError:
        return "0.0.0"


def _rule_name(title: str) -> str:
    """``Pods selected by no ingress policy`` → ``PodsSelectedByNoIngressPolicy``."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


def rule_descriptor(rule: dict) -> dict:
    severity = rule["severity"]
    help_text = f"{rule['why']}\n\nRemediation: {rule['remediation']}"
    compliance = list(rule.get("compliance") or [])
    if compliance:
        help_text += f"\n\nCompliance: {', '.join(compliance)}"
    return {
        "id": rule["id"],
        "name": _rule_name(rule["title"]),
        "shortDescription": {"text": rule["title"]},
        "fullDescription": {"text": rule["why"]},
        "help": {
            "text": help_text,
            "markdown": f"{rule['why']}\n\n**Remediation:** {rule['remediation']}"
            + (f"\n\n**Compliance:** {', '.join(compliance)}" if compliance else ""),
        },
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": {
            "tags": ["security", "kubernetes", "networkpolicy", rule.get("category") or "finding"],
            "security-severity": SECURITY_SEVERITY[severity],
            "precision": "high",
            "severity": severity,
            "compliance": compliance,
        },
    }


def _logical(ref: str) -> dict:
    parts = ref.split("/")
    kind, name = parts[0], parts[-1]
    return {
        "name": name,
        "fullyQualifiedName": ref,
        "kind": "namespace" if kind == "Namespace" else "resource",
    }


def _location(ref: str, locate: Locate | None) -> tuple[dict, bool]:
    location: dict = {"logicalLocations": [_logical(ref)]}
    found = locate(ref) if locate else None
    if found:
        uri, line = found
        artifact = {"uri": uri}
        if not uri.startswith("file:"):
            artifact["uriBaseId"] = SRCROOT
        location["physicalLocation"] = {"artifactLocation": artifact, "region": {"startLine": line}}
    return location, bool(found)


def _locations(refs: list[str], locate: Locate | None) -> list[dict]:
    """The objects' locations, those with a file first and a policy before the rest:
    code-scanning tools show the first one."""
    located = []
    for order, ref in enumerate(refs[:MAX_LOCATIONS] if not locate else refs):
        location, has_file = _location(ref, locate)
        located.append(((not has_file, not ref.startswith("NetworkPolicy/"), order), location))
    located.sort(key=lambda item: item[0])
    return [location for _, location in located[:MAX_LOCATIONS]]


def to_sarif(
    findings: Iterable[dict],
    *,
    rules: dict[str, dict] | None = None,
    locate: Locate | None = None,
    suppressions: dict[str, str] | None = None,
    run_properties: dict | None = None,
    automation_id: str | None = None,
    src_root: Path | None = None,
    finished_at: datetime | None = None,
) -> dict:
    """A SARIF log with one run.

    ``findings``: dicts as ``Finding.to_dict()`` writes them (rule, severity, message,
    objects, namespace, fingerprint, evidence, warnings). ``rules``: rule dicts by id
    (default: the whole catalogue). ``suppressions``: waiver reason by fingerprint.
    """
    if rules is None:
        from netpol.findings.catalogue import RULES

        rules = {rule_id: rule.to_dict() for rule_id, rule in sorted(RULES.items())}
    descriptors = [rule_descriptor(rule) for rule in rules.values()]
    index = {descriptor["id"]: i for i, descriptor in enumerate(descriptors)}
    suppressions = suppressions or {}
    results = []
    for finding in findings:
        refs = list(finding.get("objects") or [])
        result = {
            "ruleId": finding["rule"],
            "level": LEVELS[finding["severity"]],
            "message": {"text": finding["message"]},
            "locations": _locations(refs, locate),
            "partialFingerprints": {FINGERPRINT_KEY: finding["fingerprint"]},
            "properties": {
                "severity": finding["severity"],
                "title": finding.get("title", ""),
                "namespace": finding.get("namespace") or "",
                "objectCount": len(refs),
                "evidence": finding.get("evidence") or {},
                "warnings": list(finding.get("warnings") or []),
            },
        }
        if finding["rule"] in index:
            result["ruleIndex"] = index[finding["rule"]]
        if finding.get("baseline_state"):  # "new" or "unchanged" against a baseline
            result["baselineState"] = finding["baseline_state"]
        reason = suppressions.get(finding["fingerprint"])
        if reason is not None:
            result["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": reason}
            ]
        results.append(result)

    run: dict = {
        "tool": {
            "driver": {
                "name": "netpol-auditor",
                "fullName": "Netpol Auditor",
                "version": tool_version(),
                "rules": descriptors,
            }
        },
        "invocations": [
            {
                "executionSuccessful": True,
                "endTimeUtc": _utc(finished_at or datetime.now(UTC)),
            }
        ],
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if src_root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": src_root.resolve().as_uri() + "/"}}
    if automation_id:
        run["automationDetails"] = {"id": automation_id}
    if run_properties:
        run["properties"] = run_properties
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- Where each object of manifest files is written -----------------------------------

CLUSTER_SCOPED = {"Namespace", "Node"}
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_locations(
    paths: Iterable[str | Path], *, root: Path | None = None
) -> dict[str, tuple[str, int]]:
    """``{"NetworkPolicy/shop/allow-web": ("k8s/shop.yaml", 12), ...}`` for the files.

    Lines come from the YAML composer's marks (the line of the document's or list
    item's first key). URIs are relative to ``root`` (default: the working directory)
    when the file is under it, else absolute ``file:`` URIs. A file that cannot be read
    here was already refused or warned about by the collector; it just has no location.
    """
    import yaml

    # libyaml's composer when present: four to six times faster than PyYAML's (5,000 pods:
    # 1.6-1.9 s against 8.6-9 s); only marks are read here, no value is constructed.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = (root or Path.cwd()).resolve()
    found: dict[str, tuple[str, int]] = {}
    for path in _files(paths):
        try:
            text = path.read_text(encoding="utf-8")
            nodes = list(yaml.compose_all(text, Loader=loader))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
            continue
        resolved = path.resolve()
        try:
            uri = resolved.relative_to(root).as_posix()
        except ValueError:
            uri = resolved.as_uri()
        for node in nodes:
            for item in _documents(node):
                ref = _ref_of(item)
                if ref and ref not in found:
                    found[ref] = (uri, item.start_mark.line + 1)
                    if ref.startswith("NetworkPolicy/"):
                        for field, line in _rule_lines(item):
                            found[f"{ref}#{field}"] = (uri, line)
    return found


def _rule_lines(policy_node):
    """``("spec.ingress[0]", line)`` for each rule of a NetworkPolicy node."""
    import yaml

    spec = _mapping(_mapping(policy_node).get("spec"))
    for direction in ("ingress", "egress"):
        rules = spec.get(direction)
        if isinstance(rules, yaml.SequenceNode):
            for i, rule in enumerate(rules.value):
                yield f"spec.{direction}[{i}]", rule.start_mark.line + 1


def _files(paths: Iterable[str | Path]):
    for path in map(Path, paths):
        if path.is_dir():
            for entry in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in entry.relative_to(path).parts)
                if entry.is_file() and not hidden and entry.suffix.lower() in MANIFEST_SUFFIXES:
                    yield entry
        elif path.is_file():
            yield path


def _mapping(node) -> dict:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _documents(node):
    """The object mappings of one document: itself, or the items of a list."""
    import yaml

    if node is None:
        return
    fields = _mapping(node)
    items = fields.get("items")
    kind = fields.get("kind")
    if isinstance(items, yaml.SequenceNode) and (kind is None or str(kind.value).endswith("List")):
        for item in items.value:
            yield from _documents(item)
    elif fields:
        yield node


def _ref_of(node) -> str | None:
    import yaml

    fields = _mapping(node)
    kind, metadata = fields.get("kind"), _mapping(fields.get("metadata"))
    name = metadata.get("name")
    if not isinstance(kind, yaml.ScalarNode) or not isinstance(name, yaml.ScalarNode):
        return None
    if kind.value in CLUSTER_SCOPED:
        return f"{kind.value}/{name.value}"
    namespace = metadata.get("namespace")
    ns = (
        namespace.value if isinstance(namespace, yaml.ScalarNode) and namespace.value else "default"
    )
    return f"{kind.value}/{ns}/{name.value}"
