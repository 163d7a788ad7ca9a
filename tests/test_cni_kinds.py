"""Which policy kinds the cluster's network plugin enforces (issue 13): the table of
``netpol/enforcement.py``, the CLI's ``--cni``, NP042, and stored snapshots.

The table rows are checked against the pages ``netpol/enforcement.py`` cites:

* Cilium, docs.cilium.io/en/stable/network/kubernetes/policy/: "Three formats are
  available": NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy;
  ClusterNetworkPolicy from 1.20 behind ``--enable-k8s-cluster-network-policy``.
* Calico, docs.tigera.io release notes: AdminNetworkPolicy from 3.29,
  BaselineAdminNetworkPolicy from 3.30, both removed in 3.32 for ClusterNetworkPolicy.
* Antrea, antrea.io docs/feature-gates.md: AdminNetworkPolicy (1.13) and
  ClusterNetworkPolicy (2.7) feature gates, both off by default.
* flannel's README: "For network policy, other projects such as Calico can be used".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol import cli, enforcement
from netpol.cli import main
from netpol.enforcement import CONDITIONAL, ENFORCED, decide, split
from netpol.engine import model_from_bytes, model_to_bytes
from netpol.findings import audit
from netpol.load import load_paths
from tests.test_cli import Run

MISMATCH = Path(__file__).parent / "fixtures" / "cli" / "cni-mismatch"
CILIUM_DEMO = Path(__file__).parents[1] / "auditor" / "demo_cluster_cilium"
CALICO_KINDS = [f"projectcalico.org/{k}" for k in ("NetworkPolicy", "GlobalNetworkPolicy", "Tier")]
CILIUM_KINDS = ["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"]


def state(plugin: str, key: str) -> str:
    return enforcement.KINDS_ENFORCED[plugin].get(key, ("not enforced", ""))[0]


# -- the table -----------------------------------------------------------------------------


def test_cilium_enforces_its_kinds_and_no_calico_kind_nor_v1alpha1_admin_policies():
    assert all(state("cilium", k) == ENFORCED for k in CILIUM_KINDS)
    assert all(state("cilium", k) == "not enforced" for k in CALICO_KINDS)
    assert state("cilium", "AdminNetworkPolicy") == "not enforced"
    assert state("cilium", "BaselineAdminNetworkPolicy") == "not enforced"
    # Cilium 1.20, off by default
    assert state("cilium", "ClusterNetworkPolicy") == CONDITIONAL


def test_calico_enforces_its_kinds_and_the_cluster_wide_kinds_by_version():
    assert all(state("calico", k) == ENFORCED for k in CALICO_KINDS)
    assert all(state("calico", k) == "not enforced" for k in CILIUM_KINDS)
    row = enforcement.KINDS_ENFORCED["calico"]
    assert row["ClusterNetworkPolicy"] == (CONDITIONAL, "Calico 3.32 and later")
    assert "3.29 to 3.31" in row["AdminNetworkPolicy"][1]
    assert "3.30 to 3.31" in row["BaselineAdminNetworkPolicy"][1]
    assert enforcement.KINDS_ENFORCED["canal"] == row  # Calico's policy engine on flannel


def test_antrea_reads_the_upstream_admin_kinds_behind_feature_gates_only():
    row = enforcement.KINDS_ENFORCED["antrea"]
    assert set(row) == {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"}
    assert {s for s, _ in row.values()} == {CONDITIONAL}


@pytest.mark.parametrize(
    "plugin", ["kube-router", "weave", "azure-npm", "gke-network-policy", "flannel"]
)
def test_plugins_that_read_networkpolicy_alone_enforce_no_other_kind(plugin):
    assert enforcement.KINDS_ENFORCED[plugin] == {}
    kept, dropped, _ = split(
        {"Pod": [], "CiliumNetworkPolicy": [{"kind": "CiliumNetworkPolicy"}]}, plugin
    )
    assert "CiliumNetworkPolicy" not in kept and len(dropped) == 1


def test_no_plugin_found_applies_every_kind_and_says_so():
    decided = decide("auto", [])
    assert decided.source == "none found"
    assert all(decided.enforces(k) for k in enforcement.FILTERED_KINDS)
    objects = {"Pod": [], "CiliumNetworkPolicy": [{"kind": "CiliumNetworkPolicy"}]}
    applied, dropped, decided = split(objects)
    assert dropped == [] and applied["CiliumNetworkPolicy"]
    assert any("every policy kind is applied" in n for n in enforcement.notes(decided, [], applied))


def test_two_plugins_enforce_what_either_enforces():
    calico = {"metadata": {"name": "calico-node-a", "namespace": "kube-system"}}
    calico["metadata"]["labels"] = {"k8s-app": "calico-node"}
    cilium = {"metadata": {"name": "cilium-b", "namespace": "kube-system"}}
    cilium["metadata"]["labels"] = {"k8s-app": "cilium"}
    decided = decide("auto", [calico, cilium])
    assert decided.plugins == ["calico", "cilium"]
    assert all(decided.enforces(k) for k in CALICO_KINDS + CILIUM_KINDS)


def test_an_unknown_plugin_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="unknown network plugin 'ovs'.*auto, any, calico"):
        decide("ovs", [])


def test_the_cli_choices_are_the_tables():
    assert cli.CNI_CHOICES == enforcement.CNI_CHOICES


# -- manifests and the CLI -----------------------------------------------------------------


@pytest.fixture
def netaudit(capsys):
    def run(*args) -> Run:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


REACH = ("reach", MISMATCH, "--from", "web/scratch-0", "--to", "ledger/db-0", "--port", "5432")


def test_a_cilium_policy_on_calico_is_ignored_and_stderr_says_why(netaudit):
    run = netaudit(*REACH)
    assert run.code == 0 and "ALLOWED" in run.out
    assert (
        "1 CiliumNetworkPolicy object ignored: the cluster runs Calico (detected from its "
        "pods), which does not enforce CiliumNetworkPolicy; --cni any applies them"
    ) in run.err


@pytest.mark.parametrize("cni", ["any", "cilium"])
def test_cni_any_or_the_right_plugin_applies_it(netaudit, cni):
    run = netaudit(*REACH, "--cni", cni)
    assert run.code == 1 and "isolated by cilium/ledger/isolate-ledger" in run.out
    assert "ignored" not in run.err
    # web's api is the one source the policy lets in
    assert netaudit(*REACH[:3], "web/api-0", *REACH[4:], "--cni", cni).code == 0


def test_np042_names_the_policy_and_the_pods_left_open():
    model = load_paths([MISMATCH])
    report = audit(model)
    [finding] = [f for f in report.findings if f.rule == "NP042"]
    assert finding.severity == "high"
    assert finding.objects == ["CiliumNetworkPolicy/ledger/isolate-ledger", "Pod/ledger/db-0"]
    assert finding.workloads == ["Pod/ledger/db-0"] and finding.namespace == "ledger"
    assert finding.message.startswith(
        "1 CiliumNetworkPolicy is not enforced: the cluster runs Calico (as found among its "
        "pods), which does not read CiliumNetworkPolicy; it would isolate 1 pod that nothing "
        "isolates now (ledger)"
    )
    assert finding.evidence["pods"] == 1 and finding.evidence["plugins"] == ["calico"]
    # the namespace is reported open: no kind Calico reads isolates it
    assert any(f.rule == "NP003" and f.namespace == "ledger" for f in report.findings)
    assert report.cni["unenforced"][0]["kind"] == "CiliumNetworkPolicy"
    everything = audit(load_paths([MISMATCH], cni="any"))
    assert not [f for f in everything.findings if f.rule == "NP042"]
    assert not any(f.rule == "NP003" and f.namespace == "ledger" for f in everything.findings)


def test_the_unenforced_objects_stay_through_what_if_and_the_stored_form():
    model = load_paths([MISMATCH])
    assert [o["metadata"]["name"] for o in model.unenforced] == ["isolate-ledger"]
    assert model.enforcement["plugins"] == ["calico"]
    changed = model.with_policies(remove={"web/none"})
    stored = model_from_bytes(model_to_bytes(model))
    for other in (changed, stored):
        assert other.unenforced == model.unenforced
        assert other.enforcement == model.enforcement


def test_the_cilium_demo_runs_cilium_so_its_policies_are_applied():
    model = load_paths([CILIUM_DEMO])
    assert model.enforcement["plugins"] == ["cilium"] and model.unenforced == []
    assert len(model.cilium_policies) == 2
    assert not model.reach("sandbox/scratch-0", "ledger/ledger-db-0", 5432).allowed


# -- stored snapshots ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stored_snapshot_filters_as_the_manifests_do(tmp_path, settings):
    from auditor.storage import build_model
    from tests.fakekube import FakeKube
    from tests.objects import cilium_policy, namespace, pod, small_cluster
    from tests.test_snapshots import collect, kubeconfig_cluster

    settings.LIVE_COLLECTOR_OPTIONS = {
        "page_size": 50,
        "connect_timeout": 2,
        "read_timeout": 2,
        "attempts": 2,
        "backoff": 0.01,
    }
    objects = small_cluster()
    objects["Namespace"].append(namespace("kube-system"))
    objects["Pod"].append(pod("kube-system", "calico-node-x1", {"k8s-app": "calico-node"}))
    objects["CiliumNetworkPolicy"] = [cilium_policy("deny-in", "shop")]
    with FakeKube(objects) as kube:
        snapshot = collect(kubeconfig_cluster(kube, tmp_path))
    assert snapshot.cilium_policy_count == 1
    model = build_model(snapshot)
    assert model.cilium_policies == []
    assert [(o["kind"], o["metadata"]["name"]) for o in model.unenforced] == [
        ("CiliumNetworkPolicy", "deny-in")
    ]
    assert model.enforcement["plugins"] == ["calico"]
    [finding] = [f for f in audit(model).findings if f.rule == "NP042"]
    assert finding.objects[0] == "CiliumNetworkPolicy/shop/deny-in"
