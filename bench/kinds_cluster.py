"""A synthetic cluster holding every policy kind, written as one manifests file, to look at
the pages at scale (tests/test_e2e_kinds_at_scale.py) or to load with a cluster of
source "manifests" pointed at the directory.

The base is ``bench.synthetic.generate_cluster``; over its application namespaces come
Cilium, Calico and ClusterNetworkPolicy objects from ``bench.bench_policy_kinds``, and a
Calico ``all()`` policy closing some namespaces both ways. ``calico-node`` runs in
kube-system, so Calico's kinds and the cluster-wide ones are applied and the Cilium
objects are shown but not applied (NP042), as on a cluster that moved from Cilium to
Calico and kept its old policies.

    .venv/bin/python bench/kinds_cluster.py DIR [--pods 5000] [--namespaces 200]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_policy_kinds import (  # noqa: E402
    calico_policies,
    cilium_policies,
    cluster_policies,
)
from bench.synthetic import generate_cluster  # noqa: E402

CALICO_NODE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "calico-node-a1b2c",
        "namespace": "kube-system",
        "labels": {"k8s-app": "calico-node"},
        "ownerReferences": [{"kind": "DaemonSet", "name": "calico-node", "controller": True}],
    },
    "spec": {"hostNetwork": True, "nodeName": "node-0000", "containers": [{"name": "node"}]},
    "status": {"phase": "Running", "podIP": "10.250.0.1", "podIPs": [{"ip": "10.250.0.1"}]},
}


def closed(namespace: str) -> dict:
    """A Calico policy of every pod of ``namespace``, both ways, in the default tier:
    the namespace's default deny."""
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": "closed", "namespace": namespace},
        "spec": {"selector": "all()", "types": ["Ingress", "Egress"], "order": 5000},
    }


def kinds_cluster(
    pods: int = 5000, namespaces: int = 200, policies: int = 1000, extra: int = 400, seed: int = 0
) -> list[dict]:
    """Every object of the cluster: ``extra`` Cilium policies, half as many Calico
    policies, a quarter as many ClusterNetworkPolicies, and one namespace in ten closed."""
    cluster = generate_cluster(pods=pods, namespaces=namespaces, policies=policies, seed=seed)
    apps = sorted(
        n["metadata"]["name"]
        for n in cluster["Namespace"]
        if n["metadata"]["name"].startswith("app-")
    )
    items = [
        obj
        for kind in ("Namespace", "Node", "Pod", "NetworkPolicy", "Service")
        for obj in cluster[kind]
    ]
    items.append(CALICO_NODE)
    items += cilium_policies(apps, extra)
    items += calico_policies(apps, extra // 2)
    items += cluster_policies(apps, extra // 4)
    items += [closed(ns) for ns in apps[::10]]
    return items


def write(directory: Path, **sizes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cluster.json"
    items = kinds_cluster(**sizes)
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--extra", type=int, default=400)
    args = parser.parse_args(argv)
    path = write(
        args.directory,
        pods=args.pods,
        namespaces=args.namespaces,
        policies=args.policies,
        extra=args.extra,
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
