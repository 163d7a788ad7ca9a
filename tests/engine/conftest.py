"""Shared fixtures for the engine tests: one small cluster written as YAML.

Every semantics case adds policies to this cluster and states expected verdicts, which
are checked against three evaluations: ``reach`` (explanations), the compact allowed
set / matrix, and the plain per-pod reference.
"""

from __future__ import annotations

import yaml

from netpol.engine import ClusterModel
from netpol.engine import reference as ref
from netpol.engine.ipsets import ip_to_int
from netpol.engine.model import ACTIVE

CLUSTER = """
namespaces:
- metadata: {name: prod, labels: {team: shop, env: prod}}
- metadata: {name: dev, labels: {team: shop, env: dev}}
- metadata: {name: monitoring}
- metadata: {name: kube-system}
nodes:
- metadata: {name: node-1}
  spec: {podCIDR: 10.1.0.0/16, podCIDRs: [10.1.0.0/16, "fd00:1::/64"]}
  status: {addresses: [{type: InternalIP, address: 192.168.0.10}]}
- metadata: {name: node-2}
  spec: {podCIDRs: [10.2.0.0/16]}
  status: {addresses: [{type: InternalIP, address: 192.168.0.11}]}
pods:
- metadata: {name: web, namespace: prod, labels: {app: web, tier: frontend}}
  spec:
    nodeName: node-1
    containers: [{ports: [{name: http, containerPort: 8080}]}]
  status: {phase: Running, podIP: 10.1.0.1, podIPs: [{ip: 10.1.0.1}, {ip: "fd00:1::1"}]}
- metadata: {name: api, namespace: prod, labels: {app: api, tier: backend}}
  spec:
    nodeName: node-1
    containers: [{ports: [{name: http, containerPort: 9090}, {name: metrics, containerPort: 9100}]}]
  status: {phase: Running, podIP: 10.1.0.2}
- metadata: {name: db, namespace: prod, labels: {app: db, tier: backend}}
  spec:
    nodeName: node-1
    containers: [{ports: [{name: pg, containerPort: 5432}, {name: http, containerPort: 5000, protocol: UDP}]}]
  status: {phase: Running, podIP: 10.1.0.3}
- metadata: {name: web, namespace: dev, labels: {app: web}}
  spec:
    nodeName: node-2
    containers: [{ports: [{name: http, containerPort: 8081}]}]
  status: {phase: Running, podIP: 10.2.0.1}
- metadata: {name: prom, namespace: monitoring, labels: {app: prometheus}}
  spec: {nodeName: node-2}
  status: {phase: Running, podIP: 10.2.0.7}
- metadata: {name: dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
  spec:
    nodeName: node-2
    containers: [{ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53}]}]
  status: {phase: Running, podIP: 10.2.0.53}
- metadata: {name: agent, namespace: prod, labels: {app: web}}
  spec: {nodeName: node-1, hostNetwork: true}
  status: {phase: Running, podIP: 192.168.0.10}
- metadata: {name: pending, namespace: prod, labels: {app: web}}
  status: {phase: Pending}
- metadata: {name: done, namespace: prod, labels: {app: web}}
  status: {phase: Succeeded, podIP: 10.1.0.9}
- metadata:
    name: worker
    namespace: prod
    labels: {app: worker}
    annotations: {netpol-auditor.io/from-template: "true"}
  spec: {containers: [{ports: [{name: http, containerPort: 7070}]}]}
"""


def cluster_objects() -> dict:
    return yaml.safe_load(CLUSTER)


def build(
    policies_yaml: str = "", *, declared_cidrs=(), services=(), extra_pods=()
) -> ClusterModel:
    """The fixture cluster with the policies of a multi-document YAML string."""
    objs = cluster_objects()
    policies = [d for d in yaml.safe_load_all(policies_yaml) if d] if policies_yaml.strip() else []
    return ClusterModel.from_objects(
        namespaces=objs["namespaces"],
        pods=objs["pods"] + list(extra_pods),
        nodes=objs["nodes"],
        policies=policies,
        services=services,
        declared_cidrs=declared_cidrs,
    )


def verdict(model: ClusterModel, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
    """``reach``'s answer, checked against the allowed set and the reference evaluation."""
    result = model.reach(src, dst, port, protocol).allowed
    s, d = model.endpoint(src), model.endpoint(dst)
    pods = [e.pod for e in (s, d) if e.pod is not None]
    if s.pod is not None and s.pod is d.pod or any(p.state != ACTIVE for p in pods):
        return result
    if any(e.node for e in (s, d)):  # the own-node rule is outside the policies
        return result
    ends = [e.pod if e.pod is not None else e.ip for e in (s, d)]
    expected = ref.connection_allowed(model.policies, model.namespaces, *ends, port, protocol)
    assert result == expected, f"reach says {result}, reference says {expected}"
    allowed = model.allowed_connections()
    ev = model.evaluation
    if s.pod is not None and d.pod is not None:
        fast = allowed.allows(s.pod.key, d.pod.key, port, protocol)
    elif d.pod is not None:  # from an address: the destination group's address entries
        group = allowed.groups[allowed.group_of[ev.class_of[d.pod.key]]]
        fast = any(e.ports.has(port, protocol) and s.ip in e.ips for e in group.entries)
    elif s.pod is not None:  # to an address: the source's egress address entries
        c = ev.class_of[s.pod.key]
        group = next(g for g in ev.egress_ips() if c in g.classes)
        fast = any(ports.has(port, protocol) and d.ip in ips for ports, ips in group.entries)
    else:
        fast = expected
    assert fast == expected, f"fast evaluation says {fast}, reference says {expected}"
    return result


def ip(text: str) -> int:
    return ip_to_int(text)


# Property-test budgets: "ci" by default; HYPOTHESIS_PROFILE=thorough for thousands.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "ci"))
