"""``netaudit paths``: the CLI contract of issue 14 (JSON shape, shortest first, the
internet as the first hop's ``from``, exit 0 with a path, 1 without, 2 on bad input) on
the shop of ``tests/test_paths.py`` and on the demo cluster's crown jewel."""

from __future__ import annotations

import pytest

from netpol.paths import NOT_ISOLATED

from .test_cli import DEMO, Run, script
from .test_paths import API, CACHE, DB, TOOL, WEB, write_shop


@pytest.fixture
def shop_dir(tmp_path):
    return write_shop(tmp_path / "shop")


@pytest.fixture
def netaudit(capsys):
    from netpol.cli import main

    def run(*args) -> Run:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def test_json_from_the_internet_to_a_selector(netaudit, shop_dir):
    run = netaudit(
        "paths", shop_dir, "--from-internet", "--to-selector", "tier=db", "--format", "json"
    )
    assert run.code == 0, run.err
    data = run.json()
    assert list(data) == ["paths"]
    paths = data["paths"]
    # One path each to db (3 hops) and the cache (4 hops: through db), shortest first.
    assert [[(h["from"], h["to"]) for h in p["hops"]] for p in paths] == [
        [("internet", WEB), (WEB, API), (API, DB)],
        [("internet", WEB), (WEB, API), (API, DB), (DB, CACHE)],
    ]
    first = paths[0]["hops"]
    for hop in first:
        assert {"from", "to", "port", "protocol", "rules"} <= set(hop)
    assert [(h["port"], h["protocol"]) for h in first] == [
        (443, "TCP"),
        (8080, "TCP"),
        (5432, "TCP"),
    ]
    assert [(r["direction"], r["policy"], r["rule"]) for r in first[2]["rules"]] == [
        ("egress", "app/api", "spec.egress[0]"),
        ("ingress", "data/db", "spec.ingress[0]"),
    ]
    assert first[1]["rules"][0]["rule"] == NOT_ISOLATED


def test_from_a_workload_to_a_workload_and_max_hops(netaudit, shop_dir):
    run = netaudit("paths", shop_dir, "--from", WEB, "--to", CACHE, "--format", "json")
    assert run.code == 0
    [path] = run.json()["paths"]
    assert [(h["from"], h["to"], h["port"]) for h in path["hops"]] == [
        (WEB, API, 8080),
        (API, DB, 5432),
        (DB, CACHE, 6379),
    ]
    cut = netaudit(
        "paths", shop_dir, "--from", WEB, "--to", CACHE, "--max-hops", "2", "--format", "json"
    )
    assert cut.code == 1 and cut.json() == {"paths": []}


def test_no_path_exits_1_in_both_formats(netaudit, shop_dir):
    run = netaudit("paths", shop_dir, "--from", TOOL, "--to", DB)
    assert run.code == 1
    assert run.out.strip() == f"No path from {TOOL} to {DB} within 4 hops."
    assert netaudit("paths", shop_dir, "--from", TOOL, "--to", DB, "--format", "json").code == 1


def test_text_is_readable(netaudit, shop_dir):
    run = netaudit("paths", shop_dir, "--from-internet", "--to", DB)
    assert run.code == 0
    assert run.out.splitlines()[:4] == [
        "1 path from the internet to 1 of 1 crown jewel within 4 hops (shortest first):",
        "",
        f"1. internet -> {WEB} -> {API} -> {DB}  (3 hops)",
        f"   internet -> {WEB} on TCP/443",
    ]
    assert f"   {API} -> {DB} on TCP/5432" in run.out
    assert "     egress at app/api-" in run.out and ": app/api spec.egress[0]" in run.out
    assert "     ingress at data/db-0: data/db spec.ingress[0]" in run.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "edge/web", "--to", DB], "--from: 'edge/web' is not a workload"),
        (
            ["--from", "edge/Deployment/nope", "--to", DB],
            "--from: no workload 'edge/Deployment/nope'",
        ),
        (["--from-internet", "--to", "data/Deployment/nope"], "--to: no workload"),
        (["--from-internet", "--to-selector", "tier"], "is not key=value"),
        (
            ["--from-internet", "--to-selector", "tier=gold"],
            "no pod taking part in traffic has these labels",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(netaudit, shop_dir, args, message):
    run = netaudit("paths", shop_dir, *args)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("netaudit: error:") and message in run.err, run.err


@pytest.mark.parametrize(
    "args",
    [
        ["--to", DB],  # no start
        ["--from-internet"],  # no target
        ["--from-internet", "--from", WEB, "--to", DB],  # two starts
        ["--from-internet", "--to", DB, "--to-selector", "a=b"],  # two targets
        ["--from-internet", "--to", DB, "--max-hops", "0"],
    ],
)
def test_usage_errors_exit_2(netaudit, shop_dir, args):
    assert netaudit("paths", shop_dir, *args).code == 2


def test_demo_crown_jewel_is_reached_from_the_internet():
    """The demo's postgres carries the crown-jewel label, through the installed script."""
    run = script(
        "paths",
        DEMO,
        "--from-internet",
        "--to-selector",
        "netpol-auditor.io/crown-jewel=true",
        "--format",
        "json",
    )
    assert run.code == 0, run.err
    paths = run.json()["paths"]
    assert paths and all(p["hops"][-1]["to"] == "shop-db/StatefulSet/postgres" for p in paths)
    assert all(p["hops"][0]["from"] == "internet" for p in paths)
    assert [len(p["hops"]) for p in paths] == sorted(len(p["hops"]) for p in paths)
