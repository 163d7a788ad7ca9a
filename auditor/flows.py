"""Observed flows per cluster: import a flow file, and replay what was imported.

An import streams the file through ``netpol.flows.count_flows`` (each kind of line
decoded once, in bounded memory whatever its size) and keeps only its distinct
conversations: both ends as the file gives them, port, protocol, the flow's own
verdict, how many flows, and the first and last time each was seen (RFC 3339 UTC, when
the file gives times). They are written to a gzipped JSON-lines file under
``VAR_DIR/flows`` and described by a ``FlowImport`` row. The ends are matched to pods
only when a page replays them (``flows_replay``), so the same import is judged against
whichever snapshot or what-if the page shows.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import uuid
from collections import Counter
from datetime import datetime
from itertools import chain
from pathlib import Path

import orjson
from django.conf import settings

from netpol import whatif
from netpol.engine import ClusterModel, InputError
from netpol.flows import (
    Counts,
    End,
    FlowFileError,
    Observed,
    Resolver,
    count_flows,
    detect,
    instant,
    replay_counted,
    time_text,
    widen,
    would_deny,
)
from netpol.suggest import suggest

from .models import Cluster, FlowImport
from .selectors import latest_snapshot
from .storage import engine_model

logger = logging.getLogger(__name__)

# Distinct conversations one import may hold: beyond this a file is not a sample of
# traffic a page can replay but a scan; the import stops with a message saying so.
MAX_CONVERSATIONS = 2_000_000


class FlowImportError(ValueError):
    """A flow file that cannot be imported; the message says why, for the user."""


def flows_dir() -> Path:
    return Path(settings.VAR_DIR) / "flows"


def flows_import(
    *, cluster: Cluster, path: str | Path, name: str = "", user=None, progress=None
) -> FlowImport:
    """Import the flow file at ``path`` for ``cluster`` (module docstring); ``progress(done,
    total)`` is told the bytes read now and then."""
    path = Path(path)
    name = name or path.name
    times: dict = {}
    fmt, counts, distinct = count_conversations(path, name, progress, times=times)
    if not distinct:
        reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(counts.skipped.items()))
        raise FlowImportError(
            f"{name}: no flow to replay in {counts.lines:,} line{'s' if counts.lines != 1 else ''}"
            + (f" ({reasons})" if reasons else "")
        )
    stored = f"{cluster.pk}-{uuid.uuid4().hex}.jsonl.gz"
    write_conversations(flows_dir() / stored, distinct, times)
    flow_import = FlowImport(
        cluster=cluster,
        name=name[:255],
        format=fmt,
        size=path.stat().st_size,
        lines=counts.lines,
        flows=sum(distinct.values()),
        conversations=len(distinct),
        malformed=counts.malformed,
        examples=[e.replace(str(path), name) for e in counts.examples[:5]],
        skipped=dict(sorted(counts.skipped.items())),
        first_seen=counts.first_time or "",
        last_seen=counts.last_time or "",
        stored=stored,
        imported_by=user if user is not None and user.is_authenticated else None,
    )
    snapshot = latest_snapshot(cluster)
    if snapshot is not None:
        flow_import.matched, flow_import.unmatched = _matched(engine_model(snapshot), distinct)
    flow_import.save()
    return flow_import


def _matched(model: ClusterModel, distinct: Counter) -> tuple[int, int]:
    """Flows whose two ends match the model (a pod, node or address), and the others:
    the ends only, not the judging the pages do."""
    resolve = Resolver(model).resolve
    matched = unmatched = 0
    for (src, dst, *_rest), n in distinct.items():
        if resolve(src)[0] is None or resolve(dst)[0] is None:
            unmatched += n
        else:
            matched += n
    return matched, unmatched


def flows_import_upload(*, cluster: Cluster, upload, user=None) -> FlowImport:
    """Import an uploaded file: Django already wrote a big one to a temporary file; a
    small one, kept in memory, is written out so the reader has a path with its suffix."""
    name = os.path.basename(upload.name or "flows")
    if hasattr(upload, "temporary_file_path"):
        return flows_import(
            cluster=cluster, path=upload.temporary_file_path(), name=name, user=user
        )
    # The suffix keeps ".csv" and ".gz", which say how the file is read.
    suffix = "".join(Path(name).suffixes[-2:])
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        for chunk in upload.chunks():
            f.write(chunk)
        f.flush()
        return flows_import(cluster=cluster, path=f.name, name=name, user=user)


def flows_import_delete(*, flow_import: FlowImport) -> None:
    (flows_dir() / flow_import.stored).unlink(missing_ok=True)
    flow_import.delete()


def count_conversations(
    path: Path, name: str, progress=None, times: dict | None = None
) -> tuple[str, Counts, Counter]:
    """The file's format, what reading it found, and its distinct conversations
    (``Observed`` → flows), counted by ``count_flows``; ``times``: a dict for each
    conversation's first and last time."""
    counts = Counts()
    distinct: Counter = Counter()
    try:
        _refuse_binary(path, name)
        fmt = detect(path)
        total = path.stat().st_size
        report = None if progress is None else lambda done: progress(done, total)
        # Each kind of line decoded once (netpol.flows.counting): the file's flows come
        # already counted, a batch at a time, and only the distinct ones are kept.
        for batch in count_flows(path, counts, fmt, report, times=times):
            distinct.update(batch)
            if len(distinct) > MAX_CONVERSATIONS:
                raise FlowImportError(
                    f"{name}: more than {MAX_CONVERSATIONS:,} distinct conversations; "
                    "import a shorter window or fewer nodes at a time"
                )
    except FlowFileError as exc:
        # The reader names the file by the path it was given (a temporary one for an upload).
        raise FlowImportError(str(exc).replace(str(path), name)) from None
    return fmt, counts, distinct


_SNIFF = 64 * 1024  # bytes looked at for binary content


def _refuse_binary(path: Path, name: str) -> None:
    """A file that is not text (an image, an archive, a gzip named otherwise) is refused
    at the line it stops being text: the readers would call each of its lines malformed."""
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as f:
            head = f.read(_SNIFF)
    except (OSError, EOFError):
        return  # the reader says what is wrong with it
    at = head.find(b"\0")
    if at < 0:
        try:
            head.decode("utf-8")
            return
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut by the sniff's end
                return
            at = exc.start
    line = head.count(b"\n", 0, at) + 1
    raise FlowImportError(
        f"{name}: line {line} is binary data, not text: this is no flow file. Import Hubble "
        "JSON or Calico (Goldmane) JSON, one object a line, or CSV, gzipped or not"
    )


def write_conversations(target: Path, distinct: Counter, times: dict | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    times = times or {}
    with gzip.open(partial, "wb", compresslevel=5) as f:
        for observed, n in distinct.items():
            src, dst, port, protocol, verdict = observed
            row = [list(src), list(dst), port, protocol, verdict, n]
            span = times.get(observed)
            if span is not None:
                row += [time_text(span[0]), time_text(span[1])]
            f.write(orjson.dumps(row) + b"\n")
    partial.replace(target)  # a reader never sees half a file


def stored_conversations(flow_import: FlowImport, times: dict | None = None):
    """The ``(Observed, flows)`` pairs an import stored; ``times`` (a dict) is given each
    pair's first and last time as it is read."""
    return read_conversations(flows_dir() / flow_import.stored, times)


def read_conversations(path: Path, times: dict | None = None):
    with gzip.open(path, "rb") as f:
        for line in f:
            src, dst, port, protocol, verdict, n, *span = orjson.loads(line)
            observed = Observed(_end(src), _end(dst), port, protocol, verdict)
            if times is not None and span:  # imports stored before times have none
                for when in span:
                    widen(times, observed, instant(when.encode()))
            yield observed, n


def _end(fields: list) -> End:
    namespace, name, ip, labels, kind = fields
    return End(namespace, name, ip, tuple(labels), kind)


def imports_key(imports: list[FlowImport]) -> str:
    """What a replay of ``imports`` depends on, in 64 characters (a run is one replay)."""
    return hashlib.sha256("\n".join(i.stored for i in imports).encode()).hexdigest()


def _when(text: str) -> datetime | None:
    """An import's first or last time as an aware datetime; None when the file gave
    none, or gave times that are not RFC 3339."""
    at = instant(text.encode()).decode() if text else ""
    if len(at) != 30 or at[-1] != "Z":
        return None
    return datetime.fromisoformat(at[:26] + "+00:00")


def flows_coverage(imports: list[FlowImport]) -> float | None:
    """Days from the first flow the imports saw to the last (a gap between two files
    counts as covered); None when no import gives times."""
    firsts = [t for i in imports if (t := _when(i.first_seen)) is not None]
    lasts = [t for i in imports if (t := _when(i.last_seen)) is not None]
    if not firsts or not lasts:
        return None
    return max(0.0, (max(lasts) - min(firsts)).total_seconds() / 86400)


def unused_window(cluster: Cluster, imports: list[FlowImport] | None = None) -> dict:
    """The cluster's unused-rule window and whether the imports cover it: ``days`` (0:
    off), ``covered`` (days, None without times), ``applies`` (the window is on and
    covered: the unused rules are those no flow used in its last ``days``, and NP048)."""
    if imports is None:
        imports = list(cluster.flow_imports.order_by("pk"))
    days = cluster.unused_rule_window
    covered = flows_coverage(imports) if imports else None
    return {
        "days": days,
        "covered": covered,
        "applies": bool(days and covered is not None and covered >= days),
    }


def flows_replay(
    *,
    cluster: Cluster,
    model: ClusterModel,
    changed: ClusterModel | None = None,
    window_days: int = 0,
    progress=None,
) -> dict | None:
    """Every import of ``cluster`` replayed on ``model``, as ``Replay.to_dict()``; None
    when nothing was imported. The replay is kept with the model until the imports
    change; with ``changed`` (a what-if), only the flows it allows are judged again for
    its ``would_deny``; with ``window_days``, the unused rules are those no flow used in
    the last that many days of the flows; ``progress(done, total)`` is told the
    conversations read and matched so far."""
    imports = list(cluster.flow_imports.order_by("pk"))
    if not imports:
        return None

    def build() -> dict:
        times: dict = {}
        pairs = chain.from_iterable(stored_conversations(i, times) for i in imports)
        if progress is not None:
            pairs = _told(pairs, sum(i.conversations for i in imports), progress)
        files = [{"path": i.name, "format": i.format} for i in imports]
        window = window_days * 86400 if window_days else None
        return replay_counted(model, pairs, files=files, times=times, window=window).to_dict()

    key = ("auditor.flows", tuple(i.stored for i in imports), window_days)
    result = model.derived(key, build)
    if changed is not None:
        result = {**result, "would_deny": would_deny(changed, result["allowed"])}
    return result


_TELL_EVERY = 20_000  # conversations between two progress reports


def _told(pairs, total: int, progress):
    done = 0
    progress(0, total)
    for done, pair in enumerate(pairs, start=1):
        if done % _TELL_EVERY == 0:
            progress(done, total)
        yield pair
    progress(done, total)


def unused_rules_in_window(*, cluster: Cluster, model: ClusterModel) -> list[dict] | None:
    """The rules no imported flow used in the cluster's unused-rule window (NP048), most
    opening first; None when the window is off or the imports do not cover it yet."""
    imports = list(cluster.flow_imports.order_by("pk"))
    if not imports or not unused_window(cluster, imports)["applies"]:
        return None
    try:
        result = flows_replay(cluster=cluster, model=model, window_days=cluster.unused_rule_window)
    except (FlowFileError, OSError) as exc:
        # No NP048 rather than no analysis: conversations stored before they kept their
        # times, or a stored file gone from VAR_DIR/flows.
        logger.warning("%s: unused rules not computed (%s)", cluster.name, exc)
        return None
    return None if result is None else result["unused_rules"]


SHOWN = 100  # entries of each list a bounded replay keeps; its totals count them all


def bounded_replay(result: dict, shown: int = SHOWN) -> dict:
    """A replay (``Replay.to_dict()``) cut to what a page draws: for each list its first
    ``shown`` entries, how many there are and their flows; small enough to store with a
    run whatever the number of conversations."""

    def cut(entries: list[dict]) -> dict:
        return {
            "rows": entries[:shown],
            "total": len(entries),
            "flows": sum(e.get("flows", 0) for e in entries),
        }

    return {
        "matched": result["matched"],
        "unmatched": result["unmatched"],
        "allowed": {**cut(result["allowed"]), "rows": []},  # the page lists no allowed flow
        "denied": cut(result["denied"]),
        "outside_policy": cut(result["outside_policy"]),
        "would_deny": cut(result["would_deny"]),
        "disagreements": cut(result["disagreements"]),
        "unused_rules": cut(result["unused_rules"]),
        "unmatched_ends": {
            "rows": result["unmatched_ends"][:shown],
            "total": result["unmatched_ends_total"],
        },
        "namespaces": replay_namespaces(result),
        "window": result["window"],
        "unused_since": result.get("unused_since"),
    }


def whatif_replay(
    *, cluster: Cluster, model: ClusterModel, text: str, remove, progress=None
) -> dict | None:
    """The what-if page's "would deny": the imports replayed on ``model`` and on ``model``
    with the change (``text``, the pasted policies, and ``remove``, the keys taken out),
    bounded; None when nothing was imported."""
    pasted, _notes = whatif.read_policies(text)
    changed, _changes = whatif.changed_model(model, add=pasted, remove=set(remove))
    result = flows_replay(cluster=cluster, model=model, changed=changed, progress=progress)
    return None if result is None else bounded_replay(result)


SHOWN_CLOSED = 50  # connections a suggestion closes, kept for the page


def suggestion_result(
    model: ClusterModel, replayed: dict, *, namespace: str = "", workload: str = ""
) -> dict:
    """Least-privilege policies for ``namespace`` or ``workload`` (``ns/Kind/name``) from
    ``replayed`` (``flows_replay`` on ``model``), verified by ``netpol.suggest``, as the
    suggestion page draws them: small enough to store with a run. ``InputError`` for an
    unknown or doubled scope, ``SuggestionError`` when the verification fails."""
    if namespace and workload:
        raise InputError("choose a namespace or a workload, not both")
    found = suggest(model, replayed, namespace=namespace or None, workload=workload or None)
    return {
        **found.to_dict(),
        "summary": found.summary(),
        "yaml": found.yaml(),
        "closes": found.closes[:SHOWN_CLOSED],
        "still_denied": found.still_denied[:SHOWN],
        "still_denied_total": len(found.still_denied),
    }


def replay_namespaces(result: dict) -> list[str]:
    """The namespaces of the workloads a replay's flows name (the suggestion form's)."""
    found = set()
    for entry in result["allowed"] + result["denied"]:
        for key in (entry.get("from_workload"), entry.get("to_workload")):
            if key:
                found.add(key.split("/", 1)[0])
    return sorted(found)
