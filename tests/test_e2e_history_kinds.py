"""End to end in a real headless Chromium: the History diff lists policies of every kind
(issue 13) and a row leads to that policy's page in the snapshot it was found in. The
cluster and its two snapshots are tests/test_history_kinds.py's."""

import pytest

from .browser import log_in, screenshot
from .conftest import PASSWORD
from .test_history_kinds import snapshots  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_diff_names_each_kind_and_leads_to_its_page(live_server, page, personas, snapshots):  # noqa: F811
    _, old, new = snapshots
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, live_server, "viewer", PASSWORD)
    page.wait_for_selector("text=Log out viewer")
    page.goto(f"{live_server.url}/clusters/kinds/diff/?old={old.pk}&new={new.pk}")
    section = page.inner_text("#other-kinds")
    for text in (
        "Calico GlobalNetworkPolicy allow-dns",
        "Calico NetworkPolicy batch/jobs-egress",
        "CiliumNetworkPolicy shop/web-ingress not enforced",
        "ClusterNetworkPolicy deny-batch",
    ):
        assert text in section
    assert "db-in" not in section and "keep-admin" not in section
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"history-diff-kinds-{width}")
    page.click("#other-kinds a:has-text('CiliumNetworkPolicy shop/web-ingress')")
    page.wait_for_selector("h1:has-text('CiliumNetworkPolicy shop/web-ingress')")
    assert f"snapshot={old.pk}" in page.url
    assert "kind: CiliumNetworkPolicy" in page.inner_text("main")
    assert problems == []
