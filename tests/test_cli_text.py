"""``netaudit audit`` text: where each finding's policy rule is written, and colours
only on a terminal (or when asked)."""

from __future__ import annotations

import argparse
import re

from netpol import cli
from tests.test_cli import DEMO, netaudit  # noqa: F401  (netaudit: the fixture)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_each_policy_finding_names_the_file_and_line_of_its_rule(netaudit, monkeypatch):  # noqa: F811
    monkeypatch.chdir(DEMO.parent.parent)  # paths relative to the working directory
    run = netaudit("audit", DEMO)
    assert run.code == 0
    assert "  at auditor/demo_cluster/shop-frontend.yaml:" in run.out
    lines = run.out.splitlines()
    i = lines.index(next(line for line in lines if line.startswith("[NP010]")))
    where = lines[i + 2]
    assert where.endswith("(NetworkPolicy/shop-frontend/admin-ui-allow-all spec.ingress[0])")
    path, line = where.split()[1].rsplit(":", 1)
    text = (DEMO.parent.parent / path).read_text().splitlines()
    # The line is the rule's first line, inside the admin-ui-allow-all policy.
    assert text[int(line) - 1].lstrip().startswith("- ")
    assert "admin-ui-allow-all" in "\n".join(text[max(0, int(line) - 15) : int(line)])
    assert not ANSI.search(run.out)  # not a terminal


def test_colour_when_asked_and_never_with_never(netaudit):  # noqa: F811
    coloured = netaudit("audit", DEMO, "--color", "always")
    assert "\x1b[1;31m== HIGH" in coloured.out
    assert ANSI.sub("", coloured.out) == netaudit("audit", DEMO, "--color", "never").out


def test_auto_colour_follows_the_terminal_and_no_color(monkeypatch):
    args = argparse.Namespace(color="auto")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli._colour(args) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli._colour(args) is False
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    monkeypatch.delenv("NO_COLOR")
    assert cli._colour(args) is False
