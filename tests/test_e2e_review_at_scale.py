"""End to end in headless Chromium, on a generated 200-namespace cluster with two
snapshots, at 1440 and 1024 px: the review items of issue 11 that the demo alone does not
show at scale. Reports downloaded from the findings and snapshots pages, the snapshot
marked unchanged, two snapshots picked and compared, and a what-if that cuts DNS. Each
screenshot lands in artifacts/."""

from __future__ import annotations

from unittest import mock

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .generated import analysed_cluster
from .test_e2e_graph import listen, nav_fits

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reviewed(transactional_db, tmp_path):
    """The 200-namespace cluster, snapshotted twice from the same files: the second
    snapshot repeats the first."""
    from auditor import services
    from auditor.models import Snapshot

    cluster = analysed_cluster(tmp_path, "scale", 2_000, 200, 600)
    with mock.patch("django.db.transaction.on_commit"):
        again = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False)
        services.snapshot_collect(snapshot_id=again.pk)
        services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=again.pk))
    first = cluster.snapshots.order_by("pk").first()
    return cluster, first, Snapshot.objects.get(pk=again.pk)


@pytest.mark.parametrize("width", [1440, 1024])
def test_reports_history_and_what_if_at_200_namespaces(live_server, browser, personas, reviewed, settings, width):
    cluster, first, second = reviewed
    settings.SITE_URL = live_server.url  # what an operator sets (or BIND implies)
    base = f"{live_server.url}/clusters/{cluster.name}"
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "auditor", PASSWORD)

    # Reports on demand, from the findings list: any viewer, any format.
    page.goto(f"{base}/findings/")
    nav_fits(page)
    links = page.locator("#download-report a")
    assert links.all_inner_texts() == ["HTML", "PDF", "CSV", "JSON", "SARIF"]
    def download(fmt: str):
        return page.request.get(live_server.url + page.get_attribute(f"#download-report a >> text={fmt}", "href"))

    pdf = download("PDF")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    csv = download("CSV")
    header = csv.text().splitlines()[0]
    assert csv.ok and "rule" in header and "severity" in header
    page.click("#download-report a >> text=HTML")
    page.wait_for_load_state()
    report = page.inner_text("body")
    assert f"snapshot #{second.pk}" in report.lower() or f"#{second.pk}" in report
    assert "namespace" in report.lower() and "CIS" in report
    # Links inside the report use the address the app is served on (SITE_URL).
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href^=http]')].map((a) => a.href)")
    assert hrefs and all(h.startswith(live_server.url) for h in hrefs if "/clusters/" in h)
    screenshot(page, f"scale-report-html-{width}", full_page=False)  # 200 namespaces: metres long

    # History: the repeat is marked unchanged; any two snapshots can be compared.
    page.goto(f"{base}/snapshots/")
    nav_fits(page)
    row = page.locator("table.snapshots tbody tr", has_text=f"{second.pk}").first
    assert "unchanged" in row.inner_text()
    assert page.locator(f"a[aria-label='report of snapshot #{first.pk} as PDF']").count() == 1
    screenshot(page, f"scale-snapshots-{width}")
    page.check(f"input[name=old][value='{first.pk}']")
    page.check(f"input[name=new][value='{second.pk}']")
    page.click("form.compare button[type=submit]")
    page.wait_for_url("**/diff/?*")
    assert f"old={first.pk}" in page.url and f"new={second.pk}" in page.url
    assert f"Changes from #{first.pk} to #{second.pk}" in page.inner_text("h1")
    screenshot(page, f"scale-diff-{width}")

    # What-if from a namespace page: the default deny it offers cuts that namespace's DNS.
    page.goto(f"{base}/namespaces/ingress-nginx/")
    page.click(".namespace-links >> text=What-if: a default deny here")
    page.wait_for_url("**/what-if/?q=ingress-nginx*")
    page.click("button[name=run]")
    page.wait_for_selector(".dns-cut", timeout=90_000)
    warning = page.inner_text(".dns-cut")
    assert "This change cuts DNS" in warning and "ingress-nginx" in warning
    nav_fits(page)
    screenshot(page, f"scale-whatif-dns-{width}")
    assert problems == []
    context.close()
