"""Pod equivalence classes: pods no policy can tell apart are evaluated once.

Two active pods are equivalent when they share namespace, labels, named container ports
and the set of policy ipBlocks their IPs fall in, and, only when some Calico policy
matches service accounts, their ServiceAccount. Every selector, peer and named-port
resolution then gives the same answer for both, so evaluation works on classes (usually
one per workload) instead of pods.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from .ipsets import IPSet
from .model import Pod


@dataclass(slots=True, eq=False)
class PodClass:
    id: int
    namespace: str
    labels: dict[str, str]
    named_ports: frozenset[tuple[str, str, int]]
    blocks: int  # bitset of the distinct ipBlock sets the pods' IPs fall in
    pods: list[Pod] = field(default_factory=list)
    # The pods' ServiceAccount when classes are split by it; None when they are not (no
    # Calico policy asks, and one class may then hold pods of several).
    service_account: str | None = None


def block_signatures(pods: list[Pod], blocks: list[IPSet]) -> list[int]:
    """For each pod, the bitset of ``blocks`` containing at least one of its IPs.

    1. Every block boundary toggles that block's bit; sweeping the sorted boundaries gives
       the exact set of blocks covering each elementary interval between boundaries.
    2. Each pod IP finds its elementary interval by bisection.
    Cost: O(boundaries + pod IPs · log boundaries), whatever the blocks' sizes.
    """
    toggles: dict[int, int] = {}
    for b, block in enumerate(blocks):
        bit = 1 << b
        for point in block.boundaries():
            toggles[point] = toggles.get(point, 0) ^ bit
    points = sorted(toggles)
    covering = []
    current = 0
    for point in points:
        current ^= toggles[point]
        covering.append(current)
    out = []
    for pod in pods:
        sig = 0
        for value in pod.ip_values:
            i = bisect_right(points, value) - 1
            if i >= 0:
                sig |= covering[i]
        out.append(sig)
    return out


def build_classes(
    pods: list[Pod], blocks: list[IPSet], *, by_service_account: bool = False
) -> tuple[list[PodClass], dict[str, tuple[int, int]]]:
    """Classes of the given (active) pods, numbered so each namespace is a contiguous range
    of ids; returns the classes and {namespace: (first id, end id)}. ``by_service_account``:
    pods of different ServiceAccounts are told apart (Calico's service-account matches);
    off, the class count stays what the other policies need."""
    sigs = block_signatures(pods, blocks)
    by_key: dict[tuple, PodClass] = {}
    for pod, sig in zip(pods, sigs, strict=True):
        account = pod.service_account if by_service_account else None
        key = (pod.namespace, frozenset(pod.labels.items()), pod.named_ports, sig, account)
        cls = by_key.get(key)
        if cls is None:
            cls = by_key[key] = PodClass(
                -1, pod.namespace, pod.labels, pod.named_ports, sig, service_account=account
            )
        cls.pods.append(pod)
    classes = sorted(by_key.values(), key=lambda c: c.namespace)
    ranges: dict[str, tuple[int, int]] = {}
    for i, cls in enumerate(classes):
        cls.id = i
        lo, _ = ranges.get(cls.namespace, (i, i))
        ranges[cls.namespace] = (lo, i + 1)
    return classes, ranges
