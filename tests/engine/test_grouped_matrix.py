"""``grouped_matrix`` (namespace and workload groups) against the plain per-pod matrix,
aggregated pair by pair: the reference it must equal."""

from __future__ import annotations

import pytest

from bench.synthetic import generate_cluster
from netpol import load_paths
from netpol.engine import ClusterModel, InputError
from tests.findings.test_demo import DEMO


def _reference(model: ClusterModel, by: str, port, protocol) -> dict:
    plain = model.matrix(port, protocol)
    pods = plain["pods"]
    group_of = {}
    for key in pods:
        pod = model.pod(key)
        group_of[key] = pod.namespace if by == "namespace" else pod.workload_key
    groups = sorted(set(group_of.values()))
    seen = {(a, b): set() for a in groups for b in groups}
    for i, src in enumerate(pods):
        for j, dst in enumerate(pods):
            if i != j:
                seen[group_of[src], group_of[dst]].add(plain["matrix"][i][j])
    cell = {frozenset({True}): "all", frozenset({False}): "none", frozenset(): "none"}
    return {
        "by": by,
        "groups": groups,
        "matrix": [[cell.get(frozenset(seen[a, b]), "some") for b in groups] for a in groups],
    }


def _synthetic() -> ClusterModel:
    c = generate_cluster(pods=400, namespaces=12, policies=60, seed=3)
    return ClusterModel.from_objects(c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"])


@pytest.mark.parametrize("cluster", ["demo", "synthetic"])
@pytest.mark.parametrize("by", ["namespace", "workload"])
@pytest.mark.parametrize(("port", "protocol"), [(None, "TCP"), (5432, "TCP"), (53, "UDP")])
def test_grouped_matrix_equals_the_per_pod_matrix_aggregated(cluster, by, port, protocol):
    model = load_paths([DEMO]) if cluster == "demo" else _synthetic()
    assert model.grouped_matrix(by, port, protocol) == _reference(model, by, port, protocol)


def test_bad_grouping_and_port_are_named():
    model = load_paths([DEMO])
    with pytest.raises(InputError, match="group by 'pod': use namespace or workload"):
        model.grouped_matrix("pod")
    with pytest.raises(InputError, match="port 0 is outside 1-65535"):
        model.grouped_matrix("namespace", 0)
