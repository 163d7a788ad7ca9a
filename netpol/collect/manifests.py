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

The kinds of ``kinds.KIND_TABLE`` are read: the Kubernetes ones, the cluster-wide
policies, Cilium's policies and Calico's objects (``projectcalico.org/v3`` or
``crd.projectcalico.org/v1``). Other kinds (ConfigMap, Secret, Ingress, other custom
resources, ...) are skipped with one warning per kind. Kinds are told apart by API
group as well as name: a Calico NetworkPolicy is read as Calico's, and a Knative
Service is not the core object.
Duplicate objects are passed on as found; the snapshot keeps the last of each.

Reading
    JSON (a ``.json`` file, or a YAML file whose text is JSON) takes the standard JSON
    parser. YAML has two readers that give the same objects (see ``yaml_documents``): a
    fast one, libfyaml in its PyYAML mode, for the text it can vouch for, and a guarded
    one, PyYAML, for the rest and for every error. 50,000 pods as YAML read in about
    2 s instead of 25 s; as JSON in under 1 s.

Hostile input is refused, not processed: files over a size cap (checked before
reading), YAML nested deeper than ``MAX_DEPTH`` and documents that aliases would blow
up ("billion laughs"). In the guarded reader libyaml scans and parses when it is
installed; the composer is PyYAML's Python one, so that every alias can be counted as
it is met (libyaml's own composer cannot be bounded, and it crashes the process on very
deep nesting). The fast reader takes only aliases whose size it knows from the text,
and counts them the same way; its own nesting limit is lower than ``MAX_DEPTH``.
"""

from __future__ import annotations

import copy
import functools
import gc
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from yaml import YAMLError
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.events import AliasEvent
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver

from .base import CollectionError
from .kinds import KIND_TABLE, KINDS, kind_key
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
# A ``.json`` file may be four times as large: parsed, JSON takes about 4 bytes of memory
# per byte of text, YAML through PyYAML about 60 (``kubectl get -o json`` of 50,000 pods
# with 4-space indents is 90 MiB).
DEFAULT_MAX_JSON_BYTES = 4 * DEFAULT_MAX_FILE_BYTES
# Nodes that aliases may add to one document. Anchors in real manifests repeat a few
# small blocks (env, resources); a "billion laughs" needs millions.
DEFAULT_MAX_ALIAS_NODES = 100_000
# Far deeper than real manifests, CRD schemas included, and shallow enough for the
# recursive composer to stay clear of Python's recursion limit.
MAX_DEPTH = 128
# YAML texts this long or longer try the fast reader first (see yaml_documents): about
# 100 pods; PyYAML reads a text this long in under 0.05 s.
FAST_READER_MIN_CHARS = 64 * 1024
# Templates are multiplied by replicas; a typo like 100000 must not exhaust memory.
MAX_TEMPLATE_PODS = 20_000

NAME_LABEL = "kubernetes.io/metadata.name"

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
_KNOWN_KINDS = {info.kind for info in KIND_TABLE.values()} | {kind for _, kind in _WORKLOADS}
# API groups of build configuration that GitOps trees hold beside the objects.
_BUILD_CONFIG_GROUPS = frozenset({"kustomize.config.k8s.io"})
# The kinds whose namespace must exist (Calico's namespaced kinds and Cilium's too).
_NAMESPACED = tuple(
    key
    for key, info in KIND_TABLE.items()
    if info.kind
    in {
        "Pod",
        "NetworkPolicy",
        "Service",
        "ServiceAccount",
        "CiliumNetworkPolicy",
        "NetworkSet",
        "StagedNetworkPolicy",
        "StagedKubernetesNetworkPolicy",
    }
)


class ManifestCollector:
    """Reads Kubernetes objects from manifest files and directories."""

    sensitive_parameters: tuple[str, ...] = ()
    server_version = ""  # files have no API server

    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
        max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES,
    ):
        self.paths = [Path(p) for p in paths]
        self.kinds = KINDS
        self.max_file_bytes = max_file_bytes
        self.max_json_bytes = max_json_bytes
        self.max_alias_nodes = max_alias_nodes
        self.warnings: list[str] = []

    def fetch(self) -> Iterator[tuple[str, dict]]:
        self.warnings = []
        objects = self._load()
        for kind in self.kinds:
            for obj in objects[kind]:
                yield kind, obj

    def _load(self) -> dict[str, list[dict]]:
        """Every object of ``KINDS``, read, checked and completed, before any is yielded."""
        with _gc_paused():
            return self._read_all()

    def _read_all(self) -> dict[str, list[dict]]:
        objects: dict[str, list[dict]] = {kind: [] for kind in self.kinds}
        workloads: list[tuple[str, str, dict]] = []  # (where, kind, object)
        skipped: Counter[str] = Counter()

        files = _manifest_files(self.paths)
        for path in files:
            for where, group, kind, obj in self._objects_in(path):
                # Told apart by group as well as kind: Calico's NetworkPolicy is not the
                # Kubernetes one ("extensions" is NetworkPolicy's pre-1.16 home).
                if key := kind_key(group, kind):
                    _check(key, obj, where)
                    objects[key].append(obj)
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
        """``(where, group, kind, object)`` for each object of one file, lists unpacked.

        JSON takes the JSON parser, ten times faster than the fastest YAML reader: a
        ``.json`` file, and a YAML file whose text starts like JSON and parses as JSON
        (``kubectl get -o json > cluster.yaml``); flow YAML such as ``{a: 1}`` does not,
        and is read as YAML.
        """
        if path.suffix.lower() == ".json":
            text = _read_text(path, self.max_json_bytes)
            documents = [_json_document(text, path)]
        else:
            text = _read_text(path, self.max_file_bytes)
            documents = _json_text(text)
            if documents is None:
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
                # A buffer the size of the file, not of the cap; the file may have grown
                # since fstat(), so what is past its size is read too, up to the cap.
                data = file.read(size + 1)
                if len(data) > size:
                    data += file.read(max_bytes + 1 - len(data))
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


_JSON_START = re.compile(r"[ \t\r\n]*[\[{]")


def _json_text(text: str) -> list[object] | None:
    """The one document of a text that starts like JSON and is JSON, or None."""
    if not _JSON_START.match(text):
        return None
    try:
        return [json.loads(text)]
    except (ValueError, RecursionError):  # flow YAML, several documents, invalid
        return None


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
    """Every document of a YAML stream; an empty one is None, so indexes match the file.

    Two readers give one answer. The fast one (``_fast_documents``: libfyaml in its
    PyYAML mode, ten to twenty times faster) reads a large text when it can vouch for
    giving what the guarded one would. Otherwise, or when it fails, the guarded one
    (``_guarded_documents``: PyYAML with a counting composer) reads it. Errors always come
    from the guarded one, so they name the document and the line as they always have.
    Small texts, hand-written manifests and pasted policies, always take the guarded
    reader: it reads them in a few milliseconds, and a typo is likeliest there.
    """
    with _gc_paused():
        documents = None
        if len(text) >= FAST_READER_MIN_CHARS:
            documents = _fast_documents(text, max_alias_nodes)
        if documents is None:
            documents = _guarded_documents(text, path, max_alias_nodes)
    return documents


def _guarded_documents(text: str, path: Path, max_alias_nodes: int) -> list[object]:
    """``yaml_documents`` by PyYAML and ``_BoundedLoader``: every limit checked as met."""
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


# --- YAML, the fast reader ------------------------------------------------------------
#
# libfyaml (a C library) has a mode that resolves scalars as PyYAML does: YAML 1.1, where
# ``yes`` is true, ``010`` is 8, ``68795e63`` a string and an unquoted date a string too.
# It is used for the text it reads as PyYAML does. Fuzzing the two against each other
# found where they part, and ``_unsure`` sends such text to the guarded reader:
#
# - syntax YAML 1.2 allows and PyYAML refuses: flow collections (``{a: 1}``, ``[x]``;
#   the empty ``{}`` and ``[]`` are fine), empty and explicit keys (``: x``, ``? x``),
#   ``...`` document ends, tabs, characters PyYAML refuses, anchors defined twice, an
#   alias in another document than its anchor;
# - tags (libfyaml drops them; PyYAML refuses unknown ones), directives, merge keys
#   (``<<``) and value keys (``=``);
# - numbers libfyaml reads otherwise: sexagesimal (``1:20`` is 80 to PyYAML), integers
#   past 64 bits (libfyaml clamps them or keeps a string), floats past a double's range;
# - an anchor on a collection that holds a collection: libfyaml's alias to it gives the
#   last collection inside instead (libfyaml 1.0.0b2). Anchors on scalars and on flat
#   collections, which is what PyYAML writes for a shared list of strings, are read
#   right, and their aliases are counted against ``max_alias_nodes`` from the text.
#
# Machine-written YAML (``kubectl get -o yaml``, ``yaml.dump``) is block style and takes
# the fast reader; hand-written manifests often take the guarded one, and are small.


def _shapes() -> bytes:
    """The ``bytes.translate`` table of ``_unsure``: blanks to a space, digits and ``_`` to
    ``0``, hex letters to ``h`` (``e`` and ``x`` keep their own), signs to ``+``, tabs and
    the control characters PyYAML refuses to NUL; every other byte stays itself."""
    table = bytearray(range(256))
    for chars, shape in (
        (b" \n\r", b" "),
        (b"0123456789_", b"0"),
        (b"abcdfABCDF", b"h"),
        (b"eE", b"e"),
        (b"xX", b"x"),
        (b"+-", b"+"),
    ):
        for byte in chars:
            table[byte] = shape[0]
    for byte in (*range(0, 9), 9, 11, 12, *range(14, 32), 127):
        table[byte] = 0
    return bytes(table)


_SHAPES = _shapes()
_END = rb"(?= |:(?: |\Z)|\Z)"  # a token ends here: a blank, a key's ": ", the end
# (what the translated text must hold, where to look): the shapes that need a closer
# look, each hit then checked against PyYAML's own patterns (``_unsure_token``).
_FINDERS = [
    ((b"!",), re.compile(rb"!")),  # a tag
    ((b"<<",), re.compile(rb"<<" + _END)),  # a merge key
    ((b"=",), re.compile(rb"=" + _END)),  # a value key
    ((b"0:0",), re.compile(rb":0{1,2}(?:\.0*)?" + _END)),  # sexagesimal: 1:20, 190:20:30.15
    ((b"0" * 19,), re.compile(rb"0{19}")),  # past 64 bits, or past a double's range
    ((b"0e+000", b".e+000"), re.compile(rb"[0.]e\+000")),  # 1.0e+309, 1.0e-400
    ((b"0x",), re.compile(rb"0x[0he]{15}")),  # 0x10000000000000000
    # A block scalar's indentation indicator ("|2"): libfyaml prints some errors about
    # it to stderr, whatever it is told.
    ((b"|0", b"|+0", b">0", b">+0"), re.compile(rb"[|>]\+?0")),
]
_NUMBERS = [
    regexp
    for resolvers in Resolver.yaml_implicit_resolvers.values()
    for tag, regexp in resolvers
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
]
# A flow collection other than [] and {}; two patterns, each found fast by its first byte.
_FLOW_OPEN = (re.compile(rb"\[(?!\])"), re.compile(rb"\{(?!\})"))
_LONE_CR = re.compile(rb"\r(?!\n)")
# A float written with a leading zero ("-067149380.0", "00.5"): PyYAML reads a float,
# libfyaml 1.0.0b2 a string (found by the property test). Looked for in the raw text: the
# shapes cannot tell a leading "0" from another digit.
_LEADING_ZERO_FLOAT = re.compile(
    rb"[-+]?0[0-9_]+\.[0-9_]*(?:[eE][-+][0-9]+)?(?=[ \r\n]|:[ \r\n]|\Z)"
)
_LEADING_ZERO_CANDIDATE = re.compile(rb"[ \n][-+]?0[0-9_]+\.")  # three times faster to scan


def _leading_zero_float(raw: bytes) -> bool:
    if _LEADING_ZERO_FLOAT.match(raw):
        return True
    return any(
        _LEADING_ZERO_FLOAT.match(raw, match.start() + 1)
        for match in _LEADING_ZERO_CANDIDATE.finditer(raw)
    )
_DOCUMENT_BLOCK_SCALAR = re.compile(rb"\n(?:--- +)?[|>]")  # and at the start: \n prepended
# "key:" and, on the next line, a scalar (no "- ", no key, no comment); _unsure checks
# that it is not indented more than the key.
_SCALAR_UNDER_KEY = re.compile(
    rb":(?: *| +#[^\r\n]*)\r?\n( *)(?!- |-\r?\n)[^ \r\n#](?:[^\r\n:]|:(?=[^ \r\n]))*(?<!:)\r?\n"
)
# An empty sequence item ("-" alone on its line) and, on the next line, a scalar (no item,
# no key, no comment) at an indent not past the dash: PyYAML refuses it, libfyaml takes
# it as the item.
_EMPTY_ITEM = re.compile(rb"(?m)^( *)- *\r?\n( *)((?!-(?: |\r?$)|#)[^ \r\n][^\r\n]*)")
_ANCHOR_NAME = re.compile(rb"[0-9A-Za-z_-]+\Z")  # what PyYAML takes as a name
_NODE_PROPERTIES = (re.compile(rb"&[^ \n\r]*"), re.compile(rb"\*[^ \n\r]*"))  # anchors, aliases


@functools.cache
def _libfyaml():
    """The libfyaml module, or None: without it every text takes the guarded reader."""
    try:
        import libfyaml
    except ImportError:
        return None
    return libfyaml


def _fast_documents(text: str, max_alias_nodes: int) -> list[object] | None:
    """The documents ``_guarded_documents`` would read, or None when not sure of them.

    1. ``_unsure`` looks at the text; what the two readers may read differently, and
       aliases that may repeat more than ``max_alias_nodes`` nodes, are left to the
       guarded reader.
    2. libfyaml parses and converts, in its PyYAML mode. Any failure returns None, and
       the guarded reader then gives the error, or the answer: invalid YAML, nesting
       deeper than libfyaml's limit of 63 levels, an undefined alias, a bug.
    """
    fyaml = _libfyaml()
    if fyaml is None or _unsure(text, max_alias_nodes):
        return None
    try:
        return [
            document.to_python()
            for document in fyaml.loads_all(
                text, mode="yaml1.1-pyyaml", dedup=False, collect_diag=True
            )
        ]
    except Exception:  # noqa: BLE001 - whatever it is, the guarded reader decides
        return None


def _unsure(text: str, max_alias_nodes: int) -> str | None:
    """Why the fast reader cannot vouch for ``text``, or None when it can.

    A look at the text as bytes, a tenth of the fast reader's time: the text is
    translated to classes (``_SHAPES``: digits, signs, blanks, ...), searched for the
    few shapes that matter, and what is found is checked more closely.
    """
    if not text.endswith("\n"):
        return "no line break at the end"  # libfyaml ends a last block scalar with one
    raw = text.encode("utf-8", "surrogatepass")
    if raw.startswith(b"...") or b"\n..." in raw:
        return "a document end marker"
    if any(i == 0 or raw[i - 1] in b"\r\n" for i in _positions(raw, b"%")):
        return "a directive"
    if (b"|" in raw or b">" in raw) and (
        _DOCUMENT_BLOCK_SCALAR.match(b"\n" + raw[:16]) or _DOCUMENT_BLOCK_SCALAR.search(raw)
    ):
        return "a block scalar as a document"  # libfyaml and PyYAML see its end apart
    if not text.isascii():
        if Reader.NON_PRINTABLE.search(text):
            return "a character PyYAML refuses"
        if any(char in text for char in "\x85\u2028\u2029"):
            return "a line break of YAML 1.1 only"  # _SHAPES knows ASCII ones only
    if b"\r" in raw and _LONE_CR.search(raw):
        return "a line break of a lone CR"
    if _leading_zero_float(raw):
        return "a float with a leading zero"
    shapes = raw.translate(_SHAPES)
    if b"\0" in shapes:
        return "a tab or a control character"
    for flow_open in _FLOW_OPEN:
        if any(_token_start(shapes, match.start()) for match in flow_open.finditer(raw)):
            return "a flow collection"
    for match in _SCALAR_UNDER_KEY.finditer(raw):
        line_start = raw.rfind(b"\n", 0, match.start()) + 1
        key = raw[line_start : match.start()].lstrip(b" ")
        while key.startswith(b"- "):
            key = key[2:].lstrip(b" ")
        if len(match.group(1)) <= match.start() - line_start - len(key):
            return "a scalar at its key's indent"  # PyYAML refuses it, libfyaml does not
    if b"-" in raw:
        for match in _EMPTY_ITEM.finditer(raw):
            line = match.group(3).rstrip()
            key = line[:1] not in b"'\"" and (b": " in line or line.endswith(b":"))
            if len(match.group(2)) <= len(match.group(1)) and not key:
                return "an empty item and a scalar not past its dash"
    for key in (b":", b"?"):  # ": x" (an empty key) or "? x" (an explicit one)
        if key in shapes and (
            b" " + key + b" " in shapes
            or shapes.startswith(key + b" ")
            or shapes.endswith(b" " + key)
            or shapes == key
        ):
            return "an empty or explicit key"
    for needles, finder in _FINDERS:
        if not any(needle[:1] in shapes and needle in shapes for needle in needles):
            continue
        for match in finder.finditer(shapes):
            start = shapes.rfind(b" ", 0, match.start()) + 1
            end = shapes.find(b" ", match.end())
            token = raw[start : len(raw) if end < 0 else end].decode("utf-8", "surrogatepass")
            reason = _unsure_token(token)
            if reason:
                return reason
    if b"&" in shapes or b"*" in shapes:
        return _unsure_aliases(raw, shapes, max_alias_nodes)
    return None


def _unsure_token(token: str) -> str | None:
    """What in one blank-delimited token PyYAML may read otherwise than libfyaml."""
    scalar = token.rstrip(":")  # a key
    if scalar.startswith("!"):
        return "a tag"
    if scalar[:1] in ("|", ">"):
        return "an indentation indicator"
    if scalar in ("<<", "="):
        return f"a {'merge' if scalar == '<<' else 'value'} key"
    if any(regexp.match(scalar) for regexp in _NUMBERS):
        return f"the number {scalar}"
    return None


def _unsure_aliases(raw: bytes, shapes: bytes, max_alias_nodes: int) -> str | None:
    """Whether the anchors and aliases are ones libfyaml reads right, within the budget.

    Each anchored node must be a scalar, ``[]``, ``{}`` or a flat block collection
    (``_flat_size``), so its size is known from the text, and each alias adds it.
    """
    sizes: dict[bytes, int] = {}  # anchor -> nodes of its node
    repeated = 0
    found = [match for pattern in _NODE_PROPERTIES for match in pattern.finditer(raw)]
    for match in sorted(found, key=lambda match: match.start()):
        if not _token_start(shapes, match.start()):
            continue  # inside a scalar: "a&b", "5*3"
        name = match.group()[1:]
        if not name:
            continue  # "0 * * * *": not an alias, and a lone one is invalid to both
        if not _ANCHOR_NAME.match(name):
            return "an anchor or alias name PyYAML refuses"
        if match.group()[0] == ord("&"):
            if name in sizes:
                return "an anchor defined twice"
            size = _flat_size(raw, match.end())
            if size is None:
                return "an anchor on a collection of collections"
            sizes[name] = size
        elif name not in sizes:
            return "an alias before its anchor"
        else:
            repeated += sizes[name]
            if repeated > max_alias_nodes:
                return "aliases over the budget"
    if b"\n---" in raw:  # anchors do not cross documents; libfyaml's aliases do
        return "anchors in a stream of documents"
    return None


def _flat_size(raw: bytes, end: int) -> int | None:
    """Nodes of the node named by the anchor that ends at ``raw[end]``, or None unless it
    is a scalar, ``[]``, ``{}``, or a block collection of scalars as PyYAML writes one:
    ``key: &a`` and then ``- item`` or ``key: value`` lines, all at one indent.
    """
    line_end = raw.find(b"\n", end)
    line_end = len(raw) if line_end < 0 else line_end
    rest = raw[end:line_end].strip(b" \r")
    if rest and not rest.startswith(b"#"):
        # On the anchor's line: a scalar (maybe a key), or [] or {} (_unsure refuses the
        # other flow collections).
        return None if rest[:1] in b"&*!" or rest[:2] in (b"- ", b"? ", b": ") else 1
    line_start = raw.rfind(b"\n", 0, end) + 1
    head = raw[line_start:end]  # "    - key: &a"
    body = head.lstrip(b" ")
    while body.startswith(b"- "):
        body = body[2:].lstrip(b" ")
    column = len(head) - len(body)  # the key's
    if not _ANCHORED_KEY.fullmatch(body):
        return None
    entries = []
    for line in _lines(raw, line_end + 1):
        content = line.lstrip(b" ")
        depth = len(line) - len(content)
        if not content or content.startswith(b"#"):
            return None  # a blank line or a comment: maybe inside, maybe after
        if depth < column or (depth == column and not _is_item(content)):
            break  # the first line after the node
        entries.append((depth, content))
    if not entries:
        return 1  # "key: &a" and nothing under it: null
    items = [_is_item(content) for _, content in entries]
    if len({depth for depth, _ in entries}) > 1 or len(set(items)) > 1:
        return None
    if items[0]:
        scalars = [content[1:].strip(b" ") for _, content in entries]
    else:
        pairs = [_FLAT_PAIR.fullmatch(content) for _, content in entries]
        if not all(pairs):
            return None
        scalars = [pair.group(1) for pair in pairs]
    if not all(not scalar or _flat_scalar(scalar) for scalar in scalars):
        return None
    return 1 + len(entries) * (1 if items[0] else 2)


def _lines(raw: bytes, start: int) -> Iterator[bytes]:
    """The lines of ``raw`` from ``start`` on, without their line breaks."""
    while start < len(raw):
        end = raw.find(b"\n", start)
        end = len(raw) if end < 0 else end
        yield raw[start:end].rstrip(b"\r")
        start = end + 1


def _is_item(content: bytes) -> bool:
    return content == b"-" or content.startswith(b"- ")


_ANCHORED_KEY = re.compile(rb"[^ :#&*!|>'\"%@`\[\]{},?-][^ :#]*: &[^ ]+ *")
_FLAT_PAIR = re.compile(rb"[^ :#&*!|>'\"%@`\[\]{},?-][^ :#]*:(?: +(.*))?")
_QUOTED = re.compile(rb"'(?:[^'\r]|'')*'|\"(?:[^\"\\\r]|\\.)*\"")


def _flat_scalar(scalar: bytes) -> bool:
    """Whether ``scalar``, the rest of a line, is one scalar and not a collection."""
    scalar = scalar.rstrip(b" \r")
    if scalar[:1] in b"'\"":
        return bool(_QUOTED.fullmatch(scalar))
    if scalar[:1] in b"[]{},#&*!|>%@`" or (scalar[:1] in b"-?:" and scalar[1:2] in b" "):
        return False  # a collection, a comment, a node property, a block scalar
    return b": " not in scalar and b" #" not in scalar and not scalar.endswith(b":")


def _token_start(shapes: bytes, i: int) -> bool:
    """Whether a token starts at ``i``: at the start, or after a blank."""
    return i == 0 or shapes[i - 1] == ord(" ")


def _positions(data: bytes, needle: bytes) -> Iterator[int]:
    """Where ``needle`` is in ``data`` (a search in C between two hits)."""
    i = data.find(needle)
    while i >= 0:
        yield i
        i = data.find(needle, i + 1)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the block runs.

    Reading builds millions of dicts, lists and strings in trees without cycles, and
    CPython's collector would walk the growing heap again and again: a third of the
    time to read 50,000 pods. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
