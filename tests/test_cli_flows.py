"""``netaudit flows``: the contract of issue 14 (keys, shapes, exit statuses), and text."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import netaudit  # noqa: F401  (the fixture)

FLOWS = Path(__file__).parent / "fixtures" / "flows"
CLUSTER = FLOWS / "cluster"


def test_json_contract(netaudit):  # noqa: F811
    run = netaudit("flows", CLUSTER, "--flows", FLOWS / "hubble.json", "--format", "json")
    assert run.code == 0
    d = run.json()
    for key in ("matched", "unmatched", "allowed", "denied", "would_deny", "unused_rules"):
        assert key in d
    assert isinstance(d["matched"], int) and isinstance(d["unmatched"], int)
    assert d["would_deny"] == []  # without --change
    for flow in d["allowed"] + d["denied"]:
        assert {"from", "to", "port", "protocol", "rule"} <= set(flow)
        assert isinstance(flow["port"], int) and flow["protocol"] in ("TCP", "UDP", "SCTP")
        for r in flow["rule"]:
            assert set(r) >= {"policy", "kind", "rule"}
    first = d["allowed"][0]
    assert (first["from"], first["to"], first["port"], first["protocol"]) == (
        "shop/web-0",
        "shop/api-0",
        8080,
        "TCP",
    )
    assert first["rule"][0] == {
        "direction": "egress",
        "policy": "shop/web-to-api",
        "kind": "NetworkPolicy",
        "rule": "spec.egress[0]",
    }
    for unused in d["unused_rules"]:
        assert unused["kind"] == "NetworkPolicy" and unused["rule"].startswith("spec.")
    assert d["unused_rules"][0]["policy"] == "shop/api-ingress"
    # Malformed lines are named on stderr, never silently dropped.
    assert "hubble.json:15: not JSON" in run.err and "hubble.json:16:" in run.err


def test_several_files_and_a_change(netaudit):  # noqa: F811
    run = netaudit(
        "flows",
        CLUSTER,
        "--flows",
        FLOWS / "hubble.json",
        "--flows",
        FLOWS / "flows.csv",
        "--change",
        FLOWS / "change",
        "--format",
        "json",
    )
    assert run.code == 0
    d = run.json()
    assert [f["format"] for f in d["files"]] == ["hubble", "csv"]
    assert [(w["from"], w["to"], w["port"]) for w in d["would_deny"]] == [
        ("shop/web-0", "shop/api-0", 8080)
    ]
    assert d["would_deny"][0]["flows"] == 4
    assert d["change"] == {
        "path": str(FLOWS / "change"),
        "added": [],
        "replaced": ["shop/api-ingress"],
    }
    assert "used but not declared" not in run.err


def test_text(netaudit):  # noqa: F811
    run = netaudit("flows", CLUSTER, "--flows", FLOWS / "calico.json", "--change", FLOWS / "change")
    assert run.code == 0
    assert run.out.startswith(
        "4 flows replayed from 1 file: 3 matched to the snapshot, 1 unmatched\n"
    )
    assert (
        "  shop/web-0 -> shop/api-0 TCP/8080  1 flow  by shop/web-to-api spec.egress[0], "
        "shop/api-ingress spec.ingress[0]" in run.out
    )
    assert "Would deny after" in run.out
    assert "Unused rules (no observed flow used them; most opening first): 4" in run.out
    assert "  (network): an endpoint outside the pods with no address logged (1 flow)" in run.out


def test_bad_input_exits_2_naming_the_file(netaudit, tmp_path):  # noqa: F811
    bad = tmp_path / "bad.json"
    bad.write_text('{"flow": {"Type": "L3_L4", "l4": {"UDP": {}}}}\n')
    run = netaudit("flows", CLUSTER, "--flows", bad)
    assert run.code == 2
    assert f"--flows {bad}: no hubble flow in it and 1 malformed line" in run.err
    missing = netaudit("flows", CLUSTER, "--flows", tmp_path / "nope.json")
    assert missing.code == 2 and "nope.json: cannot read it" in missing.err
    empty_change = tmp_path / "change"
    empty_change.mkdir()
    (empty_change / "pod.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    run = netaudit("flows", CLUSTER, "--flows", FLOWS / "flows.csv", "--change", empty_change)
    assert run.code == 2 and "no NetworkPolicy in it" in run.err
    usage = netaudit("flows", CLUSTER)
    assert usage.code == 2 and "--flows" in usage.err


def test_each_flow_names_the_kind_of_the_policy_that_decided_it(netaudit, tmp_path):  # noqa: F811
    # tests/fixtures/cli/calico.yaml with every-kind-extra.yaml (their headers say what
    # each policy does), and one flow a kind decides.
    cli = Path(__file__).parent / "fixtures" / "cli"
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    for name in ("calico.yaml", "every-kind-extra.yaml"):
        (cluster / name).write_text((cli / name).read_text())
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "time,src_ns,src_pod,dst_ns,dst_pod,dst_ip,port,protocol,verdict\n"
        "2026-12-01T10:00:00Z,batch,job-0,monitoring,prom-0,10.0.2.1,9090,TCP,DROPPED\n"
        "2026-12-01T10:00:01Z,monitoring,prom-0,shop,web-0,10.0.0.1,8080,TCP,DROPPED\n"
        "2026-12-01T10:00:02Z,shop,web-0,shop,db-0,10.0.0.2,5432,TCP,FORWARDED\n"
    )

    run = netaudit("flows", cluster, "--flows", flows, "--format", "json")

    assert run.code == 0, run.err
    d = run.json()
    rules = {(e["from"], e["to"]): e["rule"] for e in d["allowed"] + d["denied"]}
    assert rules["batch/job-0", "monitoring/prom-0"] == [
        {
            "direction": "ingress",
            "policy": "cnp/monitoring-refuses-batch",
            "kind": "ClusterNetworkPolicy",
            "rule": None,
        }
    ]
    # The Kubernetes NetworkPolicy allows it; the Cilium deny decides.
    assert rules["monitoring/prom-0", "shop/web-0"] == [
        {
            "direction": "ingress",
            "policy": "cilium/shop/web-refuses-monitoring",
            "kind": "CiliumNetworkPolicy",
            "rule": None,
        }
    ]
    assert {
        "direction": "ingress",
        "policy": "calico/shop/allow-web-to-db",
        "kind": "CalicoNetworkPolicy",
        "rule": "spec.ingress[0]",
    } in rules["shop/web-0", "shop/db-0"]
