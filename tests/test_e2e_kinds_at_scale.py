"""Every policy kind on the pages, in a real headless Chromium (issue 13): the page of a
policy the cluster's plugin does not enforce, and the pages of a 200-namespace cluster
holding every kind (bench/kinds_cluster.py), at 1440 and 1024 px.

Screenshots land in artifacts/ (tests/browser.py): kinds-unenforced-*.png and
kinds-scale-*.png. Every page is checked not to scroll sideways at either width."""

from pathlib import Path

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .test_e2e_graph import READY as GRAPH_READY
from .test_pages_objects import _snapshot

pytestmark = pytest.mark.django_db(transaction=True)

MISMATCH = Path(__file__).resolve().parent / "fixtures" / "cli" / "cni-mismatch"
WIDTHS = (1440, 1024)


def _watch(page) -> list[str]:
    problems = []  # CSP violations and script errors
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "Refused" in m.text else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _sideways(page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scroll)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_an_unenforced_policy_page_at_1024_px(live_server, page, personas, db):
    # tests/fixtures/cli/cni-mismatch: Calico runs, so ledger's CiliumNetworkPolicy is
    # shown and applies nowhere (docs/semantics-enforcement.md).
    _snapshot(MISMATCH, "mismatch")
    problems = _watch(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.wait_for_selector("text=Log out viewer")
    page.set_viewport_size({"width": 1024, "height": 900})

    page.goto(f"{live_server.url}/clusters/mismatch/")
    notice = page.inner_text("#unenforced")
    assert notice == ("1 object of kinds Calico does not enforce is shown but not applied (NP042).")
    screenshot(page, "kinds-unenforced-overview-1024")

    page.goto(f"{live_server.url}/clusters/mismatch/namespaces/ledger/")
    page.click("#policies a:has-text('CiliumNetworkPolicy ledger/isolate-ledger')")
    page.wait_for_selector("h1:has-text('CiliumNetworkPolicy ledger/isolate-ledger')")
    banner = page.locator("p#unenforced")
    assert banner.is_visible()
    assert banner.inner_text().startswith(
        "Not enforced: the cluster runs Calico, which does not read CiliumNetworkPolicy."
    )
    assert "endpointSelector" in page.inner_text("#policy-yaml")
    assert page.locator("#place, a.explain").count() == 0
    assert _sideways(page) <= 0
    screenshot(page, "kinds-unenforced-policy-1024")

    page.click("p#unenforced a:has-text('NP042')")
    page.wait_for_selector("h1:has-text('NP042')")
    assert problems == []


def test_the_pages_of_a_200_namespace_cluster_with_every_kind(
    live_server, page, personas, db, tmp_path
):
    from bench.kinds_cluster import write

    write(tmp_path, pods=5000, namespaces=200, policies=1000, extra=400)
    _snapshot(tmp_path, "kinds")
    problems = _watch(page)
    log_in(page, live_server, "viewer", PASSWORD)
    page.wait_for_selector("text=Log out viewer")
    base = f"{live_server.url}/clusters/kinds"
    pages = {
        "overview": ("/", "#unenforced"),
        "namespace": ("/namespaces/app-0000/", "#unenforced"),
        "networkpolicy": ("/policies/app-0000/default-deny/", "#yaml"),
        "cnp-admin": ("/cluster-policies/ClusterNetworkPolicy/cnp-0/", "#ingress"),
        "cnp-baseline": ("/cluster-policies/ClusterNetworkPolicy/cnp-1/", "#egress"),
        "calico-np": ("/kind-policies/CalicoNetworkPolicy/app-0000/cal-0/", "#yaml"),
        "calico-gnp": ("/cluster-policies/CalicoGlobalNetworkPolicy/gnp-9/", "#yaml"),
        "cilium-np": ("/kind-policies/CiliumNetworkPolicy/app-0000/cil-0/", "p#unenforced"),
        "cilium-ccnp": (
            "/cluster-policies/CiliumClusterwideNetworkPolicy/ccnp-9/",
            "p#unenforced",
        ),
        "findings": ("/findings/", "table"),
    }
    wide = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, (path, ready) in pages.items():
            response = page.goto(base + path)
            assert response.status == 200, f"{path}: {response.status}"
            page.wait_for_selector(ready)
            screenshot(page, f"kinds-scale-{name}-{width}")
            wide[name, width] = _sideways(page)
        page.goto(base + "/graph/")
        page.wait_for_selector(GRAPH_READY)
        screenshot(page, f"kinds-scale-graph-{width}", full_page=False)
    assert {k: v for k, v in wide.items() if v > 0} == {}
    assert problems == []
