"""The fast counter (``netpol.flows.counting``) against the full reader, record for record.

``count_flows`` decodes each kind of line once and reuses the answer for every line that
differs only in its time, id or ports. These tests build files whose lines vary in
exactly the ways that must not be reused (escapes, odd numbers, duplicate keys, replies,
a quote or a carriage return in a CSV line) and check that the counts, skips, malformed
lines with their numbers and the time window equal ``Counter(read_flows(...))``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from netpol.flows import Counts, FlowFileError, count_flows, read_flows
from netpol.flows import counting as counting_module

FLOWS = Path(__file__).parent / "fixtures" / "flows"


def both(path, **limits):
    full_counts = Counts()
    full = Counter(read_flows(path, full_counts))
    fast_counts = Counts()
    fast = Counter()
    batches = 0
    for batch in count_flows(path, fast_counts, **limits):
        fast.update(batch)
        batches += 1
    return full, full_counts, fast, fast_counts, batches


def assert_same(path, **limits):
    full, full_counts, fast, fast_counts, batches = both(path, **limits)
    assert fast == full
    assert fast_counts == full_counts
    return full, full_counts, batches


@pytest.mark.parametrize("name", ["hubble.json", "hubble-camel.json", "calico.json", "flows.csv"])
def test_the_documented_files_count_as_read(name):
    assert_same(FLOWS / name)


def _hubble(i, *, dport=8080, sport=40000, reply=False, when=None, extra="", src="web-0"):
    when = when if when is not None else f'"2025-06-01T10:00:{i % 60:02d}.{i:06d}Z"'
    verdict = "true" if reply else "false"
    return (
        f'{{"flow":{{"time":{when},"uuid":"u-{i}","verdict":"FORWARDED",'
        '"IP":{"source":"10.1.0.10","destination":"10.1.0.20"},'
        f'"l4":{{"TCP":{{"source_port":{sport},"destination_port":{dport}}}}},'
        f'"source":{{"namespace":"shop","labels":["k8s:app=web"],"pod_name":"{src}"}},'
        '"destination":{"namespace":"shop","labels":["k8s:app=api"],"pod_name":"api-0"},'
        f'"Type":"L3_L4","is_reply":{verdict}{extra}}},"node_name":"n1","time":{when}}}'
    )


def test_hubble_lines_that_differ_in_time_id_and_ports(tmp_path):
    lines = []
    for i in range(300):
        lines.append(_hubble(i, dport=8080 + i % 3, sport=30000 + i, reply=i % 7 == 0))
    path = tmp_path / "h.json"
    path.write_text("\n".join(lines) + "\n")
    full, counts, _ = assert_same(path)
    assert sum(full.values()) == 300 - 43 and counts.skipped == {"reply": 43}
    assert {f.port for f in full} == {8080, 8081, 8082}


def test_hubble_values_the_counter_must_not_reuse(tmp_path):
    lines = [
        _hubble(1),
        _hubble(2, dport=0),  # no destination port: malformed
        _hubble(3, dport=70000),  # not a port: malformed, same key as a good line
        _hubble(4, dport=9090),
        _hubble(5, dport="080"),  # not JSON
        _hubble(6, dport='"80"'),  # a string: malformed
        _hubble(7, when='"2025-06-01T10:00:07\\u005a"'),  # an escape in the time
        _hubble(8, when="12"),  # a time that is no string
        _hubble(15, when='"2025-06-01T10:00:15\tZ"'),  # a control character: not JSON
        _hubble(16, when='"2025-06-01T10:00:16Z\xff"'),  # not UTF-8: not JSON
        _hubble(9, extra=',"destination_port":1'),  # a second port, not the one read
        _hubble(10, extra=',"Type":"L7"'),  # duplicate key: the last one wins
        _hubble(11),
        _hubble(12, dport=1),
        '{"node_status":{"state":"NODE_CONNECTED"},"time":"2025-06-01T10:00:00Z"}',
        "   ",
        "{broken",
        _hubble(13, src="web-1"),
        _hubble(14, dport=65535, sport=65535),
    ]
    path = tmp_path / "h.json"
    path.write_bytes(("\n".join(lines * 3) + "\n").encode("latin-1"))
    full, counts, _ = assert_same(path)
    assert counts.malformed == 3 * 8 and counts.lines == 3 * len(lines)
    assert counts.first_time == "2025-06-01T10:00:01.000001Z"


def test_a_port_read_elsewhere_that_looks_like_a_sentinel(tmp_path):
    # The decoder reads the last duplicate l4.TCP.destination_port (10000, 10001), not
    # the one cut (8080 + i): only the probe is decoded, so its sentinels must be
    # numbers and strings found nowhere else in the line, or these lines would be
    # counted on port 8080 + i.
    lines = [
        _hubble(i, dport=f'{8080 + i % 2},"destination_port":{10000 + i % 2}') for i in range(40)
    ]
    lines += [_hubble(i, when='"~2~"', extra=',"time":"~4~"') for i in range(40, 50)]
    path = tmp_path / "h.json"
    path.write_text("\n".join(lines) + "\n")
    full, _, _ = assert_same(path)
    assert {f.port for f in full} == {10000, 10001, 8080}


def test_hubble_camel_case(tmp_path):
    line = json.loads((FLOWS / "hubble-camel.json").read_text().splitlines()[0])
    lines = []
    for i in range(50):
        line["time"] = f"2025-06-01T10:00:{i:02d}Z"
        line["l4"]["TCP"]["sourcePort"] = 40000 + i
        line["l4"]["TCP"]["destinationPort"] = 8080 + i % 2
        lines.append(json.dumps(line))
    path = tmp_path / "c.json"
    path.write_text("\n".join(lines) + "\n")
    full, counts, _ = assert_same(path)
    assert sum(full.values()) == 50 and counts.last_time == "2025-06-01T10:00:49Z"


def test_batches_and_a_full_cache_give_the_same_counts(tmp_path, monkeypatch):
    lines = [_hubble(i, dport=1000 + i % 40, src=f"web-{i % 5}") for i in range(400)]
    path = tmp_path / "h.json"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(counting_module, "CACHE_KEYS", 3)
    _, _, batches = assert_same(path, limit=7)
    assert batches > 400 // 40
    csv_path = tmp_path / "f.csv"
    csv_path.write_text(
        "".join(_csv(i) + f",{i % 13}\n" for i in range(200)).replace(",TCP,", ",UDP,")
    )
    monkeypatch.setattr(counting_module, "CACHE_BYTES", 300)
    _, _, batches = assert_same(csv_path, limit=5)
    assert batches > 200 // 26


def _csv(i):
    return f"2025-06-01T12:00:{i % 60:02d}Z,shop,web-{i % 3},shop,api-0,10.1.0.20,{8080 + i % 2},TCP,FORWARDED"


def test_csv_lines_the_csv_module_reads_otherwise(tmp_path):
    rows = [_csv(i) for i in range(50)]
    rows[3] = "t,shop,web-0,shop,api-0,,http,TCP,"  # malformed, repeated below
    rows[20] = rows[3]
    rows[10] = "2025-06-01T12:00:10Z,shop,web-0,shop,api-0,,53,ICMP,"  # skipped
    rows[30] = '2025-06-01T12:00:30Z,shop,"web-0",shop,api-0,,8080,TCP,FORWARDED'
    rows[40] = '2025-06-01T12:00:40Z,shop,"web\n0",shop,api-0,,8080,TCP,'  # a row on two lines
    path = tmp_path / "f.csv"
    path.write_text("\n".join(rows) + "\n")
    full, counts, _ = assert_same(path)
    assert counts.malformed == 2 and counts.examples[1].endswith(
        "f.csv:21: port 'http' is not a number"
    )
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(("\r\n".join(rows[:30] + ["", "  "] + rows[:5]) + "\r\n").encode())
    assert_same(crlf)
    lone_cr = tmp_path / "cr.csv"
    lone_cr.write_bytes(("\n".join(rows[:5]) + "\n" + rows[5] + "\r" + rows[6] + "\n").encode())
    assert_same(lone_cr)


def test_csv_headers_in_and_out_of_the_fast_order(tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(
        "time,src_ns,src_pod,dst_ns,dst_pod,dst_ip,port,protocol,verdict,src_ip\n"
        + "\n".join(_csv(i) + ",10.1.0.1" for i in range(20))
        + "\n"
    )
    full, counts, _ = assert_same(first)
    assert {f.src.ip for f in full} == {"10.1.0.1"}
    other = tmp_path / "b.csv"
    other.write_text(
        "verdict,protocol,port,dst_ip,dst_pod,dst_ns,src_pod,src_ns,time\n"
        + "".join(
            f"DROPPED,UDP,53,10.1.2.2,coredns-0,kube-system,web-{i},shop,t{i}\n" for i in range(9)
        )
    )
    full, counts, _ = assert_same(other)
    assert sum(full.values()) == 9 and (counts.first_time, counts.last_time) == ("t0", "t8")


def test_a_file_with_no_flow_is_the_same_error(tmp_path):
    bad = tmp_path / "flows.json"
    bad.write_text(_hubble(1, dport=0) + "\n")
    with pytest.raises(FlowFileError, match="no hubble flow in it and 1 malformed line"):
        list(count_flows(bad, Counts()))
