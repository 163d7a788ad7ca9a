"""End to end in headless Chromium: finding pages of several rules on the demo and on a
generated 200-namespace cluster, at 1440 and 1024 px. Every code block's text is read
against its own background (WCAG contrast >= 4.5), the evidence is read as words, the
stable link opens the same finding; screenshots in artifacts/."""

import re

import pytest

from auditor.models import Finding

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .generated import analysed_cluster
from .test_e2e_graph import listen, nav_fits
from .test_finding_page import changing_cluster  # noqa: F401  (the fixture, shared)

pytestmark = pytest.mark.django_db(transaction=True)

# The WCAG contrast of each code element's text against the background it is drawn on
# (the nearest ancestor-or-self with an opaque background colour).
CONTRASTS = """(selector) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] === 1) return c;
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(selector)].filter((e) => e.textContent.trim()).map((e) => {
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(background(e));
    return [e.textContent.trim().slice(0, 40), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}"""


def readable(page, selector: str = "pre code, pre, code") -> int:
    """Assert every code element on the page reads at >= 4.5:1; how many there were."""
    contrasts = page.evaluate(CONTRASTS, selector)
    for text, ratio in contrasts:
        assert ratio >= 4.5, f"{text!r} on {page.url} has contrast {ratio:.2f}:1, under 4.5:1"
    return len(contrasts)


def open_finding(page, live_server, cluster: str, finding: Finding, name: str) -> str:
    response = page.goto(f"{live_server.url}/clusters/{cluster}/findings/{finding.pk}/")
    assert response.status == 200, f"{finding.rule} {finding.evidence}: {response.status}"
    nav_fits(page)
    assert readable(page) >= 1
    evidence = page.inner_text("dl.evidence")
    assert "{\"" not in evidence and "`" not in page.inner_text("main")
    screenshot(page, name)
    return evidence


@pytest.mark.parametrize("width", [1440, 1024])
def test_demo_findings_read_as_words_with_readable_yaml(live_server, browser, personas, demo_snapshot, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "auditor", PASSWORD)
    of = Finding.objects.filter(snapshot=demo_snapshot)

    evidence = open_finding(page, live_server, "demo", of.get(rule="NP013", namespace="ingress-nginx"),
                            f"finding-demo-NP013-{width}")
    assert "NetworkPolicy ingress-nginx/ingress-nginx-controller" in evidence
    assert "The 1st ingress rule, spec.ingress[0] (ingress from 0.0.0.0/0 on TCP/80, TCP/443)" in evidence
    assert page.locator("dl.evidence pre code").count() == 1
    assert "cidr: 0.0.0.0/0" in page.inner_text("dl.evidence pre code")

    evidence = open_finding(page, live_server, "demo", of.get(rule="NP022"), f"finding-demo-NP022-{width}")
    assert "A connection from shop-backend/catalog-0 to 169.254.169.254 on TCP 1 is allowed by this rule" in evidence
    # The rule's excerpt and the remediation YAML: both dark blocks, read by open_finding.
    assert page.locator("dl.evidence pre code").count() == 1 and page.locator(".card > .snippet pre code").count() == 1
    page.click("dl.evidence >> text=Explain this connection")
    page.wait_for_url(re.compile(r".*/reach/\?from=shop-backend%2Fcatalog-0.*"))
    assert page.input_value("input[name=from]") == "shop-backend/catalog-0"

    finding = of.get(rule="NP002", namespace="kube-system")
    open_finding(page, live_server, "demo", finding, f"finding-demo-NP002-{width}")
    assert "Deployment/kube-system/coredns 2 of 2 pods open" in page.inner_text("ul.workloads")
    stable = page.inner_text("#stable-link")
    assert stable.endswith(f"/clusters/demo/findings/fp/{finding.fingerprint}/")
    page.goto(stable)
    assert "NP002" in page.inner_text("h1") and readable(page) >= 1

    open_finding(page, live_server, "demo", of.get(rule="NP010"), f"finding-demo-NP010-{width}")
    # The policy page's YAML and the rule it links to, and the what-if page, read the same way.
    page.click("dl.evidence >> text=shop-frontend/admin-ui-allow-all")
    page.wait_for_url(re.compile(r".*/policies/shop-frontend/admin-ui-allow-all/\?snapshot=\d+&rule=ingress-0"))
    assert readable(page) >= 1
    screenshot(page, f"finding-demo-policy-{width}")
    page.goto(f"{live_server.url}/clusters/demo/what-if/")
    readable(page)
    assert problems == []
    context.close()


@pytest.fixture
def cluster_200(transactional_db, tmp_path):
    """``kubectl_list(5000, 200, 1000)`` as a manifests cluster, snapshotted and analysed."""
    return analysed_cluster(tmp_path, "big200")


def test_200_namespace_findings_of_several_rules(live_server, browser, personas, cluster_200):
    findings = Finding.objects.filter(snapshot__cluster=cluster_200)
    rules = sorted(set(findings.values_list("rule", flat=True)))
    assert len(rules) >= 5, f"the generated cluster should raise several rules, not {rules}"
    for width in (1440, 1024):  # one cluster for both widths: building it is the slow part
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        problems = listen(page)
        log_in(page, live_server, "viewer", PASSWORD)
        for rule in rules:
            # The finding of the rule affecting the most workloads: the longest lists.
            finding = max(findings.filter(rule=rule).order_by("pk")[:200], key=lambda f: len(f.workloads))
            evidence = open_finding(page, live_server, "big200", finding, f"finding-200-{rule}-{width}")
            policy = finding.evidence.get("policy")
            if policy:
                assert f"NetworkPolicy {policy}" in evidence
            if isinstance(finding.evidence.get("rule"), int):
                assert f"spec.{finding.evidence['direction']}[{finding.evidence['rule']}]" in evidence
                assert page.locator("dl.evidence pre code").count() == 1
            if finding.workloads:
                assert page.locator("ul.workloads li a").count() == min(len(finding.workloads), 500)
            # Nothing of the page leaves the window sideways.
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        assert problems == []
        context.close()


def test_a_resolved_finding_and_an_old_snapshot_say_so(live_server, browser, personas, changing_cluster):  # noqa: F811
    _cluster, snapshot, drop_allow_all = changing_cluster
    first = snapshot()
    finding = Finding.objects.get(snapshot=first, rule="NP010")
    kept = Finding.objects.get(snapshot=first, rule="NP022")
    drop_allow_all()
    second = snapshot()
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    problems = listen(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.goto(f"{live_server.url}/clusters/changing/findings/fp/{finding.fingerprint}/")
    assert f"Resolved in snapshot #{second.pk} on {second.finished_at:%Y-%m-%d}" in page.inner_text(".notice")
    assert readable(page, ".notice, .notice a, .stable-link, .stable-link code") >= 3
    screenshot(page, "finding-resolved-1024")
    page.goto(f"{live_server.url}/clusters/changing/findings/{kept.pk}/")
    assert f"a newer snapshot (#{second.pk}) exists" in page.inner_text(".notice")
    screenshot(page, "finding-old-snapshot-1024")
    page.click(".notice >> text=Open this finding in its latest snapshot")
    page.wait_for_url(f"**/clusters/changing/findings/fp/{kept.fingerprint}/")
    assert f"snapshot #{second.pk}" in page.inner_text(".stable-link")
    screenshot(page, "finding-old-snapshot-followed-1024")
    assert problems == []
    context.close()
