"""NP044 names the first ordered policies an order-less Calico policy now follows, in walk
order, among many (netpol/findings/kinds.py keeps only the first few owners per class).

Calico NetworkPolicy reference, ``order``: "If the order is omitted, it may be considered
to be 'infinite' - i.e. the policy will be applied last"; Tier reference, "How Policy Is
Evaluated": the policies of a tier are walked by ascending order.
"""

from __future__ import annotations

from netpol.engine import ClusterModel
from netpol.findings import audit
from tests.findings.helpers import SECURE, of
from tests.objects import namespace, pod

API = pod("web", "api-0", {"app": "api"}, ip="10.244.0.30")
JOB = pod("batch", "job-0", {"app": "job"}, ip="10.244.0.20")
TIER = {
    "apiVersion": "projectcalico.org/v3",
    "kind": "Tier",
    "metadata": {"name": "security"},
    "spec": {"order": 100},
}


def gnp(name, app, types, order=None):
    spec = {"tier": "security", "selector": f"app == '{app}'", "types": types}
    for direction in types:
        spec[direction.lower()] = [{"action": "Allow"}]
    if order is not None:
        spec["order"] = order
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": f"security.{name}"},
        "spec": spec,
    }


def np044(calico):
    objects = [*SECURE, namespace("web"), namespace("batch"), API, JOB]
    kinds = {"Namespace": [], "Pod": [], "Node": [], "NetworkPolicy": [], "Service": []}
    for obj in objects:
        kinds[obj["kind"]].append(obj)
    model = ClusterModel.from_objects(
        namespaces=kinds["Namespace"],
        pods=kinds["Pod"],
        nodes=kinds["Node"],
        policies=kinds["NetworkPolicy"],
        services=kinds["Service"],
        calico_policies=[TIER, *calico],
    )
    return of(audit(model), "NP044")


def test_the_first_five_about_its_pods_are_named_in_walk_order_past_many_others():
    # Orders 1-40: every third policy is about api, the others about job only, and job's
    # fill the walk before, between and after api's. api's: ingress at 3 and 6, egress
    # from 9 on: more of them than the audit keeps per class.
    policies = [
        gnp(f"p{i:02d}", "job", ["Ingress", "Egress"], order=i) for i in range(1, 41) if i % 3
    ]
    policies += [gnp("p03", "api", ["Ingress"], 3), gnp("p06", "api", ["Ingress"], 6)]
    policies += [gnp(f"p{i:02d}", "api", ["Egress"], i) for i in range(9, 41, 3)]
    late = gnp("late", "api", ["Ingress", "Egress"])
    [finding] = np044([*policies, late])
    assert finding.objects[0] == "CalicoGlobalNetworkPolicy/security.late"
    # Ingress first (3, 6), then egress (9, 12, 15): job's policies never, nor api's later.
    assert finding.evidence["applied_after"] == [
        f"CalicoGlobalNetworkPolicy/security.p{i:02d}" for i in (3, 6, 9, 12, 15)
    ]
    assert "and others" in finding.message
    assert finding.workloads == ["Pod/web/api-0"]
    assert "order: 0" in finding.snippet  # below 3, the first it follows


def test_a_policy_named_for_ingress_is_not_named_twice_for_egress():
    # The same ten policies are about api both ways: the five named come from ingress,
    # and egress, meeting those five first, adds none.
    policies = [gnp(f"p{i:02d}", "api", ["Ingress", "Egress"], order=i) for i in range(1, 11)]
    policies += [gnp(f"j{i:02d}", "job", ["Ingress", "Egress"], order=i) for i in range(1, 11)]
    [finding] = np044([*policies, gnp("late", "api", ["Ingress", "Egress"])])
    assert finding.evidence["applied_after"] == [
        f"CalicoGlobalNetworkPolicy/security.p{i:02d}" for i in range(1, 6)
    ]


def test_an_orderless_policy_whose_pods_no_ordered_policy_is_about_is_no_np044():
    policies = [gnp(f"j{i:02d}", "job", ["Ingress", "Egress"], order=i) for i in range(1, 15)]
    assert np044([*policies, gnp("late", "api", ["Ingress", "Egress"])]) == []
