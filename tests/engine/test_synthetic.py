"""The benchmark's synthetic cluster, small: its realistic patterns (default deny, named
ports, endPort, AND/OR peers, matchExpressions, ipBlock with except) agree with the
reference evaluation on sampled pod pairs."""

from __future__ import annotations

import random

from bench.synthetic import generate_cluster
from netpol.engine import ClusterModel
from netpol.engine import reference as ref
from netpol.engine.model import ACTIVE


def test_generator_counts_are_exact():
    cluster = generate_cluster(pods=700, namespaces=23, policies=97, seed=3)
    assert [len(cluster[k]) for k in ("Pod", "Namespace", "NetworkPolicy")] == [700, 23, 97]
    assert generate_cluster(pods=700, namespaces=23, policies=97, seed=3) == cluster


def test_synthetic_cluster_matches_reference():
    cluster = generate_cluster(pods=400, namespaces=13, policies=80, seed=1)
    model = ClusterModel.from_objects(
        cluster["Namespace"],
        cluster["Pod"],
        cluster["Node"],
        cluster["NetworkPolicy"],
        cluster["Service"],
    )
    assert model.errors == []
    pods = [p for p in model.pods if p.state == ACTIVE]
    allowed = model.allowed_connections()
    rng = random.Random(0)
    probes = [
        ("TCP", 443),
        ("TCP", 5432),
        ("TCP", 8080),
        ("TCP", 9090),
        ("TCP", 9105),
        ("UDP", 53),
        ("TCP", 6379),
    ]
    disagreements = []
    agreed_allowed = 0
    for _ in range(1500):
        src, dst = rng.sample(pods, 2)
        protocol, port = rng.choice(probes)
        expected = ref.connection_allowed(
            model.policies, model.namespaces, src, dst, port, protocol
        )
        agreed_allowed += expected
        if allowed.allows(src.key, dst.key, port, protocol) != expected:
            disagreements.append((src.key, dst.key, protocol, port))
    assert disagreements == []
    assert 0 < agreed_allowed < 1500  # the sample exercises both answers
