"""``Finding``, the names of the objects it concerns, and its fingerprint.

Object names: ``Kind/namespace/name`` for namespaced objects (``Pod/shop/web-7f9c``,
``NetworkPolicy/shop/allow-all``, ``Deployment/shop/web``) and ``Kind/name`` for
cluster-scoped ones (``Namespace/shop``). Kubernetes names never contain "/", so the
number of parts tells the two apart.

Fingerprint recipe: sha256 over the JSON of ``[rule, identity]``, first 24 hex digits.
The identity is what names the problem, never what merely describes it:

* workload findings: namespace and workload (``Deployment/web``, ``CronJob/report``:
  the engine's ``Pod.workload_id``, see ``netpol/engine/workloads.py``), never pod
  names or replica counts;
* policy findings: the policy ``namespace/name``, the direction and the rule's or peer's
  content (not its index, so inserting a rule above it keeps the fingerprint);
* namespace findings: the namespace; cluster findings: the rule alone.

A finding is one cause: the policy rule, the namespace or the workload that creates the
problem, never one row per pod or per workload it touches. ``workloads`` lists every
workload the cause affects. Where an earlier recipe made one finding per workload
(NP001, NP002, NP032, NP033), ``aliases`` holds those findings' fingerprints, so a waiver
made on them still counts (see ``docs/findings.md``).

Snapshot ids, pod names, messages and counts never enter it, so the same problem in the
next snapshot has the same fingerprint and a waiver follows it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import yaml

from netpol.cache import LRU
from netpol.engine import Pod

from .catalogue import RULES


def pod_ref(pod: Pod) -> str:
    return f"Pod/{pod.namespace}/{pod.name}"


def workload_ref(namespace: str, workload: str) -> str:
    kind, _, name = workload.partition("/")
    return f"{kind}/{namespace}/{name}"


def policy_ref(key: str) -> str:
    """``NetworkPolicy/ns/name`` from the engine's ``ns/name`` key."""
    return f"NetworkPolicy/{key}"


def namespace_ref(name: str) -> str:
    return f"Namespace/{name}"


def fingerprint(rule: str, identity) -> str:
    data = json.dumps([rule, identity], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:24]


# libyaml's emitter when present: the pure-Python one was most of an audit's time.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(obj) -> str:
    # Keyed by the JSON text (cheap to make): a what-if audits the same cluster twice, and
    # most snippets come out the same both times.
    text = json.dumps(obj)
    return _SNIPPETS.get(text, lambda: _dump(text))


_SNIPPETS = LRU(8192)


def _dump(obj_json: str) -> str:
    return yaml.dump(
        json.loads(obj_json), Dumper=_Dumper, sort_keys=False, default_flow_style=False
    )


@dataclass(slots=True)
class Finding:
    rule: str
    severity: str
    title: str
    message: str
    objects: list[str]
    namespace: str = ""
    evidence: dict = field(default_factory=dict)
    why: str = ""
    remediation: str = ""
    snippet: str = ""
    fingerprint: str = ""
    warnings: list[str] = field(default_factory=list)
    category: str = ""
    workloads: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "category": self.category,
            "title": self.title,
            "message": self.message,
            "objects": list(self.objects),
            "namespace": self.namespace,
            "evidence": self.evidence,
            "why": self.why,
            "remediation": self.remediation,
            "snippet": self.snippet,
            "fingerprint": self.fingerprint,
            "warnings": list(self.warnings),
            "workloads": list(self.workloads),
            "aliases": list(self.aliases),
        }


def make(
    rule_id: str,
    message: str,
    objects: list[str],
    *,
    identity,
    namespace: str = "",
    evidence: dict | None = None,
    snippet: str = "",
    workloads: list[str] | None = None,
    aliases: list[str] = (),
) -> Finding:
    """A finding of a catalogue rule; title, severity, why and remediation come from it.

    ``workloads``: every workload the cause affects; by default, for a policy finding
    (objects ``[policy, *workloads it selects]``), the workloads after the policy."""
    rule = RULES[rule_id]
    if workloads is None:
        workloads = _selected_workloads(objects)
    return Finding(
        rule=rule.id,
        severity=rule.severity,
        title=rule.title,
        message=message,
        objects=objects,
        namespace=namespace,
        evidence=evidence or {},
        why=rule.why,
        remediation=rule.remediation,
        snippet=snippet,
        fingerprint=fingerprint(rule.id, identity),
        category=rule.category,
        workloads=workloads,
        aliases=list(aliases),
    )


_NOT_WORKLOADS = ("NetworkPolicy/", "Namespace/")


def _selected_workloads(objects: list[str]) -> list[str]:
    if not objects or not objects[0].startswith("NetworkPolicy/"):
        return []
    return sorted(r for r in objects[1:] if not r.startswith(_NOT_WORKLOADS))


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def short_list(items: list[str], limit: int = 5) -> str:
    """``a, b, c and 4 more``: messages stay readable at 50,000 pods."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"
