"""Calico NetworkPolicy, GlobalNetworkPolicy and Tier semantics, each case written from
Calico's reference (projectcalico.org/v3: NetworkPolicy, GlobalNetworkPolicy, Tier, Rule,
"Get started with policy tiers"; see docs/semantics-calico.md). Every verdict is checked
on ``reach``, the allowed set and the per-pod reference
(``reference.calico_connection_allowed``).
"""

from __future__ import annotations

import yaml

from netpol.engine import ClusterModel
from netpol.engine import reference as ref
from netpol.engine.ipsets import ip_to_int
from tests.engine.conftest import cluster_objects


class Cluster:
    def __init__(self, calico: str, policies: str = ""):
        objs = cluster_objects()
        self.model = ClusterModel.from_objects(
            namespaces=objs["namespaces"],
            pods=objs["pods"],
            nodes=objs["nodes"],
            policies=[d for d in yaml.safe_load_all(policies) if d],
            calico_policies=[d for d in yaml.safe_load_all(calico) if d],
        )
        self.calico, self.errors = self.model.calico_policies, self.model.errors

    def allows(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        """``reach``'s answer, checked against the allowed set and the reference."""
        model = self.model
        got = model.reach(src, dst, port, protocol).allowed
        ends = [model.pods_by_key[e] if "/" in e else ip_to_int(e) for e in (src, dst)]
        want = ref.calico_connection_allowed(
            model.policies,
            model.calico_policies,
            model.calico_tiers,
            model.namespaces,
            *ends,
            port,
            protocol,
        )
        assert got == want, f"reach says {got}, reference says {want}"
        ev, allowed = model.evaluation, model.allowed_connections()
        s, d = model.endpoint(src), model.endpoint(dst)
        if s.pod is not None and d.pod is not None:
            fast = allowed.allows(s.pod.key, d.pod.key, port, protocol)
        elif d.pod is not None:
            group = allowed.groups[allowed.group_of[ev.class_of[d.pod.key]]]
            fast = any(e.ports.has(port, protocol) and s.ip in e.ips for e in group.entries)
        else:
            c = ev.class_of[s.pod.key]
            group = next(g for g in ev.egress_ips() if c in g.classes)
            fast = any(p.has(port, protocol) and d.ip in ips for p, ips in group.entries)
        assert fast == want, f"fast evaluation says {fast}, reference says {want}"
        return got


def gnp(name: str, spec: dict, api: str = "projectcalico.org/v3") -> str:
    doc = {"apiVersion": api, "kind": "GlobalNetworkPolicy", "metadata": {"name": name}}
    return yaml.safe_dump({**doc, "spec": spec}) + "---\n"


def np(name: str, spec: dict, namespace: str = "prod") -> str:
    md = {"name": name, "namespace": namespace}
    doc = {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": md}
    return yaml.safe_dump({**doc, "spec": spec}) + "---\n"


def tier(name: str, order: float, default_action: str | None = None) -> str:
    spec = {"order": order, **({"defaultAction": default_action} if default_action else {})}
    doc = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": name}}
    return yaml.safe_dump({**doc, "spec": spec}) + "---\n"


K8S_ALLOW_ALL_TO_DB = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-open, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{}]
"""
FROM_DEV = {"namespaceSelector": "kubernetes.io/metadata.name == 'dev'"}


def test_lower_order_decides_before_kubernetes_policies_at_1000():
    # Kubernetes NetworkPolicies are in the default tier at order 1000: a Calico policy of
    # order 100 is evaluated first, and its Deny decides.
    spec = {
        "order": 100,
        "selector": "app == 'db'",
        "ingress": [{"action": "Deny", "source": FROM_DEV}],
    }
    c = Cluster(gnp("no-dev-to-db", spec), K8S_ALLOW_ALL_TO_DB)
    assert not c.allows("dev/web", "prod/db", 5432)
    assert c.allows("prod/web", "prod/db", 5432)
    # At order 2000 the Kubernetes policy's Allow comes first.
    spec["order"] = 2000
    c = Cluster(gnp("no-dev-to-db", spec), K8S_ALLOW_ALL_TO_DB)
    assert c.allows("dev/web", "prod/db", 5432)


def test_first_match_within_the_tier_and_end_of_tier_deny():
    spec = {
        "selector": "app == 'api'",
        "ingress": [
            {"action": "Log"},  # goes on
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'web'"}},
        ],
    }
    c = Cluster(np("api-from-web", spec))
    assert c.allows("prod/web", "prod/api", 9090)
    assert not c.allows("dev/web", "prod/api", 9090)  # the selector stays in prod
    assert not c.allows("prod/db", "prod/api", 9090)  # the tier selected api: Deny
    assert c.allows("prod/api", "prod/db", 5432)  # types: Ingress only


def test_tiers_pass_and_default_action():
    security = gnp(
        "security.monitoring-passes",
        {
            "tier": "security",
            "order": 10,
            "selector": "all()",
            "namespaceSelector": "kubernetes.io/metadata.name == 'prod'",
            "ingress": [
                {
                    "action": "Pass",
                    "source": {
                        "namespaceSelector": "has(kubernetes.io/metadata.name) && kubernetes.io/metadata.name in {'prod', 'monitoring'}"
                    },
                },
            ],
        },
    )
    c = Cluster(tier("security", 100) + security, K8S_ALLOW_ALL_TO_DB)
    assert c.allows("monitoring/prom", "prod/db", 5432)  # passed, then Kubernetes allows
    assert not c.allows("dev/web", "prod/db", 5432)  # end of the security tier: Deny
    assert c.allows("dev/web", "monitoring/prom", 80)  # the tier does not select prom
    c = Cluster(tier("security", 100, "Pass") + security, K8S_ALLOW_ALL_TO_DB)
    assert c.allows("dev/web", "prod/db", 5432)  # defaultAction Pass
    assert c.allows("dev/web", "prod/web", 8080)  # nothing below selects web: profile


def test_order_absent_sorts_last_then_by_name():
    deny = {"selector": "app == 'db'", "ingress": [{"action": "Deny"}]}
    allow = {"order": 5000, "selector": "app == 'db'", "ingress": [{"action": "Allow"}]}
    c = Cluster(gnp("a-deny", deny) + gnp("z-allow", allow))
    assert c.allows("dev/web", "prod/db", 5432)
    assert [p.order for p in c.calico] == [float("inf"), 5000.0]


def test_types_default_and_egress():
    spec = {
        "selector": "app == 'web'",
        "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}}],
    }
    c = Cluster(np("web-dns-only", spec))
    assert c.calico[0].types == ("egress",)
    assert c.allows("prod/web", "kube-system/dns", 53, "UDP")
    assert not c.allows("prod/web", "kube-system/dns", 53, "TCP")
    assert c.allows("dev/web", "prod/web", 8080)  # ingress untouched


def test_nets_match_pod_addresses_and_not_nets():
    spec = {
        "selector": "app == 'db'",
        "ingress": [
            {"action": "Allow", "source": {"nets": ["10.1.0.0/16"], "notNets": ["10.1.0.1/32"]}}
        ],
    }
    c = Cluster(np("db-from-node1-pods", spec))
    assert c.allows("prod/api", "prod/db", 5432)  # 10.1.0.2
    assert not c.allows("prod/web", "prod/db", 5432)  # 10.1.0.1: notNets
    assert not c.allows("dev/web", "prod/db", 5432)  # 10.2.0.1
    assert c.allows("10.1.9.9", "prod/db", 5432)


def test_ports_ranges_names_and_protocols():
    spec = {
        "selector": "app == 'api'",
        "ingress": [
            {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["9000:9095"]}},
            {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["metrics"]}},
            {"action": "Allow", "protocol": "ICMP"},
        ],
    }
    c = Cluster(np("api-ports", spec))
    assert c.allows("dev/web", "prod/api", 9090)
    assert c.allows("dev/web", "prod/api", 9100)  # metrics on api
    assert not c.allows("dev/web", "prod/api", 9096)
    assert not c.allows("dev/web", "prod/api", 9090, "UDP")


def test_storage_form_and_errors():
    spec = {"tier": "default", "selector": "app == 'db'", "ingress": [{"action": "Deny"}]}
    c = Cluster(gnp("default.block-db", spec, api="crd.projectcalico.org/v1"))
    assert c.calico[0].key == "gnp/block-db"
    assert not c.allows("prod/web", "prod/db", 5432)
    bad = np("bad", {"selector": "app == ", "ingress": [{"action": "Allow"}]})
    bad_action = np("bad-action", {"selector": "app == 'db'", "ingress": [{"action": "Maybe"}]})
    c = Cluster(bad + bad_action)
    fields = {(e.policy, e.field) for e in c.errors}
    assert ("calico/prod/bad", "spec.selector") in fields
    assert ("calico/prod/bad-action", "spec.ingress[0].action") in fields
    assert [p.key for p in c.calico] == ["calico/prod/bad-action"]
    assert not c.allows("prod/web", "prod/db", 5432)  # read as Deny


def test_the_labels_calico_gives_every_namespace_and_pod():
    # Calico's docs select namespaces by the name Calico labels them with, as in their
    # DNS example: "namespaceSelector: projectcalico.org/name == 'kube-system'"; pods carry
    # projectcalico.org/namespace and projectcalico.org/orchestrator: k8s.
    spec = {
        "selector": "all()",
        "types": ["Egress"],
        "egress": [
            {
                "action": "Allow",
                "protocol": "UDP",
                "destination": {
                    "namespaceSelector": "projectcalico.org/name == 'kube-system'",
                    "ports": [53],
                },
            }
        ],
    }
    c = Cluster(np("dns-only", spec))
    assert c.allows("prod/web", "kube-system/dns", 53, "UDP")
    assert not c.allows("prod/web", "prod/api", 9090)
    by_namespace = {
        "selector": "projectcalico.org/namespace == 'dev' && projectcalico.org/orchestrator == 'k8s'",
        "types": ["Ingress"],
        "ingress": [{"action": "Deny"}],
    }
    c = Cluster(gnp("isolate-dev", by_namespace))
    assert not c.allows("prod/web", "dev/web", 8081)
    assert c.allows("dev/web", "prod/web", 8080)
