"""The cluster's own address ranges: declared, read off Nodes, or inferred from pod IPs.

"Outside the cluster" is every address not in these ranges. A ``kubectl get -o yaml``
export has pod IPs but usually no Nodes and no declared CIDRs; taking each pod IP alone as
the cluster would make every gap between two pods an "outside" address. So when neither
the user nor any Node names the pod ranges, they are inferred: the /16 (IPv4) or /48
(IPv6) around each pod address, the sizes clusters hand out pod CIDRs from. The answer
says they were inferred, so the user can declare the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .ipsets import IPSet
from .model import InputError

INFERRED_V4_PREFIX = 16
INFERRED_V6_PREFIX = 48
KINDS = ("pod", "service", "node")

DECLARED = "declared"
NODES = "nodes"
INFERRED = "inferred"
NONE = "none"


@dataclass(frozen=True, slots=True)
class DeclaredCidrs:
    """CIDRs the user declared for the cluster, by what they hold."""

    pod: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    node: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, value: DeclaredCidrs | Mapping[str, Iterable[str]] | Iterable[str]
    ) -> DeclaredCidrs:
        """From ``{"pod": [...], "service": [...], "node": [...]}`` or a flat list (which
        names the pod and service ranges together, so it counts as declared pod ranges).
        Raises ``InputError`` naming the kind and the value that is not a CIDR."""
        if isinstance(value, DeclaredCidrs):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(KINDS))
            if unknown:
                raise InputError(
                    f"declared CIDRs: unknown kind {unknown[0]!r} (use {', '.join(KINDS)})"
                )
            declared = cls(**{k: tuple(value.get(k) or ()) for k in KINDS})
        elif isinstance(value, str):
            raise InputError(f"declared CIDRs: expected a list of CIDRs, got the text {value!r}")
        else:
            declared = cls(pod=tuple(value))
        for kind in KINDS:
            for cidr in getattr(declared, kind):
                try:
                    IPSet.from_cidr(cidr)
                except ValueError:
                    raise InputError(f"declared {kind} CIDR {cidr!r} is not a CIDR") from None
        return declared

    def all(self) -> list[str]:
        return [*self.pod, *self.service, *self.node]

    def to_dict(self) -> dict[str, list[str]]:
        return {kind: list(getattr(self, kind)) for kind in KINDS}


def infer_pod_cidrs(addresses: Iterable[int]) -> list[str]:
    """The /16 (IPv4) or /48 (IPv6) blocks holding these addresses (on the engine's number
    line), as CIDRs, IPv4 first."""
    singles = IPSet([(v, v + 1) for v in addresses])
    return singles.covering(INFERRED_V4_PREFIX, INFERRED_V6_PREFIX).to_cidrs()
