"""``netaudit diff BASE HEAD`` as a change review (issue 14): the JSON contract
(``opened``, ``closed``, ``findings_new``, ``findings_resolved``, ``coverage.before`` and
``after``), ``--fail-on-opened``, ``--fail-on-new`` and the pull-request markdown, on the
shop of ``tests/test_paths.py`` changed one way at a time, and on the changed demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_cli import DEMO, changed_demo
from .test_cli_paths import netaudit  # noqa: F401 (the fixture)
from .test_paths import API, CACHE, DB, SHOP, TOOL, WEB, write_shop

# db admits edge too: web -> db on 5432 opens.
DB_FROM_EDGE = (
    "    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}}]\n"
    "      ports: [{port: 5432}]",
    "    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}},"
    " {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: edge}}}]\n"
    "      ports: [{port: 5432}]",
)
# the cache admits a partner range on a port range: an address source opens.
CACHE_PARTNER = (
    "      ports: [{port: 6379}]",
    "      ports: [{port: 6379}]\n"
    "    - from: [{ipBlock: {cidr: 203.0.113.0/24}}]\n"
    "      ports: [{port: 6379, endPort: 6380}]",
)
# api admits nobody: web -> api on 8080 closes.
API_CLOSED = (
    "  ingress:\n    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: edge}}}]\n"
    "      ports: [{port: http}]\n",
    "",
)
# tool's deny-all removed: tool is open both ways.
TOOL_OPEN = (
    "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: tool, namespace: ops}\n"
    "spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n",
    "",
)


def changed(tmp_path, name: str, *edits: tuple[str, str]):
    text = SHOP
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return write_shop(tmp_path / name, text)


@pytest.fixture
def base(tmp_path):
    return write_shop(tmp_path / "base")


def entry(src, dst, port, end_port=None, protocol="TCP") -> dict:
    return {"from": src, "to": dst, "protocol": protocol, "port": port, "end_port": end_port}


def test_json_contract_keys_and_an_unchanged_tree(netaudit, base, tmp_path):  # noqa: F811
    same = write_shop(tmp_path / "same")
    run = netaudit(
        "diff", base, same, "--format", "json", "--fail-on-opened", "--fail-on-new", "low"
    )
    assert run.code == 0, run.err
    d = run.json()
    assert list(d)[:5] == ["opened", "closed", "findings_new", "findings_resolved", "coverage"]
    assert d["opened"] == [] and d["closed"] == []
    assert d["findings_new"] == [] and d["findings_resolved"] == []
    assert d["coverage"]["before"] == d["coverage"]["after"]
    # The earlier keys stay (docs/cli.md: additions are new keys, never renamed ones).
    assert {"findings", "score", "policies", "newly_uncovered", "newly_exposed"} <= set(d)
    assert {"cluster", "namespaces", "measures"} <= set(d["coverage"])


def test_opened_by_workload_and_by_address_with_ports(netaudit, base, tmp_path):  # noqa: F811
    head = changed(tmp_path, "head", DB_FROM_EDGE, CACHE_PARTNER)
    run = netaudit("diff", base, head, "--format", "json")
    assert run.code == 0  # no gate asked for
    d = run.json()
    assert d["opened"] == [
        entry("ipBlock:203.0.113.0/24", CACHE, 6379, 6380),
        entry(WEB, DB, 5432),
    ]
    assert d["closed"] == []
    assert netaudit("diff", base, head, "--fail-on-opened").code == 1
    # The way back closes exactly what was opened, and opens nothing.
    back = netaudit("diff", head, base, "--format", "json", "--fail-on-opened")
    assert back.code == 0
    assert back.json()["closed"] == d["opened"] and back.json()["opened"] == []


def test_closed_connections_and_coverage_before_and_after(netaudit, base, tmp_path):  # noqa: F811
    head = changed(tmp_path, "head", API_CLOSED, TOOL_OPEN)
    d = netaudit("diff", base, head, "--format", "json").json()
    assert entry(WEB, API, 8080) in d["closed"]
    assert all(c["to"] == TOOL for c in d["opened"])  # only the unisolated tool gains
    # Every workload that may send anywhere, and every address, now reaches tool, on every
    # port of each protocol; tool's one pod reaching itself is no connection.
    sources = (WEB, DB, CACHE, "ipBlock:0.0.0.0/0", "ipBlock:::/0")
    assert {(c["from"], c["protocol"], c["port"]) for c in d["opened"]} == {
        (src, protocol, None) for src in sources for protocol in ("TCP", "UDP", "SCTP")
    }
    before, after = d["coverage"]["before"], d["coverage"]["after"]
    assert (before["workloads"], after["workloads"]) == (5, 5)
    assert (before["ingress_workloads"], after["ingress_workloads"]) == (5, 4)
    assert (before["egress_workloads"], after["egress_workloads"]) == (2, 1)
    pods = before["pods"]  # web 2, api 2, db, cache, tool
    assert pods == after["pods"] == 7
    assert before["coverage"] == round(100 * (7 + 3) / 14, 1)
    assert after["coverage"] == round(100 * (6 + 2) / 14, 1)
    assert d["findings_new"] == d["findings"]["new"] and d["findings_new"]
    assert API not in {c["from"] for c in d["opened"]}  # api's egress stays limited


def test_fail_on_new_and_fail_on_opened_together(netaudit, base, tmp_path):  # noqa: F811
    head = changed(tmp_path, "head", API_CLOSED)
    # Only a closed connection: nothing opened, so --fail-on-opened passes.
    assert netaudit("diff", base, head, "--fail-on-opened").code == 0
    opened = changed(tmp_path, "opened", TOOL_OPEN)
    new = netaudit("diff", base, opened, "--format", "json").json()["findings_new"]
    worst = min(
        new, key=lambda f: ["critical", "high", "medium", "low", "info"].index(f["severity"])
    )
    assert netaudit("diff", base, opened, "--fail-on-new", worst["severity"]).code == 1
    assert netaudit("diff", base, opened, "--fail-on-new", "critical").code == (
        1 if worst["severity"] == "critical" else 0
    )


def test_text_lists_connections_by_workload(netaudit, base, tmp_path):  # noqa: F811
    head = changed(tmp_path, "head", DB_FROM_EDGE, CACHE_PARTNER, API_CLOSED)
    run = netaudit("diff", base, head)
    assert run.code == 0
    assert run.out.splitlines()[:5] == [
        "Connections opened: 2 workload pairs",
        f"  ipBlock:203.0.113.0/24 -> {CACHE}: TCP/6379-6380",
        f"  {WEB} -> {DB}: TCP/5432",
        "Connections closed: 1 workload pair",
        f"  {WEB} -> {API}: TCP/8080",
    ]


def test_markdown_for_a_pull_request(netaudit, base, tmp_path):  # noqa: F811
    head = changed(tmp_path, "head", DB_FROM_EDGE, API_CLOSED)
    run = netaudit("diff", base, head, "--format", "markdown")
    assert run.code == 0
    md = run.out
    assert md.startswith("### netaudit: what this change does\n")
    assert "**1** workload connection opened, **1** closed" in md
    assert "| | before | after |" in md
    assert f"| `{WEB}` | `{DB}` | TCP/5432 |" in md
    assert f"| `{WEB}` | `{API}` | TCP/8080 |" in md
    assert "<details>" not in md  # short lists stay open
    assert "- changed `app/api` (ingress)" in md and "- changed `data/db` (ingress)" in md


def test_markdown_folds_long_lists_in_details(netaudit, tmp_path):  # noqa: F811
    run = netaudit("diff", DEMO, changed_demo(tmp_path), "--format", "markdown", "--fail-on-opened")
    assert run.code == 1
    md = run.out
    # 19 workload pairs opened: folded; the single closed pair is not.
    assert "<details>\n<summary><b>Connections opened (19)</b></summary>\n" in md
    assert "| `ipBlock:0.0.0.0/0` | `shop-db/StatefulSet/postgres` | TCP/5432 |" in md
    assert "**Connections closed (1)**" in md
    assert (
        "| `payments/Deployment/payments-api` | `kube-system/Deployment/coredns` | TCP/53, UDP/53 |"
        in md
    )
    assert md.count("<details>") == md.count("</details>") == 1
    # Every table row has the same number of cells as its header: no stray pipe in text.
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| --- "):
            assert line.replace("\\|", "").count("|") in (4,), line


def test_bad_format_exits_2(netaudit, base):  # noqa: F811
    assert netaudit("diff", base, base, "--format", "sarif").code == 2


def test_a_change_to_policies_of_other_kinds_is_reviewed(netaudit, tmp_path):  # noqa: F811
    # tests/fixtures/cli/every-kind-extra.yaml beside calico.yaml: the Admin tier's Deny of
    # batch towards monitoring becomes a Pass, and the Cilium deny on web is removed.
    fixtures = Path(__file__).parent / "fixtures" / "cli"
    base, head = tmp_path / "base", tmp_path / "head"
    for tree in (base, head):
        tree.mkdir()
        (tree / "calico.yaml").write_text((fixtures / "calico.yaml").read_text())
    extra = (fixtures / "every-kind-extra.yaml").read_text()
    (base / "extra.yaml").write_text(extra)
    deny = "  - name: no-batch\n    action: Deny\n"
    assert deny in extra
    changed = extra.replace(deny, "  - name: no-batch\n    action: Pass\n")
    changed = changed[: changed.index("---\napiVersion: cilium.io/v2")]
    (head / "extra.yaml").write_text(changed)

    run = netaudit("diff", base, head, "--format", "json")

    assert run.code == 0, run.err
    d = run.json()
    assert d["policies"] == {
        "added": [],
        "removed": ["cilium/shop/web-refuses-monitoring"],
        "changed": [{"policy": "cnp/monitoring-refuses-batch", "changed": ["ingress"]}],
    }
    opened = {(e["from"], e["to"], e["port"]) for e in d["opened"]}
    assert ("batch/Pod/job-0", "monitoring/Pod/prom-0", None) in opened
    assert ("monitoring/Pod/prom-0", "shop/Pod/web-0", 8080) in opened
