"""Count a flow file's distinct flows fast: each kind of line is decoded once.

``count_flows(path, counts)`` yields ``Counter``s of ``Observed`` flows (flows → how many)
with exactly what ``formats.read_flows`` would give, record for record: the same flows,
skips, malformed lines (with their line numbers) and time window. It is the hot path of a
replay: a file of millions of lines holds a few thousand kinds of line, because what
changes from one line to the next is the time, an id and the ports.

1. Each line is cut into a key, the line without the values of a few known fields
   (Hubble: ``time``, ``uuid``, ``source_port``, ``destination_port``; CSV: the time,
   its first column), found with ``bytes.find``.
2. A key seen for the first time is decoded by the full reader once, as a probe: the
   same key with a sentinel in each cut, each sentinel found nowhere else in the line.
   The key is cached when the probe is a skip, or a flow whose port is the sentinel of
   one cut (``destination_port``) and whose time is that of another (``time``): the
   decoder read nothing else of the cut values, so every line of that key, the first
   included, is that flow with its own port (checked in 1-65535) and time, or the same
   skip. Anything else (a malformed probe, a value that is no plain string or number, a
   key whose answer depends on more) is decoded in full every time.
3. Flows are tallied by (kind, port) in a dict of ints, and turned into ``Observed``
   flows per distinct tally when a batch is handed over.
4. With ``times`` (a dict), each flow's first and last time (``formats.instant``: UTC,
   nine fraction digits, so they compare as instants) are kept per tally too, and added
   to ``times`` (``Observed`` -> ``[first, last]``) before each batch is handed over; the
   caller may empty it between batches (memory then stays bounded by ``limit``).

Memory: the cache holds each distinct key once (a Hubble key by its 128-bit digest, so
two keys would share an answer with odds of about n²/2¹²⁹, 10⁻²⁷ for a million keys), up
to ``CACHE_KEYS`` Hubble keys or ``CACHE_BYTES`` of CSV keys, and is emptied (after
handing over the tally) when full; the tally holds at most ``limit``
distinct flows before it is handed over. Calico files and CSV files that need the
``csv`` module's full syntax (quotes, a carriage return inside a line, a NUL, columns
with the time elsewhere) are read by ``read_flows`` and counted as they come.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter
from itertools import chain, islice
from pathlib import Path

import orjson

from .formats import (
    _CSV_DEFAULT,
    CSV,
    HUBBLE,
    Counts,
    FlowFileError,
    Observed,
    _csv,
    _csv_row,
    _header,
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

CACHE_KEYS = 1_000_000  # distinct Hubble keys kept (step 2), ~150 bytes each; then emptied
CACHE_BYTES = 64 * 2**20  # bytes of distinct CSV keys kept; then emptied
LIMIT = 500_000  # distinct flows tallied before a batch is handed over
_CHUNK = 10_000

# A JSON string's rest in printable ASCII, no escape: a value any JSON reader reads as is
# (a control character or invalid UTF-8 in a cut value would hide a malformed line).
_STRING = re.compile(rb'[ !#-\[\]-~]*"')
_NUMBER = re.compile(rb"[1-9][0-9]{0,6}(?=[,}])")  # a plain positive JSON integer
# (marker, is a string): the fields cut out of a Hubble line, in the order Hubble
# writes them (proto field order); the last ``time`` is the response's, after the flow.
_PROTO_CUTS = (
    (b'"time":"', True),
    (b'"uuid":"', True),
    (b'"source_port":', False),
    (b'"destination_port":', False),
    (b'"time":"', True),
)
_CAMEL_CUTS = (
    (b'"time":"', True),
    (b'"uuid":"', True),
    (b'"sourcePort":', False),
    (b'"destinationPort":', False),
    (b'"time":"', True),
)
_UNCACHED = False


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


def _cut(raw: bytes, cuts) -> tuple[bytes, list[bytes]] | None:
    """(the line without the cut values, the values), or None when a marker's value is
    no plain string or number (then the line is decoded in full)."""
    segments = []
    values = []
    pos = 0
    find = raw.find
    for marker, string in cuts:
        i = find(marker, pos)
        if i < 0:
            continue
        start = i + len(marker)
        m = (_STRING if string else _NUMBER).match(raw, start)
        if m is None:
            return None
        end = m.end() - 1 if string else m.end()
        segments.append(raw[pos:start])
        values.append(raw[start:end])
        pos = end
    segments.append(raw[pos:])
    return b"".join(segments), values


def _cut_hubble(raw: bytes, sport: bytes, dport: bytes):
    """``_cut`` unrolled for a line with all five cuts in Hubble's order (the usual
    case): the same key and values, or None (then ``_cut`` decides)."""
    find = raw.find
    string = _STRING.match
    number = _NUMBER.match
    i = find(b'"time":"')
    if i < 0:
        return None
    a = i + 8
    m = string(raw, a)
    if m is None:
        return None
    b = m.end() - 1
    i = find(b'"uuid":"', b)
    if i < 0:
        return None
    c = i + 8
    m = string(raw, c)
    if m is None:
        return None
    d = m.end() - 1
    i = find(sport, d)
    if i < 0:
        return None
    e = i + len(sport)
    m = number(raw, e)
    if m is None:
        return None
    f = m.end()
    i = find(dport, f)
    if i < 0:
        return None
    g = i + len(dport)
    m = number(raw, g)
    if m is None:
        return None
    h = m.end()
    i = find(b'"time":"', h)
    if i < 0:
        return None
    k = i + 8
    m = string(raw, k)
    if m is None:
        return None
    n = m.end() - 1
    return (
        raw[:a] + raw[b:c] + raw[d:e] + raw[f:g] + raw[h:k] + raw[n:],
        (raw[a:b], raw[c:d], raw[e:f], raw[g:h], raw[k:n]),
    )


def _probe(raw: bytes, cuts) -> tuple[bytes, list]:
    """The line with a sentinel in each cut, and the sentinels as the decoder returns
    them: ``~k~`` in a string, a port number in a number, each found nowhere else in the
    line, so a sentinel in the decoder's answer can only come from its cut."""
    parts, kinds, pos = [], [], 0
    for marker, string in cuts:
        i = raw.find(marker, pos)
        if i < 0:
            continue
        start = i + len(marker)
        m = (_STRING if string else _NUMBER).match(raw, start)
        end = m.end() - 1 if string else m.end()
        parts.append(raw[pos:start])
        kinds.append(string)
        pos = end
    spare = (n for n in range(10_000, 65_536) if str(n).encode() not in raw)
    sentinels = []
    for k, string in enumerate(kinds):
        if string:
            tildes = "~"
            while f"{tildes}{k}{tildes}".encode() in raw:
                tildes += "~"
            sentinels.append(f"{tildes}{k}{tildes}")
        else:
            sentinels.append(next(spare))
    out = []
    for part, sentinel in zip(parts, sentinels, strict=True):
        out += (part, str(sentinel).encode())
    out.append(raw[pos:])
    return b"".join(out), sentinels


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


def _learn(raw: bytes, cuts):
    """What to cache for the key of ``raw`` (step 2): a skip reason, (flow, port cut,
    time cut or -1), or ``_UNCACHED``. Only the probe is decoded: its answer holds the
    sentinels of the port and time cuts (and no other), so the decoder read nothing else
    of the cut values, and every line of the key, this one included, is the probe's
    answer with its own port and time (the port still checked per line, in 1-65535)."""
    probe, sentinels = _probe(raw, cuts)
    seen = _decode(probe)
    if seen[0] == "skip":
        return seen[1]
    if seen[0] != "flow":
        return _UNCACHED
    flow, when = seen[1], seen[2]
    if flow.port not in sentinels:
        return _UNCACHED
    port_cut = sentinels.index(flow.port)
    if when is None:
        time_cut = -1
    elif when in sentinels:
        time_cut = sentinels.index(when)
    else:
        return _UNCACHED
    return (flow, port_cut, time_cut)


def _hubble_counted(f, path: Path, counts: Counts, progress, limit: int, times=None):
    cache: dict[int, object] = {}  # key digest -> skip reason, (kind, port cut, time cut), False
    kinds: list[Observed] = []  # the flows of cached keys, port 0 (the line gives it)
    kind_of: dict[Observed, int] = {}
    tally: dict[int, int] = {}  # kind << 16 | port -> flows
    loose: Counter = Counter()  # flows of lines decoded in full
    spans: dict[int, list[bytes]] = {}  # as tally: [first, last] time (with ``times``)
    timed = times is not None
    skipped: dict[str, int] = {}
    first = last = None
    cuts = _PROTO_CUTS
    sport, dport = cuts[2][0], cuts[3][0]
    number = 0

    def batch() -> Counter:
        out = Counter(loose)
        for k, n in tally.items():
            flow = kinds[k >> 16]._replace(port=k & 0xFFFF)
            out[flow] += n
            span = spans.get(k)
            if span is not None:  # the same flow object: one Observed a conversation
                widen(times, flow, span[0])
                widen(times, flow, span[1])
        tally.clear()
        loose.clear()
        spans.clear()
        return out

    for number, raw in enumerate(f, start=1):  # noqa: B007 (read after the loop)
        if progress is not None and number % 65536 == 0:
            progress(f.tell() if not isinstance(f, gzip.GzipFile) else f.fileobj.tell())
        if raw.isspace():
            continue
        if number == 1 and (b'"destinationPort":' in raw or b'"sourcePort":' in raw):
            cuts = _CAMEL_CUTS
            sport, dport = cuts[2][0], cuts[3][0]
        cut = _cut_hubble(raw, sport, dport) or _cut(raw, cuts)
        entry = _UNCACHED
        if cut is not None:
            key, values = cut
            # The key's 128-bit digest stands for it: two keyed hashes (SipHash) of
            # different inputs; a key is ~1 KB, its digest 44 bytes.
            digest = (hash(key) << 64) ^ hash(key + b"\n")
            entry = cache.get(digest)
            if entry is None:
                if len(cache) >= CACHE_KEYS:
                    # The tally names kinds by number: hand it over before they go.
                    yield batch()
                    kinds.clear()
                    kind_of.clear()
                    cache.clear()
                entry = _learn(raw, cuts)
                if type(entry) is tuple:
                    flow = entry[0]._replace(port=0)
                    k = kind_of.get(flow)
                    if k is None:
                        k = kind_of[flow] = len(kinds)
                        kinds.append(flow)
                    entry = (k, entry[1], entry[2])
                cache[digest] = entry
        if type(entry) is tuple:
            k, port_cut, time_cut = entry
            port = int(values[port_cut])
            if port <= 65535:
                t = (k << 16) | port
                tally[t] = tally.get(t, 0) + 1
                if time_cut >= 0:
                    when = values[time_cut]
                    if first is None or when < first:
                        first = when
                    if last is None or when > last:
                        last = when
                    if timed:
                        widen(spans, t, instant(when))
                if len(tally) >= limit:
                    yield batch()
                continue
        elif entry is not _UNCACHED:
            skipped[entry] = skipped.get(entry, 0) + 1
            continue
        # Decoded in full, as read_flows does.
        real = _decode(raw)
        if real[0] == "skip":
            counts.skip(real[1])
        elif real[0] == "bad":
            counts.bad(f"{path}:{number}", real[1])
        else:
            try:
                if real[2] is not None:
                    _hubble_time(counts, real[2])
            except TypeError as exc:
                counts.bad(f"{path}:{number}", _why(exc))
                continue
            loose[real[1]] += 1
            if timed and (at := _time_bytes(real[2])) is not None:
                widen(times, real[1], at)
    counts.lines += number
    for reason, n in skipped.items():
        counts.skipped[reason] = counts.skipped.get(reason, 0) + n
    _window(counts, first, last)
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
