"""Count a flow file's distinct flows fast: what repeats is read once.

``count_flows(path, counts)`` yields ``Counter``s of ``Observed`` flows (flows → how many)
with exactly what ``formats.read_flows`` would give, record for record: the same flows,
skips, malformed lines (with their line numbers) and time window. It is the hot path of a
replay: a file of millions of lines holds far fewer conversations, and what changes from
one line of a conversation to the next is the time, an id, the ports and the packet.

**Hubble.** The file is read 4 MiB at a time and split into lines. Each line is decoded
by msgspec into ``_Line``: only the fields ``formats._hubble_flow`` reads, strictly typed,
the two ends kept as their JSON text (``msgspec.Raw``), everything else skipped. The
reader's decisions (not a flow, not L3/L4, a reply, no port, the verdict and its drop
reason) are then taken on those fields in its order. An end's text is read once, by the
full reader's own ``_hubble_end``. Flows are tallied by (source end, destination end,
addresses, port, protocol, verdict); in front of the tally, the same key without the ends
finds the entry when the ends' text is the one seen last with it (a comparison, not a
hash of ~500 bytes). The full reader reads a line instead when msgspec and orjson could
read it differently or the typed decode cannot vouch for the answer: a byte outside
ASCII (msgspec checks no UTF-8 in what it skips), a backslash (escapes), a failed decode
(malformed JSON, or a field of another type than the reader expects, such as a port
written as a string), a port outside 1-65535, an end the reader refuses, an empty time,
and any timed line after a time that is no string (the reader's window then makes
later lines malformed). One difference is known and left: a number too large for a
double (``1e400``) in a field the replay does not read; orjson refuses the line, msgspec
skips the field and counts the flow.

**CSV** with the time first: the key is the line after the time (``bytes.find``); a new
key is read by the csv module once and its answer reused; flows are tallied by kind
number in a dict of ints.

With ``times`` (a dict), each flow's first and last time (``formats.instant``: UTC, nine
fraction digits, so they compare as instants; a time already of that shape is compared as
text) are kept per tally too, and added to ``times`` (``Observed`` -> ``[first, last]``)
before each batch is handed over; the caller may empty it between batches (memory then
stays bounded by ``limit``).

Memory: the tally holds at most ``limit`` distinct flows before it is handed over; the
Hubble ends' texts are kept up to ``CACHE_KEYS`` ends, the CSV keys up to
``CACHE_BYTES``, and emptied (after handing over the tally) when full. Calico files and
CSV files that need the ``csv`` module's full syntax (quotes, a carriage return inside a
line, a NUL, columns with the time elsewhere) are read by ``read_flows`` and counted as
they come.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from itertools import chain, islice
from pathlib import Path
from typing import Annotated

import msgspec
import orjson
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from .formats import (
    _CSV_DEFAULT,
    _POLICY_DROPS,
    _VERDICTS,
    CSV,
    DROPPED_OTHER,
    HUBBLE,
    Counts,
    End,
    FlowFileError,
    Observed,
    _csv,
    _csv_row,
    _header,
    _hubble_end,
    _hubble_flow,
    _hubble_time,
    _is_header,
    _open,
    _Skip,
    _time_bytes,
    _why,
    detect,
    instant,
    read_flows,
    widen,
)

CACHE_KEYS = 1_000_000  # distinct Hubble ends kept (their JSON text); then emptied
CACHE_BYTES = 64 * 2**20  # bytes of distinct CSV keys kept; then emptied
LIMIT = 500_000  # distinct flows tallied before a batch is handed over
_CHUNK = 10_000
_BLOCK = 4 * 2**20  # bytes of a Hubble file read at once


def count_flows(
    path: str | Path,
    counts: Counts,
    fmt: str | None = None,
    progress=None,
    limit: int = LIMIT,
    times: dict | None = None,
):
    """Yield ``Counter``s of the flows of one file (module docstring); ``progress(bytes)``
    as for ``read_flows``; ``times``: a dict for each flow's first and last time (step 4)."""
    path = Path(path)
    fmt = fmt or detect(path)
    before = counts.malformed
    found = 0
    try:
        with _open(path) as f:
            if fmt == HUBBLE:
                batches = _hubble_counted(f, path, counts, progress, limit, times)
            elif fmt == CSV:
                batches = _csv_counted(f, path, counts, progress, limit, times)
            else:
                batches = None
            if batches is not None:
                for batch in batches:
                    found += batch.total()
                    yield batch
    except OSError as exc:
        raise FlowFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (EOFError, gzip.BadGzipFile) as exc:
        raise FlowFileError(f"{path}: not a readable gzip file ({exc})") from None
    if batches is None:  # Calico: the reader's records, counted in C a chunk at a time
        batch: Counter = Counter()
        flows = read_flows(path, counts, fmt, progress, times=times)
        while chunk := list(islice(flows, _CHUNK)):
            batch.update(chunk)
            if len(batch) >= limit:
                yield batch
                batch = Counter()
        yield batch
        return
    bad = counts.malformed - before
    if not found and bad:
        first = next((e for e in counts.examples if e.startswith(f"{path}:")), "")
        raise FlowFileError(
            f"{path}: no {fmt} flow in it and {bad} malformed line{'s' if bad > 1 else ''}"
            + (f"; the first: {first}" if first else "")
        )


def _window(counts: Counts, first: bytes | None, last: bytes | None) -> None:
    """Merge a file's first and last times, kept as UTF-8 bytes (which sort as the
    strings do), into ``counts``."""
    for when in (first, last):
        if when is not None:
            counts.seen_at(when.decode())


# --- Hubble ------------------------------------------------------------------------------


def _raw(text: bytes) -> Raw:
    return Raw(text)


_ABSENT = _raw(b"")  # a Raw field's default: the key was not in the object
_NULL_END = b"null"  # what an absent end is to the full reader (``flow.get("source")``)


class _Ports(Struct, gc=False):
    # null, which the reader calls no port, fails the decode; 0 for "absent" fails the
    # range check: both lines go to the reader.
    destination_port: int | UnsetType = UNSET
    destinationPort: int = 0


class _L4(Struct, gc=False):
    TCP: _Ports | None = None
    UDP: _Ports | None = None
    SCTP: _Ports | None = None


class _IP(Struct, gc=False):
    source: str | None = None
    destination: str | None = None


class _Flow(Struct, gc=False):
    """The fields of a ``flow.Flow`` that ``formats._hubble_flow`` reads, strictly typed:
    a value of any other type fails the decode and the line goes to the full reader."""

    time: Annotated[str, Meta(min_length=1)] | None = None  # "": the reader's business
    verdict: str | None = None
    drop_reason_desc: str | int | None | UnsetType = UNSET
    dropReasonDesc: str | int | None | UnsetType = UNSET
    IP: _IP | None = None
    l4: _L4 | None = None
    source: Raw = _ABSENT
    destination: Raw = _ABSENT
    Type: str | int | None = None
    is_reply: bool | None | UnsetType = UNSET
    isReply: bool | None | UnsetType = UNSET


class _Line(_Flow, gc=False):
    """A line: a bare flow (the fields above), or a ``GetFlowsResponse`` wrapping one."""

    flow: _Flow | UnsetType = UNSET
    node_status: Raw = _ABSENT
    lost_events: Raw = _ABSENT


_decode_line = msgspec.json.Decoder(_Line).decode
_NOT_A_FLOW = "not a flow (node status, lost events)"
_NOT_L3_L4 = "not an L3/L4 event (L7, socket trace or unknown type)"
_NO_PORT = "no TCP/UDP/SCTP port (ICMP or no L4)"
_REPLY = "reply"


def _verdict(given):
    """The verdict of a line's ``verdict`` as ``formats._hubble_flow`` reads it; a dropped
    flow's comes as ("DROPPED", its drop reason, or UNSET when it gives none)."""
    if type(given) is not tuple:
        return _VERDICTS.get(given)
    why = given[1]
    if why is not UNSET and why is not None and why not in _POLICY_DROPS:
        return DROPPED_OTHER
    return _VERDICTS["DROPPED"]


def _end_fields(raw: bytes):
    """An end's (namespace, name, labels, kind) as ``formats._hubble_end`` reads them from
    the end's JSON text, or None when reading it fails (the line is then read in full)."""
    try:
        end = _hubble_end(orjson.loads(raw), "")
    except (ValueError, TypeError, AttributeError):
        return None
    return (end.namespace, end.name, end.labels, end.kind)


def _decode(raw: bytes):
    """The full reader's answer for one line: ("flow", Observed, time), ("skip", reason)
    or ("bad", why)."""
    try:
        flow, when = _hubble_flow(orjson.loads(raw))
    except _Skip as skip:
        return ("skip", skip.args[0])
    except (ValueError, TypeError, AttributeError) as exc:
        return ("bad", _why(exc))
    return ("flow", flow, when)


def _blocks(f, progress):
    """The file's lines, without their newline, a list a block at a time; each list with
    whether its lines ended in a newline (the last line of a file may not) and whether
    they are all plain ASCII without a backslash (checked once for the block)."""
    tail = b""
    while True:
        block = f.read(_BLOCK)
        if not block:
            if tail:
                yield [tail], False, False
            return
        block = tail + block
        lines = block.split(b"\n")
        tail = lines.pop()
        yield lines, True, block.isascii() and 92 not in block
        if progress is not None:
            progress(f.tell() if not isinstance(f, gzip.GzipFile) else f.fileobj.tell())


def _hubble_counted(f, path: Path, counts: Counts, progress, limit: int, times=None):
    """Each line decoded by msgspec into ``_Line`` (only the fields the replay reads; the
    ends kept as their JSON text), its flow tallied by (source end, destination end,
    addresses, port, protocol, verdict); an end's text is read once (``_end_fields``).
    A line that is not plain ASCII, holds an escape, fails the typed decode, or has a
    value the full reader would refuse or read otherwise, is read by the full reader."""
    decode = _decode_line
    decode_error = msgspec.DecodeError  # ValidationError is one
    ends: dict[bytes, int] = {}  # an end's JSON text -> its number in end_fields
    end_fields: list = []  # (namespace, name, labels, kind) or None (read in full)
    # (source end, destination end, source IP, destination IP, port, protocol, verdict
    # as written (``_verdict``))
    # -> [flows, first time, last time] (times as ``instant`` text)
    tally: dict[tuple, list] = {}
    # In front of it, by what a line gives without its ends: (addresses, port, protocol,
    # verdict) -> (source end's text, destination end's text, the tally's entry). An
    # address pair nearly always has the same two ends: comparing their text is cheaper
    # than hashing it.
    recent: dict[tuple, tuple] = {}
    loose: Counter = Counter()  # flows of lines read in full
    timed = times is not None
    skipped: dict[str, int] = {}
    first = last = None  # the file's window, compared as given (as read_flows does)
    odd_window = False
    number = 0

    def batch() -> Counter:
        out: Counter = Counter(loose)
        for key, (n, early, late) in tally.items():
            s, d, ip_s, ip_d, port, protocol, given = key
            verdict = _verdict(given)
            ns, name, labels, kind = end_fields[s]
            src = End(ns, name, ip_s or "", labels, kind)
            ns, name, labels, kind = end_fields[d]
            flow = Observed(src, End(ns, name, ip_d or "", labels, kind), port, protocol, verdict)
            out[flow] += n
            if early is not None:
                widen(times, flow, early.encode())
                widen(times, flow, late.encode())
        tally.clear()
        recent.clear()
        loose.clear()
        return out

    for lines, terminated, plain in _blocks(f, progress):
        for raw in lines:
            number += 1
            # msgspec and orjson read JSON alike but for what msgspec skips: it checks no
            # UTF-8 there; and escapes are left to the full reader.
            if plain or (raw.isascii() and 92 not in raw):
                try:
                    line = decode(raw)
                except decode_error:
                    line = None
                if line is not None:
                    flow = line.flow
                    if flow is UNSET:
                        flow = line
                        if line.node_status is not _ABSENT or line.lost_events is not _ABSENT:
                            skipped[_NOT_A_FLOW] = skipped.get(_NOT_A_FLOW, 0) + 1
                            continue
                    kind = flow.Type
                    if kind != "L3_L4" and kind != 1:
                        skipped[_NOT_L3_L4] = skipped.get(_NOT_L3_L4, 0) + 1
                        continue
                    reply = flow.is_reply
                    if reply is UNSET:
                        reply = flow.isReply
                    if reply is True:
                        skipped[_REPLY] = skipped.get(_REPLY, 0) + 1
                        continue
                    l4 = flow.l4
                    if l4 is None:
                        skipped[_NO_PORT] = skipped.get(_NO_PORT, 0) + 1
                        continue
                    protocol = "TCP"
                    ports = l4.TCP
                    if ports is None:
                        protocol = "UDP"
                        ports = l4.UDP
                        if ports is None:
                            protocol = "SCTP"
                            ports = l4.SCTP
                            if ports is None:
                                skipped[_NO_PORT] = skipped.get(_NO_PORT, 0) + 1
                                continue
                    port = ports.destination_port
                    if port is UNSET:
                        port = ports.destinationPort
                    when = flow.time
                    # A port the full reader refuses, or a time after one that is no
                    # string (see the full path below): the full reader's.
                    if 0 < port < 65536 and (when is None or not odd_window):
                        given = flow.verdict  # the verdict as written: _verdict() reads it
                        if given == "DROPPED":
                            why = flow.drop_reason_desc
                            if why is UNSET:
                                why = flow.dropReasonDesc
                            given = (given, why)
                        ip = flow.IP
                        if ip is None:
                            front = (None, None, port, protocol, given)
                        else:
                            front = (ip.source, ip.destination, port, protocol, given)
                        hit = recent.get(front)
                        if hit is not None and hit[0] == flow.source and hit[1] == flow.destination:
                            seen = hit[2]
                        else:
                            raw_s = flow.source
                            raw_d = flow.destination
                            text_s = _NULL_END if raw_s is _ABSENT else bytes(raw_s)
                            text_d = _NULL_END if raw_d is _ABSENT else bytes(raw_d)
                            s = ends.get(text_s)
                            d = ends.get(text_d)
                            if s is None or d is None:
                                if len(ends) >= CACHE_KEYS:
                                    yield batch()  # before the end numbers it names go
                                    ends.clear()
                                    end_fields.clear()
                                    s = None
                                if s is None:
                                    s = ends[text_s] = len(end_fields)
                                    end_fields.append(_end_fields(text_s))
                                d = ends.get(text_d)
                                if d is None:
                                    d = ends[text_d] = len(end_fields)
                                    end_fields.append(_end_fields(text_d))
                            seen = None
                            if end_fields[s] is not None and end_fields[d] is not None:
                                key = (s, d) + front
                                seen = tally.get(key)
                                if seen is None:
                                    if len(tally) >= limit:
                                        yield batch()
                                    seen = tally[key] = [0, None, None]
                                recent[front] = (raw_s.copy(), raw_d.copy(), seen)
                        if seen is not None:
                            seen[0] += 1
                            if when is not None:
                                if first is None or when < first:
                                    first = when
                                if last is None or when > last:
                                    last = when
                                if timed:
                                    # instant() leaves this shape as it is: compare it as text.
                                    if not (
                                        len(when) == 30
                                        and when[29] == "Z"
                                        and when[19] == "."
                                        and when[10] == "T"
                                    ):
                                        when = instant(when.encode()).decode()
                                    if seen[1] is None:
                                        seen[1] = seen[2] = when
                                    elif when > seen[2]:
                                        seen[2] = when
                                    elif when < seen[1]:
                                        seen[1] = when
                            continue
            # Read in full, as read_flows does (which reads the line with its newline).
            if not raw or raw.isspace():
                continue
            real = _decode(raw + b"\n" if terminated else raw)
            if real[0] == "skip":
                counts.skip(real[1])
            elif real[0] == "bad":
                counts.bad(f"{path}:{number}", real[1])
            else:
                if real[2] is not None:
                    # The window so far first, so the times meet in the file's order.
                    for when in (first, last):
                        if when is not None:
                            counts.seen_at(when)
                    first = last = None
                    try:
                        _hubble_time(counts, real[2])
                    except TypeError as exc:
                        counts.bad(f"{path}:{number}", _why(exc))
                        continue
                    finally:
                        # A time that is no string in the window makes every later time
                        # compared with it malformed: the full reader decides those lines.
                        odd_window = not isinstance(counts.first_time or "", str) or not (
                            isinstance(counts.last_time or "", str)
                        )
                loose[real[1]] += 1
                if timed and (at := _time_bytes(real[2])) is not None:
                    widen(times, real[1], at)
    counts.lines += number
    for reason, n in skipped.items():
        counts.skipped[reason] = counts.skipped.get(reason, 0) + n
    for when in (first, last):
        if when is not None:
            counts.seen_at(when)
    yield batch()


# --- CSV ---------------------------------------------------------------------------------


def _csv_counted(f, path: Path, counts: Counts, progress, limit: int, times=None):
    """CSV with the time first: the key is the line after the time. A line that the csv
    module could read otherwise than a split on commas (a quote, a carriage return inside
    it, a NUL), or a header putting the time elsewhere, hands the rest of the file over to
    the full reader."""
    cache: dict[bytes, tuple] = {}  # the line after the time -> ("flow", kind) or a skip, bad
    kinds: list[Observed] = []
    tally: dict[int, int] = {}  # kind -> flows (an int key: no tuple hashed per line)
    spans: dict[int, list[bytes]] = {}  # kind -> [first, last] time (with ``times``)
    timed = times is not None
    skipped: dict[str, int] = {}
    first = last = None
    layout = _CSV_DEFAULT

    def batch() -> Counter:
        out: Counter = Counter()
        for k, n in tally.items():
            out[kinds[k]] += n
        for k, (early, late) in spans.items():
            widen(times, kinds[k], early)
            widen(times, kinds[k], late)
        tally.clear()
        spans.clear()
        return out

    number = 0
    handover = None  # the lines for the full reader to read first
    cached_bytes = 0
    for number, raw in enumerate(f, start=1):  # noqa: B007
        if progress is not None and number % 65536 == 0:
            progress(f.tell() if not isinstance(f, gzip.GzipFile) else f.fileobj.tell())
        comma = raw.find(b",")
        when = raw[:comma] if comma >= 0 else raw
        if 34 in when or 13 in when or 0 in when or not when.isascii():
            handover = [raw]
            break
        entry = cache.get(raw[comma:]) if comma >= 0 else None
        if entry is None:
            cr = raw.find(b"\r")
            if 34 in raw or 0 in raw or (cr >= 0 and (cr != len(raw) - 2 or raw[-1] != 10)):
                handover = [raw]
                break
            row = next(csv.reader([raw.decode("utf-8", "replace")]), [])
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if number == 1 and _is_header(row):
                layout = _header(row, path)
                if layout[0]["time"] != 0:
                    handover = []
                    number += 1
                    break
                continue
            if cached_bytes > CACHE_BYTES:
                yield batch()  # before the kinds it names go
                kinds.clear()
                cache.clear()
                cached_bytes = 0
            try:
                entry = ("flow", len(kinds))
                kinds.append(_csv_row(row, *layout))
            except _Skip as skip:
                entry = ("skip", skip.args[0])
            except (ValueError, IndexError) as exc:
                entry = ("bad", _why(exc))
            if comma >= 0:
                cache[raw[comma:]] = entry
                cached_bytes += len(raw) - comma
        kind = entry[0]
        if kind == "flow":
            k = entry[1]
            tally[k] = tally.get(k, 0) + 1
            if when:
                if first is None or when < first:
                    first = when
                if last is None or when > last:
                    last = when
                if timed:
                    widen(spans, k, instant(when))
            if len(tally) >= limit:
                yield batch()
        elif kind == "skip":
            skipped[entry[1]] = skipped.get(entry[1], 0) + 1
        else:
            counts.bad(f"{path}:{number}", entry[1])
    for reason, n in skipped.items():
        counts.skipped[reason] = counts.skipped.get(reason, 0) + n
    _window(counts, first, last)
    yield batch()
    if handover is None:
        counts.lines += number
        return
    import io

    text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")
    # Split as the text wrapper splits (a lone carriage return ends a line too).
    lines = chain(io.StringIO(b"".join(handover).decode("utf-8", "replace"), newline=""), text)
    flows = _csv(
        f,
        path,
        counts,
        progress,
        rows=csv.reader(lines),
        number=number - 1,
        layout=layout,
        times=times,
    )
    tally = Counter()
    while chunk := list(islice(flows, _CHUNK)):
        tally.update(chunk)
        if len(tally) >= limit:
            yield tally
            tally = Counter()
    yield tally
