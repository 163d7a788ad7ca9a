"""Small clusters for the findings tests, built from ``tests/objects.py``.

``SECURE`` is a cluster done right: every pod isolated both ways by a default deny,
narrow rules with ports, DNS egress to CoreDNS over UDP and TCP, CoreDNS answering named
namespaces only, and Calico in kube-system. It has no finding at all; each rule's test
adds the one mistake that rule is about.
"""

from __future__ import annotations

import copy

from netpol.engine import ClusterModel
from netpol.findings import audit
from tests.objects import namespace, node, pod, policy

NS_NAME = "kubernetes.io/metadata.name"


def owned(obj: dict, kind: str, name: str, template_hash: str | None = None) -> dict:
    """Give a pod an owner; a ReplicaSet owner with a pod-template-hash is a Deployment."""
    obj = copy.deepcopy(obj)
    owner = f"{name}-{template_hash}" if template_hash else name
    obj["metadata"]["ownerReferences"] = [{"kind": kind, "name": owner, "controller": True}]
    if template_hash:
        obj["metadata"]["labels"]["pod-template-hash"] = template_hash
    return obj


def host_network(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["spec"]["hostNetwork"] = True
    return obj


def deny_all(ns: str, types=("Ingress", "Egress"), name: str = "default-deny-all") -> dict:
    return policy(ns, name, {"podSelector": {}, "policyTypes": list(types)})


def dns_egress(ns: str, ports=(("UDP", 53), ("TCP", 53))) -> dict:
    return policy(
        ns,
        "allow-dns",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {NS_NAME: "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": p, "port": n} for p, n in ports],
                }
            ],
        },
    )


WEB = owned(
    pod("shop", "web-7f9c-abcde", {"app": "web"}, ip="10.244.0.10", ports=[("http", 8080, "TCP")]),
    "ReplicaSet",
    "web",
    "7f9c",
)
DB = owned(
    pod("shop", "db-0", {"app": "db"}, ip="10.244.0.11", ports=[("pg", 5432, "TCP")]),
    "StatefulSet",
    "db",
)
DNS = owned(
    pod(
        "kube-system",
        "coredns-0",
        {"k8s-app": "kube-dns"},
        ip="10.244.0.53",
        ports=[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
    ),
    "ReplicaSet",
    "coredns",
    "5d78",
)
CALICO = owned(
    pod(
        "kube-system",
        "calico-kube-controllers-0",
        {"k8s-app": "calico-kube-controllers"},
        ip="10.244.0.2",
    ),
    "ReplicaSet",
    "calico-kube-controllers",
    "66bb",
)

SECURE = [
    namespace("shop"),
    namespace("kube-system"),
    node("node-1", "10.244.0.0/24", "192.168.0.11"),
    WEB,
    DB,
    DNS,
    CALICO,
    deny_all("shop"),
    dns_egress("shop"),
    policy(
        "shop",
        "web",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                    "ports": [{"protocol": "TCP", "port": 5432}],
                }
            ],
        },
    ),
    policy(
        "shop",
        "db",
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                    "ports": [{"protocol": "TCP", "port": "pg"}],
                }
            ],
        },
    ),
    deny_all("kube-system"),
    policy(
        "kube-system",
        "coredns",
        {
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {NS_NAME: "shop"}},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "In", "values": ["web", "db"]}
                                ]
                            },
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    ),
]


def model(*objects, declared_cidrs=()) -> ClusterModel:
    kinds = {"Namespace": [], "Pod": [], "Node": [], "NetworkPolicy": [], "Service": []}
    for obj in objects:
        kinds[obj["kind"]].append(obj)
    return ClusterModel.from_objects(
        kinds["Namespace"],
        kinds["Pod"],
        kinds["Node"],
        kinds["NetworkPolicy"],
        kinds["Service"],
        declared_cidrs=declared_cidrs,
    )


def without(objects, kind: str, name: str, ns: str | None = None) -> list[dict]:
    return [
        o
        for o in objects
        if not (
            o["kind"] == kind
            and o["metadata"]["name"] == name
            and (ns is None or o["metadata"].get("namespace") == ns)
        )
    ]


def run(*objects, declared_cidrs=()):
    m = model(*objects, declared_cidrs=declared_cidrs)
    return m, audit(m)


def of(report, rule: str) -> list:
    return [f for f in report.findings if f.rule == rule]


def rules(report) -> set[str]:
    return {f.rule for f in report.findings}


def check_probe(m: ClusterModel, finding) -> None:
    """The finding's probe connection, asked of the engine, gives what the finding says."""
    p = finding.evidence["probe"]
    verdict = m.reach(p["src"], p["dst"], p["port"], p["protocol"])
    direction = p.get("direction")
    if direction is None:
        assert verdict.outcome == p["expect"], (finding.rule, verdict.text())
        return
    side = verdict.ingress if direction == "ingress" else verdict.egress
    assert side is not None, (finding.rule, verdict.text())
    assert ("allowed" if side.allowed else "denied") == p["expect"], (finding.rule, verdict.text())
    via = p.get("via")
    if via:
        matches = [(mm.policy, mm.rule) for mm in side.allowed_by]
        assert (via["policy"], via["rule"]) in matches, (finding.rule, verdict.text())
        if via.get("peer") is not None:
            assert any(
                mm.policy == via["policy"] and mm.rule == via["rule"] and mm.peer is not None
                for mm in side.allowed_by
            )
