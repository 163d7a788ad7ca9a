"""First and last time each conversation was seen, and unused rules within a window.

Times are RFC 3339 as the formats write them: Hubble's ``time`` is a protobuf Timestamp,
which protojson writes in UTC with 0, 3, 6 or 9 fraction digits; Goldmane's
``start_time`` is seconds since the epoch; the CSV's ``time`` column is whatever the
exporter wrote, often with an offset. Such times do not sort as strings
(``10:00:05Z`` > ``10:00:05.5Z``), so these files mix the forms on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netpol import load_paths
from netpol.flows import Counts, FlowFileError, count_flows, read_flows, replay
from netpol.flows.formats import instant
from tests.test_cli import netaudit  # noqa: F401  (the fixture)

FLOWS = Path(__file__).parent / "fixtures" / "flows"
CLUSTER = FLOWS / "cluster"
HEADER = "time,src_ns,src_pod,dst_ns,dst_pod,dst_ip,port,protocol,verdict\n"


def test_instant_orders_rfc3339_times_as_instants():
    # RFC 3339 section 5.8: 1996-12-19T16:39:57-08:00 is 1996-12-20T00:39:57Z.
    assert instant(b"1996-12-19T16:39:57-08:00") == instant(b"1996-12-20T00:39:57Z")
    assert instant(b"1985-04-12T23:20:50.52Z") == b"1985-04-12T23:20:50.520000000Z"
    ordered = [
        b"2025-06-01T10:00:04.999999999Z",
        b"2025-06-01T10:00:05Z",
        b"2025-06-01T10:00:05.000001Z",
        b"2025-06-01T10:00:05.5Z",
        b"2025-06-01T12:00:06+02:00",
    ]
    assert sorted(ordered, key=instant) == ordered
    assert sorted(ordered) != ordered  # as strings they do not sort so
    assert instant(b"t0") == b"t0"  # no time: kept and compared as written


def _hubble_line(template: dict, when: str, sport: int) -> str:
    line = json.loads(json.dumps(template))
    line["time"] = line["flow"]["time"] = when
    line["flow"]["l4"]["TCP"]["source_port"] = sport
    return json.dumps(line, separators=(",", ":"))


def test_hubble_first_and_last_seen(tmp_path):
    template = json.loads((FLOWS / "hubble.json").read_text().splitlines()[0])
    times = [  # the forms protojson writes, out of order
        "2025-06-01T10:00:05Z",
        "2025-06-01T10:00:05.5Z",
        "2025-06-01T10:00:04.999999999Z",
        "2025-06-01T10:00:05.250Z",
    ]
    path = tmp_path / "hubble.json"
    path.write_text(
        "".join(_hubble_line(template, t, 40000 + i) + "\n" for i, t in enumerate(times))
    )
    full: dict = {}
    list(read_flows(path, Counts(), times=full))
    fast: dict = {}
    for _ in count_flows(path, Counts(), times=fast):
        pass
    assert fast == full and len(full) == 1
    assert list(full.values())[0] == [
        b"2025-06-01T10:00:04.999999999Z",
        b"2025-06-01T10:00:05.500000000Z",
    ]
    model = load_paths([CLUSTER])
    entry = replay(model, [path]).to_dict()["allowed"][0]
    assert (entry["from"], entry["to"], entry["flows"]) == ("shop/web-0", "shop/api-0", 4)
    assert entry["first_seen"] == "2025-06-01T10:00:04.999999999Z"
    assert entry["last_seen"] == "2025-06-01T10:00:05.5Z"


def test_the_counter_keeps_the_reader_times_on_the_documented_files():
    for name in ("hubble.json", "hubble-camel.json", "calico.json", "flows.csv"):
        full: dict = {}
        list(read_flows(FLOWS / name, Counts(), times=full))
        fast: dict = {}
        for _ in count_flows(FLOWS / name, Counts(), times=fast, limit=2):
            pass
        assert fast == full and full, name


def test_calico_epoch_seconds(tmp_path):
    model = load_paths([CLUSTER])
    d = replay(model, [FLOWS / "calico.json"]).to_dict()
    entry = next(e for e in d["allowed"] if e["to"] == "shop/api-0" and e["port"] == 8080)
    # start_time 1748772000 is 2025-06-01T10:00:00Z.
    assert entry["first_seen"] == "2025-06-01T10:00:00Z"


def _window_csv(tmp_path) -> Path:
    path = tmp_path / "flows.csv"
    path.write_text(
        HEADER
        # web-0 -> api-0 on day 1, in three forms: first 09:59:59.25Z, last 10:00:00.5Z
        + "2025-06-01T12:00:00+02:00,shop,web-0,shop,api-0,10.1.0.20,8080,TCP,allowed\n"
        + "2025-06-01T10:00:00.5Z,shop,web-0,shop,api-0,10.1.0.20,8080,TCP,allowed\n"
        + "2025-06-01T09:59:59.25Z,shop,web-0,shop,api-0,10.1.0.20,8080,TCP,allowed\n"
        # api-0 -> postgres-0 ten days later
        + "2025-06-11T10:00:00Z,shop,api-0,db,postgres-0,10.1.1.5,5432,TCP,allowed\n"
    )
    return path


def _unused(d: dict) -> set[tuple[str, str]]:
    return {(r["policy"], r["rule"]) for r in d["unused_rules"]}


def test_window_and_since(netaudit, tmp_path):  # noqa: F811
    path = _window_csv(tmp_path)
    run = netaudit("flows", CLUSTER, "--flows", path, "--format", "json")
    assert run.code == 0
    d = run.json()
    web = next(e for e in d["allowed"] if e["from"] == "shop/web-0")
    assert (web["first_seen"], web["last_seen"]) == (
        "2025-06-01T09:59:59.25Z",
        "2025-06-01T10:00:00.5Z",
    )
    everything = _unused(d)
    assert ("shop/web-to-api", "spec.egress[0]") not in everything
    assert "unused_since" not in d

    run = netaudit("flows", CLUSTER, "--flows", path, "--window", "2d", "--format", "json")
    assert run.code == 0
    recent = run.json()
    assert recent["unused_since"] == "2025-06-09T10:00:00Z"
    # Only the day-1 conversation used these: outside the window they are unused.
    assert _unused(recent) - everything == {
        ("shop/web-to-api", "spec.egress[0]"),
        ("shop/api-ingress", "spec.ingress[0]"),
    }
    assert ("shop/api-egress", "spec.egress[0]") not in _unused(recent)
    assert recent["allowed"] == d["allowed"]  # the window limits the unused rules only

    # --since at web-0's last flow keeps it in; a nanosecond later leaves it out.
    run = netaudit(
        "flows",
        CLUSTER,
        "--flows",
        path,
        "--since",
        "2025-06-01T12:00:00.5+02:00",
        "--format",
        "json",
    )
    assert _unused(run.json()) == everything
    run = netaudit(
        "flows",
        CLUSTER,
        "--flows",
        path,
        "--since",
        "2025-06-01T10:00:00.500000001Z",
        "--format",
        "json",
    )
    assert _unused(run.json()) == _unused(recent)
    text = netaudit("flows", CLUSTER, "--flows", path, "--window", "2d")
    assert "no flow seen since 2025-06-09T10:00:00Z used them" in text.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "2x"], "--window '2x': expected a positive number of s, m, h, d or w"),
        (["--window", "0d"], "--window '0d'"),
        (["--since", "yesterday"], "--since since 'yesterday' is not an RFC 3339 time"),
        (["--since", "2025-06-01T00:00:00Z", "--window", "1d"], "give one or the other"),
    ],
)
def test_bad_window_or_since(netaudit, tmp_path, args, message):  # noqa: F811
    run = netaudit("flows", CLUSTER, "--flows", _window_csv(tmp_path), *args)
    assert run.code == 2
    assert message in run.err


def test_a_window_needs_times(tmp_path):
    path = tmp_path / "flows.csv"
    path.write_text(HEADER + ",shop,web-0,shop,api-0,10.1.0.20,8080,TCP,\n")
    model = load_paths([CLUSTER])
    with pytest.raises(FlowFileError, match="a window needs times in the flows"):
        replay(model, [path], window=86400)
    entry = replay(model, [path]).to_dict()["allowed"][0]
    assert entry["first_seen"] is None and entry["last_seen"] is None
