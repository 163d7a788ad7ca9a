"""Reading flow files: Hubble (json and jsonpb), Calico (Goldmane) and CSV.

The fixture files in tests/fixtures/flows/ were written for these tests from each
format's own definition (Cilium's flow.proto, Goldmane's api.proto and the CSV columns
of issue 14), for the pods of tests/fixtures/flows/cluster/.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from netpol.flows import Counts, End, FlowFileError, Observed, detect, read_flows

FLOWS = Path(__file__).parent / "fixtures" / "flows"


def read(path, fmt=None):
    counts = Counts()
    return list(read_flows(path, counts, fmt)), counts


def test_formats_are_told_apart_by_name_and_first_record():
    assert detect(FLOWS / "hubble.json") == "hubble"
    assert detect(FLOWS / "hubble-camel.json") == "hubble"
    assert detect(FLOWS / "calico.json") == "calico"
    assert detect(FLOWS / "flows.csv") == "csv"


def test_hubble_json_with_the_flow_wrapper():
    flows, counts = read(FLOWS / "hubble.json")
    web0 = End("shop", "web-0", "10.1.0.10", ("app=web",))
    api0 = End("shop", "api-0", "10.1.0.20", ("app=api",))
    # Cilium's own labels (namespace, cluster) are not pod labels.
    assert flows[0] == Observed(web0, api0, 8080, "TCP", "allowed")
    assert flows[2].port == 53 and flows[2].protocol == "UDP"
    world = flows[5].dst
    assert world == End("", "", "93.184.216.34", (), "network")
    # A policy drop is a denial; a drop for another reason is no policy verdict.
    verdicts = [f.verdict for f in flows if f.dst.name == "postgres-0" and f.src.name == "web-0"]
    assert verdicts == ["denied", "dropped (not by policy)"]
    assert len(flows) == 10
    assert counts.skipped == {
        "reply": 1,
        "not an L3/L4 event (L7, socket trace or unknown type)": 1,
        "no TCP/UDP/SCTP port (ICMP or no L4)": 1,
        "not a flow (node status, lost events)": 1,
    }
    assert counts.lines == 16
    assert counts.malformed == 2
    assert counts.examples[0].endswith(
        "hubble.json:15: not JSON (unexpected end of data at column 1)"
    )
    assert counts.examples[1].endswith("hubble.json:16: l4.TCP has no destination_port")
    assert (counts.first_time, counts.last_time) == (
        "2025-06-01T10:00:01.000001Z",
        "2025-06-01T10:00:11.000000Z",
    )


def test_hubble_jsonpb_bare_flows_in_camel_case():
    flows, counts = read(FLOWS / "hubble-camel.json")
    assert flows == [
        Observed(
            End("shop", "web-1", "10.1.0.11", ("app=web",)),
            End("shop", "api-0", "10.1.0.20", ("app=api",)),
            8080,
            "TCP",
            "allowed",
        ),
        Observed(
            End("", "", "203.0.113.7", (), "network"),
            End("shop", "api-0", "10.1.0.20", ("app=api",)),
            8080,
            "TCP",
            "denied",
        ),
    ]
    assert counts.skipped == {"reply": 1}


def test_calico_goldmane_flows_bare_wrapped_and_flat():
    flows, counts = read(FLOWS / "calico.json")
    assert flows[0] == Observed(
        End("shop", "web-*", "", ("app=web",)),
        End("shop", "api-*", "", ("app=api",)),
        8080,
        "TCP",
        "allowed",
    )
    # FlowResult wrapper, int64 written as a string by protojson.
    assert flows[1].dst == End("db", "postgres-*", "", ("app=postgres",)) and flows[1].port == 5432
    # Whisker's flat record: labels as one string, protocol, action Deny.
    assert flows[2].src.labels == ("app=web",) and flows[2].verdict == "denied"
    # A public network with no address logged.
    assert flows[3].dst == End("", "", "", (), "network")
    assert counts.skipped == {"no TCP/UDP/SCTP port (ICMP or no L4)": 1}
    assert counts.malformed == 1 and "calico.json:6: source_type 'Blackhole'" in counts.examples[0]
    # Epoch seconds and RFC 3339 times end up comparable.
    assert (counts.first_time, counts.last_time) == ("2025-06-01T10:00:00Z", "2025-06-01T10:01:00Z")


def test_csv_in_the_documented_column_order():
    flows, counts = read(FLOWS / "flows.csv")
    assert flows[0] == Observed(
        End("shop", "web-0", "", ()), End("shop", "api-0", "10.1.0.20", ()), 8080, "TCP", "allowed"
    )
    assert flows[1].verdict is None  # an empty verdict column
    assert flows[2].protocol == "TCP" and flows[2].dst == End("", "", "93.184.216.34", ())
    assert counts.skipped == {"no TCP/UDP/SCTP port (ICMP or no L4)": 1}
    assert [e.split("flows.csv:")[1] for e in counts.examples] == [
        "6: port 'http' is not a number",
        "9: verdict 'MAYBE': use allowed/forwarded or denied/dropped",
    ]


def test_csv_columns_in_any_order_under_a_header_and_without_one(tmp_path):
    reordered = tmp_path / "a.csv"
    reordered.write_text(
        "verdict,protocol,port,dst_ip,dst_pod,dst_ns,src_pod,src_ns,time,src_ip\n"
        "DROPPED,UDP,53,10.1.2.2,coredns-0,kube-system,,,t1,10.1.0.11\n"
    )
    bare = tmp_path / "b.csv"
    bare.write_text("t1,shop,web-1,kube-system,coredns-0,10.1.2.2,53,UDP,DROPPED\n")
    (one,), _ = read(reordered)
    assert one == Observed(
        End("", "", "10.1.0.11", ()),
        End("kube-system", "coredns-0", "10.1.2.2", ()),
        53,
        "UDP",
        "denied",
    )
    (two,), _ = read(bare)
    assert two.src == End("shop", "web-1", "", ()) and two.port == 53


def test_gzip_files_are_read_through(tmp_path):
    packed = tmp_path / "hubble.json.gz"
    packed.write_bytes(gzip.compress((FLOWS / "hubble-camel.json").read_bytes()))
    assert detect(packed) == "hubble"
    assert read(packed)[0] == read(FLOWS / "hubble-camel.json")[0]


def test_a_file_with_no_flow_and_bad_lines_is_an_error_naming_file_and_line(tmp_path):
    bad = tmp_path / "flows.json"
    bad.write_text('{"flow": {"Type": "L3_L4", "l4": {"TCP": {"destination_port": "x"}}}}\n')
    with pytest.raises(
        FlowFileError,
        match=r"flows.json: no hubble flow in it and 1 malformed line; the first: .*flows.json:1: ",
    ):
        read(bad)
    yaml = tmp_path / "cluster.json"
    yaml.write_text("{not json\n")
    with pytest.raises(FlowFileError, match="line 1 is neither JSON nor CSV"):
        detect(yaml)
    other = tmp_path / "other.json"
    other.write_text('{"kind": "Pod"}\n')
    with pytest.raises(FlowFileError, match="neither a Hubble flow"):
        detect(other)
    with pytest.raises(FlowFileError, match="cannot read it"):
        detect(tmp_path / "missing.json")
    header = tmp_path / "h.csv"
    header.write_text("time,src_ns,port,protocol\n")
    with pytest.raises(FlowFileError, match=r"h.csv: line 1: the header lacks src_pod, dst_ns"):
        read(header)


def test_malformed_lines_are_counted_beyond_the_examples(tmp_path):
    lines = ["t,shop,web-0,shop,api-0,,8080,TCP,"] + ["garbage"] * 30
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    flows, counts = read(path)
    assert len(flows) == 1 and counts.malformed == 30 and len(counts.examples) == 20
