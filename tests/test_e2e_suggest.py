"""End to end in a real headless Chromium: from the demo's imported flows an auditor asks
for least-privilege policies for a namespace on the Flows page, reads the verified YAML,
and with one click tries them on the what-if page; at 1440 and 1024 px."""

import pytest

from auditor.flows import flows_import
from auditor.management.commands.setup_demo import DEMO_FLOWS

from .browser import log_in, screenshot
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def fits(page) -> bool:
    """Nothing sticks out sideways: the page scrolls down, never across."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1440, 1024])
def test_suggest_then_try_as_whatif_in_one_click(
    live_server, page, personas, demo_snapshot, settings, tmp_path, width
):
    settings.VAR_DIR = tmp_path
    page.set_viewport_size({"width": width, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, "auditor", PASSWORD)

    # Before any import the suggestion page says where suggestions come from.
    page.goto(f"{live_server.url}/clusters/demo/flows/suggest/?namespace=shop-backend")
    assert "No flows imported for demo" in page.inner_text("#suggest-empty")

    flows_import(cluster=demo_snapshot.cluster, path=DEMO_FLOWS)
    page.goto(f"{live_server.url}/clusters/demo/flows/")
    page.select_option("#suggest-form select[name=namespace]", "shop-backend")
    page.click("#suggest-form button:has-text('Suggest policies')")
    page.wait_for_selector("#suggestion")
    verified = page.inner_text("#suggest-verified")
    assert "Verified against" in verified and "0 denied" in verified
    text = page.inner_text("#suggest-yaml")
    assert text.startswith(
        "# Least-privilege NetworkPolicies suggested by netaudit for namespace shop-backend"
    )
    assert "least-privilege-deployment-catalog" in text and "k8s-app: kube-dns" in text
    screenshot(page, f"flows-suggest-{width}")
    assert fits(page)

    # One click: the what-if page opens with the policies loaded, already run.
    page.click("button:has-text('Try as what-if')")
    page.wait_for_selector("#would-deny")
    assert "least-privilege-deployment-catalog" in page.input_value("#whatif-yaml")
    assert "Would deny no observed flow" in page.inner_text("#would-deny")
    assert "Connections lost" in page.inner_text("body")
    screenshot(page, f"flows-suggest-whatif-{width}")
    assert errors == []
