"""Calico NetworkSets, GlobalNetworkSets and service-account matches, each case written
from Calico's reference (docs.tigera.io, projectcalico.org/v3: "Network set", "Global
network set", NetworkPolicy's ``serviceAccountSelector``, the EntityRule's ``selector``,
``notSelector``, ``namespaceSelector`` and ``serviceAccounts`` with ServiceAccountMatch
``names``/``selector``, and "Understanding scopes and the all() and global() operators";
decisions in docs/semantics-calico.md). Every verdict is checked on ``reach``, the allowed
set (or the egress addresses) and the per-pod reference
(``reference.calico_connection_allowed``).
"""

from __future__ import annotations

from netpol.engine import ClusterModel, PolicyError
from netpol.engine import reference as ref
from netpol.engine.calico import parse_network_set
from netpol.engine.ipsets import IPSet, ip_to_int
from netpol.engine.ports import ALL_PORTS
from tests.engine.conftest import cluster_objects

V3 = "projectcalico.org/v3"
# Who runs as whom: prod/api as api-sa (labelled team=payments), prod/db as db-sa; every
# other pod as its namespace's "default".
ACCOUNTS = {("prod", "api"): "api-sa", ("prod", "db"): "db-sa"}
SERVICE_ACCOUNTS = [
    {"metadata": {"name": "api-sa", "namespace": "prod", "labels": {"team": "payments"}}},
    {"metadata": {"name": "db-sa", "namespace": "prod", "labels": {"team": "storage"}}},
    {"metadata": {"name": "default", "namespace": "prod"}},
    {"metadata": {"name": "default", "namespace": "dev"}},
]


class Cluster:
    def __init__(self, *docs: dict, accounts: bool = True):
        objs = cluster_objects()
        if accounts:
            for pod in objs["pods"]:
                md = pod["metadata"]
                name = ACCOUNTS.get((md["namespace"], md["name"]))
                if name:
                    pod.setdefault("spec", {})["serviceAccountName"] = name
        self.model = ClusterModel.from_objects(
            namespaces=objs["namespaces"],
            pods=objs["pods"],
            nodes=objs["nodes"],
            calico_policies=list(docs),
            service_accounts=SERVICE_ACCOUNTS if accounts else (),
        )
        self.sets = [parse_network_set(o, PolicyError)[0] for o in self.model.calico_network_sets]

    def expected(self, src, dst, port, protocol):
        model = self.model
        return ref.calico_connection_allowed(
            model.policies,
            model.calico_policies,
            model.calico_tiers,
            model.namespaces,
            src,
            dst,
            port,
            protocol,
            network_sets=self.sets,
            service_accounts=model.service_accounts,
        )

    def allows(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        """``reach``'s answer, checked against the fast evaluation and the reference."""
        model = self.model
        got = model.reach(src, dst, port, protocol).allowed
        ends = [model.pods_by_key[e] if "/" in e else ip_to_int(e) for e in (src, dst)]
        want = self.expected(*ends, port, protocol)
        assert got == want, f"reach says {got}, reference says {want}"
        ev, allowed = model.evaluation, model.allowed_connections()
        s, d = model.endpoint(src), model.endpoint(dst)
        if s.pod is not None and d.pod is not None:
            fast = allowed.allows(s.pod.key, d.pod.key, port, protocol)
        elif d.pod is not None:
            group = allowed.groups[allowed.group_of[ev.class_of[d.pod.key]]]
            fast = any(e.ports.has(port, protocol) and s.ip in e.ips for e in group.entries)
        else:
            fast = any(p.has(port, protocol) and d.ip in ips for p, ips in self.egress(s.pod.key))
        assert fast == want, f"fast evaluation says {fast}, reference says {want}"
        return got

    def egress(self, pod: str) -> list:
        """The (ports, addresses) the pod's egress allows towards addresses."""
        ev = self.model.evaluation
        c = ev.class_of[pod]
        return next(g for g in ev.egress_ips() if c in g.classes).entries


def gnp(name: str, spec: dict) -> dict:
    return {
        "apiVersion": V3,
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def np(name: str, spec: dict, namespace: str = "prod") -> dict:
    md = {"name": name, "namespace": namespace}
    return {"apiVersion": V3, "kind": "NetworkPolicy", "metadata": md, "spec": spec}


def global_set(name: str, labels: dict, nets: list[str]) -> dict:
    md = {"name": name, "labels": labels}
    return {"apiVersion": V3, "kind": "GlobalNetworkSet", "metadata": md, "spec": {"nets": nets}}


def network_set(name: str, namespace: str, labels: dict, nets: list[str]) -> dict:
    md = {"name": name, "namespace": namespace, "labels": labels}
    return {"apiVersion": V3, "kind": "NetworkSet", "metadata": md, "spec": {"nets": nets}}


EXTERNAL_DB = global_set("external-db", {"role": "external-db"}, ["203.0.113.0/24"])


def test_global_network_set_egress_allows_exactly_its_nets():
    # "When Calico is calculating the set of IPs that should match a source/destination
    # selector within a global network policy rule, it includes the CIDRs from any
    # network sets that match the selector."
    policy = gnp(
        "web-to-external-db",
        {
            "selector": "app == 'web'",
            "types": ["Egress"],
            "egress": [{"action": "Allow", "destination": {"selector": "role == 'external-db'"}}],
        },
    )
    c = Cluster(EXTERNAL_DB, policy)
    assert c.allows("prod/web", "203.0.113.7", 5432)
    assert c.allows("prod/web", "203.0.113.255", 443, "UDP")
    assert not c.allows("prod/web", "203.0.114.1", 5432)
    assert not c.allows("prod/web", "8.8.8.8", 53, "UDP")
    assert not c.allows("prod/web", "prod/db", 5432)  # a pod: the set's labels are not its
    # Exactly the set's addresses, on every port.
    assert c.egress("prod/web") == [(ALL_PORTS, IPSet.from_cidr("203.0.113.0/24"))]
    assert c.allows("prod/api", "8.8.8.8", 53, "UDP")  # not selected by the policy


def test_namespaced_network_set_serves_its_namespace_only():
    # "A NetworkSet in a specific namespace only applies to network policies in that
    # namespace"; the namespaceSelector defines the scope, and global() brings the
    # GlobalNetworkSets into a NetworkPolicy's scope.
    partners = network_set("partners", "prod", {"role": "partners"}, ["192.0.2.0/24"])
    ingress = [{"action": "Allow", "source": {"selector": "role == 'partners'"}}]
    c = Cluster(
        partners,
        np("db-from-partners", {"selector": "app == 'db'", "ingress": ingress}),
        np("web-from-partners", {"selector": "app == 'web'", "ingress": ingress}, "dev"),
    )
    assert c.allows("192.0.2.5", "prod/db", 5432)
    assert not c.allows("198.51.100.1", "prod/db", 5432)
    assert not c.allows("192.0.2.5", "dev/web", 8081)  # the set is prod's, not dev's
    assert not c.allows("prod/web", "prod/db", 5432)

    external = global_set("partners-global", {"role": "partners"}, ["198.51.100.0/28"])
    by_global = {"selector": "role == 'partners'", "namespaceSelector": "global()"}
    c = Cluster(
        partners,
        external,
        np(
            "db-from-global-partners",
            {"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": by_global}]},
        ),
        np("web-from-partners", {"selector": "app == 'web'", "ingress": ingress}, "dev"),
    )
    assert c.allows("198.51.100.3", "prod/db", 5432)  # global() reaches the global set
    assert not c.allows("192.0.2.5", "prod/db", 5432)  # ... and only it
    assert not c.allows("198.51.100.3", "dev/web", 8081)  # without global(): not in scope


def test_network_set_matches_pods_at_its_addresses():
    # A selector's match is a set of IPs: a pod whose address lies in a matched set's nets
    # is matched by it (node-2's pods here), whatever its own labels.
    node2 = global_set("node-2-pods", {"zone": "node-2"}, ["10.2.0.0/16"])
    spec = {
        "selector": "app == 'db'",
        "ingress": [
            {"action": "Deny", "source": {"selector": "zone == 'node-2'"}},
            {"action": "Allow"},
        ],
    }
    c = Cluster(node2, gnp("db-not-from-node-2", spec))
    assert not c.allows("dev/web", "prod/db", 5432)  # 10.2.0.1
    assert not c.allows("monitoring/prom", "prod/db", 5432)  # 10.2.0.7
    assert c.allows("prod/web", "prod/db", 5432)  # 10.1.0.1
    assert c.allows("8.8.8.8", "prod/db", 5432)
    assert not c.allows("10.2.9.9", "prod/db", 5432)


def test_not_selector_alone_in_a_global_policy_matches_outside_but_the_sets():
    # "notSelector: has(foo) matches packets from/to anywhere (including outside the
    # cluster), except traffic from/to endpoints and network sets that have the label".
    spec = {
        "selector": "app == 'db'",
        "ingress": [{"action": "Allow", "source": {"notSelector": "role == 'external-db'"}}],
    }
    c = Cluster(EXTERNAL_DB, gnp("db-not-from-external-db", spec))
    assert c.allows("8.8.8.8", "prod/db", 5432)
    assert c.allows("prod/web", "prod/db", 5432)
    assert not c.allows("203.0.113.9", "prod/db", 5432)


def test_service_account_selector_on_a_policy():
    # spec.serviceAccountSelector: "Selects the service account(s) to which this policy
    # applies. Select a specific service account by name using the projectcalico.org/name
    # label."
    spec = {
        "serviceAccountSelector": "projectcalico.org/name == 'api-sa'",
        "ingress": [{"action": "Allow", "source": {"selector": "app == 'web'"}}],
    }
    c = Cluster(np("api-sa-from-web", spec))
    assert c.allows("prod/web", "prod/api", 9090)
    assert not c.allows("prod/db", "prod/api", 9090)  # api runs as api-sa: isolated
    assert c.allows("prod/web", "prod/db", 5432)  # db runs as db-sa: not selected
    by_labels = gnp(
        "payments-closed",
        {"serviceAccountSelector": "team == 'payments'", "ingress": [{"action": "Deny"}]},
    )
    c = Cluster(by_labels)
    assert not c.allows("dev/web", "prod/api", 9090)
    assert c.allows("dev/web", "prod/db", 5432)
    assert c.model.pod_isolation(c.model.pod("prod/api")).ingress_isolated
    assert not c.model.pod_isolation(c.model.pod("prod/db")).ingress_isolated


def test_service_accounts_names_and_selector_in_a_rule():
    # EntityRule serviceAccounts: "Match endpoints running under service accounts";
    # ServiceAccountMatch names (by name) and selector (by label). A pod running as
    # another account is not matched.
    by_name = {"serviceAccounts": {"names": ["api-sa"]}}
    spec = {"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": by_name}]}
    c = Cluster(np("db-from-api-sa", spec))
    assert c.allows("prod/api", "prod/db", 5432)
    assert not c.allows("prod/web", "prod/db", 5432)  # runs as default
    assert not c.allows("10.1.0.77", "prod/db", 5432)  # an address runs as no account
    assert [e for e in c.model.errors] == []

    by_label = {"serviceAccounts": {"selector": "team == 'payments'"}}
    spec = {"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": by_label}]}
    c = Cluster(gnp("db-from-payments", spec))
    assert c.allows("prod/api", "prod/db", 5432)
    assert not c.allows("prod/web", "prod/db", 5432)

    # Both given: both must hold (api-sa is not team=storage).
    both = {"serviceAccounts": {"names": ["api-sa"], "selector": "team == 'storage'"}}
    spec = {"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": both}]}
    c = Cluster(gnp("db-from-nobody", spec))
    assert not c.allows("prod/api", "prod/db", 5432)


def test_service_accounts_stay_in_the_policy_namespace():
    # Without a namespaceSelector a NetworkPolicy's rule matches in its own namespace:
    # dev's "default" account is not prod's.
    defaults = {"serviceAccounts": {"names": ["default"]}}
    spec = {"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": defaults}]}
    c = Cluster(np("db-from-default", spec))
    assert c.allows("prod/web", "prod/db", 5432)
    assert not c.allows("dev/web", "prod/db", 5432)
    everywhere = {**defaults, "namespaceSelector": "all()"}
    spec["ingress"] = [{"action": "Allow", "source": everywhere}]
    c = Cluster(np("db-from-any-default", spec))
    assert c.allows("dev/web", "prod/db", 5432)
    assert not c.allows("prod/api", "prod/db", 5432)


def test_classes_split_by_account_only_when_a_policy_matches_accounts():
    plain = gnp("db-open", {"selector": "app == 'db'", "ingress": [{"action": "Allow"}]})
    with_accounts = Cluster(plain).model.evaluation
    without = Cluster(plain, accounts=False).model.evaluation
    assert len(with_accounts.classes) == len(without.classes)
    assert {c.service_account for c in with_accounts.classes} == {None}
    spec = {"serviceAccountSelector": "team == 'payments'", "ingress": [{"action": "Deny"}]}
    split = Cluster(gnp("payments", spec)).model.evaluation
    assert {c.service_account for c in split.classes} >= {"api-sa", "db-sa", "default"}


def test_network_set_errors_are_reported():
    bad = global_set("bad", {"role": "x"}, ["203.0.113.0/24", "not-a-cidr"])
    c = Cluster(bad)
    assert [(e.policy, e.field) for e in c.model.errors] == [
        ("globalnetworkset/bad", "spec.nets[1]")
    ]
    assert c.sets[0].nets == IPSet.from_cidr("203.0.113.0/24")
    broken = {"serviceAccounts": {"selector": "team == "}}
    spec = {"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": broken}]}
    c = Cluster(gnp("db-from-broken", spec))
    assert ("gnp/db-from-broken", "spec.ingress[0].source.serviceAccounts.selector") in {
        (e.policy, e.field) for e in c.model.errors
    }
    assert not c.allows("prod/api", "prod/db", 5432)  # the rule matches nothing
