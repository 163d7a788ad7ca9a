"""The ``netaudit`` command: every command in both formats, exit statuses, bad input.

Most tests call ``main(argv)`` in-process; ``test_script_*`` run the installed
``.venv/bin/netaudit`` console script once per command. No database is needed.

The fixture ``tests/fixtures/cli/shop.yaml`` (its header comment lists the rules):
shop is default-deny for ingress; web -> api on the named port http (8080), api -> db on
5432/TCP, web -> db on 53/UDP, 203.0.113.0/24 -> api on http; other/client may send on
80 only and is let into web on 443 only. shop/agent is hostNetwork, shop/pending has no IP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from netpol import load_paths
from netpol.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "cli"
SHOP = FIXTURES / "shop.yaml"
BAD_CIDR = FIXTURES / "bad-cidr.yaml"
DEMO = ROOT / "auditor" / "demo_cluster"
SCRIPT = Path(sys.executable).parent / "netaudit"

# The matrix pods of shop.yaml: agent (hostNetwork) and pending (no IP) are left out.
PODS = ["other/client", "shop/api", "shop/db", "shop/web"]
T, F = True, False


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def netaudit(capsys):
    """``netaudit(*args)``: run ``main`` in-process and capture what it printed."""

    def run(*args) -> Run:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def script(*args) -> Run:
    """Run the installed console script in a child process."""
    assert SCRIPT.exists(), f"{SCRIPT} is missing: run .venv/bin/pip install -e ."
    done = subprocess.run(
        [str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return Run(done.returncode, done.stdout, done.stderr)


def reach(netaudit, src, dst, port, *options, paths=(SHOP,)) -> Run:
    return netaudit("reach", *paths, "--from", src, "--to", dst, "--port", port, *options)


def cell(result: dict, src: str, dst: str) -> bool:
    return result["matrix"][result["pods"].index(src)][result["pods"].index(dst)]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- Arguments ------------------------------------------------------------------------


def test_help_lists_the_commands(netaudit):
    run = netaudit("--help")
    assert run.code == 0
    for command in ("matrix", "reach", "coverage"):
        assert command in run.out
    for command in ("matrix", "reach", "coverage"):
        run = netaudit(command, "--help")
        assert run.code == 0 and "--format" in run.out, command
    assert "SOURCE -> DESTINATION" in netaudit("matrix", "--help").out


@pytest.mark.parametrize(
    "args",
    [
        [],  # no command
        ["matrix"],  # no PATH
        ["frobnicate", SHOP],
        ["matrix", SHOP, "--format", "xml"],
        ["matrix", SHOP, "--protocol", "ICMP"],
        ["matrix", SHOP, "--port", "0"],
        ["reach", SHOP, "--from", "shop/web", "--to", "shop/api"],  # no --port
        ["reach", SHOP, "--from", "shop/web", "--to", "shop/api", "--port", "70000"],
        ["reach", SHOP, "--from", "shop/web", "--to", "shop/api", "--port", "http"],
    ],
)
def test_bad_arguments_exit_2_with_usage(netaudit, args):
    run = netaudit(*args)
    assert run.code == 2
    assert "usage: netaudit" in run.err and run.out == ""


# --- matrix ---------------------------------------------------------------------------


def test_matrix_json_on_a_port(netaudit):
    run = netaudit("matrix", SHOP, "--port", "8080", "--format", "json")
    assert run.code == 0 and run.err == ""
    # Rows are sources, columns destinations; only web -> api (named port http = 8080)
    # is let into shop, everything reaches other/client, a pod always reaches itself.
    assert run.json() == {
        "pods": PODS,
        "matrix": [
            # client api db web
            [T, F, F, F],  # other/client
            [T, T, F, F],  # shop/api
            [T, F, T, F],  # shop/db
            [T, T, F, T],  # shop/web
        ],
    }


def test_matrix_port_decides_which_rule_applies(netaudit):
    on_5432 = netaudit("matrix", SHOP, "--port", "5432", "--format", "json").json()
    assert cell(on_5432, "shop/api", "shop/db")
    assert not cell(on_5432, "shop/web", "shop/api")
    assert not cell(on_5432, "shop/web", "shop/db")
    # 9090 is api's other named port: the policy names only http.
    on_9090 = netaudit("matrix", SHOP, "--port", "9090", "--format", "json").json()
    assert not cell(on_9090, "shop/web", "shop/api")


def test_matrix_without_port_means_any_port_of_the_protocol(netaudit):
    result = netaudit("matrix", SHOP, "--format", "json").json()
    assert result["pods"] == PODS
    assert cell(result, "shop/web", "shop/api")  # on 8080
    assert cell(result, "shop/api", "shop/db")  # on 5432
    assert not cell(result, "shop/web", "shop/db")  # only UDP 53 is open
    # client may send on 80, web lets it in on 443: no single port works.
    assert not cell(result, "other/client", "shop/web")
    for port in ("80", "443"):
        on_port = netaudit("matrix", SHOP, "--port", port, "--format", "json").json()
        assert not cell(on_port, "other/client", "shop/web"), port


def test_matrix_protocol_udp(netaudit):
    result = netaudit("matrix", SHOP, "--protocol", "UDP", "--format", "json").json()
    assert cell(result, "shop/web", "shop/db")
    assert not cell(result, "shop/web", "shop/api")  # http is a TCP port
    assert not cell(result, "shop/api", "shop/db")  # 5432 is TCP
    on_53 = netaudit("matrix", SHOP, "--protocol", "udp", "--port", "53", "--format", "json")
    assert cell(on_53.json(), "shop/web", "shop/db")
    tcp_53 = netaudit("matrix", SHOP, "--port", "53", "--format", "json").json()
    assert not cell(tcp_53, "shop/web", "shop/db")


def test_matrix_leaves_out_host_network_and_ip_less_pods(netaudit):
    result = netaudit("matrix", SHOP, "--format", "json").json()
    assert "shop/agent" not in result["pods"] and "shop/pending" not in result["pods"]
    assert result["pods"] == sorted(result["pods"])
    assert len(result["matrix"]) == len(PODS)
    assert all(len(row) == len(PODS) for row in result["matrix"])


def test_matrix_text_lists_the_allowed_pairs(netaudit):
    run = netaudit("matrix", SHOP, "--port", "8080")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == "4 of 12 connections between 4 pods allowed on TCP/8080:"
    pairs = [tuple(line.split(" -> ")) for line in lines[1:-1]]
    assert [(src.strip(), dst) for src, dst in pairs] == [
        ("shop/api", "other/client"),
        ("shop/db", "other/client"),
        ("shop/web", "other/client"),
        ("shop/web", "shop/api"),
    ]
    assert lines[-1].startswith("2 pods left out: hostNetwork")
    assert "any TCP port" in netaudit("matrix", SHOP).out.splitlines()[0]


# --- reach ----------------------------------------------------------------------------


def test_reach_allowed_exits_0_and_names_the_rule(netaudit):
    run = reach(netaudit, "shop/web", "shop/api", "8080")
    assert run.code == 0
    assert run.out.startswith("shop/web -> shop/api TCP/8080: ALLOWED")
    assert "allowed by shop/api ingress[rule 0, peer 0, port 0]" in run.out


def test_reach_denied_exits_1_and_names_the_isolating_policies(netaudit):
    run = reach(netaudit, "shop/web", "shop/api", "9090")
    assert run.code == 1
    assert "DENIED" in run.out
    assert "isolated by shop/default-deny, shop/api" in run.out


def test_reach_json(netaudit):
    run = reach(netaudit, "shop/web", "shop/db", "53", "--protocol", "UDP", "--format", "json")
    assert run.code == 0
    verdict = run.json()
    assert verdict["allowed"] is True and verdict["outcome"] == "allowed"
    assert verdict["protocol"] == "UDP" and verdict["port"] == 53
    assert verdict["ingress"]["allowed_by"] == [
        {"policy": "shop/db", "rule": 1, "peer": 0, "port": 0}
    ]
    denied = reach(netaudit, "shop/web", "shop/db", "53", "--format", "json")
    assert denied.code == 1 and denied.json()["outcome"] == "denied"


def test_reach_named_port_resolves_on_the_destination(netaudit):
    assert reach(netaudit, "shop/web", "shop/api", "8080").code == 0  # api's http
    assert reach(netaudit, "shop/web", "shop/api", "9090").code == 1  # api's metrics
    assert reach(netaudit, "shop/web", "shop/api", "80").code == 1


def test_reach_from_and_to_an_address(netaudit):
    from_cdn = reach(netaudit, "203.0.113.9", "shop/api", "8080", "--format", "json")
    assert from_cdn.code == 0
    assert from_cdn.json()["src"] == {"kind": "ip", "ip": "203.0.113.9"}
    assert from_cdn.json()["ingress"]["allowed_by"][0]["rule"] == 1
    assert reach(netaudit, "198.51.100.1", "shop/api", "8080").code == 1
    # A pod's address is that pod.
    by_ip = reach(netaudit, "10.0.0.1", "10.0.0.2", "8080")
    assert by_ip.code == 0 and by_ip.out.startswith("shop/web -> shop/api")
    # Out to an address: only the source's egress applies.
    assert reach(netaudit, "shop/web", "8.8.8.8", "443").code == 0
    assert reach(netaudit, "other/client", "8.8.8.8", "443").code == 1
    assert reach(netaudit, "other/client", "2001:db8::1", "80").code == 0


def test_reach_host_network_and_ip_less_pods_are_not_allowed(netaudit):
    agent = reach(netaudit, "shop/agent", "shop/api", "8080")
    assert agent.code == 1
    assert "UNDEFINED" in agent.out and "policy behaviour undefined" in agent.out
    pending = reach(netaudit, "shop/web", "shop/pending", "443")
    assert pending.code == 1 and "NO TRAFFIC" in pending.out


def test_reach_unknown_pod_exits_2_with_a_hint(netaudit):
    run = reach(netaudit, "shop/wbe", "shop/api", "80")
    assert run.code == 2 and run.out == ""
    assert "--from: no pod 'shop/wbe'" in run.err
    assert "did you mean shop/web" in run.err
    assert "netaudit coverage" in run.err  # how to list them all
    run = reach(netaudit, "shop/web", "nowhere/x", "80")
    assert run.code == 2 and "--to: no pod 'nowhere/x'" in run.err


@pytest.mark.parametrize("value", ["10.0.0.256", "web", "10.0.0.0/8"])
def test_reach_bad_address_exits_2(netaudit, value):
    run = reach(netaudit, value, "shop/api", "80")
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("netaudit: error: --from: ") and value in run.err


# --- coverage -------------------------------------------------------------------------


def test_coverage_text_is_an_aligned_table(netaudit):
    run = netaudit("coverage", SHOP)
    assert run.code == 0 and run.err == ""
    lines = run.out.splitlines()
    header, rows, summary = lines[0], lines[1:-1], lines[-1]
    columns = [header.index(name) for name in ("INGRESS", "EGRESS", "NOTE", "POLICIES")]
    by_pod = {}
    for row in rows:
        assert all(row[c - 2 : c] == "  " for c in columns), row  # columns line up
        pod = row.split()[0]
        by_pod[pod] = [row[: columns[0]].strip()] + [
            row[a:b].strip() for a, b in zip(columns, [*columns[1:], None], strict=True)
        ]
    assert by_pod == {
        "other/client": ["other/client", "open", "isolated", "", "client-egress"],
        "shop/agent": [
            "shop/agent",
            "undefined",
            "undefined",
            "policy behaviour undefined (hostNetwork)",
            "default-deny",
        ],
        "shop/api": ["shop/api", "isolated", "open", "", "default-deny, api"],
        "shop/db": ["shop/db", "isolated", "open", "", "default-deny, db"],
        "shop/pending": [
            "shop/pending",
            "-",
            "-",
            "no traffic: has no IP",
            "default-deny, web-from-other",
        ],
        "shop/web": ["shop/web", "isolated", "open", "", "default-deny, web-from-other"],
    }
    assert summary == (
        "6 pods: 3 ingress isolated, 1 egress isolated, 1 policy behaviour undefined, 1 no traffic"
    )


def test_coverage_json(netaudit):
    run = netaudit("coverage", SHOP, "--format", "json")
    assert run.code == 0
    rows = {row["pod"]: row for row in run.json()}
    assert list(rows) == sorted(rows) and len(rows) == 6
    assert rows["shop/api"] == {
        "pod": "shop/api",
        "state": "active",
        "category": "ingress isolated",
        "ingress_isolated": True,
        "egress_isolated": False,
        "policies": ["shop/default-deny", "shop/api"],
        "reason": "",
    }
    agent = rows["shop/agent"]
    assert agent["category"] == "policy behaviour undefined"
    assert agent["ingress_isolated"] is None and agent["egress_isolated"] is None
    assert rows["shop/pending"]["category"] == "no traffic"


# --- Bad input ------------------------------------------------------------------------


def test_bad_yaml_names_the_file_and_the_document(netaudit, tmp_path):
    path = write(
        tmp_path / "broken.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop\n",
    )
    reach_args = ["--from", "a/b", "--to", "c/d", "--port", "1"]
    for command in (["matrix"], ["coverage"], ["reach", *reach_args]):
        run = netaudit(command[0], path, *command[1:])
        assert run.code == 2 and run.out == "", command
        assert run.err.startswith("netaudit: error: ")
        assert f"{path}, document 2" in run.err


def test_bad_field_names_the_file_document_and_field(netaudit, tmp_path):
    path = write(
        tmp_path / "pods.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, labels: [a, b]}\n",
    )
    run = netaudit("coverage", path)
    assert run.code == 2
    assert f"{path}, document 2 (Pod)" in run.err and "metadata.labels" in run.err
    path = write(tmp_path / "nameless.json", '{"apiVersion": "v1", "kind": "Pod", "metadata": {}}')
    run = netaudit("coverage", path)
    assert run.code == 2 and f"{path}, document 1 (Pod): metadata.name is missing" in run.err


def test_object_the_engine_cannot_read_exits_2(netaudit, tmp_path):
    path = write(
        tmp_path / "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\n"
        "status: {podIP: 10.0.0.300}\n",
    )
    run = netaudit("coverage", path)
    assert run.code == 2
    assert "Pod shop/web: status.podIPs: '10.0.0.300' is not an IP address" in run.err


def test_missing_path_exits_2(netaudit, tmp_path):
    run = netaudit("coverage", SHOP, tmp_path / "nope.yaml")
    assert run.code == 2 and f"{tmp_path / 'nope.yaml'}: no such file or directory" in run.err


def test_invalid_cidr_is_a_warning_and_the_answer_still_comes(netaudit):
    paths = (SHOP, BAD_CIDR)
    run = reach(netaudit, "shop/api", "shop/db", "5432", "--format", "json", paths=paths)
    assert run.code == 0 and run.json()["allowed"] is True
    assert run.err == (
        "netaudit: warning: NetworkPolicy shop/bad-cidr: spec.ingress[0].from[0].ipBlock.cidr: "
        "'10.0.0.0/33' is not a CIDR; the peer matches nothing\n"
    )
    # The broken peer matches nothing: it does not open db to addresses.
    denied = reach(netaudit, "10.0.0.9", "shop/db", "5432", paths=paths)
    assert denied.code == 1 and "warning" in denied.err
    matrix = netaudit("matrix", SHOP, BAD_CIDR, "--format", "json")
    assert matrix.code == 0 and matrix.json()["pods"] == PODS
    coverage = netaudit("coverage", SHOP, BAD_CIDR)
    assert coverage.code == 0 and "default-deny, db, bad-cidr" in coverage.out


def test_collector_warnings_and_duplicates_go_to_stderr(netaudit, tmp_path):
    later = write(
        tmp_path / "later.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, labels: {app: x}}\n"
        "status: {podIP: 10.0.0.1}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\n",
    )
    run = netaudit("coverage", SHOP, later, "--format", "json")
    assert run.code == 0
    assert "netaudit: warning: skipped 1 ConfigMap document" in run.err
    assert "netaudit: warning: 1 duplicate Pod object: the last of each is used" in run.err
    rows = {row["pod"]: row for row in run.json()}
    assert rows["shop/web"]["policies"] == ["shop/default-deny"]  # the later web: app=x


def test_help_imports_neither_the_engine_nor_yaml_and_its_choices_agree_with_them():
    code = (
        "import sys; from netpol import cli; cli.build_parser().format_help(); "
        "print(sorted(m for m in sys.modules if m.startswith(('netpol.engine', 'yaml'))))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
    from netpol import cli
    from netpol.engine import PROTOCOLS
    from netpol.findings import SEVERITIES

    assert cli.PROTOCOLS == PROTOCOLS
    assert cli.SEVERITY_CHOICES == tuple(s for s in SEVERITIES if s != "info")


def test_load_paths_passes_warnings_to_the_callback():
    warnings: list[str] = []
    model = load_paths([SHOP, BAD_CIDR], warn=warnings.append)
    assert len(model.pods) == 6
    assert [w.split(":")[0] for w in warnings] == ["NetworkPolicy shop/bad-cidr"]


# --- diff: two manifest trees ---------------------------------------------------------


def changed_demo(tmp_path: Path) -> Path:
    """The demo cluster with shop-db's default-deny removed, postgres opened to every IPv4
    address on 5432 (instead of its replication peers), and an allow-all-egress policy in
    payments."""
    new = tmp_path / "demo"
    shutil.copytree(DEMO, new)
    db = new / "shop-db.yaml"
    docs = [d for d in db.read_text().split("\n---\n") if "name: default-deny-all" not in d]
    text = "\n---\n".join(docs)
    peers = (
        "    - from:\n        - podSelector:\n            matchLabels:\n"
        "              app.kubernetes.io/name: postgres\n"
    )
    assert peers in text
    db.write_text(
        text.replace(peers, "    - from:\n        - ipBlock:\n            cidr: 0.0.0.0/0\n", 1)
    )
    (new / "extra.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: allow-all-egress, namespace: payments}\n"
        "spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}\n"
    )
    return new


def test_diff_of_the_demo_with_itself_changes_nothing(netaudit):
    run = netaudit("diff", DEMO, DEMO, "--format", "json", "--fail-on-new", "low")
    assert run.code == 0 and run.err == ""
    d = run.json()
    assert d["findings"]["new"] == [] and d["findings"]["resolved"] == []
    assert d["findings"]["unchanged"] == 29
    assert d["policies"] == {"added": [], "removed": [], "changed": []}
    assert d["score"] == {"old": 45, "new": 45}
    assert d["newly_uncovered"] == [] and d["newly_exposed"] == []
    assert all(m["change"] == 0 for m in d["coverage"]["measures"].values())


def test_diff_json_of_a_changed_demo(netaudit, tmp_path):
    run = netaudit("diff", DEMO, changed_demo(tmp_path), "--format", "json")
    assert run.code == 0
    d = run.json()
    assert d["policies"] == {
        "added": ["payments/allow-all-egress"],
        "removed": ["shop-db/default-deny-all"],
        "changed": [{"policy": "shop-db/postgres", "changed": ["ingress"]}],
    }
    new = {(f["rule"], f["objects"][0]) for f in d["findings"]["new"]}
    assert ("NP016", "NetworkPolicy/payments/allow-all-egress") in new
    assert ("NP020", "NetworkPolicy/shop-db/postgres") in new
    assert ("NP004", "Namespace/shop-db") in new and ("NP002", "Namespace/shop-db") in new
    assert len(d["findings"]["new"]) == 10
    assert {f["rule"] for f in d["findings"]["resolved"]} == {"NP032", "NP002"}
    assert d["findings"]["unchanged"] == 27
    assert d["score"] == {"old": 45, "new": 37}
    assert [(w["workload"], w["direction"]) for w in d["newly_uncovered"]] == [
        ("Deployment/shop-db/redis", "egress")
    ]
    assert [(w["workload"], w["direction"]) for w in d["newly_exposed"]] == [
        ("Deployment/payments/payments-api", "egress"),
        ("Deployment/shop-db/redis", "egress"),
        ("StatefulSet/shop-db/postgres", "ingress"),
    ]
    # redis lost egress isolation (2 pods), payments-webhook gained it (2 pods).
    assert d["coverage"]["measures"]["Pods isolated for egress"] == {
        "old": 37,
        "new": 37,
        "change": 0,
    }


def test_diff_text_and_fail_on_new(netaudit, tmp_path):
    new = changed_demo(tmp_path)
    run = netaudit("diff", DEMO, new)
    assert run.code == 0
    assert "Findings: 10 new, 2 resolved, 27 unchanged" in run.out
    assert "Score: 45 -> 37" in run.out
    assert "  removed: shop-db/default-deny-all" in run.out
    assert "  changed: shop-db/postgres (ingress)" in run.out
    assert "  StatefulSet/shop-db/postgres (ingress)" in run.out
    assert netaudit("diff", DEMO, new, "--fail-on-new", "critical").code == 1  # NP016
    # Going back brings NP032 (high) back and nothing critical.
    back = netaudit("diff", new, DEMO, "--fail-on-new", "critical")
    assert back.code == 0
    assert "Findings: 2 new, 10 resolved, 27 unchanged" in back.out
    assert "  new: [high] NP032 In payments, 4 pods of 1 workload (Deployment/payments-api)" in back.out
    assert netaudit("diff", new, DEMO, "--fail-on-new", "high").code == 1


def test_diff_bad_input_exits_2(netaudit, tmp_path):
    run = netaudit("diff", DEMO, tmp_path / "missing")
    assert run.code == 2
    assert run.err.startswith("netaudit: error:") and "missing" in run.err
    assert netaudit("diff", DEMO).code == 2  # NEW_PATH is required
    assert netaudit("diff", DEMO, DEMO, "--fail-on-new", "urgent").code == 2


# --- The demo cluster -----------------------------------------------------------------


def test_demo_coverage(netaudit):
    run = netaudit("coverage", DEMO, "--format", "json")
    assert run.code == 0 and run.err == ""  # the demo loads without warnings
    rows = {row["pod"]: row for row in run.json()}
    assert len(rows) == 60
    for name in ("calico-node", "kube-proxy"):
        for i in range(3):
            assert rows[f"kube-system/{name}-{i}"]["category"] == "policy behaviour undefined"
    batch = [row for pod, row in rows.items() if pod.startswith("batch/")]
    assert len(batch) == 8 and all(row["category"] == "not isolated" for row in batch)
    text = netaudit("coverage", DEMO)
    assert text.code == 0
    assert text.out.splitlines()[-1] == (
        "60 pods: 37 isolated, 2 ingress isolated, 12 not isolated, 9 policy behaviour undefined"
    )


def test_demo_matrix_keeps_template_pods_and_leaves_out_host_network(netaudit):
    """The demo's pods come from workload templates: running, address unknown. They stand
    in for live pods, so the matrix keeps them; only the 9 hostNetwork pods go."""
    result = netaudit("matrix", DEMO, "--port", "5432", "--format", "json").json()
    assert len(result["pods"]) == 51
    assert not any(
        p.startswith(("kube-system/calico-node", "kube-system/kube-proxy")) for p in result["pods"]
    )
    assert cell(result, "shop-backend/orders-0", "shop-db/postgres-0")
    assert not cell(result, "shop-frontend/storefront-0", "shop-db/postgres-0")


@pytest.mark.parametrize(
    ("src", "dst", "port", "code"),
    [
        # The frontend reaches the backend on the named port http.
        ("shop-frontend/storefront-0", "shop-backend/catalog-0", 8080, 0),
        # Mistake 5: orders-to-payments selects a namespace label nobody carries.
        ("shop-backend/orders-0", "payments/payments-api-0", 9000, 1),
        # Mistake 8: the CDN range straight into the storefront.
        ("203.0.113.7", "shop-frontend/storefront-0", 8080, 0),
        # Redis takes 6379 from cart only.
        ("shop-backend/catalog-0", "shop-db/redis-0", 6379, 1),
        ("shop-backend/cart-0", "shop-db/redis-0", 6379, 0),
    ],
)
def test_demo_reach(netaudit, src, dst, port, code):
    run = reach(netaudit, src, dst, port, paths=[DEMO])
    assert run.code == code, run.out


# --- The installed script ---------------------------------------------------------------


def test_script_matrix():
    run = script("matrix", SHOP, "--port", "8080", "--format", "json")
    assert run.code == 0, run.err
    assert run.json()["pods"] == PODS
    assert cell(run.json(), "shop/web", "shop/api")


def test_script_reach_exit_statuses():
    args = ("reach", SHOP, "--from", "shop/web", "--to", "shop/api", "--port")
    allowed = script(*args, "8080")
    assert allowed.code == 0 and "ALLOWED" in allowed.out
    assert script(*args, "80").code == 1
    assert script(*args, "0").code == 2


def test_script_coverage():
    run = script("coverage", DEMO)
    assert run.code == 0, run.err
    assert run.out.startswith("POD ") and len(run.out.splitlines()) == 62


def test_script_bad_input_exits_2(tmp_path):
    path = write(tmp_path / "broken.yaml", "kind: [\n")
    run = script("coverage", path)
    assert run.code == 2 and run.out == ""
    assert f"{path}, document 1" in run.err and "Traceback" not in run.err


def test_script_stops_quietly_when_the_reader_goes_away(tmp_path):
    """``netaudit matrix ... | head``: no traceback when the pipe closes early."""
    pods = "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: big}}\n"
        f"status: {{podIP: 10.1.{i // 250}.{i % 250 + 1}}}\n"
        for i in range(300)
    )
    path = write(tmp_path / "big.yaml", pods)
    with subprocess.Popen(
        [str(SCRIPT), "matrix", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout.readline().startswith(b"89700 of 89700")
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 1
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
