"""``netaudit audit --baseline``: an earlier audit (JSON or SARIF) marks findings
unchanged; only new ones are listed in text and count for --fail-on."""

from __future__ import annotations

import json

from tests.test_cli import DEMO, changed_demo, netaudit  # noqa: F401  (netaudit: the fixture)


def _baseline(netaudit, tmp_path, fmt="json"):  # noqa: F811
    run = netaudit("audit", DEMO, "--format", fmt)
    path = tmp_path / f"baseline.{fmt}"
    path.write_text(run.out)
    return path


def test_the_same_tree_has_nothing_new_and_passes_the_gate(netaudit, tmp_path):  # noqa: F811
    base = _baseline(netaudit, tmp_path)
    assert netaudit("audit", DEMO, "--fail-on", "high").code == 1  # the demo has high findings
    run = netaudit("audit", DEMO, "--baseline", base, "--fail-on", "low")
    assert run.code == 0
    assert run.out.startswith(f"Baseline {base}: 0 new, 29 unchanged (only new findings are listed)")
    assert "== HIGH" not in run.out


def test_a_change_gates_on_its_new_findings_only(netaudit, tmp_path):  # noqa: F811
    base = _baseline(netaudit, tmp_path)
    new = changed_demo(tmp_path)
    run = netaudit("audit", new, "--baseline", base, "--format", "json", "--fail-on", "critical")
    assert run.code == 1  # NP016, the new allow-all egress, is critical
    d = run.json()
    fresh = {f["rule"] for f in d["findings"] if f["baseline_state"] == "new"}
    assert "NP016" in fresh and "NP003" not in fresh
    assert d["baseline"] == {"file": str(base), "new": d["baseline"]["new"], "unchanged": 27}
    text = netaudit("audit", new, "--baseline", base)
    assert "NP016" in text.out and "[NP003]" not in text.out


def test_a_sarif_baseline_and_sarif_output_carry_the_state(netaudit, tmp_path):  # noqa: F811
    base = _baseline(netaudit, tmp_path, "sarif")
    run = netaudit("audit", changed_demo(tmp_path), "--baseline", base, "--format", "sarif")
    states = {r["ruleId"]: r["baselineState"] for r in run.json()["runs"][0]["results"]}
    assert states["NP016"] == "new" and states["NP003"] == "unchanged"


def test_per_workload_fingerprints_of_an_older_baseline_still_match(netaudit, tmp_path):  # noqa: F811
    run = netaudit("audit", DEMO, "--format", "json")
    findings = run.json()["findings"]
    [dns] = [f for f in findings if f["rule"] == "NP032"]
    # An older version reported NP032 per workload: the baseline holds those fingerprints.
    older = [f for f in findings if f["rule"] != "NP032"]
    older += [{"rule": "NP032", "fingerprint": alias} for alias in dns["aliases"]]
    for f in older:
        f.pop("aliases", None)
    base = tmp_path / "older.json"
    base.write_text(json.dumps({"findings": older}))
    d = netaudit("audit", DEMO, "--baseline", base, "--format", "json").json()
    assert d["baseline"]["new"] == 0


def test_a_bad_baseline_is_named(netaudit, tmp_path):  # noqa: F811
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    run = netaudit("audit", DEMO, "--baseline", bad)
    assert run.code == 2
    assert f"--baseline {bad}: neither a netaudit audit JSON (findings) nor a SARIF log (runs)" in run.err
    missing = netaudit("audit", DEMO, "--baseline", tmp_path / "none.json")
    assert missing.code == 2 and "cannot read it as JSON" in missing.err
