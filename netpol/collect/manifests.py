"""The manifests backend: Kubernetes objects from YAML and JSON files.

``ManifestCollector(["cluster/", "extra.yaml"])`` reads what ``kubectl apply -f`` reads:
multi-document YAML, JSON, and lists (``kind: List`` as ``kubectl get -o yaml`` writes
it, or an API list such as ``PodList`` whose items carry no ``kind``). Directories are
walked recursively in sorted order for ``.yaml``, ``.yml`` and ``.json`` files; hidden
files and directories are skipped.

Everything is read and checked before the first object is yielded: a bad file fails
the run with a ``CollectionError`` naming the file and the document (1-based), never
half a snapshot. Manifest input is small next to a live cluster, so this costs little,
and the template rule below needs the whole input anyway.

Workload templates
    Manifests usually describe workloads, not pods. The rule is all or nothing:

    1. If the input holds any Pod object, no template is expanded and a warning says so.
       The pods given are taken to be the live ones; adding made-up pods next to them
       would count those workloads twice.
    2. Otherwise every Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob
       stands in for its pods: ``spec.replicas`` of them (default 1, and 0 makes none),
       one per Node in the input for a DaemonSet (1 without nodes; node selectors and
       taints are not considered), ``spec.parallelism`` for a Job (default 1), 1 for a
       CronJob, from its job template. A ReplicaSet or Job whose controlling Deployment
       or CronJob is also in the input is left to its owner, so its pods are not made
       twice.

    A made-up pod is named ``<workload>-<i>`` (i from 0), takes its labels, annotations
    and spec from the template, lives in the workload's namespace, is ``Running`` with
    no IP, names the workload as its controlling owner and carries the
    ``normalize.FROM_TEMPLATE_ANNOTATION`` annotation, so the engine knows it stands in
    for live pods.

Namespaces
    The API server labels every namespace ``kubernetes.io/metadata.name: <name>``, and
    cross-namespace policies select on that label, so declared namespaces get it too.
    A namespace that objects use but no document declares is added with that label
    alone, and a warning lists it.

Other kinds (ConfigMap, Secret, Ingress, custom resources, ...) are skipped with one
warning per kind. Kinds are told apart by API group as well as name: a Calico
``projectcalico.org/v3`` NetworkPolicy or a Knative Service is not the core object.
Duplicate objects are passed on as found; the snapshot keeps the last of each.

Hostile input is refused, not processed: files over a size cap (checked before
reading), YAML nested deeper than ``MAX_DEPTH`` and documents that aliases would blow
up ("billion laughs"). libyaml scans and parses when it is installed; the composer is
PyYAML's Python one, so that every alias can be counted as it is met (libyaml's own
composer cannot be bounded, and it crashes the process on very deep nesting).
"""

from __future__ import annotations

import copy
import json
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from yaml import YAMLError
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.events import AliasEvent
from yaml.reader import ReaderError
from yaml.resolver import Resolver

from .base import CollectionError
from .kinds import KINDS
from .normalize import FROM_TEMPLATE_ANNOTATION, normalize

try:
    from yaml.cyaml import CParser as _Parser  # libyaml: scanning and parsing in C
except ImportError:  # PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):
        def __init__(self, stream):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
# Nodes that aliases may add to one document. Anchors in real manifests repeat a few
# small blocks (env, resources); a "billion laughs" needs millions.
DEFAULT_MAX_ALIAS_NODES = 100_000
# Far deeper than real manifests, CRD schemas included, and shallow enough for the
# recursive composer to stay clear of Python's recursion limit.
MAX_DEPTH = 128
# Templates are multiplied by replicas; a typo like 100000 must not exhaust memory.
MAX_TEMPLATE_PODS = 20_000

NAME_LABEL = "kubernetes.io/metadata.name"

# (API group, kind) of the objects we keep; "" is the core group. "extensions" is the
# pre-1.16 home of NetworkPolicy, Deployment, DaemonSet and ReplicaSet.
_KEPT = {
    ("", "Namespace"),
    ("", "Node"),
    ("", "Pod"),
    ("", "Service"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("extensions", "NetworkPolicy"),
}
_WORKLOADS = {
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("extensions", "Deployment"),
    ("extensions", "DaemonSet"),
    ("extensions", "ReplicaSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
}
_KNOWN_KINDS = {kind for _, kind in _KEPT | _WORKLOADS}
# API groups of build configuration that GitOps trees hold beside the objects.
_BUILD_CONFIG_GROUPS = frozenset({"kustomize.config.k8s.io"})
_NAMESPACED = ("Pod", "NetworkPolicy", "Service")


class ManifestCollector:
    """Reads Kubernetes objects from manifest files and directories."""

    sensitive_parameters: tuple[str, ...] = ()
    server_version = ""  # files have no API server

    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES,
    ):
        self.paths = [Path(p) for p in paths]
        self.max_file_bytes = max_file_bytes
        self.max_alias_nodes = max_alias_nodes
        self.warnings: list[str] = []

    def fetch(self) -> Iterator[tuple[str, dict]]:
        self.warnings = []
        objects = self._load()
        for kind in KINDS:
            for obj in objects[kind]:
                yield kind, obj

    def _load(self) -> dict[str, list[dict]]:
        """Every object of ``KINDS``, read, checked and completed, before any is yielded."""
        objects: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        workloads: list[tuple[str, str, dict]] = []  # (where, kind, object)
        skipped: Counter[str] = Counter()

        files = _manifest_files(self.paths)
        for path in files:
            for where, group, kind, obj in self._objects_in(path):
                if (group, kind) in _KEPT:
                    _check(kind, obj, where)
                    objects[kind].append(obj)
                elif (group, kind) in _WORKLOADS:
                    workloads.append((where, kind, obj))
                else:
                    # Name the group when the kind alone would look like one we read.
                    known = kind in _KNOWN_KINDS and group
                    skipped[f"{kind} ({group})" if known else kind] += 1

        for label, count in skipped.items():
            self.warnings.append(f"skipped {count} {label} document{'s' if count > 1 else ''}")

        if workloads and objects["Pod"]:
            kinds = ", ".join(sorted({kind for _, kind, _ in workloads}))
            self.warnings.append(
                f"the input has Pod objects, so its {len(workloads)} workload templates "
                f"({kinds}) were not expanded into pods"
            )
        elif workloads:
            objects["Pod"] = _template_pods(workloads, nodes=objects["Node"])

        self._complete_namespaces(objects, workloads)
        if not any(objects.values()):
            shown = ", ".join(str(p) for p in self.paths)
            raise CollectionError(
                f"{shown}: no Namespace, Node, Pod, NetworkPolicy, Service or workload objects "
                f"in {len(files)} file{'s' if len(files) > 1 else ''}"
            )
        return objects

    def _objects_in(self, path: Path) -> Iterator[tuple[str, str, str, dict]]:
        """``(where, group, kind, object)`` for each object of one file, lists unpacked."""
        text = _read_text(path, self.max_file_bytes)
        if path.suffix.lower() == ".json":
            documents = [_json_document(text, path)]
        else:
            documents = yaml_documents(text, path, self.max_alias_nodes)
        for index, data in enumerate(documents, start=1):
            if data is not None:  # an empty document
                yield from unpack(data, f"{path}, document {index}")

    def _complete_namespaces(
        self, objects: dict[str, list[dict]], workloads: list[tuple[str, str, dict]]
    ) -> None:
        """Give declared namespaces the name label; add the ones only referred to."""
        declared = set()
        for namespace in objects["Namespace"]:
            metadata = namespace["metadata"]
            metadata["labels"] = {**(metadata.get("labels") or {}), NAME_LABEL: metadata["name"]}
            declared.add(metadata["name"])

        used = [obj for kind in _NAMESPACED for obj in objects[kind]] + [w for _, _, w in workloads]
        missing = [name for name in dict.fromkeys(map(_namespace, used)) if name not in declared]
        for name in missing:
            objects["Namespace"].append(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": name, "labels": {NAME_LABEL: name}},
                }
            )
        if missing:
            self.warnings.append(
                f"namespace{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"used but not declared; added with only the {NAME_LABEL} label"
            )


# --- Files ----------------------------------------------------------------------------


def _manifest_files(paths: list[Path]) -> list[Path]:
    """The files to read: given files as they are, directories walked; each file once."""
    if not paths:
        raise CollectionError("no manifest file or directory given")
    files: dict[Path, Path] = {}  # resolved -> as the user will recognise it
    for path in paths:
        try:
            if path.is_dir():
                found = list(_walk(path))
                if not found:
                    raise CollectionError(
                        f"{path}: no .yaml, .yml or .json files in this directory"
                    )
            elif path.exists():
                found = [path]
            else:
                raise CollectionError(f"{path}: no such file or directory")
            for file in found:
                files.setdefault(file.resolve(), file)
        except OSError as exc:
            raise CollectionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return list(files.values())


def _walk(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not entry.is_symlink():  # a link back up would loop forever
                yield from _walk(entry)
        elif entry.suffix.lower() in MANIFEST_SUFFIXES:
            yield entry


def _read_text(path: Path, max_bytes: int) -> str:
    try:
        # Non-blocking open, then a check of what was opened: a FIFO or a device named
        # *.yaml would otherwise block the read forever (or never end).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise CollectionError(
                    f"{path}: not a regular file ({_file_type(mode)}); manifests are read "
                    "from regular files only"
                )
            size = os.fstat(fd).st_size
            if size <= max_bytes:
                data = file.read(max_bytes + 1)  # the file may have grown since fstat()
                size = len(data)
    except OSError as exc:
        raise CollectionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise CollectionError(
            f"{path}: {size:,} bytes is over the limit of {max_bytes:,} bytes per file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CollectionError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})"
        ) from None
    return text.removeprefix("\ufeff")  # a byte order mark some editors write


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "a special file"


def _json_document(text: str, path: Path) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CollectionError(
            f"{path}, document 1: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise CollectionError(f"{path}, document 1: JSON nested too deeply") from None


# --- YAML -----------------------------------------------------------------------------


class _Refused(MarkedYAMLError):
    """Well-formed YAML we will not compose: too deep, or blown up by aliases."""


class _BoundedLoader(Composer, _Parser, SafeConstructor, Resolver):
    """A safe loader whose composer counts nodes, including those each alias repeats.

    PyYAML shares an aliased node instead of copying it, so loading a "billion laughs"
    is cheap; the blow-up comes later, when something walks the result (JSON encoding,
    merge keys ``<<``, the snapshot writer). So the composer records how many nodes
    each anchor spans, counting nested aliases at their full size, and adds that size
    at every alias. Past ``max_alias_nodes`` it stops: the bomb is refused after
    composing its few written nodes, not after expanding them.
    """

    def __init__(self, stream: str, max_alias_nodes: int):
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.max_alias_nodes = max_alias_nodes

    def compose_document(self):
        self._nodes = 0  # in this document, each alias counted at its full size
        self._alias_nodes = 0  # of which aliases added
        self._anchor_sizes: dict[str, int] = {}
        self._depth = 0
        return super().compose_document()

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            size = self._anchor_sizes.get(event.anchor)
            if size is None and event.anchor in self.anchors:
                raise _Refused(
                    problem=f"alias *{event.anchor} refers to a node that contains it",
                    problem_mark=event.start_mark,
                )
            node = super().compose_node(parent, index)  # raises on an undefined alias
            self._nodes += size
            self._alias_nodes += size
            if self._alias_nodes > self.max_alias_nodes:
                raise _Refused(
                    problem=f"aliases repeat more than {self.max_alias_nodes:,} nodes in this "
                    'document (a "billion laughs" bomb?)',
                    problem_mark=event.start_mark,
                )
            return node

        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=event.start_mark
            )
        before = self._nodes
        self._nodes += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._anchor_sizes[event.anchor] = self._nodes - before
        return node


# Kubernetes reads YAML as JSON, where an unquoted date stays a string; PyYAML would
# make a datetime that no JSON encoder takes.
_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_scalar)


def yaml_documents(text: str, path: Path, max_alias_nodes: int) -> list[object]:
    """Every document of a YAML stream; an empty one is None, so indexes match the file."""
    documents: list[object] = []
    try:
        loader = _BoundedLoader(text, max_alias_nodes)  # the pure-Python reader checks here
        while loader.check_node():
            documents.append(loader.construct_document(loader.get_node()))
    except ReaderError as exc:
        # A character YAML does not allow, such as NUL. The reader checks a whole buffer
        # ahead of the parser, so which document holds it is not known; the line is.
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise CollectionError(
            f"{path}, line {line}: invalid YAML: character #x{code:04x} ({exc.reason})"
        ) from None
    except YAMLError as exc:
        where = f"{path}, document {len(documents) + 1}"
        raise CollectionError(f"{where}: {_yaml_problem(exc)}") from None
    return documents


def _yaml_problem(exc: YAMLError) -> str:
    """What is wrong, and where in the file, on one line."""
    verdict = "refused YAML" if isinstance(exc, _Refused) else "invalid YAML"
    # "while parsing a block mapping: did not find expected key"
    problem = ": ".join(
        filter(None, (getattr(exc, "context", None), getattr(exc, "problem", None)))
    )
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{verdict}: {problem or exc}"
    return f"{verdict} at line {mark.line + 1}, column {mark.column + 1}: {problem}"


# --- Objects --------------------------------------------------------------------------


def unpack(data: object, where: str) -> Iterator[tuple[str, str, str, dict]]:
    """``(where, group, kind, object)`` for one document: the object, or a list's items."""
    if not isinstance(data, dict):
        raise CollectionError(f"{where}: a {_type_name(data)}, not a mapping (an object)")
    kind, api_version = data.get("kind"), data.get("apiVersion")
    for field, value in (("kind", kind), ("apiVersion", api_version)):
        if not value or not isinstance(value, str):
            raise CollectionError(f"{where}: {field} is missing")
    where = f"{where} ({kind})"

    if kind == "List" or (kind.endswith("List") and "items" in data):
        items = data.get("items") or []
        if not isinstance(items, list):
            raise CollectionError(f"{where}: items is not a list")
        for number, item in enumerate(items, start=1):
            if isinstance(item, dict) and kind != "List":
                # An API list (PodList) leaves kind and apiVersion to the list.
                item = {"kind": kind.removesuffix("List"), "apiVersion": api_version, **item}
            yield from unpack(item, f"{where}, item {number}")
        return

    group = api_version.rpartition("/")[0]  # "v1" is the core group, ""
    if group not in _BUILD_CONFIG_GROUPS:
        # A kustomization.yaml configures a build, it is no API object: it has no
        # metadata.name and is skipped with a warning like any kind we do not read.
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise CollectionError(f"{where}: metadata is not a mapping")
        name = metadata.get("name")
        if not name or not isinstance(name, str):
            raise CollectionError(f"{where}: metadata.name is missing")
        namespace = metadata.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise CollectionError(f"{where}: metadata.namespace is not a string")
    yield where, group, kind, data


def _check(kind: str, obj: dict, where: str) -> None:
    """Fail now, naming the document, on what ``normalize`` would fail on later."""
    try:
        normalize(kind, obj)
    except CollectionError as exc:
        raise CollectionError(f"{where}: {exc}") from None


def _type_name(value: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


# --- Workload templates ---------------------------------------------------------------


def _template_pods(workloads: list[tuple[str, str, dict]], *, nodes: list[dict]) -> list[dict]:
    """The pods the workloads would run, made from their templates (see the module docs)."""
    present = {(kind, _namespace(obj), obj["metadata"]["name"]) for _, kind, obj in workloads}
    node_names = [node["metadata"]["name"] for node in nodes]
    pods: list[dict] = []
    for where, kind, workload in workloads:
        owner = _controller(workload)
        if owner and (owner.get("kind"), _namespace(workload), owner.get("name")) in present:
            continue  # its Deployment or CronJob makes the pods
        template = _pod_template(kind, workload, where)
        count = _pod_count(kind, workload, where, node_count=len(node_names))
        if len(pods) + count > MAX_TEMPLATE_PODS:
            raise CollectionError(
                f"{where}: workload templates would make more than {MAX_TEMPLATE_PODS:,} pods; "
                "give the live Pod objects instead"
            )
        for i in range(count):
            node_name = node_names[i] if kind == "DaemonSet" and node_names else ""
            pod = _template_pod(kind, workload, template, i, node_name)
            _check("Pod", pod, where)
            pods.append(pod)
    return pods


def _namespace(obj: dict) -> str:
    return obj["metadata"].get("namespace") or "default"


def _controller(obj: dict) -> dict | None:
    owners = obj["metadata"].get("ownerReferences") or []
    return next((o for o in owners if isinstance(o, dict) and o.get("controller")), None)


def _pod_template(kind: str, workload: dict, where: str) -> dict:
    path = "spec.jobTemplate.spec.template" if kind == "CronJob" else "spec.template"
    template = workload
    for key in path.split("."):
        template = template.get(key) if isinstance(template, dict) else None
    if not isinstance(template, dict):
        raise CollectionError(f"{where}: {path} is missing")
    metadata = template.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CollectionError(f"{where}: {path}.metadata is not a mapping")
    for field in ("labels", "annotations"):
        if not isinstance(metadata.get(field) or {}, dict):
            raise CollectionError(f"{where}: {path}.metadata.{field} is not a mapping")
    return template


def _pod_count(kind: str, workload: dict, where: str, *, node_count: int) -> int:
    if kind == "DaemonSet":
        return max(node_count, 1)
    if kind == "CronJob":
        return 1
    field = "parallelism" if kind == "Job" else "replicas"
    value = workload["spec"].get(field)
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CollectionError(f"{where}: spec.{field} is {value!r}, not a whole number")
    return value


def _template_pod(kind: str, workload: dict, template: dict, i: int, node_name: str) -> dict:
    template = copy.deepcopy(template)  # each pod its own, as the API would return them
    template_metadata = template.get("metadata") or {}
    name = workload["metadata"]["name"]
    spec = template.get("spec")
    if node_name and isinstance(spec, dict):
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-{i}",
            "namespace": _namespace(workload),
            "labels": template_metadata.get("labels") or {},
            "annotations": {
                **(template_metadata.get("annotations") or {}),
                FROM_TEMPLATE_ANNOTATION: "true",
            },
            "ownerReferences": [{"kind": kind, "name": name, "controller": True}],
        },
        "spec": spec,
        "status": {"phase": "Running"},
    }
