"""The overview follows a snapshot through collection and analysis in a real browser, on a
cluster large enough that the analysis takes seconds, and shows the new figures without
a manual reload."""

from __future__ import annotations

import time

import pytest
import yaml

from auditor.models import Analysis, Cluster, Snapshot
from bench.synthetic import kubectl_list

from .browser import log_in, screenshot
from .conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_new_figures_appear_once_the_analysis_is_stored(live_server, page, personas, start_celery, tmp_path):
    doc = kubectl_list(8000, 300, 1500)
    (tmp_path / "cluster.yaml").write_text(yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False))
    Cluster.objects.create(name="big", source=Cluster.Source.MANIFESTS, manifest_path=str(tmp_path))
    start_celery("worker")
    log_in(page, live_server, "auditor", PASSWORD)
    card = "section.cluster-card[data-cluster=big]"
    assert "No complete snapshot yet" in page.inner_text(card)
    page.click(f"{card} button:has-text('Snapshot now')")

    seen = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        text = page.inner_text(card)
        seen.append(text)
        if "/100" in text and "analysing" not in text:
            break
        time.sleep(0.25)
    else:
        pytest.fail(f"the overview never showed the figures; last text: {seen[-1]!r}")
    snapshot = Snapshot.objects.get(cluster__name="big", status="complete")
    analysis = Analysis.objects.get(snapshot=snapshot)
    assert analysis.status == "complete"
    # The page shows this analysis's own figures, reached without a manual reload.
    assert f"#{snapshot.pk} · 8000 pods" in text
    assert f"{analysis.finding_counts.get('high', 0)} high" in text
    assert any("stored; analysing" in t or "Snapshot #" in t for t in seen)
    screenshot(page, "overview-live-after-analysis")
