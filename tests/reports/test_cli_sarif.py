"""``netaudit audit --format sarif``: valid SARIF 2.1.0 located in the manifest files,
and ``--fail-on`` still failing a pipeline. No database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netpol import sarif
from netpol.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "auditor" / "demo_cluster"
SHOP = ROOT / "tests" / "fixtures" / "cli" / "shop.yaml"


@pytest.fixture
def netaudit(capsys, monkeypatch):
    def run(*args, cwd=ROOT):
        monkeypatch.chdir(cwd)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_sarif_of_the_demo_is_valid_and_located_in_the_files(netaudit, sarif_validator):
    code, out, err = netaudit("audit", "auditor/demo_cluster", "--format", "sarif")
    assert code == 0 and err == ""
    log = json.loads(out)
    sarif_validator.validate(log)
    [run] = log["runs"]
    report = json.loads(netaudit("audit", DEMO, "--format", "json")[1])
    results = run["results"]
    assert len(results) == len(report["findings"]) == 29
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"NP001", "NP003", "NP010", "NP020"}
    assert run["originalUriBaseIds"][sarif.SRCROOT]["uri"] == ROOT.as_uri() + "/"
    for result, finding in zip(results, report["findings"], strict=True):
        assert result["partialFingerprints"][sarif.FINGERPRINT_KEY] == finding["fingerprint"]
        first = result["locations"][0]
        physical = first["physicalLocation"]
        assert physical["artifactLocation"]["uriBaseId"] == sarif.SRCROOT
        path = ROOT / physical["artifactLocation"]["uri"]
        line = path.read_text().splitlines()[physical["region"]["startLine"] - 1]
        ref = first["logicalLocations"][0]["fullyQualifiedName"]
        assert ref in finding["objects"]
        # The line starts the object's document: "apiVersion:" or "kind:" of that object.
        assert line.startswith(("apiVersion:", "kind:")), (ref, path, line)
        document = path.read_text().splitlines()[physical["region"]["startLine"] - 1 :][:8]
        assert any(f"name: {ref.rsplit('/', 1)[1]}" in text for text in document), (ref, document)


def test_policy_findings_point_at_the_policy(netaudit):
    log = json.loads(netaudit("audit", "auditor/demo_cluster", "--format", "sarif")[1])
    [np010] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "NP010"]
    first = np010["locations"][0]
    assert (
        first["logicalLocations"][0]["fullyQualifiedName"]
        == "NetworkPolicy/shop-frontend/admin-ui-allow-all"
    )
    assert (
        first["physicalLocation"]["artifactLocation"]["uri"]
        == "auditor/demo_cluster/shop-frontend.yaml"
    )
    assert np010["level"] == "error"


def test_files_outside_the_working_directory_get_absolute_uris(netaudit, tmp_path, sarif_validator):
    code, out, _ = netaudit("audit", SHOP, "--format", "sarif", cwd=tmp_path)
    log = json.loads(out)
    sarif_validator.validate(log)
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
        for loc in r["locations"]
        if "physicalLocation" in loc
    }
    assert uris == {SHOP.resolve().as_uri()}


@pytest.mark.parametrize(("level", "code"), [("critical", 0), ("high", 1), ("low", 1)])
def test_fail_on_with_sarif_output(netaudit, level, code, sarif_validator):
    status, out, _ = netaudit(
        "audit", "auditor/demo_cluster", "--format", "sarif", "--fail-on", level
    )
    assert status == code
    sarif_validator.validate(json.loads(out))  # the SARIF is written either way, for upload


def test_the_installed_command_fails_a_pipeline_on_a_high_finding(tmp_path, sarif_validator):
    """As a CI job runs it: the console script, SARIF to a file, exit 1."""
    netaudit = Path(sys.executable).with_name("netaudit")
    result = subprocess.run(
        [str(netaudit), "audit", str(DEMO), "--format", "sarif", "--fail-on", "high"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    sarif_validator.validate(json.loads(result.stdout))


def test_help_names_the_sarif_format(netaudit, capsys):
    code = main(["audit", "--help"])
    assert code == 0
    assert "sarif" in capsys.readouterr().out
