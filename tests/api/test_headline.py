"""The score and its reason agree everywhere: overview, namespaces table, report, API.

Every place reads what ``netpol/findings/headline.py`` stored with the analysis; none
recomputes it, so the same snapshot must give the same figures and the same sentences.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from tests.api.conftest import assert_matches_schema

pytestmark = pytest.mark.django_db

SNAPSHOT = "/api/v1/clusters/{name}/snapshots/{id}"


def test_overview_namespaces_table_report_and_api_agree(api, personas, demo_snapshot, demo_report):
    response = api.get(f"/api/v1/clusters/demo/snapshots/{demo_snapshot.pk}")
    headline = assert_matches_schema(response, SNAPSHOT)["analysis"]["headline"]
    assert headline["score"] == demo_snapshot.analysis.score == 45
    assert headline["reason"].startswith("74.5% covered, 5 of 8 namespaces pass CIS 5.3.2; score 45")
    assert headline["coverage"] == 74.5 and (headline["cis_passed"], headline["cis_total"]) == (5, 8)
    # shop-frontend: fully covered and passing CIS 5.3.2, yet 62, and the page says why
    frontend = headline["namespaces"]["shop-frontend"]
    assert frontend["score"] == 62
    assert frontend["reason"].startswith("100% covered and passes CIS 5.3.2; score 62, 38 points lost")
    assert frontend["fix_first"][0]["rule"] == "NP020"

    pages = Client()
    pages.force_login(personas["viewer"])
    home = pages.get(reverse("webui:home")).content.decode()
    assert "45<small>/100</small>" in home and escape(headline["reason"]) in home
    for d in headline["fix_first"]:
        assert f'href="/clusters/demo/findings/?rule={d["rule"]}"' in home

    overview = pages.get(reverse("webui:cluster", args=["demo"])).content.decode()
    assert 'data-figure="score">45<small>/100</small>' in overview
    assert 'data-figure="coverage">74.5<small>%</small>' in overview
    assert 'data-figure="cis">5 / 8<small> namespaces pass</small>' in overview
    assert escape(headline["reason"]) in overview
    # the namespaces table: each score with its reason as the tooltip, cause linked
    cells = dict(
        (escape(reason), int(score))
        for reason, score in re.findall(r'<td class="ns-score" title="([^"]*)"><b>(\d+)</b>', overview)
    )
    assert cells == {escape(ns["reason"]): ns["score"] for ns in headline["namespaces"].values()}
    top = frontend["fix_first"][0]
    more = len(frontend["fix_first"]) - 1  # shop-frontend has two causes, both among the first fixes
    assert f'?q={top["fingerprint"]}">{top["title"]}</a> −{top["points"]:g}, +{more} more' in overview

    summary = demo_report.content["summary"]
    assert summary["score"] == headline["score"]
    assert summary["headline"]["reason"] == headline["reason"]
    assert summary["headline"]["fix_first"] == headline["fix_first"]
    assert {n: (r["score"], r["reason"]) for n, r in summary["headline"]["namespaces"].items()} == {
        n: (r["score"], r["reason"]) for n, r in headline["namespaces"].items()
    }
    report_page = pages.get(reverse("webui:report", args=["demo", demo_report.pk])).content.decode()
    assert escape(headline["reason"]) in report_page


def test_namespaces_table_sorts_by_score_with_the_reason_beside_it(personas, demo_snapshot):
    pages = Client()
    pages.force_login(personas["viewer"])
    page = pages.get(reverse("webui:cluster", args=["demo"]) + "?sort=-score").content.decode()
    scores = [int(s) for s in re.findall(r'<td class="ns-score"[^>]*><b>(\d+)</b>', page)]
    assert scores == sorted(scores, reverse=True) and scores[0] == 90 and scores[-1] == 0
    # batch has no policy: its whole 100 points go to NP003, named beside the score
    assert re.search(r'title="0% covered and fails CIS 5.3.2; score 0, 100 points lost, 100 of them to '
                     r'Namespace with no NetworkPolicy \(NP003\): fix that first."><b>0</b>', page)
