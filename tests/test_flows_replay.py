"""Replaying observed flows on tests/fixtures/flows/cluster: matching, verdicts with their
rules, would-deny, unused rules, disagreements, and bounded memory on large files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from netpol import load_paths
from netpol.collect.manifests import ManifestCollector
from netpol.flows import judge as replay_module
from netpol.flows import replay
from netpol.whatif import changed_model

FLOWS = Path(__file__).parent / "fixtures" / "flows"


@pytest.fixture(scope="module")
def model():
    return load_paths([FLOWS / "cluster"])


def entry(entries, src, dst, port):
    found = [e for e in entries if (e["from"], e["to"], e["port"]) == (src, dst, port)]
    assert len(found) == 1, (src, dst, port, entries)
    return found[0]


def rule(direction, policy, path):
    return {"direction": direction, "policy": policy, "kind": "NetworkPolicy", "rule": path}


def test_hubble_flows_allowed_and_denied_with_the_deciding_rules(model):
    d = replay(model, [FLOWS / "hubble.json"]).to_dict()
    assert (d["matched"], d["unmatched"]) == (9, 1)
    web_api = entry(d["allowed"], "shop/web-0", "shop/api-0", 8080)
    # Two events of one connection (egress and ingress), and the pod that replaced web-0
    # in the flows but not in the snapshot, matched by its labels to web-0's workload.
    assert web_api["flows"] == 3 and web_api["observed"] == {"allowed": 3}
    assert web_api["rule"] == [
        rule("egress", "shop/web-to-api", "spec.egress[0]"),
        rule("ingress", "shop/api-ingress", "spec.ingress[0]"),
    ]
    assert web_api["from_workload"] == "shop/ReplicaSet/web-6b7f9c"
    outside = entry(d["allowed"], "shop/api-0", "93.184.216.34", 443)
    assert outside["rule"] == [rule("egress", "shop/api-egress", "spec.egress[1]")]
    dns = entry(d["allowed"], "shop/web-1", "kube-system/coredns-0", 53)
    assert dns["protocol"] == "UDP"
    denied = entry(d["denied"], "shop/web-0", "db/postgres-0", 5432)
    # Denied at the source's egress: the policies isolating it, none allowing.
    assert {r["policy"] for r in denied["rule"]} == {
        "shop/default-deny",
        "shop/allow-dns",
        "shop/web-to-api",
    }
    assert all(r["rule"] is None and r["direction"] == "egress" for r in denied["rule"])
    assert d["would_deny"] == []


def test_disagreements_compare_the_flows_own_verdict(model):
    d = replay(model, [FLOWS / "hubble.json"]).to_dict()
    # web-0 -> api-0:9090 was forwarded, the policies deny it; a drop for another reason
    # than policy (CT map full) is not a disagreement, a policy drop of a denied flow agrees.
    assert [
        (e["from"], e["to"], e["port"], e["observed"], e["engine"]) for e in d["disagreements"]
    ] == [("shop/web-0", "shop/api-0", 9090, "allowed", "denied")]


def test_unmatched_ends_are_counted_with_the_reason(model):
    d = replay(model, [FLOWS / "hubble.json", FLOWS / "flows.csv"]).to_dict()
    ends = {e["end"]: (e["reason"], e["flows"]) for e in d["unmatched_ends"]}
    assert ends["shop/ghost-0 10.1.0.99"] == ("no pod in shop carries app=ghost", 1)
    # An address inside the pod range that no pod holds is a pod we do not know.
    assert ends["10.1.0.99"] == (
        "an address in the pod ranges that no pod of the snapshot holds",
        1,
    )
    assert d["unmatched"] == 2 and d["unmatched_ends_total"] == 2


def test_calico_names_are_generated_name_prefixes(model):
    d = replay(model, [FLOWS / "calico.json"]).to_dict()
    assert entry(d["allowed"], "shop/web-0", "shop/api-0", 8080)["flows"] == 1
    assert entry(d["allowed"], "shop/api-0", "db/postgres-0", 5432)["flows"] == 1
    assert entry(d["denied"], "shop/web-0", "db/postgres-0", 5432)["observed"] == {"denied": 1}
    assert d["unmatched_ends"] == [
        {
            "end": "(network)",
            "reason": "an endpoint outside the pods with no address logged",
            "flows": 1,
        }
    ]


def test_an_outside_source_is_judged_by_ingress_alone(model):
    d = replay(model, [FLOWS / "hubble-camel.json"]).to_dict()
    world = entry(d["denied"], "203.0.113.7", "shop/api-0", 8080)
    assert world["observed"] == {"denied": 1}
    assert {r["direction"] for r in world["rule"]} == {"ingress"}


def test_unused_rules_ranked_by_what_they_open(model):
    d = replay(model, [FLOWS / "hubble.json"]).to_dict()
    unused = [(r["policy"], r["rule"]) for r in d["unused_rules"]]
    # Every port from kube-system first, then one port from an address range; the rule
    # naming a namespace that does not exist opens nothing and is no allowance.
    assert unused == [("shop/api-ingress", "spec.ingress[2]"), ("db/postgres", "spec.ingress[2]")]
    first = d["unused_rules"][0]
    assert (first["pods"], first["peer_pods"], first["ports"]) == (
        1,
        1,
        ["TCP/*", "UDP/*", "SCTP/*"],
    )
    assert first["opens"] == 3 * 65535
    assert d["unused_rules"][1]["ipBlocks"] == ["192.168.0.0/16"]
    # Used rules are not listed: the same replay without the DNS flow lists allow-dns.
    csv = replay(model, [FLOWS / "flows.csv"]).to_dict()
    assert ("shop/allow-dns", "spec.egress[0]") not in [
        (r["policy"], r["rule"]) for r in csv["unused_rules"]
    ]


def test_an_unused_rule_on_a_named_port_counts_one_port_per_name(model, tmp_path):
    dns_only = tmp_path / "dns.csv"
    dns_only.write_text("t,shop,web-1,kube-system,coredns-0,10.1.2.2,53,UDP,\n")
    unused = replay(model, [dns_only]).to_dict()["unused_rules"]
    (web_api,) = [r for r in unused if r["policy"] == "shop/web-to-api"]
    assert (web_api["rule"], web_api["ports"], web_api["opens"]) == (
        "spec.egress[0]",
        ["TCP/http"],
        2,
    )


def test_would_deny_lists_flows_the_change_denies(model):
    policies = [
        obj
        for kind, obj in ManifestCollector([FLOWS / "change"]).fetch()
        if kind == "NetworkPolicy"
    ]
    changed, _ = changed_model(model, add=policies, remove=set())
    d = replay(model, [FLOWS / "hubble.json"], changed=changed).to_dict()
    (cut,) = d["would_deny"]
    assert (cut["from"], cut["to"], cut["port"], cut["flows"]) == (
        "shop/web-0",
        "shop/api-0",
        8080,
        3,
    )
    assert {r["policy"] for r in cut["rule"]} == {"shop/default-deny", "shop/api-ingress"}
    assert all(r["direction"] == "ingress" for r in cut["rule"])


def test_folding_the_raw_table_gives_the_same_answer(model, monkeypatch):
    whole = replay(model, [FLOWS / "hubble.json", FLOWS / "calico.json"]).to_dict()
    monkeypatch.setattr(replay_module, "RAW_LIMIT", 1)
    assert replay(model, [FLOWS / "hubble.json", FLOWS / "calico.json"]).to_dict() == whole


def _big_file(path: Path, repeats: int) -> int:
    """The documented CSV, its flows repeated: same conversations, many more flows."""
    rows = (FLOWS / "flows.csv").read_text().splitlines()
    good = [r for r in rows[1:] if ",http," not in r and "maybe" not in r]
    with path.open("w") as f:
        for i in range(repeats):
            for row in good:
                f.write(row.replace("2025-06-01T12:00:0", f"2025-06-01T12:{i % 60:02d}:0") + "\n")
    return path.stat().st_size


def test_memory_does_not_grow_with_the_file(model, tmp_path):
    peaks = []
    for repeats in (2_000, 12_000):
        path = tmp_path / f"flows-{repeats}.csv"
        size = _big_file(path, repeats)
        seen = []
        tracemalloc.start()
        d = replay(
            model, [path], progress=lambda done, total, seen=seen: seen.append((done, total))
        ).to_dict()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert d["matched"] + d["unmatched"] == 5 * repeats  # less the ICMP row
        # Reported every 65,536 lines and at the end of each file.
        assert seen[-1] == (size, size) and len(seen) == 1 + 6 * repeats // 65536
    # Six times the flows, not six times the memory (the chunk buffer is the bound).
    assert peaks[1] < 2 * peaks[0] + 2**20, peaks
