"""``netpol``'s front door: load objects or paths, audit, reach, diff. That importing it
loads neither the engine nor YAML is checked with ``netaudit --help`` in test_cli.py."""

from __future__ import annotations

import netpol
from tests.objects import namespace, pod, policy

DENY = {"podSelector": {}, "policyTypes": ["Ingress"]}
ALLOW_WEB = {
    "podSelector": {"matchLabels": {"app": "db"}},
    "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}
    ],
}


def objects(*policies) -> list[tuple[str, dict]]:
    return [
        ("Namespace", namespace("shop")),
        ("Pod", pod("shop", "web-0", {"app": "web"}, ip="10.244.0.10")),
        ("Pod", pod("shop", "db-0", {"app": "db"}, ip="10.244.0.11")),
        *(("NetworkPolicy", p) for p in policies),
    ]


def test_load_objects_keeps_the_last_duplicate_and_says_so():
    warnings: list[str] = []
    model = netpol.load_objects(
        [*objects(), ("Pod", pod("shop", "web-0", {"app": "other"}, ip="10.244.0.12"))],
        declared_cidrs=["10.244.0.0/16"],
        warn=warnings.append,
    )
    assert warnings == ["1 duplicate Pod object: the last of each is used"]
    assert model.pod("shop/web-0").labels == {"app": "other"}
    assert model.declared_cidrs == ["10.244.0.0/16"]


def test_audit_reach_and_diff_through_the_front_door():
    open_model = netpol.load_objects(objects())
    closed_model = netpol.load_objects(
        objects(policy("shop", "deny", DENY), policy("shop", "db", ALLOW_WEB))
    )
    assert netpol.reach(open_model, "shop/web-0", "shop/db-0", 80).allowed is True
    assert netpol.reach(closed_model, "shop/web-0", "shop/db-0", 80).allowed is False
    assert netpol.reach(closed_model, "shop/web-0", "shop/db-0", 5432).allowed is True
    d = netpol.diff_audits(
        open_model, netpol.audit(open_model), closed_model, netpol.audit(closed_model)
    )
    assert d["policies"] == {"added": ["shop/db", "shop/deny"], "removed": [], "changed": []}
    assert d["coverage"]["measures"]["Pods isolated for ingress"] == {
        "old": 0,
        "new": 2,
        "change": 2,
    }
    assert d["newly_uncovered"] == [] and d["newly_exposed"] == []
