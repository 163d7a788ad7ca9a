"""A policy of any kind links to its own page, from the engine's key and the kind the
pages name (flow replays, the graph): ``webui.views.common.policy_page_url``."""

from __future__ import annotations

from django.urls import reverse

from webui.views.common import policy_page_url
from webui.views.flows import _rules


def test_each_kind_links_to_its_page():
    assert policy_page_url("c", "NetworkPolicy", "shop/web") == reverse(
        "webui:policy", args=["c", "shop", "web"]
    )
    assert policy_page_url("c", "CiliumNetworkPolicy", "cilium/shop/web-l7") == reverse(
        "webui:kind_policy", args=["c", "CiliumNetworkPolicy", "shop", "web-l7"]
    )
    assert policy_page_url("c", "CalicoGlobalNetworkPolicy", "gnp/deny.batch") == reverse(
        "webui:cluster_policy", args=["c", "CalicoGlobalNetworkPolicy", "deny.batch"]
    )
    assert policy_page_url("c", "ClusterNetworkPolicy", "cnp/isolate") == reverse(
        "webui:cluster_policy", args=["c", "ClusterNetworkPolicy", "isolate"]
    )


def test_a_replay_rule_of_another_kind_is_named_and_linked_by_its_kind():
    class Cluster:
        name = "c"

    rows = _rules(
        [
            {
                "direction": "ingress",
                "policy": "cnp/monitoring-refuses-batch",
                "kind": "ClusterNetworkPolicy",
                "rule": None,
            },
            {
                "direction": "egress",
                "policy": "shop/web",
                "kind": "NetworkPolicy",
                "rule": "spec.egress[1]",
            },
        ],
        Cluster,
        "",
    )

    assert rows[0]["text"] == "ClusterNetworkPolicy cnp/monitoring-refuses-batch (decided here)"
    assert rows[0]["url"] == reverse(
        "webui:cluster_policy", args=["c", "ClusterNetworkPolicy", "monitoring-refuses-batch"]
    )
    assert rows[1]["text"] == "shop/web, spec.egress[1]"
    assert rows[1]["url"].startswith(reverse("webui:policy", args=["c", "shop", "web"]))
    assert rows[1]["url"].endswith("#egress-1")
