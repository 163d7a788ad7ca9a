"""In headless Chromium: a viewer clicks "Download report" on the findings page and reads
the HTML report, on the demo and on a generated 200-namespace cluster, at 1440 and
1024 px; every label's text is at least 4.5:1 against its background; screenshots in
artifacts/."""

from __future__ import annotations

import pytest

from auditor.models import Snapshot

from ..browser import log_in, screenshot
from ..conftest import PASSWORD
from .conftest import take_snapshot

pytestmark = pytest.mark.django_db(transaction=True)

# The lowest contrast of any text on the page: each element's colour against the first
# opaque background up its ancestors (white when none), WCAG's formula.
LOWEST_CONTRAST = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let worst = [99, ""];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst[0]) worst = [ratio, el.tagName + " " + el.textContent.trim().slice(0, 40)];
  }
  return worst;
}"""


@pytest.fixture
def cluster_200(transactional_db, tmp_path):
    """``kubectl_list(5000, 200, 1000)`` registered as a manifests cluster, snapshotted and analysed."""
    import yaml

    from auditor.models import Cluster
    from bench.synthetic import kubectl_list

    directory = tmp_path / "wide"
    directory.mkdir()
    (directory / "cluster.yaml").write_text(yaml.safe_dump(kubectl_list(5_000, 200, 1_000)))
    cluster = Cluster.objects.create(
        name="wide", source=Cluster.Source.MANIFESTS, manifest_path=str(directory), enabled=False
    )
    take_snapshot(cluster)
    return cluster


def read_report(browser, live_server, cluster, width, label):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    # A style the CSP refuses would leave the report unstyled (centred headings, no rules).
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "Refused" in m.text else None,
    )
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/{cluster.name}/findings/")
    snapshot = Snapshot.objects.filter(cluster=cluster).latest("finished_at")
    block = page.locator("#download-report")
    assert f"Download report of snapshot #{snapshot.pk}" in block.inner_text()
    assert [a.inner_text() for a in block.locator("a").all()] == [
        "HTML",
        "PDF",
        "CSV",
        "JSON",
        "SARIF",
    ]
    screenshot(page, f"report-ondemand-findings-{label}-{width}")
    block.locator("a", has_text="HTML").click()
    page.wait_for_selector("h2:has-text('Failing compliance checks')")
    assert page.url.endswith(f"/snapshots/{snapshot.pk}/report.html")
    assert page.evaluate("getComputedStyle(document.querySelector('th')).textAlign") == "left"
    text = page.inner_text("body")
    assert f"Network policy audit: {cluster.name}" in text
    namespaces = page.locator("h2:has-text('Namespaces') + div table tbody tr").count()
    ratio, where = page.evaluate(LOWEST_CONTRAST)
    assert ratio >= 4.5, f"{where!r} is {ratio:.2f}:1 against its background"
    # Left-aligned text, and no table wider than the window (wide ones scroll in their box).
    assert page.evaluate("getComputedStyle(document.body).textAlign") in ("left", "start")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"report-ondemand-html-{label}-{width}")
    # The online link is the app's own address (SITE_URL), and it opens the snapshot.
    page.locator("a", has_text=f"{live_server.url}/clusters/{cluster.name}/findings/").first.click()
    page.wait_for_selector(f"h1:has-text('snapshot #{snapshot.pk}')")
    assert problems == []
    context.close()
    return namespaces


@pytest.mark.parametrize("width", [1440, 1024])
def test_demo_report_from_the_findings_page(
    live_server, browser, personas, demo_cluster, settings, width
):
    settings.SITE_URL = live_server.url
    take_snapshot(demo_cluster)
    assert read_report(browser, live_server, demo_cluster, width, "demo") >= 5


@pytest.mark.parametrize("width", [1440, 1024])
def test_200_namespace_report_from_the_findings_page(
    live_server, browser, personas, cluster_200, settings, width
):
    settings.SITE_URL = live_server.url
    assert read_report(browser, live_server, cluster_200, width, "200") >= 200
