"""Calico's staged policies as what-if input (``netpol/staged.py``), and what enforcing
them would change, through ``netpol.whatif`` and ``netaudit whatif --staged``.

Semantics from Calico's API and documentation (docs.tigera.io, "Staged network policy",
"Staged global network policy", "Staged Kubernetes network policy"; projectcalico.org/v3
``StagedNetworkPolicySpec``):

* ``stagedAction``: "If this is omitted, the default is Set"; Set means the enforced
  policy of the same name would be this one (Calico's ``ConvertStagedPolicyToEnforced``
  copies metadata and spec onto the enforced kind); Delete means it would be removed
  ("Spec fields, except Tier, should all be zero-value if stagedAction is Delete").
* StagedNetworkPolicy -> Calico NetworkPolicy, StagedGlobalNetworkPolicy -> Calico
  GlobalNetworkPolicy, StagedKubernetesNetworkPolicy -> a Kubernetes NetworkPolicy ("Once
  persisted, this will create a Kubernetes network policy").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netpol import staged, whatif
from netpol.cli import main
from netpol.load import load_paths

CALICO = Path(__file__).parent / "fixtures" / "cli" / "calico.yaml"


def obj(kind, name, namespace=None, spec=None, api_version="projectcalico.org/v3"):
    metadata = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec or {}}


# --- The mapping ----------------------------------------------------------------------


def test_a_staged_network_policy_is_a_calico_network_policy_of_its_group_and_name():
    spec = {"selector": "app == 'db'", "types": ["Ingress"], "order": 10, "tier": "security"}
    s = staged.enforced(obj("StagedNetworkPolicy", "db-in", "shop", spec))
    assert s.action == "Set"  # omitted: Calico's default
    assert s.enforced == {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": "db-in", "namespace": "shop"},
        "spec": spec,  # every spec field copied, as ConvertStagedPolicyToEnforced does
    }
    assert s.target == "CalicoNetworkPolicy/shop/db-in"
    assert s.enforced_kind == "Calico NetworkPolicy"


def test_a_staged_global_network_policy_is_a_global_network_policy_without_stagedaction():
    spec = {"stagedAction": "Set", "selector": "all()", "types": ["Ingress", "Egress"]}
    s = staged.enforced(obj("StagedGlobalNetworkPolicy", "deny-all", spec=spec))
    assert s.enforced["kind"] == "GlobalNetworkPolicy"
    assert "stagedAction" not in s.enforced["spec"]  # no field of the enforced kind
    assert s.enforced["spec"] == {"selector": "all()", "types": ["Ingress", "Egress"]}
    assert s.namespace == "" and s.target == "CalicoGlobalNetworkPolicy/deny-all"


def test_a_staged_kubernetes_network_policy_is_a_networking_k8s_io_v1_network_policy():
    spec = {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Ingress"]}
    s = staged.enforced(
        obj("StagedKubernetesNetworkPolicy", "test-network-policy", "default", spec)
    )
    assert s.enforced["apiVersion"] == "networking.k8s.io/v1"
    assert s.enforced["kind"] == "NetworkPolicy"
    assert s.enforced["spec"] == spec
    assert s.target == "default/test-network-policy"  # the what-if key of a NetworkPolicy


def test_delete_removes_the_enforced_policy_of_the_same_name():
    deleting = obj("StagedNetworkPolicy", "old", "shop", {"stagedAction": "Delete"})
    s = staged.enforced(deleting)
    assert s.action == "Delete" and s.enforced is None
    change = staged.staged_change([deleting])
    assert change.add == [] and change.remove == ["CalicoNetworkPolicy/shop/old"]


def test_the_storage_form_names_the_policy_without_its_tier_prefix():
    # crd.projectcalico.org/v1 prefixes the tier ("default.x"), as the engine reads it.
    s = staged.enforced(
        obj(
            "StagedGlobalNetworkPolicy",
            "security.block",
            spec={"stagedAction": "Delete", "tier": "security"},
            api_version="crd.projectcalico.org/v1",
        )
    )
    assert s.target == "CalicoGlobalNetworkPolicy/block"


@pytest.mark.parametrize(
    "thing, expected",
    [
        (obj("GlobalNetworkPolicy", "x"), "'GlobalNetworkPolicy' is not a staged policy kind"),
        (obj("StagedNetworkPolicy", "", "shop"), "StagedNetworkPolicy: metadata.name is missing"),
        (
            obj("StagedNetworkPolicy", "x", "shop", {"stagedAction": "Learn"}),
            "StagedNetworkPolicy shop/x: stagedAction 'Learn' is neither Set nor Delete",
        ),
    ],
)
def test_what_cannot_stand_for_a_change_is_named(thing, expected):
    with pytest.raises(staged.StagedPolicyError) as err:
        staged.enforced(thing)
    assert expected in str(err.value)


def test_one_staged_policy_alone_and_an_unknown_one():
    objects = [
        obj("StagedGlobalNetworkPolicy", "a", spec={"selector": "all()"}),
        obj("StagedNetworkPolicy", "b", "shop", {"stagedAction": "Delete"}),
    ]
    only = staged.staged_change(objects, only="StagedNetworkPolicy/shop/b")
    assert [s.key for s in only.policies] == ["StagedNetworkPolicy/shop/b"]
    with pytest.raises(staged.StagedPolicyError, match="StagedNetworkPolicy/shop/c: no such"):
        staged.staged_change(objects, only="StagedNetworkPolicy/shop/c")


def test_the_yaml_reads_back_as_what_if_input_and_says_where_it_comes_from():
    change = staged.staged_change(
        [obj("StagedGlobalNetworkPolicy", "a", spec={"selector": "all()", "types": ["Ingress"]})]
    )
    text = staged.change_yaml(change)
    assert staged.is_staged_text(text)
    assert "#   StagedGlobalNetworkPolicy/a: Set Calico GlobalNetworkPolicy" in text
    policies, notes = whatif.read_policies(text)
    assert policies == change.add and notes == []


# --- What enforcing them changes: tests/fixtures/cli/calico.yaml ----------------------


@pytest.fixture(scope="module")
def calico_model():
    return load_paths([CALICO])


def test_enforcing_the_staged_deny_everything_closes_all_but_what_calico_still_allows(
    calico_model,
):
    # default.deny-everything (StagedGlobalNetworkPolicy, default tier, selector all(),
    # both types, no rule): enforced, every pod is selected in the default tier, whose
    # end denies what no rule of the tier allows (docs/semantics-calico.md).
    change = staged.staged_change(calico_model.staged_policies)
    result = whatif.compare(calico_model, add=change.add, remove=set(change.remove))
    assert result["changes"]["added"] == ["CalicoGlobalNetworkPolicy/default.deny-everything"]
    lost = {(r["from"]["key"], r["to"]["key"]): r for r in result["connections"]["lost"]}
    web_to_db = lost[("shop/Pod/web-0", "shop/Pod/db-0")]
    # db's ingress still allows web (shop/allow-web-to-db, earlier in the tier); web's
    # egress is now denied at the tier's end.
    egress, ingress = web_to_db["decided"]["sides"]
    assert egress["tier"] == "Calico tier default" and egress["action"] == "Deny"
    assert ingress["policies"][0]["text"] == "Calico NetworkPolicy shop/allow-web-to-db"
    # prom -> web on 8080: prom-egress allows it and web-from-monitoring (a Kubernetes
    # NetworkPolicy, in the default tier) too, before the tier's end: not lost.
    assert ("monitoring/Pod/prom-0", "shop/Pod/web-0") not in lost
    assert result["coverage"]["cluster"]["after"]["coverage"] == 100.0
    # The Calico rule that still allows web -> db is dead now, named with its kind.
    (cut,) = result["allows_cut"]
    assert cut["ref"]["text"] == "Calico NetworkPolicy shop/allow-web-to-db"


def test_a_staged_delete_removes_the_enforced_calico_policy(calico_model):
    deleting = obj("StagedNetworkPolicy", "allow-web-to-db", "shop", {"stagedAction": "Delete"})
    change = staged.staged_change([deleting])
    result = whatif.compare(calico_model, add=change.add, remove=set(change.remove))
    assert result["changes"]["removed"] == ["CalicoNetworkPolicy/shop/allow-web-to-db"]
    # No policy of the default tier selects db any more: the security tier passes all
    # but batch, and the namespace's profile allows the rest (docs/semantics-calico.md).
    gained = {(r["from"]["key"], r["to"]["key"]): r for r in result["connections"]["gained"]}
    web_to_db = gained[("shop/Pod/web-0", "shop/Pod/db-0")]
    assert "TCP/5433-65535" in web_to_db["ports"]
    assert web_to_db["decided"]["sides"][1]["tier"] == "profile"
    assert ("batch/Pod/job-0", "shop/Pod/db-0") not in gained  # the security tier denies it
    assert result["connections"]["lost"] == []


def test_unknown_calico_removals_are_reported(calico_model):
    result = whatif.compare(calico_model, remove={"CalicoGlobalNetworkPolicy/nope"})
    assert result["changes"]["not_found"] == ["CalicoGlobalNetworkPolicy/nope"]


# --- netaudit whatif --staged ---------------------------------------------------------


def test_cli_whatif_staged_json(capsys):
    assert main(["whatif", str(CALICO), "--staged", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["key"] for s in out["staged"]] == [
        "StagedGlobalNetworkPolicy/default.deny-everything"
    ]
    assert out["staged"][0]["action"] == "Set"
    assert out["changes"]["added"] == ["CalicoGlobalNetworkPolicy/default.deny-everything"]
    assert out["coverage"]["cluster"]["after"]["coverage"] == 100.0
    row = next(r for r in out["connections"]["lost"] if r["to"]["key"] == "shop/Pod/db-0")
    assert [s["tier"] for s in row["decided"]["sides"]] == ["Calico tier default"] * 2


def test_cli_whatif_staged_text_names_the_deciding_kind(capsys):
    assert main(["whatif", str(CALICO), "--staged"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("What enforcing the 1 staged policy would change:")
    assert "shop/Pod/web-0 -> shop/Pod/db-0 TCP/5432" in out
    assert "ingress: Calico tier default: Calico NetworkPolicy shop/allow-web-to-db, Accept" in out


def test_cli_whatif_staged_without_staged_policies_is_exit_2(tmp_path, capsys):
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    assert main(["whatif", str(tmp_path), "--staged"]) == 2
    assert "--staged: the cluster has no staged policy" in capsys.readouterr().err


def test_cli_whatif_needs_a_change(capsys):
    assert main(["whatif", str(CALICO)]) == 2
    assert "nothing to try" in capsys.readouterr().err
