"""``netaudit audit``: JSON and text output, --fail-on, bad input. No database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netpol.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "cli"
SHOP = FIXTURES / "shop.yaml"
BAD_CIDR = FIXTURES / "bad-cidr.yaml"
DEMO = ROOT / "auditor" / "demo_cluster"


@pytest.fixture
def netaudit(capsys):
    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_json_has_findings_coverage_and_score(netaudit):
    code, out, err = netaudit("audit", DEMO, "--format", "json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert {"findings", "coverage", "score", "compliance", "cni"} <= set(data)
    assert data["score"]["cluster"] == 45
    assert data["coverage"]["cluster"]["pods"] == 51
    for f in data["findings"]:
        assert {"rule", "severity", "title", "message", "objects"} <= set(f)
        for obj in f["objects"]:
            # Namespace/name for a namespace, Kind/namespace/name for anything in one.
            kind, *rest = obj.split("/")
            assert len(rest) == (1 if kind == "Namespace" else 2), obj
    rules = {f["rule"] for f in data["findings"]}
    assert {"NP003", "NP010", "NP032", "NP030"} <= rules


def test_text_groups_by_severity(netaudit):
    code, out, _ = netaudit("audit", DEMO)
    assert code == 0
    assert out.startswith("Score: 45/100. 74.5% covered, 5 of 8 namespaces pass CIS 5.3.2")
    # the first line explains the score; the formula is in the docs, linked
    assert "fix first: Namespace with no NetworkPolicy (NP003, 1 namespace): 15.7 points." in out
    assert "how the score is computed: docs/findings.md#score" in out
    assert "penalty =" not in out
    high, medium, low = out.index("== HIGH"), out.index("== MEDIUM"), out.index("== LOW")
    assert high < medium < low
    assert "[NP003] Namespace with no NetworkPolicy" in out[high:medium]
    assert "Compliance:" in out


@pytest.mark.parametrize(
    ("level", "code"), [("critical", 0), ("high", 1), ("medium", 1), ("low", 1)]
)
def test_fail_on(netaudit, level, code):
    assert netaudit("audit", DEMO, "--fail-on", level)[0] == code


def test_fail_on_passes_when_only_lower_findings(netaudit):
    code, out, _ = netaudit("audit", SHOP, "--format", "json", "--fail-on", "critical")
    assert code == 0
    assert all(f["severity"] != "critical" for f in json.loads(out)["findings"])


def test_invalid_policy_is_a_finding_and_a_warning(netaudit):
    code, out, err = netaudit("audit", SHOP, BAD_CIDR, "--format", "json")
    assert code == 0
    assert "10.0.0.0/33" in err
    [f] = [f for f in json.loads(out)["findings"] if f["rule"] == "NP035"]
    assert f["objects"] == ["NetworkPolicy/shop/bad-cidr"]
    assert f["evidence"]["field"] == "spec.ingress[0].from[0].ipBlock.cidr"


def test_bad_input_exits_2(netaudit, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: [oops\n")
    code, out, err = netaudit("audit", bad)
    assert code == 2 and out == "" and "error" in err
    assert netaudit("audit", tmp_path / "missing.yaml")[0] == 2
    assert netaudit("audit", DEMO, "--fail-on", "urgent")[0] == 2
