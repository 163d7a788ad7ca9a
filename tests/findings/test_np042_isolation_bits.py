"""NP042's evidence: the pods the ignored Cilium and cluster-wide policies would have
isolated or decided for (netpol/findings/cni.py ``unenforced``), found on the cluster's
own classes. Checked against the plain definition: the ignored kind alone, evaluated by
the engine as a model of its own over the same pods.

docs/semantics-enforcement.md: a kind the plugin does not read is set aside; NP042 names
"the pods it would isolate that nothing isolates now" (Cilium: the pods an endpoint
selector of a policy in default deny selects, docs/semantics-cilium.md) and, for a
cluster-wide kind, the pods its subject holds.
"""

from __future__ import annotations

from netpol.enforcement import kind_of
from netpol.engine import ACTIVE, EGRESS, INGRESS, ClusterModel
from netpol.findings.cni import unenforced
from netpol.load import load_objects
from tests.objects import namespace, pod, policy

NS_LABELS = "k8s:io.cilium.k8s.namespace.labels."


def calico_node():
    obj = pod("kube-system", "calico-node-x1", {"k8s-app": "calico-node"}, ip="192.168.0.2")
    obj["spec"]["hostNetwork"] = True
    return obj


def cilium(name, spec, ns="shop"):
    kind = "CiliumNetworkPolicy" if ns else "CiliumClusterwideNetworkPolicy"
    metadata = {"name": name, "namespace": ns} if ns else {"name": name}
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": metadata, "spec": spec}


ALLOW_FRONT = [{"fromEndpoints": [{"matchLabels": {"app": "front"}}]}]
TO_DNS = [{"toEndpoints": [{"matchLabels": {"k8s-app": "kube-dns"}}]}]


def cluster(*extra, agent=calico_node):
    shop, lab = namespace("shop"), namespace("lab")
    shop["metadata"]["labels"]["team"] = "red"
    lab["metadata"]["labels"]["team"] = "blue"
    objects = [
        namespace("kube-system"),
        shop,
        lab,
        agent(),
        pod("shop", "front-0", {"app": "front"}, ip="10.244.0.10"),
        pod("shop", "api-0", {"app": "api"}, ip="10.244.0.11"),
        pod("shop", "db-0", {"app": "db"}, ip="10.244.0.12"),
        pod("lab", "api-0", {"app": "api"}, ip="10.244.0.20"),
        pod("lab", "job-0", {"app": "job"}, ip="10.244.0.21"),
        pod("lab", "idle-0", {"app": "job"}, ip=None),  # no traffic: never counted
        # shop's ingress is isolated by a NetworkPolicy already; its egress is not.
        policy("shop", "deny-in", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        *extra,
    ]
    return [(kind_of(o), o) for o in objects]


CILIUM = [
    # ingress of shop/api: isolated already; egress: open, so counted
    cilium("api", {"endpointSelector": {"matchLabels": {"app": "api"}}, "egress": TO_DNS}),
    # ingress rules with the default deny off: isolates nothing
    cilium(
        "db",
        {
            "endpointSelector": {"matchLabels": {"app": "db"}},
            "ingress": ALLOW_FRONT,
            "enableDefaultDeny": {"ingress": False},
        },
    ),
    # shop's front: ingress only, isolated already by deny-in
    cilium(
        "front", {"endpointSelector": {"matchLabels": {"app": "front"}}, "ingress": ALLOW_FRONT}
    ),
    # clusterwide, the blue team's jobs by namespace label: ingress
    cilium(
        "blue-jobs",
        {
            "endpointSelector": {"matchLabels": {NS_LABELS + "team": "blue", "app": "job"}},
            "ingress": ALLOW_FRONT,
        },
        ns=None,
    ),
]

ANP = {
    "apiVersion": "policy.networking.k8s.io/v1alpha1",
    "kind": "AdminNetworkPolicy",
    "metadata": {"name": "red-apis"},
    "spec": {
        "priority": 10,
        "subject": {
            "pods": {
                "namespaceSelector": {"matchLabels": {"team": "red"}},
                "podSelector": {"matchLabels": {"app": "api"}},
            }
        },
        "ingress": [{"name": "all", "action": "Deny", "from": [{"namespaces": {}}]}],
    },
}


def by_the_definition(model, key: str) -> list[str]:
    """The ignored objects of ``key`` alone, as a model of their own over the same pods."""
    objects = [o for o in model.unenforced if o["kind"] == key]
    active = [p for p in model.pods if p.state == ACTIVE]
    if key == "AdminNetworkPolicy":
        parsed = ClusterModel.from_objects(cluster_policies=objects)
        return [
            p.key
            for p in active
            if any(
                c.selects(model.namespaces[p.namespace].labels, p.labels)
                for c in parsed.cluster_policies
            )
        ]
    parsed = ClusterModel.from_objects(cilium_policies=objects)
    alone = ClusterModel(
        namespaces=list(model.namespaces.values()),
        pods=model.pods,
        nodes=model.nodes,
        policies=[],
        services=model.services,
        cilium_policies=parsed.cilium_policies,
    )
    return [
        p.key
        for p in active
        if any(alone.is_isolated(p, d) and not model.is_isolated(p, d) for d in (INGRESS, EGRESS))
    ]


def test_ignored_cilium_policies_name_the_pods_they_would_isolate_that_are_open():
    model = load_objects(cluster(*CILIUM), cni="calico")
    assert not model.cilium_policies and len(model.unenforced) == 4
    kinds = {k["key"]: k for k in unenforced(model)}
    assert kinds["CiliumNetworkPolicy"]["pods"] == ["shop/api-0"]
    assert kinds["CiliumClusterwideNetworkPolicy"]["pods"] == ["lab/job-0"]
    for key, found in kinds.items():
        assert found["pods"] == by_the_definition(model, key), key


def test_ignored_admin_policies_name_the_pods_their_subject_holds():
    model = load_objects(cluster(ANP), cni="cilium")
    [found] = unenforced(model)
    assert found["key"] == "AdminNetworkPolicy" and found["decides"]
    assert found["pods"] == ["shop/api-0"]  # not lab's api: the blue team
    assert found["pods"] == by_the_definition(model, "AdminNetworkPolicy")


def test_a_policy_whose_pods_are_all_isolated_already_counts_none():
    model = load_objects(cluster(CILIUM[2]), cni="calico")
    [found] = unenforced(model)
    assert found["objects"] == ["CiliumNetworkPolicy/shop/front"] and found["pods"] == []
    assert by_the_definition(model, "CiliumNetworkPolicy") == []


def cilium_agent():
    obj = pod("kube-system", "cilium-x1", {"k8s-app": "cilium"}, ip="192.168.0.3")
    obj["spec"]["hostNetwork"] = True
    return obj


def calico(name, kind, spec, ns=None):
    metadata = {"name": name, "namespace": ns} if ns else {"name": name}
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": metadata, "spec": spec}


def test_ignored_calico_policies_name_the_pods_their_deny_ending_tiers_would_isolate():
    # Calico docs (policy-tiers): the default tier ends in Deny for the pods its policies
    # select, for their types; a tier with defaultAction Pass isolates nobody.
    calico_objects = [
        calico(
            "api-out", "NetworkPolicy", {"selector": "app == 'api'", "types": ["Egress"]}, "shop"
        ),
        calico("db-in", "NetworkPolicy", {"selector": "app == 'db'", "types": ["Ingress"]}, "shop"),
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Tier",
            "metadata": {"name": "platform"},
            "spec": {"order": 100, "defaultAction": "Pass"},
        },
        calico(
            "platform.jobs",
            "GlobalNetworkPolicy",
            {"tier": "platform", "selector": "app == 'job'", "types": ["Ingress", "Egress"]},
        ),
    ]
    model = load_objects(cluster(*calico_objects, agent=cilium_agent), cni="cilium")
    kinds = {k["key"]: k for k in unenforced(model)}
    # shop's db is isolated for ingress already (deny-in); api's egress is open.
    assert kinds["projectcalico.org/NetworkPolicy"]["pods"] == ["shop/api-0"]
    assert kinds["projectcalico.org/GlobalNetworkPolicy"]["pods"] == []
