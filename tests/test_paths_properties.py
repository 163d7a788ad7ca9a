"""Property tests: on random small clusters (the engine's property-test strategy), every
hop of every attack path is a connection ``reach`` allows, consecutive hops meet, and
each path is as short as a plain breadth-first search over pod pairs, decided by the
reference per-pod evaluation, says it can be."""

from __future__ import annotations

from collections import deque

from hypothesis import HealthCheck, given, settings

from netpol.engine import ACTIVE, ClusterModel
from netpol.engine import reference as ref
from netpol.paths import EVERY_WORKLOAD, INTERNET, attack_paths, blast_radius
from tests.engine.test_properties import clusters

MAX_HOPS = 3
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pod_graph(model: ClusterModel) -> dict[str, set[str]]:
    """Pod -> the pods it may connect to on some port, by the reference evaluation."""
    pods = [p for p in model.pods if p.state == ACTIVE]
    probes = ref.interesting_ports(model.policies, model.pods)
    return {
        src.key: {
            dst.key
            for dst in pods
            if dst is not src
            and any(
                ref.connection_allowed(model.policies, model.namespaces, src, dst, port, proto)
                for proto, port in probes
            )
        }
        for src in pods
    }


def shortest(graph: dict[str, set[str]], starts: set[str], targets: set[str]) -> int | None:
    """The fewest connections from a pod of ``starts`` to a pod of ``targets``."""
    seen = set(starts)
    queue = deque((s, 0) for s in starts)
    while queue:
        pod, hops = queue.popleft()
        for nxt in graph[pod]:
            if nxt in targets:
                return hops + 1
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, hops + 1))
    return None


def workloads(model: ClusterModel) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pod in model.pods:
        if pod.state == ACTIVE:
            out.setdefault(pod.workload_key, set()).add(pod.key)
    return out


def check_hops(model: ClusterModel, path, start: str, jewel: str) -> None:
    assert path.target == jewel and path.hops[0].src == start
    for hop in path.hops:
        if hop.src == INTERNET:
            address = hop.address.partition("/")[0]
            assert model.reach(address, hop.dst_pod, hop.port, hop.protocol).allowed
        else:
            assert model.reach(hop.src_pod, hop.dst_pod, hop.port, hop.protocol).allowed
            assert model.pod(hop.src_pod).workload_key == hop.src
        assert model.pod(hop.dst_pod).workload_key == hop.dst
        assert hop.rules, "every hop names what opens it"
    for before, after in zip(path.hops, path.hops[1:], strict=False):
        assert before.dst_pod == after.src_pod


@SETTINGS
@given(clusters())
def test_paths_from_each_workload_are_allowed_and_shortest(model):
    graph = pod_graph(model)
    by_workload = workloads(model)
    for start, start_pods in by_workload.items():
        for jewel, jewel_pods in by_workload.items():
            if jewel == start:
                continue
            found = attack_paths(model, [jewel], start=start, max_hops=MAX_HOPS, limit=1)
            expected = shortest(graph, start_pods, jewel_pods)
            if expected is None or expected > MAX_HOPS:
                assert found == []
                continue
            [path] = found
            assert len(path.hops) == expected, (start, jewel)
            check_hops(model, path, start, jewel)


@SETTINGS
@given(clusters())
def test_paths_from_every_workload_and_from_the_internet_are_allowed(model):
    by_workload = workloads(model)
    graph = pod_graph(model)
    for jewel, jewel_pods in by_workload.items():
        for path in attack_paths(model, [jewel], start=EVERY_WORKLOAD, max_hops=MAX_HOPS, limit=9):
            start = path.hops[0].src
            check_hops(model, path, start, jewel)
            assert len(path.hops) == shortest(graph, by_workload[start], jewel_pods)
        for path in attack_paths(model, [jewel], start=INTERNET, max_hops=MAX_HOPS):
            check_hops(model, path, INTERNET, jewel)


@SETTINGS
@given(clusters())
def test_blast_radius_counts_what_the_reference_reaches(model):
    graph = pod_graph(model)
    by_workload = workloads(model)
    for start, start_pods in by_workload.items():
        radius = blast_radius(model, start, max_hops=2, jewels=list(by_workload))
        expected = {
            other
            for other, pods in by_workload.items()
            if other != start and (shortest(graph, start_pods, pods) or 99) <= 2
        }
        assert radius["workloads"] == len(expected) == sum(radius["by_hops"])
        assert radius["reached_jewels"] == sorted(expected)
