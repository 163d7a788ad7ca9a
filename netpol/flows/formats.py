"""Observed flows from files: Hubble, Calico (Goldmane) and plain CSV, one record a line.

``read_flows(path, counts)`` yields one ``Observed`` tuple per flow worth replaying and
counts everything else in ``counts`` (a ``Counts``): reply packets, events that are not
L3/L4, flows without a TCP/UDP/SCTP port, and malformed lines, each malformed line with
its file and line number (the first ``MAX_EXAMPLES`` kept as examples). A bad line never
stops the reading; a file with no flow at all and bad lines is an error (``FlowFileError``).

The formats, as their own documentation describes them:

* **Hubble** (``hubble observe -o json`` or ``-o jsonpb``): one ``flow.Flow`` object a line,
  bare or wrapped as ``{"flow": {...}, "node_name": ...}`` (a ``GetFlowsResponse``; lines
  carrying ``node_status`` or ``lost_events`` instead are counted as "not a flow"). Fields
  are read by their proto names or protobuf's JSON (lowerCamelCase) names: ``Type``
  (``L3_L4``; ``L7`` and ``SOCK`` events repeat connections already seen), ``is_reply``,
  ``verdict`` with ``drop_reason_desc``, ``IP.source``/``IP.destination``,
  ``l4.TCP|UDP|SCTP.destination_port``, and ``source``/``destination`` endpoints with
  ``namespace``, ``pod_name`` and ``labels`` (``k8s:app=web``; ``reserved:world`` and the
  like say the end is no pod).
* **Calico** (Goldmane's ``Flow``, bare, wrapped as ``{"flow": ...}`` or with its ``Key``
  object, or the flat flow-log record of Calico's flow logs and Whisker): ``source_name``
  (a pod, or a set of pods sharing a generated name, ``web-5d8f7-*``), ``source_namespace``,
  ``source_type`` (``WorkloadEndpoint``/``wep``, ``HostEndpoint``/``hep``,
  ``NetworkSet``/``ns``, ``Network``/``net``), ``source_labels`` (a list of ``k=v``, a
  ``{"labels": [...]}`` object or one string joined by ``|``/``,``), ``source_ip`` when
  logged, the same for ``dest_``, ``dest_port``, ``proto``/``protocol`` and ``action``
  (``Allow``, ``Deny``, ``Pass``).
* **CSV**: ``time,src_ns,src_pod,dst_ns,dst_pod,dst_ip,port,protocol,verdict`` in that
  order, or any order under a header row naming the columns (a ``src_ip`` column is read
  too). ``verdict`` may be empty.

A file's format is its name's (``.csv``) or its first record's: a JSON object with
``flow``, ``source`` or ``IP`` is Hubble's, with ``Key``, ``source_namespace`` or
``dest_port`` Calico's. Files ending in ``.gz`` are read through gzip.

Times: ``instant`` turns an RFC 3339 time into one UTC form with nine fraction digits,
so times compare as the instants do whatever digits or offset the file wrote
(``...:05Z`` and ``...:05.5Z`` do not sort as strings); text that is no RFC 3339 time is
kept and compared as written. With ``times`` (a dict), ``read_flows`` keeps there each
flow's first and last time (``Observed`` -> ``[first, last]``, ``instant`` bytes).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import orjson

HUBBLE = "hubble"
CALICO = "calico"
CSV = "csv"
FORMATS = (HUBBLE, CALICO, CSV)
CSV_COLUMNS = (
    "time",
    "src_ns",
    "src_pod",
    "dst_ns",
    "dst_pod",
    "dst_ip",
    "port",
    "protocol",
    "verdict",
)
MAX_EXAMPLES = 20

# Observed verdicts, as the flow's source says them, reduced to what the engine can answer.
ALLOWED = "allowed"
DENIED = "denied"
DROPPED_OTHER = "dropped (not by policy)"  # Hubble drops for other reasons than policy
_VERDICTS = {
    "FORWARDED": ALLOWED,
    "ALLOWED": ALLOWED,
    "ALLOW": ALLOWED,
    "ACCEPT": ALLOWED,
    "DROPPED": DENIED,
    "DENIED": DENIED,
    "DENY": DENIED,
    "DROP": DENIED,
    # Policy audit mode: forwarded, but policy would have dropped it.
    "AUDIT": DENIED,
}
# Hubble's drop reasons that are policy's, by name (protojson) and number.
_POLICY_DROPS = {"POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED", 133, 181, 189}
_PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP", "6": "TCP", "17": "UDP", "132": "SCTP"}
# Cilium labels that say what an end is rather than label a pod.
_NOT_POD_LABELS = ("io.kubernetes.pod.namespace", "io.cilium.")


class FlowFileError(ValueError):
    """A flow file that cannot be read at all; the message names the file (and line)."""


class End(NamedTuple):
    """One end of a flow as the file gives it; any field may be empty.

    ``name`` is a pod name, or a generated-name prefix ending in ``*`` (Calico's
    aggregation); ``labels`` are ``k=v`` strings; ``kind`` is "" (a pod or an address),
    ``"host"`` (a node), ``"network"`` (outside, address in ``ip`` if logged) or
    ``"networkset"`` (a Calico network set)."""

    namespace: str
    name: str
    ip: str
    labels: tuple[str, ...]
    kind: str = ""


class Observed(NamedTuple):
    src: End
    dst: End
    port: int
    protocol: str
    verdict: str | None  # ALLOWED, DENIED, DROPPED_OTHER or None (no verdict given)


@dataclass
class Counts:
    """What reading found besides flows: skipped records by reason, malformed lines."""

    lines: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    examples: list[str] = field(default_factory=list)
    first_time: str | None = None
    last_time: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def bad(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {why}")

    def seen_at(self, when) -> None:
        if when is None or when == "":
            return
        when = str(when)
        if self.first_time is None or when < self.first_time:
            self.first_time = when
        if self.last_time is None or when > self.last_time:
            self.last_time = when


_RFC3339 = re.compile(
    rb"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,9})\d*)?([Zz]|[+-]\d\d:\d\d)"
)
_PADS = {n: b"0" * (30 - n) + b"Z" for n in range(21, 30)}


def instant(when: bytes) -> bytes:
    """An RFC 3339 time as ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`` (UTC, nine fraction digits),
    which sorts as the instants do; other text as given."""
    n = len(when)
    if when[-1:] == b"Z" and n > 20 and when[19] == 46 and when[10] == 84:  # the usual case
        if n == 30:
            return when
        if n < 30:
            return when[:-1] + _PADS[n]
    m = _RFC3339.fullmatch(when)
    if m is None:
        return when
    date, clock, fraction, zone = m.groups()
    if zone not in (b"Z", b"z"):
        from datetime import UTC, datetime

        utc = datetime.fromisoformat(f"{date.decode()}T{clock.decode()}{zone.decode()}")
        date, clock = utc.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S").encode().split()
    return date + b"T" + clock + b"." + (fraction or b"").ljust(9, b"0") + b"Z"


def widen(times: dict, key, when: bytes) -> None:
    """Keep ``when`` (an ``instant``) in ``times[key]``, ``[first, last]``."""
    span = times.get(key)
    if span is None:
        times[key] = [when, when]
    elif when < span[0]:
        span[0] = when
    elif when > span[1]:
        span[1] = when


def _time_bytes(when) -> bytes | None:
    if isinstance(when, str) and when:
        return instant(when.encode())
    if isinstance(when, int) and not isinstance(when, bool):
        return instant(str(when).encode())
    return None


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 (closed by the caller's with)


def detect(path: Path) -> str:
    """The file's format: by its name for CSV, else by its first non-blank line."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".csv"):
        return CSV
    try:
        with _open(path) as f:
            for raw in f:
                line = raw.strip()
                if not line:
                    continue
                if not line.startswith(b"{"):
                    return CSV
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise FlowFileError(
                        f"{path}: line 1 is neither JSON nor CSV; expected Hubble or Calico "
                        "JSON (one object a line) or CSV"
                    ) from None
                return json_format(obj, path)
    except OSError as exc:
        raise FlowFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (EOFError, gzip.BadGzipFile) as exc:
        raise FlowFileError(f"{path}: not a readable gzip file ({exc})") from None
    return CSV  # an empty file: nothing to read either way


def json_format(obj, path) -> str:
    if isinstance(obj, dict):
        inner = obj.get("flow") if isinstance(obj.get("flow"), dict) else obj
        if "Key" in inner or "key" in inner or "source_namespace" in inner or "dest_port" in inner:
            return CALICO
        if "flow" in obj or "source" in inner or "IP" in inner or "l4" in inner or "Type" in inner:
            return HUBBLE
    raise FlowFileError(
        f"{path}: line 1 is JSON but neither a Hubble flow (flow, source, IP, l4) nor a "
        "Calico flow (Key, source_namespace, dest_port)"
    )


def read_flows(path: str | Path, counts: Counts, fmt: str | None = None, progress=None, times=None):
    """Yield the ``Observed`` flows of one file (module docstring); ``progress(bytes)``
    is called now and then with the bytes read so far; ``times``: a dict to keep each
    flow's first and last time in."""
    path = Path(path)
    fmt = fmt or detect(path)
    reader = {HUBBLE: _hubble, CALICO: _calico, CSV: _csv}[fmt]
    before = counts.malformed
    found = 0
    try:
        with _open(path) as f:
            for flow in reader(f, path, counts, progress, times=times):
                found += 1
                yield flow
    except OSError as exc:
        raise FlowFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (EOFError, gzip.BadGzipFile) as exc:
        raise FlowFileError(f"{path}: not a readable gzip file ({exc})") from None
    bad = counts.malformed - before
    if not found and bad:
        first = next((e for e in counts.examples if e.startswith(f"{path}:")), "")
        raise FlowFileError(
            f"{path}: no {fmt} flow in it and {bad} malformed line{'s' if bad > 1 else ''}"
            + (f"; the first: {first}" if first else "")
        )


def _progress_every(f, progress, number: int) -> None:
    if progress is not None and number % 65536 == 0:
        progress(f.tell() if not isinstance(f, gzip.GzipFile) else f.fileobj.tell())


# --- Hubble ---------------------------------------------------------------------------


class _Skip(Exception):  # noqa: N818 (a record to count, not an error)
    """A record that is no flow worth replaying; the reason is what ``Counts`` shows."""


def _hubble(f, path: Path, counts: Counts, progress, times=None):
    loads = orjson.loads
    number = 0
    for number, raw in enumerate(f, start=1):  # noqa: B007 (read after the loop)
        _progress_every(f, progress, number)
        if raw.isspace():
            continue
        try:
            flow, when = _hubble_flow(loads(raw))
            if when is not None:
                _hubble_time(counts, when)
        except _Skip as skip:
            counts.skip(skip.args[0])
            continue
        except (ValueError, TypeError, AttributeError) as exc:
            counts.bad(f"{path}:{number}", _why(exc))
            continue
        if times is not None and (at := _time_bytes(when)) is not None:
            widen(times, flow, at)
        yield flow
    counts.lines += number


def _hubble_time(counts: Counts, when) -> None:
    # Compared as given: a time that is no string fails here and marks the line malformed.
    if counts.first_time is None or when < counts.first_time:
        counts.first_time = when
    if counts.last_time is None or when > counts.last_time:
        counts.last_time = when


def _hubble_flow(obj) -> tuple[Observed, str | None]:
    """One decoded Hubble line: (the flow, its time), or ``_Skip``, or a ValueError,
    TypeError or AttributeError saying why it is malformed."""
    flow = obj.get("flow", obj)
    if flow is not obj and not isinstance(flow, dict):
        raise ValueError("'flow' is not an object")
    if flow is obj and ("node_status" in obj or "lost_events" in obj):
        raise _Skip("not a flow (node status, lost events)")
    kind = flow.get("Type")
    if kind != "L3_L4" and kind != 1:
        raise _Skip("not an L3/L4 event (L7, socket trace or unknown type)")
    reply = flow.get("is_reply", flow.get("isReply"))
    if reply is True:
        raise _Skip("reply")
    l4 = flow.get("l4") or {}
    for protocol in ("TCP", "UDP", "SCTP"):
        ports = l4.get(protocol)
        if ports is not None:
            port = ports.get("destination_port", ports.get("destinationPort"))
            break
    else:
        raise _Skip("no TCP/UDP/SCTP port (ICMP or no L4)")
    if not port:
        raise ValueError(f"l4.{protocol} has no destination_port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"l4.{protocol}.destination_port {port!r} is not a port number")
    verdict = _VERDICTS.get(flow.get("verdict"))
    if verdict == DENIED and flow.get("verdict") == "DROPPED":
        why = flow.get("drop_reason_desc", flow.get("dropReasonDesc"))
        if why is not None and why not in _POLICY_DROPS:
            verdict = DROPPED_OTHER
    ip = flow.get("IP") or {}
    src = _hubble_end(flow.get("source"), _address(ip.get("source"), "source"), "source")
    dst = _hubble_end(
        flow.get("destination"), _address(ip.get("destination"), "destination"), "destination"
    )
    return Observed(src, dst, port, protocol, verdict), flow.get("time")


def _address(ip, side: str) -> str:
    if ip and not isinstance(ip, str):
        raise ValueError(f"IP.{side} {ip!r} is not an address")
    return ip or ""


def _hubble_end(end, ip: str, side: str = "source") -> End:
    if not end:
        return End("", "", ip, ())
    labels = end.get("labels")
    if labels and not isinstance(labels, list):
        raise ValueError(f"{side}.labels is not a list")
    pod_labels, kind = _hubble_labels(tuple(labels)) if labels else ((), "")
    namespace = end.get("namespace") or ""
    name = end.get("pod_name") or end.get("podName") or ""
    if not isinstance(namespace, str) or not isinstance(name, str):
        raise ValueError(f"{side}: a namespace or pod name that is not a string")
    return End(namespace, name, ip, pod_labels, kind)


@lru_cache(maxsize=65536)
def _hubble_labels(labels: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """(the pod's labels, the end's kind) from Cilium's labels; one identity's labels
    recur on every flow, so each distinct list is read once."""
    kind = ""
    keep = []
    for label in labels:
        source, _, rest = label.partition(":")
        if source == "k8s":
            if not rest.startswith(_NOT_POD_LABELS):
                keep.append(rest)
        elif source == "reserved":
            # host and remote-node are nodes; world is outside, the IP says where.
            if rest in ("host", "remote-node"):
                kind = "host"
            elif rest in ("world", "world-ipv4", "world-ipv6"):
                kind = "network"
    return tuple(keep), kind


# --- Calico ---------------------------------------------------------------------------

_CALICO_TYPES = {
    "WorkloadEndpoint": "",
    "wep": "",
    1: "",
    "HostEndpoint": "host",
    "hep": "host",
    2: "host",
    "NetworkSet": "networkset",
    "ns": "networkset",
    3: "networkset",
    "Network": "network",
    "net": "network",
    4: "network",
}


def _calico(f, path: Path, counts: Counts, progress, times=None):
    loads = orjson.loads
    number = 0
    for number, raw in enumerate(f, start=1):  # noqa: B007
        _progress_every(f, progress, number)
        if raw.isspace():
            continue
        try:
            obj = loads(raw)
            flow = obj.get("flow", obj)
            key = flow.get("Key") or flow.get("key") or flow
            protocol = _PROTOCOLS.get(str(key.get("proto", key.get("protocol", ""))).upper())
            if protocol is None:
                counts.skip("no TCP/UDP/SCTP port (ICMP or no L4)")
                continue
            port = key.get("dest_port")
            if not isinstance(port, int) or isinstance(port, bool):
                port = int(port)  # protojson writes int64 as a string
            if not 1 <= port <= 65535:
                raise ValueError(f"dest_port {port} is outside 1-65535")
            action = key.get("action")
            verdict = _VERDICTS.get(str(action).upper()) if action is not None else None
            src = _calico_end(key, flow, "source_")
            dst = _calico_end(key, flow, "dest_")
            when = _epoch(flow.get("start_time"))
            counts.seen_at(when)
        except (ValueError, TypeError, AttributeError) as exc:
            counts.bad(f"{path}:{number}", _why(exc))
            continue
        observed = Observed(src, dst, port, protocol, verdict)
        if times is not None and (at := _time_bytes(when)) is not None:
            widen(times, observed, at)
        yield observed
    counts.lines += number


def _epoch(when):
    """Goldmane's times are seconds since the epoch (protojson writes int64 as a string);
    Whisker's are RFC 3339 already."""
    if isinstance(when, int) or (isinstance(when, str) and when.isdigit()):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(int(when), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return when


def _calico_end(key: dict, flow: dict, prefix: str) -> End:
    kind = _CALICO_TYPES.get(key.get(prefix + "type", "WorkloadEndpoint"))
    if kind is None:
        raise ValueError(f"{prefix}type {key.get(prefix + 'type')!r} is not a Calico endpoint type")
    ip = key.get(prefix + "ip") or flow.get(prefix + "ip") or ""
    if ip == "-":
        ip = ""
    name = key.get(prefix + "name") or ""
    if kind == "" and name.endswith("*"):
        name = name.rstrip("*")
        name = name + "*" if name else ""
    labels = flow.get(prefix + "labels", key.get(prefix + "labels"))
    return End(
        key.get(prefix + "namespace") or "",
        name if kind == "" else "",
        ip,
        _label_list(labels),
        kind,
    )


def _label_list(labels) -> tuple[str, ...]:
    if not labels:
        return ()
    if isinstance(labels, dict):
        labels = labels.get("labels") or ()
    if isinstance(labels, str):
        labels = labels.replace("|", ",").split(",")
    return tuple(label.strip() for label in labels if label.strip())


# --- CSV ------------------------------------------------------------------------------


def _csv(
    f, path: Path, counts: Counts, progress, rows=None, number: int = 0, layout=None, times=None
):
    """``rows``, ``number``, ``layout``: the rows left, the rows already read and the
    columns, when the fast counter (``counting.py``) hands a file over."""
    import io

    if rows is None:
        text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")
        rows = csv.reader(text)
    columns, src_ip, width = layout or _CSV_DEFAULT
    start = number
    for number, row in enumerate(rows, start=start + 1):  # noqa: B007
        if progress is not None and number % 65536 == 0:
            progress(f.tell() if not isinstance(f, gzip.GzipFile) else f.fileobj.tell())
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if number == 1 and _is_header(row):
            columns, src_ip, width = _header(row, path)
            continue
        try:
            flow = _csv_row(row, columns, src_ip, width)
            when = row[columns["time"]]
            counts.seen_at(when)
        except _Skip as skip:
            counts.skip(skip.args[0])
            continue
        except (ValueError, IndexError) as exc:
            counts.bad(f"{path}:{number}", _why(exc))
            continue
        if times is not None and (at := _time_bytes(when)) is not None:
            widen(times, flow, at)
        yield flow
    counts.lines += number


_CSV_DEFAULT = ({name: i for i, name in enumerate(CSV_COLUMNS)}, None, len(CSV_COLUMNS))


def _is_header(row: list[str]) -> bool:
    return {"port", "protocol"} <= {c.strip() for c in row}


def _csv_row(row: list[str], columns: dict[str, int], src_ip: int | None, width: int) -> Observed:
    """One CSV row as a flow, or ``_Skip``, or a ValueError/IndexError saying why not."""
    if len(row) < width:
        raise ValueError(f"{len(row)} columns, expected {width}")
    port = _number(row[columns["port"]], "port")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    protocol = _PROTOCOLS.get(row[columns["protocol"]].strip().upper())
    if protocol is None:
        if row[columns["protocol"]].strip().upper().startswith("ICMP"):
            raise _Skip("no TCP/UDP/SCTP port (ICMP or no L4)")
        raise ValueError(f"protocol {row[columns['protocol']]!r} is not TCP, UDP or SCTP")
    given = row[columns["verdict"]].strip().upper()
    verdict = _VERDICTS.get(given) if given else None
    if given and verdict is None:
        raise ValueError(f"verdict {given!r}: use allowed/forwarded or denied/dropped")
    src = End(
        row[columns["src_ns"]],
        row[columns["src_pod"]],
        row[src_ip] if src_ip is not None else "",
        (),
    )
    dst = End(row[columns["dst_ns"]], row[columns["dst_pod"]], row[columns["dst_ip"]], ())
    return Observed(src, dst, port, protocol, verdict)


def _header(row: list[str], path: Path) -> tuple[dict[str, int], int | None, int]:
    names = [name.strip().lstrip("\ufeff") for name in row]
    missing = [c for c in CSV_COLUMNS if c not in names]
    if missing:
        raise FlowFileError(f"{path}: line 1: the header lacks {', '.join(missing)}")
    columns = {name: names.index(name) for name in CSV_COLUMNS}
    src_ip = names.index("src_ip") if "src_ip" in names else None
    return columns, src_ip, max(columns.values()) + 1


def _number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None


def _why(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if isinstance(exc, orjson.JSONDecodeError):
        return f"not JSON ({str(exc).split(':')[0]})"
    if isinstance(exc, (TypeError, AttributeError)):
        return f"a field has the wrong type ({exc})"
    return str(exc)
