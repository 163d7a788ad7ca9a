"""End to end in a real headless Chromium: from the namespaces search to a workload page,
"explain this connection", and on to the rule that allows it."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_search_a_workload_and_explain_a_connection(live_server, page, personas, demo_snapshot):
    problems = []  # CSP violations and script errors (a missing favicon is no problem)
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "Refused" in m.text else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, live_server, "viewer", PASSWORD)
    page.wait_for_selector("text=Log out viewer")

    page.goto(f"{live_server.url}/clusters/demo/")
    page.fill("input[name=q]", "storefront")
    page.press("input[name=q]", "Enter")
    page.click(".search-results a[href$='/workloads/shop-frontend/Deployment/storefront/']")
    page.wait_for_selector("h1:has-text('Deployment shop-frontend/storefront')")
    main = page.inner_text("main")
    assert "Who can reach it" in main and "ingress-nginx-controller" in main
    assert "203.0.113.0/24" in main  # the CDN range the demo lets in by mistake
    screenshot(page, "objects-workload")

    # The form comes prefilled from this workload; ask about the backend's named port.
    form = page.locator("#explain form.reach-form")
    assert form.locator("input[name=from]").input_value() == "shop-frontend/Deployment/storefront"
    form.locator("input[name=to]").fill("shop-backend/Deployment/catalog")
    form.locator("input[name=port]").fill("http")
    form.locator("select[name=protocol]").select_option("TCP")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#verdict")
    verdict = page.inner_text("#verdict")
    assert "ALLOWED" in verdict and "TCP/8080" in verdict
    assert "shop-frontend/frontend" in verdict and "shop-backend/backend-api" in verdict
    screenshot(page, "objects-reach-allowed")

    # The allowing ingress rule, highlighted on its policy's page.
    page.click("#verdict a:has-text('shop-backend/backend-api')")
    page.wait_for_selector("article.rule.highlight#ingress-0")
    assert "kind: NetworkPolicy" in page.inner_text("#policy-yaml")
    screenshot(page, "objects-policy")

    # A denied connection says which policy isolates and that none allows it.
    page.goto(f"{live_server.url}/clusters/demo/reach/")
    page.fill("input[name=from]", "payments/Deployment/payments-api")
    page.fill("input[name=to]", "kube-system/Deployment/coredns")
    page.fill("input[name=port]", "53")
    page.select_option("select[name=protocol]", "UDP")
    page.click("form.reach-form button[type=submit]")
    page.wait_for_selector("#verdict")
    verdict = page.inner_text("#verdict")
    assert "DENIED" in verdict and "Isolated by NetworkPolicy payments/payments-api" in verdict
    screenshot(page, "objects-reach-denied")
    assert problems == []
