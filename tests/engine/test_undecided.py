"""Rules the engine cannot decide, of every kind, are named per pod
(``ClusterModel.undecided_about``, ``partially_modelled``): Cilium L7 rules (Cilium's
"Layer 7 Examples"), ClusterNetworkPolicy ``domainNames`` (the API's FQDN peer) and a Calico
``http`` match (Calico's "HTTPMatch" rule field). The fixture's header lists them."""

from __future__ import annotations

from pathlib import Path

from netpol.load import load_paths

FIXTURE = Path(__file__).parent.parent / "fixtures" / "cli" / "undecided.yaml"


def test_each_kind_names_the_part_it_cannot_decide():
    model = load_paths([FIXTURE])

    assert model.errors == []
    assert model.partially_modelled() == {
        "shop/web-0": ["cilium/shop/web-l7", "cnp/web-to-api", "calico/shop/web-http"]
    }
    assert model.undecided_about(model.pods_by_key["shop/web-0"]) == [
        "cilium/shop/web-l7 spec.ingress[0]: L7 rule spec.ingress[0].toPorts[0].rules (http)",
        "cnp/web-to-api rule `api`: domainNames api.example.com",
        "calico/shop/web-http ingress[0]: HTTP match spec.ingress[0].http",
    ]
    # db is the peer of web's L7 rule, not its subject: nothing about db is undecided.
    assert model.undecided_about(model.pods_by_key["shop/db-0"]) == []


def test_reach_says_what_the_answer_depends_on():
    model = load_paths([FIXTURE])

    inbound = model.reach("shop/db-0", "shop/web-0", 80, "TCP")
    assert inbound.allowed
    assert inbound.ingress.depends_on == [
        "cilium/shop/web-l7 spec.ingress[0]: L7 rule spec.ingress[0].toPorts[0].rules (http)",
        "calico/shop/web-http ingress[0] Allow (HTTP match spec.ingress[0].http): "
        "the engine cannot decide it",
    ]
    # A domain name may name this address, never a pod.
    outside = model.reach("shop/web-0", "203.0.113.9", 443, "TCP")
    assert outside.egress.depends_on == [
        "cnp/web-to-api rule `api` Accept at priority 5 (domainNames api.example.com): "
        "the engine cannot decide it"
    ]
    assert model.reach("shop/web-0", "shop/db-0", 443, "TCP").egress.depends_on == []
