"""Property tests: a model changed incrementally (``ClusterModel.with_policies``) answers
exactly as the same model rebuilt from scratch, for random clusters and random changes
(policies added, replacing existing ones, removed).

Run thousands of examples with ``HYPOTHESIS_PROFILE=thorough``.
"""

from __future__ import annotations

import dataclasses

from hypothesis import event, given
from hypothesis import strategies as st

from netpol.engine import ClusterModel, changed_edges, parse_policy
from netpol.engine import reference as ref
from netpol.engine.ipsets import ip_to_int
from netpol.engine.model import ACTIVE
from tests.engine.test_properties import (
    NAMESPACES,
    POD_SELECTOR_ST,
    POLICY_TYPES,
    PROBE_IPS,
    RULES_ST,
    clusters,
)

# Names shared with the clusters' own policies (np0..np3), so that some added policies
# replace existing ones.
NAMES = st.sampled_from(["np0", "np1", "np2", "np5", "np6"])


@st.composite
def policy_objects(draw):
    spec = {"podSelector": draw(POD_SELECTOR_ST)}
    types = draw(POLICY_TYPES)
    if types is not None:
        spec["policyTypes"] = types
    for direction, key in (("ingress", "from"), ("egress", "to")):
        value = draw(RULES_ST[key])
        if value is not None:
            spec[direction] = value
    return {
        "metadata": {"name": draw(NAMES), "namespace": draw(st.sampled_from(NAMESPACES))},
        "spec": spec,
    }


# Default denies: what an auditor adds or removes most, and what changes a namespace's
# egress for every destination at once.
DENIES = st.builds(
    lambda ns, types: {
        "metadata": {"name": f"deny-{'-'.join(types)}", "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": types},
    },
    st.sampled_from(NAMESPACES),
    st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]),
)


@st.composite
def changes(draw):
    """(base model, added policies, removed keys, their problems)."""
    base = draw(clusters())
    denies = [parse_policy(obj)[0] for obj in draw(st.lists(DENIES, max_size=2))]
    if denies:
        base = ClusterModel(
            namespaces=list(base.namespaces.values()),
            pods=base.pods,
            nodes=base.nodes,
            policies=list({p.key: p for p in base.policies + denies}.values()),
        )
    base.allowed_connections()  # as a page would have it
    add = []
    errors = []
    for obj in draw(st.lists(st.one_of(policy_objects(), DENIES), max_size=2)):
        policy, problems = parse_policy(obj)
        errors.extend(problems)
        if policy is not None:
            add.append(policy)
    keys = [p.key for p in base.policies]
    remove = set(draw(st.lists(st.sampled_from(keys), max_size=2))) if keys else set()
    return base, add, remove, errors


def rebuilt(base: ClusterModel, changed: ClusterModel) -> ClusterModel:
    """The changed model's policies evaluated from scratch."""
    return ClusterModel(
        namespaces=list(base.namespaces.values()),
        pods=base.pods,
        nodes=base.nodes,
        policies=[dataclasses.replace(p) for p in changed.policies],
        services=base.services,
    )


@given(changes())
def test_incremental_model_answers_as_a_rebuilt_one(change):
    base, add, remove, errors = change
    before = [(p.key, p.id) for p in base.policies]
    model = base.with_policies(add=add, remove=remove, errors=errors)
    event(f"incremental={model.incremental}")
    full = rebuilt(base, model)

    # The change itself: the last of a key wins and replaces the existing policy.
    added = {p.key for p in add}
    assert [p.key for p in model.policies] == [
        k for k, _ in before if k not in added | remove
    ] + list(dict.fromkeys(p.key for p in add))
    assert [(p.key, p.id) for p in base.policies] == before  # the base is untouched

    # 1. Isolation and the policies selecting each pod.
    assert [r.to_dict() for r in model.isolation()] == [r.to_dict() for r in full.isolation()]

    # 2. The allowed set, pod to pod, on every port the policies name, and reach.
    pods = [p for p in model.pods if p.state == ACTIVE]
    probes = ref.interesting_ports(model.policies, model.pods)
    a, b = model.allowed_connections(), full.allowed_connections()
    for src in pods:
        for dst in pods:
            for protocol, port in probes:
                assert a.allows(src.key, dst.key, port, protocol) == b.allows(
                    src.key, dst.key, port, protocol
                ), (src.key, dst.key, protocol, port)
                assert (
                    model.reach(src.key, dst.key, port, protocol).to_dict()
                    == full.reach(src.key, dst.key, port, protocol).to_dict()
                )
    assert a.edges("workload") == b.edges("workload")
    assert a.edges("namespace") == b.edges("namespace")

    # 3. Addresses in and out, per pod.
    ev, fev = model.evaluation, full.evaluation
    out = {c: g for g in ev.egress_ips() for c in g.classes}
    fout = {c: g for g in fev.egress_ips() for c in g.classes}
    for pod in pods:
        c, fc = ev.class_of[pod.key], fev.class_of[pod.key]
        ins = a.groups[a.group_of[c]].entries
        fins = b.groups[b.group_of[fc]].entries
        for text in PROBE_IPS:
            address = ip_to_int(text)
            for protocol, port in probes:
                assert any(e.ports.has(port, protocol) and address in e.ips for e in ins) == any(
                    e.ports.has(port, protocol) and address in e.ips for e in fins
                )
                assert any(
                    ports.has(port, protocol) and address in ips for ports, ips in out[c].entries
                ) == any(
                    ports.has(port, protocol) and address in ips for ports, ips in fout[fc].entries
                )

    # 4. The matrix, on any port and on one.
    for protocol in ("TCP", "UDP"):
        assert model.matrix(protocol=protocol) == full.matrix(protocol=protocol)
    assert model.matrix(port=80) == full.matrix(port=80)
    assert model.grouped_matrix("workload") == full.grouped_matrix("workload")


def test_a_change_that_keeps_the_classes_is_incremental():
    """Adding a default deny needs no new class: only the touched part is recomputed,
    and the base model keeps its own answers."""
    objects = {
        "namespaces": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}],
        "pods": [
            {
                "metadata": {"name": f"p{i}", "namespace": ns, "labels": {"app": "web"}},
                "status": {"phase": "Running", "podIP": f"10.0.0.{i + 1}"},
            }
            for i, ns in enumerate(["a", "a", "b"])
        ],
    }
    base = ClusterModel.from_objects(**objects)
    assert base.allowed_connections().allows("a/p0", "b/p2", 80)
    deny, _ = parse_policy(
        {
            "metadata": {"name": "deny", "namespace": "a"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
        }
    )
    model = base.with_policies(add=[deny])
    assert model.incremental
    assert not model.allowed_connections().allows("a/p0", "b/p2", 80)
    assert model.allowed_connections().allows("b/p2", "a/p0", 80)
    assert base.allowed_connections().allows("a/p0", "b/p2", 80)
    # A policy in a namespace the base does not have is built in full.
    other, _ = parse_policy(
        {"metadata": {"name": "x", "namespace": "c"}, "spec": {"podSelector": {}}}
    )
    assert not base.with_policies(add=[other]).incremental
    # So is one naming an ipBlock no base policy names: it may split classes.
    block, _ = parse_policy(
        {
            "metadata": {"name": "y", "namespace": "a"},
            "spec": {
                "podSelector": {},
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}],
            },
        }
    )
    split = base.with_policies(add=[block])
    assert not split.incremental
    assert split.allowed_connections().allows("a/p0", "a/p1", 80)  # 10.0.0.1 is p0
    assert not split.allowed_connections().allows("b/p2", "a/p1", 80)


def test_an_added_egress_rule_splits_a_destination_group():
    """b's two pods receive the same traffic before (one destination group); an egress
    rule to one of them sets them apart, and only that one gains a's traffic."""
    pods = [
        {
            "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
            "status": {"phase": "Running", "podIP": f"10.0.0.{i + 1}"},
        }
        for i, (ns, name, app) in enumerate(
            [("a", "p0", "client"), ("b", "p1", "x"), ("b", "p2", "y")]
        )
    ]
    deny = {
        "metadata": {"name": "deny", "namespace": "a"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
    }
    base = ClusterModel.from_objects(
        namespaces=[{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}],
        pods=pods,
        policies=[deny],
    )
    allowed = base.allowed_connections()
    assert (
        allowed.group_of[base.evaluation.class_of["b/p1"]]
        == allowed.group_of[base.evaluation.class_of["b/p2"]]
    )
    to_x, _ = parse_policy(
        {
            "metadata": {"name": "to-x", "namespace": "a"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "b"}
                                },
                                "podSelector": {"matchLabels": {"app": "x"}},
                            }
                        ]
                    }
                ],
            },
        }
    )
    model = base.with_policies(add=[to_x])
    assert model.incremental
    assert model.allowed_connections().allows("a/p0", "b/p1", 80)
    assert not model.allowed_connections().allows("a/p0", "b/p2", 80)


@given(changes(), st.sampled_from(["workload", "namespace"]))
def test_changed_edges_hold_every_edge_that_changes(change, level):
    base, add, remove, errors = change
    model = base.with_policies(add=add, remove=remove, errors=errors)
    before, after = changed_edges(base, model, level)
    all_before = base.allowed_connections().edges(level)
    all_after = rebuilt(base, model).allowed_connections().edges(level)

    def rows(edges):
        return {(e["from"], e["to"], tuple(e["ports"])) for e in edges}

    # What changes is inside the limited lists ...
    assert rows(all_after) - rows(all_before) <= rows(after)
    assert rows(all_before) - rows(all_after) <= rows(before)
    # ... and each destination they name comes with all of its edges.
    named = {e["to"] for e in before + after}
    assert rows(before) == {r for r in rows(all_before) if r[1] in named}
    assert rows(after) == {r for r in rows(all_after) if r[1] in named}


def test_a_change_beside_cluster_tiers_keeps_the_tiers():
    """With Admin or Baseline tiers the changed model is built in full, with the tiers."""
    banp = {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": "default"},
        "spec": {
            "subject": {"namespaces": {}},
            "ingress": [{"name": "default-deny", "action": "Deny", "from": [{"namespaces": {}}]}],
        },
    }
    pods = [
        {
            "metadata": {"name": f"p{i}", "namespace": ns, "labels": {"app": "web"}},
            "status": {"phase": "Running", "podIP": f"10.0.0.{i + 1}"},
        }
        for i, ns in enumerate(["a", "b"])
    ]
    namespaces = [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
    base = ClusterModel.from_objects(namespaces=namespaces, pods=pods, cluster_policies=[banp])
    assert not base.allowed_connections().allows("a/p0", "b/p1", 80)
    allow, _ = parse_policy(
        {
            "metadata": {"name": "allow", "namespace": "b"},
            "spec": {"podSelector": {}, "ingress": [{}]},
        }
    )
    model = base.with_policies(add=[allow])
    assert not model.incremental
    assert model.allowed_connections().allows("a/p0", "b/p1", 80)  # the NP allows first
    # Without the NetworkPolicy the Baseline tier's deny still holds.
    assert (
        not base.with_policies(remove={"b/allow"}).allowed_connections().allows("a/p0", "b/p1", 80)
    )
