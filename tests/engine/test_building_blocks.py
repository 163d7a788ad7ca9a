"""Interval sets, port sets and label selectors on their own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netpol.engine.ipsets import ALL_IPS, IPV4_BASE, Intervals, IPSet
from netpol.engine.ports import ALL_PORTS, PortSet, PortSpec
from netpol.engine.selectors import LabelIndex, Selector, parse_selector
from netpol.engine.workloads import controlling_workload, owning_workload


def test_cidr_except_and_cidrs():
    block = IPSet.from_cidr("172.17.0.0/16") - IPSet.from_cidr("172.17.1.0/24")
    assert block.to_cidrs() == [
        "172.17.0.0/24",
        "172.17.2.0/23",
        "172.17.4.0/22",
        "172.17.8.0/21",
        "172.17.16.0/20",
        "172.17.32.0/19",
        "172.17.64.0/18",
        "172.17.128.0/17",
    ]
    assert IPSet.from_cidr("192.168.1.1/24").to_cidrs() == ["192.168.1.0/24"]  # host bits allowed
    assert ALL_IPS.to_cidrs() == ["0.0.0.0/0", "::/0"]
    v6 = IPSet.from_cidr("2001:db8::/32") - IPSet.from_cidr("2001:db8:8000::/33")
    assert v6.to_cidrs() == ["2001:db8::/33"]
    assert not IPSet.from_cidr("::/0").contains_ip("10.0.0.1")  # families stay apart


def test_port_sets():
    assert PortSet.of("TCP", 80).describe() == ["TCP/80"]
    assert ALL_PORTS.describe() == ["TCP/*", "UDP/*", "SCTP/*"]
    named = frozenset({("http", "TCP", 8080), ("http", "UDP", 5000)})
    assert PortSpec("TCP", "http").resolve(named).describe() == ["TCP/8080"]
    assert PortSpec("UDP", "http").resolve(named).describe() == ["UDP/5000"]
    assert PortSpec("SCTP", "http").resolve(named) == PortSet()
    assert PortSpec("TCP", 8000, 8080).resolve(frozenset()).describe() == ["TCP/8000-8080"]


def test_selector_index_matches_plain_matching():
    labels = [{"app": "a", "tier": "x"}, {"app": "b"}, {}, {"tier": "y"}]
    index = LabelIndex(labels)
    sel = parse_selector(
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, "s", []
    )
    assert index.eval(sel) == 0b1110
    assert index.eval(Selector()) == 0b1111
    assert index.eval(Selector(valid=False)) == 0


ranges = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=5).map(
    lambda rs: Intervals([(min(a, b), max(a, b)) for a, b in rs])
)


def _members(s):
    return {v for lo, hi in s.ranges for v in range(lo, hi)}


@given(ranges, ranges)
def test_interval_algebra(a, b):
    assert _members(a | b) == _members(a) | _members(b)
    assert _members(a & b) == _members(a) & _members(b)
    assert _members(a - b) == _members(a) - _members(b)
    assert all((v in a) == (v in _members(a)) for v in range(62))


many_ranges = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), max_size=80).map(
    lambda rs: Intervals([(min(a, b), max(a, b)) for a, b in rs])
)


@given(ranges, many_ranges)
def test_intersection_of_few_ranges_with_many(few, many):
    """The bisecting path (one side at least 8 times longer) agrees with plain sets."""
    expected = _members(few) & _members(many)
    assert _members(few & many) == expected
    assert _members(many & few) == expected
    assert (few & many) == Intervals(sorted((few & many).ranges))  # disjoint and sorted


@given(st.lists(st.integers(0, 2**32 - 1), max_size=40), st.integers(0, 45))
def test_cidr_list_cut_at_limit_is_the_head_of_the_whole_list(values, limit):
    s = IPSet([(IPV4_BASE + v, IPV4_BASE + v + 1) for v in values]) | IPSet.from_cidr("fd00::/120")
    assert s.to_cidrs(limit) == s.to_cidrs()[:limit]


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40))
def test_covering_blocks_hold_every_address_and_are_whole_slash_16s(values):
    s = IPSet([(IPV4_BASE + v, IPV4_BASE + v + 1) for v in values])
    cover = s.covering(16, 48)
    assert s.issubset(cover)
    assert all(c.endswith("/16") or int(c.split("/")[1]) < 16 for c in cover.to_cidrs())
    assert len(cover.to_cidrs()) <= len({v >> 16 for v in values})


@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_cidrs_roundtrip(a, pa, b, pb):
    import ipaddress

    s = IPSet.from_cidr(f"{ipaddress.IPv4Address(a)}/{pa}") - IPSet.from_cidr(
        f"{ipaddress.IPv4Address(b)}/{pb}"
    )
    back = IPSet()
    for c in s.to_cidrs():
        back = back | IPSet.from_cidr(c)
    assert back == s


# --- Workload identity ----------------------------------------------------------------


def test_owning_workload_climbs_where_the_name_says_how():
    # The CronJob controller names a Job "<cronjob>-<scheduled time in minutes>".
    assert owning_workload("Job", "report-28641230") == ("CronJob", "report")
    assert owning_workload("Job", "a-b-123456789") == ("CronJob", "a-b")
    assert owning_workload("Job", "migrate-2") == ("Job", "migrate-2")  # a plain Job
    assert owning_workload("Job", "report-2864123x") == ("Job", "report-2864123x")
    assert owning_workload("ReplicaSet", "web-7f9c", "7f9c") == ("Deployment", "web")
    assert owning_workload("ReplicaSet", "web-7f9c") == ("ReplicaSet", "web-7f9c")
    assert owning_workload("StatefulSet", "db") == ("StatefulSet", "db")


def test_controlling_workload_prefers_the_controller_owner():
    metadata = {
        "ownerReferences": [
            {"kind": "Node", "name": "n1"},
            {"kind": "Job", "name": "backup-28641230", "controller": True},
        ]
    }
    assert controlling_workload(metadata, {}) == ("CronJob", "backup")
    assert controlling_workload({}, {}) == ("", "")
