"""End to end in a real headless Chromium: the findings list grouped by rule and by
namespace, a whole group waived after confirmation, and the list exported as CSV."""

import csv
from collections import Counter

import pytest

from auditor.models import Waiver
from auditor.selectors import findings_of

from .browser import log_in, screenshot
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_group_waive_a_rule_and_export_the_rest(live_server, page, personas, demo_snapshot):
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, live_server, "auditor", PASSWORD)
    page.wait_for_selector("text=Log out auditor")
    open_rows = list(findings_of(demo_snapshot).filter(waived=False))

    # Grouped by namespace: one header per namespace, counts from the database.
    page.goto(f"{live_server.url}/clusters/demo/findings/")
    page.select_option("select[name=group]", "namespace")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("details.group")
    assert page.locator("details.group").count() == len({f.namespace for f in open_rows})
    screenshot(page, "findings-e2e-by-namespace")

    # Grouped by rule, filters kept in the URL; a group opens on click.
    page.select_option("select[name=group]", "rule")
    page.select_option("select[name=severity]", "medium")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**group=rule**")
    assert "severity=medium" in page.url
    medium = [f for f in open_rows if f.severity == "medium"]
    assert page.locator("details.group").count() == len({f.rule for f in medium})
    group = page.locator("details.group", has=page.locator(".group-key", has_text="NP013"))
    group.locator("summary .group-key").click()
    np013 = [f for f in medium if f.rule == "NP013"]
    assert group.locator("tbody tr").count() == len(np013)
    assert group.locator("tbody tr").first.is_visible()
    screenshot(page, "findings-e2e-by-rule-open")

    # Waive the whole group: the confirmation names the count and the rule.
    group.locator("a.waive-group").click()
    page.wait_for_selector("h1:has-text('Waive')")
    assert f"Waive {len(np013)} open findings" in page.inner_text("h1")
    assert "NP013" in page.inner_text("dl.selection")
    page.fill("textarea[name=reason]", "ipBlocks reviewed with the network team")
    page.click("form.waive button[type=submit]")
    page.wait_for_selector(f"text={len(np013)} findings waived until")
    assert "NP013" not in page.inner_text("main").split("Export CSV", 1)[1]
    waivers = Waiver.objects.all()
    assert sorted(w.fingerprint for w in waivers) == sorted(f.fingerprint for f in np013)
    assert {(w.reason, w.author.username) for w in waivers} == {("ipBlocks reviewed with the network team", "auditor")}

    # The CSV is the list as filtered now: medium, open, NP013 gone.
    with page.expect_download() as download:
        page.click("text=Export CSV")
    with open(download.value.path(), newline="") as f:
        rows = list(csv.DictReader(f))
    assert download.value.suggested_filename == f"findings-demo-snapshot-{demo_snapshot.pk}.csv"
    assert Counter(r["rule"] for r in rows) == Counter(f.rule for f in medium if f.rule != "NP013")
    assert {r["severity"] for r in rows} == {"medium"} and {r["waived"] for r in rows} == {"no"}
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"findings-e2e-after-waiver-{width}")
    assert problems == []
