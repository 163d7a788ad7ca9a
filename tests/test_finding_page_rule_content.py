"""A rule finding fingerprinted by the rule's content (NP045 here; NP041 and NP043 alike,
netpol/findings/kinds.py ``NAMED_BY_CONTENT``) keeps its fingerprint by place as an
alias: the old link leads to it and says why, and a waiver made on the old fingerprint
still waives it (docs/findings.md)."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from auditor.models import Finding, Waiver
from auditor.selectors import findings_of

from .test_finding_page import text_of
from .test_finding_page_kinds import CALICO, NO_MONITORING
from .test_pages_objects import _snapshot


def test_the_fingerprint_by_place_leads_to_the_finding_and_its_waiver_holds(
    client_as, db, tmp_path, personas
):
    (tmp_path / "calico.yaml").write_text(CALICO.read_text() + NO_MONITORING)
    snapshot = _snapshot(tmp_path, "calico-content")
    finding = Finding.objects.get(snapshot=snapshot, rule="NP045")
    [by_place] = finding.aliases
    assert by_place != finding.fingerprint
    client = client_as("viewer")
    old_link = reverse("webui:finding_fp", args=["calico-content", by_place])
    response = client.get(old_link)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "webui:finding_fp", args=["calico-content", finding.fingerprint]
    )
    words = text_of(client.get(old_link, follow=True).content.decode())
    assert f"{by_place} named this finding's rule by its place in the policy" in words

    Waiver.objects.create(
        cluster=snapshot.cluster,
        fingerprint=by_place,
        rule="NP045",
        summary="the Deny by its index",
        reason="monitoring is allowed on purpose",
        author=personas["auditor"],
        expires_at=timezone.now() + timedelta(days=30),
    )
    assert findings_of(snapshot).get(pk=finding.pk).waived
    page = client.get(reverse("webui:finding", args=["calico-content", finding.pk]))
    words = text_of(page.content.decode())
    assert "monitoring is allowed on purpose" in words
    assert "(a waiver made on its earlier fingerprint)" in words
