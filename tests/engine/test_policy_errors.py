"""Invalid policy content is reported as PolicyError (policy + field) and never widens
what is allowed; see the rules in netpol/engine/model.py."""

from __future__ import annotations

import pytest

from netpol.engine import ClusterModel, InputError

from .conftest import build, verdict


def _policy(spec: str) -> str:
    return f"kind: NetworkPolicy\nmetadata: {{name: bad, namespace: prod}}\nspec: {spec}\n"


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}",
            "spec.ingress[0].from[0].ipBlock.cidr",
            "not a CIDR",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [nope]}}]}]}",
            "spec.ingress[0].from[0].ipBlock.except[0]",
            "not a CIDR",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
            "spec.ingress[0].from[0]",
            "cannot be combined",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{}]}]}",
            "spec.ingress[0].from[0]",
            "needs podSelector",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: Equals, values: [b]}]}}]}]}",
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].operator",
            "not one of",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: In}]}}]}]}",
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].values",
            "non-empty",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 80, endPort: 79}]}]}",
            "spec.ingress[0].ports[0].endPort",
            "must be a number",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}",
            "spec.ingress[0].ports[0].endPort",
            "numeric port",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 70000}]}]}",
            "spec.ingress[0].ports[0].port",
            "outside",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 80, protocol: ICMP}]}]}",
            "spec.ingress[0].ports[0].protocol",
            "not one of",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: '80'}]}]}",
            "spec.ingress[0].ports[0].port",
            "not a valid port name",
        ),
        ("{podSelector: {}, egress: {to: []}}", "spec.egress", "must be a list"),
    ],
)
def test_invalid_part_is_reported_and_matches_nothing(spec, field, message):
    model = build(_policy(spec))
    [error] = model.errors
    assert (error.policy, error.field) == ("prod/bad", field)
    assert message in error.message
    assert str(error).startswith("NetworkPolicy prod/bad: " + field)
    # The policy still isolates prod, and the broken part allows nothing.
    assert not verdict(model, "dev/web", "prod/web", 80)
    assert not verdict(model, "10.9.9.9", "prod/web", 80)


def test_except_outside_cidr_is_reported_and_subtracted():
    model = build(
        _policy(
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.5.0/24, 192.168.0.0/16]}}]}]}"
        )
    )
    fields = [e.field for e in model.errors]
    assert fields == ["spec.ingress[0].from[0].ipBlock.except[1]"]
    assert "strictly inside" in model.errors[0].message
    assert verdict(model, "10.0.1.1", "prod/web", 80)
    assert not verdict(model, "10.0.5.1", "prod/web", 80)


def test_invalid_pod_selector_ignores_the_policy():
    model = build(
        _policy(
            "{podSelector: {matchExpressions: [{key: app, operator: Bogus}]}, policyTypes: [Ingress]}"
        )
    )
    assert "policy ignored" in model.errors[0].message
    assert verdict(model, "dev/web", "prod/web", 80)  # nothing is isolated
    assert model.isolation()[0].policies == []


def test_invalid_policy_types_ignores_the_policy():
    model = build(_policy("{podSelector: {}, policyTypes: [ingress]}"))
    assert model.errors[0].field == "spec.policyTypes"
    assert verdict(model, "dev/web", "prod/web", 80)


def test_one_bad_peer_leaves_the_others():
    model = build(
        _policy(
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: bad}}, {namespaceSelector: {matchLabels: {env: dev}}}]}]}"
        )
    )
    assert len(model.errors) == 1
    assert verdict(model, "dev/web", "prod/web", 80)
    assert not verdict(model, "prod/api", "prod/web", 80)


@pytest.mark.parametrize(
    ("kind", "obj", "message"),
    [
        ("pods", {"metadata": {}}, "metadata.name"),
        ("pods", "not a mapping", "not a mapping"),
        (
            "pods",
            {"metadata": {"name": "p"}, "status": {"podIP": "10.0.0.300"}},
            "not an IP address",
        ),
        ("policies", {"metadata": {"name": "p", "labels": "x"}}, "labels is not a mapping"),
        ("nodes", {"metadata": {"name": "n"}, "spec": {"podCIDR": "x"}}, "not a CIDR"),
        (
            "pods",
            {"metadata": {"name": "p"}, "spec": {"containers": {"ports": 1}}},
            "Pod p: malformed",
        ),
        ("pods", {"metadata": {"name": "p"}, "status": "Running"}, "Pod p: malformed"),
        (
            "policies",
            {"metadata": {"name": "p", "namespace": ["x"]}, "spec": {}},
            "namespace is not a string",
        ),
    ],
)
def test_unreadable_objects_raise_input_error(kind, obj, message):
    with pytest.raises(InputError, match=message):
        ClusterModel.from_objects(**{kind: [obj]})


def test_duplicate_pod_is_an_input_error():
    pod = {"metadata": {"name": "p", "namespace": "a"}}
    with pytest.raises(InputError, match="appears twice"):
        ClusterModel.from_objects(pods=[pod, pod])
