"""Ready-to-apply YAML for remediations: whole NetworkPolicy objects or peer fragments."""

from __future__ import annotations

from netpol.engine import NAMESPACE_NAME_LABEL

from .finding import to_yaml

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def _policy(namespace: str, name: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def default_deny(namespace: str, ingress: bool, egress: bool) -> str:
    """A default deny for the namespace; with egress, the DNS rule that must go with it."""
    types = [t for t, on in (("Ingress", ingress), ("Egress", egress)) if on]
    name = "default-deny-all" if ingress and egress else f"default-deny-{types[0].lower()}"
    docs = [_policy(namespace, name, {"podSelector": {}, "policyTypes": types})]
    if egress:
        docs.append(yaml_dns_policy(namespace, {}))
    return "---\n".join(to_yaml(d) for d in docs)


def yaml_dns_policy(namespace: str, pod_selector: dict, name: str = "allow-dns-egress") -> dict:
    return _policy(
        namespace,
        name,
        {
            "podSelector": pod_selector,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {NAMESPACE_NAME_LABEL: "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": DNS_PORTS,
                }
            ],
        },
    )


def dns_egress(namespace: str, pod_selector: dict) -> str:
    return to_yaml(yaml_dns_policy(namespace, pod_selector))


def peer(peers_key: str, peer_dict: dict) -> str:
    """A corrected peer entry, as it sits under ``from:``/``to:``."""
    return to_yaml({peers_key: [peer_dict]})
