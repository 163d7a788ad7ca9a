"""``netaudit`` and the cluster's own ranges: --pod-cidr/--service-cidr/--node-cidr,
``.netaudit.yaml`` in the manifest directory, and the note when pod ranges are inferred."""

from __future__ import annotations

import pytest
import yaml

from tests.test_cli import netaudit  # noqa: F401  (the fixture)

# Two pods in 10.244.0.0/16 and no Node: what `kubectl get ns,pods,netpol -o yaml` gives.
CLUSTER = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        *[
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"web-{i}", "namespace": "shop", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": ip},
            }
            for i, ip in enumerate(["10.244.1.5", "10.244.9.7"])
        ],
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "from-vpc", "namespace": "shop"},
            "spec": {
                "podSelector": {},
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}],
            },
        },
    ],
}


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(CLUSTER))
    return tmp_path


def test_inferred_ranges_are_said_on_stderr_and_in_the_json(netaudit, tree):  # noqa: F811
    run = netaudit("audit", tree, "--format", "json")
    assert run.code == 0
    assert run.json()["cluster_ranges"] == {
        "pod": ["10.244.0.0/16"], "service": [], "node": [], "source": "inferred"
    }
    assert "note: pod ranges inferred from pod IPs: 10.244.0.0/16" in run.err
    [np021] = [f for f in run.json()["findings"] if f["rule"] == "NP021"]
    assert "10.244.0.0/16" not in np021["evidence"]["external_cidrs"]


def test_flags_declare_ranges_and_silence_the_note(netaudit, tree):  # noqa: F811
    run = netaudit(
        "audit", tree, "--format", "json",
        "--pod-cidr", "10.244.0.0/16", "--pod-cidr", "10.245.0.0/16",
        "--service-cidr", "10.96.0.0/12", "--node-cidr", "192.168.0.0/24",
    )
    assert run.code == 0 and "inferred" not in run.err
    assert run.json()["cluster_ranges"] == {
        "pod": ["10.244.0.0/16", "10.245.0.0/16"], "service": ["10.96.0.0/12"],
        "node": ["192.168.0.0/24"], "source": "declared",
    }


def test_the_config_file_in_the_manifest_directory_and_flags_add_to_it(netaudit, tree):  # noqa: F811
    (tree / ".netaudit.yaml").write_text("podCIDRs: [10.244.0.0/16]\nserviceCIDRs: 10.96.0.0/12, 10.100.0.0/16\n")
    run = netaudit("coverage", tree, "--node-cidr", "192.168.0.0/24")
    assert run.code == 0 and "inferred" not in run.err  # and the config is no manifest
    run = netaudit("audit", tree / "cluster.yaml", "--format", "json", "--pod-cidr", "10.250.0.0/16")
    assert run.json()["cluster_ranges"]["pod"] == ["10.244.0.0/16", "10.250.0.0/16"]
    assert run.json()["cluster_ranges"]["service"] == ["10.96.0.0/12", "10.100.0.0/16"]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ("podCIDR: [10.0.0.0/8]\n", "unknown key 'podCIDR' (known: podCIDRs, serviceCIDRs, nodeCIDRs)"),
        ("podCIDRs: [10.0.0.0/33]\n", "podCIDRs: '10.0.0.0/33' is not a CIDR"),
        ("nodeCIDRs: {a: 1}\n", "nodeCIDRs: expected a list of CIDRs"),
        ("- 10.0.0.0/8\n", "expected a mapping of podCIDRs, serviceCIDRs, nodeCIDRs"),
        ("podCIDRs: [\n", "cannot read it"),
    ],
)
def test_a_bad_config_file_is_named_with_its_key(netaudit, tree, config, problem):  # noqa: F811
    (tree / ".netaudit.yaml").write_text(config)
    run = netaudit("matrix", tree)
    assert run.code == 2
    assert f"{tree / '.netaudit.yaml'}" in run.err and problem in run.err


@pytest.mark.parametrize("flag", ["--pod-cidr", "--service-cidr", "--node-cidr"])
def test_a_bad_flag_value_is_a_usage_error_naming_the_flag(netaudit, tree, flag):  # noqa: F811
    run = netaudit("audit", tree, flag, "10.0.0.1")
    assert run.code == 2
    assert f"argument {flag}: '10.0.0.1' is not a CIDR (no /prefix)" in run.err
