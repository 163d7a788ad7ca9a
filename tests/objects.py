"""Builders for raw API objects, shaped as the API server returns them."""

from __future__ import annotations


def namespace(name: str, **labels: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


def pod(
    ns: str,
    name: str,
    labels: dict | None = None,
    ip: str | None = "10.244.0.10",
    ports: list[tuple[str, int, str]] = (),
    phase: str = "Running",
    node: str = "node-1",
) -> dict:
    status = {"phase": phase}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "ports": [
                        {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports
                    ],
                }
            ],
        },
        "status": status,
    }


def policy(ns: str, name: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def node(name: str, pod_cidr: str, internal_ip: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {}},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {"addresses": [{"type": "InternalIP", "address": internal_ip}]},
    }


def small_cluster(pods: int = 6) -> dict[str, list[dict]]:
    """Two namespaces, a default-deny and an allow rule: enough to check a snapshot."""
    return {
        "Namespace": [namespace("shop"), namespace("payments", team="pay")],
        "Node": [node("node-1", "10.244.0.0/24", "192.168.0.11")],
        "Pod": [
            pod(
                "shop",
                f"web-{i}",
                {"app": "web"},
                ip=f"10.244.0.{10 + i}",
                ports=[("http", 8080, "TCP")],
            )
            for i in range(pods)
        ],
        "NetworkPolicy": [
            policy(
                "shop", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
            ),
            policy(
                "shop",
                "allow-web",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "ingress": [{"ports": [{"port": "http"}]}],
                },
            ),
        ],
        "Service": [],
    }


def cluster_policy(kind: str, name: str) -> dict:
    """A ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy that
    selects every namespace and says nothing: enough to be listed and stored."""
    version = "v1alpha2" if kind == "ClusterNetworkPolicy" else "v1alpha1"
    spec: dict = {"subject": {"namespaces": {}}, "ingress": []}
    if kind == "ClusterNetworkPolicy":
        spec["tier"] = "Admin"
    if kind != "BaselineAdminNetworkPolicy":
        spec["priority"] = 10
    return {
        "apiVersion": f"policy.networking.k8s.io/{version}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def cilium_policy(name: str, namespace: str = "") -> dict:
    """A CiliumNetworkPolicy (in ``namespace``) or, without one, a
    CiliumClusterwideNetworkPolicy that selects every endpoint and allows nothing in."""
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy" if namespace else "CiliumClusterwideNetworkPolicy",
        "metadata": metadata,
        "spec": {"endpointSelector": {}, "ingress": [{}]},
    }


def calico_object(
    kind: str,
    name: str,
    namespace: str = "",
    spec: dict | None = None,
    api_version: str = "crd.projectcalico.org/v1",
    **labels: str,
) -> dict:
    """A Calico object of ``kind`` (NetworkPolicy, GlobalNetworkPolicy, Tier, NetworkSet,
    ...), as the CRDs serve it unless ``api_version`` says otherwise."""
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec or {}}
