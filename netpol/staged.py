"""Calico's staged policies as the change they stand for: what-if input, never enforced.

Pure Python, no Django. A staged policy is a policy someone means to enforce later;
Calico only previews it. Its ``spec.stagedAction`` says what enforcing it would do
(Calico's API, ``projectcalico.org/v3`` ``StagedNetworkPolicySpec``: "The staged action.
If this is omitted, the default is Set"; docs.tigera.io, "Staged network policy"):

* ``Set``: the enforced policy of the same kind, namespace and name would be this one:
  created, or replacing the one there is (Calico's ``ConvertStagedPolicyToEnforced``
  copies metadata and spec onto the enforced kind);
* ``Delete``: the enforced policy of the same name would be removed (Calico requires
  every spec field but ``tier`` to be empty then, and sends nothing to the dataplane).

Each staged kind has one enforced kind:

| staged | enforced |
| --- | --- |
| ``StagedNetworkPolicy`` | Calico ``NetworkPolicy`` (same group) |
| ``StagedGlobalNetworkPolicy`` | Calico ``GlobalNetworkPolicy`` (same group) |
| ``StagedKubernetesNetworkPolicy`` | ``networking.k8s.io/v1`` ``NetworkPolicy`` ("Once persisted, this will create a Kubernetes network policy") |

``staged_change(objects)`` answers the objects to add and the what-if removal keys
(``netpol.whatif``'s: ``ns/name`` for a Kubernetes NetworkPolicy,
``CalicoNetworkPolicy/ns/name``, ``CalicoGlobalNetworkPolicy/name``), and
``change_yaml`` writes the added objects as the YAML a user could paste.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import yaml

STAGED_KINDS = ("StagedNetworkPolicy", "StagedGlobalNetworkPolicy", "StagedKubernetesNetworkPolicy")
# Staged kind -> (enforced kind, as pages name it, the what-if removal key's kind prefix).
ENFORCED = {
    "StagedNetworkPolicy": ("NetworkPolicy", "Calico NetworkPolicy", "CalicoNetworkPolicy"),
    "StagedGlobalNetworkPolicy": (
        "GlobalNetworkPolicy",
        "Calico GlobalNetworkPolicy",
        "CalicoGlobalNetworkPolicy",
    ),
    "StagedKubernetesNetworkPolicy": ("NetworkPolicy", "NetworkPolicy", ""),
}
ACTIONS = ("Set", "Delete")
KUBERNETES_API_VERSION = "networking.k8s.io/v1"
CALICO_V1 = "crd.projectcalico.org/v1"
# The first line of change_yaml's text: the what-if page titles such a run "what
# enforcing the staged policies would change" (``is_staged_text``).
HEADER = "# Calico staged policies as enforced"


class StagedPolicyError(ValueError):
    """A staged object that cannot stand for a change; the message names it and why."""


@dataclass(frozen=True, slots=True)
class Staged:
    """One staged policy and the change enforcing it would make."""

    kind: str  # the staged kind
    api_version: str
    namespace: str  # "" for StagedGlobalNetworkPolicy
    name: str
    action: str  # Set or Delete
    enforced_kind: str  # as pages name it: "Calico GlobalNetworkPolicy", "NetworkPolicy"
    target: str  # the what-if key of the enforced policy it sets or deletes
    enforced: dict | None  # the enforced object (Set); None for Delete

    @property
    def key(self) -> str:
        """This staged object's own name, for a button that tries it alone."""
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "action": self.action,
            "enforced_kind": self.enforced_kind,
            "target": self.target,
        }


def enforced(obj: dict) -> Staged:
    """What one staged object stands for; ``StagedPolicyError`` when it is no staged
    policy, has no name, or its stagedAction is neither Set nor Delete."""
    if not isinstance(obj, dict) or obj.get("kind") not in STAGED_KINDS:
        kind = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise StagedPolicyError(f"{kind!r} is not a staged policy kind ({', '.join(STAGED_KINDS)})")
    kind = obj["kind"]
    api_version = obj.get("apiVersion") or "projectcalico.org/v3"
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = metadata.get("name")
    if not name or not isinstance(name, str):
        raise StagedPolicyError(f"{kind}: metadata.name is missing")
    global_kind = kind == "StagedGlobalNetworkPolicy"
    namespace = "" if global_kind else (metadata.get("namespace") or "default")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    action = spec.get("stagedAction") or "Set"  # Calico's default
    shown = f"{kind} {namespace + '/' if namespace else ''}{name}"
    if action not in ACTIONS:
        raise StagedPolicyError(
            f"{shown}: stagedAction {action!r} is neither Set nor Delete; "
            "only those two say what enforcing it would do"
        )
    enforced_kind, shown_kind, prefix = ENFORCED[kind]
    body = {k: v for k, v in copy.deepcopy(spec).items() if k != "stagedAction"}
    out_metadata = {"name": name}
    if namespace:
        out_metadata["namespace"] = namespace
    if metadata.get("labels"):
        out_metadata["labels"] = dict(metadata["labels"])
    if kind == "StagedKubernetesNetworkPolicy":
        out_api_version = KUBERNETES_API_VERSION
        target = f"{namespace}/{name}"
    else:
        out_api_version = api_version
        target_name = _calico_name(api_version, name, body.get("tier"))
        target = "/".join(p for p in (prefix, namespace, target_name) if p)
    return Staged(
        kind=kind,
        api_version=api_version,
        namespace=namespace,
        name=name,
        action=action,
        enforced_kind=shown_kind,
        target=target,
        enforced=None
        if action == "Delete"
        else {
            "apiVersion": out_api_version,
            "kind": enforced_kind,
            "metadata": out_metadata,
            "spec": body,
        },
    )


def _calico_name(api_version: str, name: str, tier: str | None) -> str:
    """The name a Calico policy is known by: the storage form (crd.projectcalico.org/v1)
    prefixes its tier ("default.allow-dns"), as the engine reads it (semantics-calico.md)."""
    prefix, dot, rest = name.partition(".")
    if api_version == CALICO_V1 and dot and prefix == (tier or "default"):
        return rest
    return name


@dataclass(slots=True)
class StagedChange:
    """The change enforcing some staged policies would make, as what-if input."""

    policies: list[Staged] = field(default_factory=list)
    add: list[dict] = field(default_factory=list)  # enforced objects (Set)
    remove: list[str] = field(default_factory=list)  # what-if keys (Delete)


def staged_change(objects, only: str | None = None) -> StagedChange:
    """The change of the staged ``objects`` (API dicts), or of the one whose ``key`` is
    ``only``; ``StagedPolicyError`` for an unusable object or an unknown ``only``."""
    change = StagedChange()
    for obj in objects:
        if only is not None and _key_of(obj) != only:
            continue  # another one, even one that cannot be tried
        staged = enforced(obj)
        change.policies.append(staged)
        if staged.enforced is None:
            change.remove.append(staged.target)
        else:
            change.add.append(staged.enforced)
    if only is not None and not change.policies:
        raise StagedPolicyError(f"{only}: no such staged policy in the snapshot")
    change.policies.sort(key=lambda s: s.key)
    change.remove = sorted(set(change.remove))
    return change


def _key_of(obj) -> str:
    """``Staged.key`` of an object not yet checked."""
    if not isinstance(obj, dict):
        return ""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    namespace = (
        ""
        if obj.get("kind") == "StagedGlobalNetworkPolicy"
        else metadata.get("namespace") or "default"
    )
    return "/".join(str(p) for p in (obj.get("kind"), namespace, metadata.get("name")) if p)


def change_yaml(change: StagedChange) -> str:
    """The added objects as one YAML stream, after a comment naming each staged policy
    (``HEADER`` first): what a user could paste into the what-if to try the same."""
    lines = [f"{HEADER} ({len(change.policies)}):"]
    for s in change.policies:
        lines.append(f"#   {s.key}: {s.action} {s.enforced_kind} {s.target}")
    documents = [
        yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in change.add
    ]
    body = "---\n".join(documents)
    return "\n".join(lines) + "\n" + (body if body else "")


def is_staged_text(text: str) -> bool:
    """Whether a what-if's text was written by ``change_yaml``."""
    return text.lstrip("\ufeff").startswith(HEADER)
