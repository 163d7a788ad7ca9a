"""NP041, NP043 and NP045 fingerprint a rule by its content, not its place in its policy
(netpol/findings/finding.py, "Fingerprint recipe": "the rule's or peer's content (not its
index, so inserting a rule above it keeps the fingerprint)"). Identical rules of one
policy and direction are told apart by their occurrence; the fingerprint by place stays
an alias, so waivers made on it still hold (docs/findings.md).
"""

from __future__ import annotations

import copy

from netpol.findings.finding import fingerprint
from tests.findings.helpers import SECURE, of
from tests.findings.test_cluster_tiers import JOB as BATCH_JOB
from tests.findings.test_cluster_tiers import PASS_ALL_INGRESS, cnp
from tests.findings.test_cluster_tiers import audit_with as audit_tiers
from tests.findings.test_policy_kind_mistakes import (
    ACCEPT_ALL,
    DENY_SHOP,
    DENY_WEB_TO_DB,
    PORT_8080,
    audit_with,
    calico_np,
    cluster_np,
    cnp_cilium,
)
from tests.objects import namespace

# A Calico ingress rule about other pods: inserted above, it changes no answer.
UNRELATED = {"action": "Deny", "source": {"selector": "app == 'nobody'"}}


def with_rules(spec: dict, direction: str, rules: list) -> dict:
    out = copy.deepcopy(spec)
    out[direction] = rules
    return out


def np045_calico(spec):
    return of(audit_with(calico=[calico_np("no-web-db", spec)]), "NP045")


def test_a_calico_deny_keeps_its_fingerprint_when_a_rule_is_inserted_above():
    [first] = np045_calico(DENY_WEB_TO_DB)
    deny = DENY_WEB_TO_DB["ingress"][0]
    [moved] = np045_calico(with_rules(DENY_WEB_TO_DB, "ingress", [UNRELATED, deny]))
    assert moved.evidence["field"] == "spec.ingress[1]"  # it did move
    assert moved.fingerprint == first.fingerprint
    # The fingerprint by place (index 0) stays an alias: a waiver made on it holds.
    ref = "CalicoNetworkPolicy/shop/no-web-db"
    by_place = fingerprint("NP045", {"policy": ref, "direction": "ingress", "rule": 0})
    assert first.aliases == [by_place]
    assert moved.aliases != [by_place]  # at index 1 now: its alias is that place's


def test_a_changed_calico_deny_gets_another_fingerprint():
    [first] = np045_calico(DENY_WEB_TO_DB)
    deny = copy.deepcopy(DENY_WEB_TO_DB["ingress"][0])
    # The same pods, written differently: the rule as written changed.
    deny["source"]["selector"] = "app == 'web' && !has(canary)"
    [changed] = np045_calico(with_rules(DENY_WEB_TO_DB, "ingress", [deny]))
    assert changed.evidence["field"] == "spec.ingress[0]"
    assert changed.fingerprint != first.fingerprint


def test_two_identical_calico_denies_are_told_apart_by_their_occurrence():
    deny = DENY_WEB_TO_DB["ingress"][0]
    found = np045_calico(with_rules(DENY_WEB_TO_DB, "ingress", [deny, deny]))
    assert sorted(f.evidence["field"] for f in found) == ["spec.ingress[0]", "spec.ingress[1]"]
    assert len({f.fingerprint for f in found}) == 2
    [alone] = np045_calico(DENY_WEB_TO_DB)
    # The first of the two is the rule alone; the second adds its occurrence.
    first = next(f for f in found if f.evidence["field"] == "spec.ingress[0]")
    assert first.fingerprint == alone.fingerprint


def np045_tier(deny_rules):
    policies = [cluster_np("accept-all", 10, ACCEPT_ALL), cluster_np("no-shop", 20, deny_rules)]
    return of(audit_with(cluster=policies), "NP045")


def test_a_cluster_policy_deny_keeps_its_fingerprint_and_changes_with_its_content():
    [first] = np045_tier(DENY_SHOP)
    # A rule above about pods that exist nowhere: every answer stays the same.
    above = {"name": "nobody", "action": "Pass", "from": [{"pods": _nobody()}]}
    [moved] = np045_tier([above, *DENY_SHOP])
    assert moved.evidence["field"].startswith("spec.ingress[1]")
    assert moved.fingerprint == first.fingerprint
    ref = "ClusterNetworkPolicy/no-shop"
    assert first.aliases == [
        fingerprint("NP045", {"policy": ref, "direction": "ingress", "rule": "no-shop"})
    ]
    renamed = [{**DENY_SHOP[0], "name": "no-shop-at-all"}]
    [changed] = np045_tier(renamed)
    assert changed.fingerprint != first.fingerprint


def _nobody():
    return {
        "namespaceSelector": {"matchLabels": {"team": "nobody"}},
        "podSelector": {"matchLabels": {"app": "nobody"}},
    }


def np041(ingress):
    objects = [*SECURE, namespace("batch"), BATCH_JOB]
    return of(
        audit_tiers(objects, [cnp("delegate", "Admin", 10, "batch", ingress=ingress)]), "NP041"
    )


def test_an_admin_pass_keeps_its_fingerprint_when_a_rule_is_inserted_above():
    [first] = np041(PASS_ALL_INGRESS)
    above = {"name": "nobody", "action": "Deny", "from": [{"pods": _nobody()}]}
    [moved] = np041([above, *PASS_ALL_INGRESS])
    assert moved.fingerprint == first.fingerprint
    by_index = fingerprint("NP041", ("ClusterNetworkPolicy/delegate", "ingress", 0))
    assert first.aliases == [by_index]
    [changed] = np041(
        [
            {
                **PASS_ALL_INGRESS[0],
                "from": [{"namespaces": {"matchLabels": {}}}, {"pods": _nobody()}],
            }
        ]
    )
    assert changed.fingerprint != first.fingerprint


def np043(ingress):
    return of(audit_with(cilium=[cnp_cilium("open", {"ingress": ingress})]), "NP043")


OPEN_TO_ALL = {"fromEntities": ["all"], "toPorts": PORT_8080}


def test_a_cilium_rule_open_to_all_keeps_its_fingerprint_when_a_rule_is_inserted_above():
    [first] = np043([OPEN_TO_ALL])
    above = {"fromEndpoints": [{"matchLabels": {"app": "web"}}], "toPorts": PORT_8080}
    [moved] = np043([above, OPEN_TO_ALL])
    assert moved.evidence["field"] == "spec.ingress[1].fromEntities"
    assert moved.fingerprint == first.fingerprint
    ref = "CiliumNetworkPolicy/web/open"
    assert first.aliases == [
        fingerprint("NP043", {"policy": ref, "direction": "ingress", "rule": 0})
    ]
    wider = {"fromEntities": ["all"], "toPorts": [{"ports": [{"port": "8443"}]}]}
    [changed] = np043([wider])
    assert changed.fingerprint != first.fingerprint
